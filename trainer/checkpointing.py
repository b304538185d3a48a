"""Training checkpoints (resumable state) and exports (the trained models in the pack's format).

Layout under ``output_dir``::

    checkpoints/step-00000010/    accelerator.save_state (model, optimizer, RNG) + trainer_state.json
                                  (+ ema.safetensors); written as .tmp-step-... then renamed, last K kept
    export/                       one pack file per trained module + mimo_model.json, swapped in atomically

A checkpoint folder exists under its final name only once every file in it is complete, so a run killed at
any moment (``kill -9``) leaves either the previous checkpoint or the new one, never a torn one. Nothing here
is unpickled: the trainer's own state is JSON and safetensors; accelerate reads its model file as
safetensors and the optimizer state with ``weights_only`` loading.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
PREFIX = "step-"
STATE_FILE = "trainer_state.json"
EMA_FILE = "ema.safetensors"
EXPORT = "export"


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    """Final folder of the checkpoint taken after optimizer step ``step``."""
    return Path(output_dir) / CHECKPOINTS / f"{PREFIX}{step:08d}"


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints (folders with a ``trainer_state.json``), oldest first."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def resolve_resume(output_dir: str | Path, resume: str | None) -> Path | None:
    """``None`` -> start fresh; ``"auto"`` -> newest checkpoint if any; else a checkpoint folder that must exist."""
    if resume is None or resume == "":
        return None
    if resume == "auto":
        found = list_checkpoints(output_dir)
        return found[-1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"--resume {resume}: not a checkpoint folder (no {STATE_FILE} inside)")
    return path


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished folder ``tmp`` to ``final``, replacing an older one of that name."""
    if final.exists():
        trash = final.with_name(f".old-{final.name}")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    accelerator: Any,
    output_dir: str | Path,
    step: int,
    state: dict[str, Any],
    ema: dict[str, torch.Tensor] | None = None,
    keep: int = 3,
) -> Path:
    """Save the run after optimizer step ``step``; call on every process. Returns the final folder.

    ``state`` (JSON) must hold what the loop needs to continue (step, data position); ``ema`` is the EMA
    shadow weights. Older checkpoints beyond the newest ``keep`` are deleted.
    """
    final = checkpoint_dir(output_dir, step)
    tmp = final.with_name(f".tmp-{final.name}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        if ema is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in ema.items()}, str(tmp / EMA_FILE))
        text = json.dumps(dict(state, step=step), indent=2, sort_keys=True)
        with open(tmp / STATE_FILE, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _fsync_dir(tmp)
        _replace_dir(tmp, final)
        _fsync_dir(final.parent)
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Restore model/optimizer through accelerate; returns ``(trainer state, EMA weights or None)``."""
    path = Path(path)
    accelerator.load_state(str(path))
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    ema = load_file(str(path / EMA_FILE)) if (path / EMA_FILE).is_file() else None
    return state, ema


def write_export(output_dir: str | Path, writer: Callable[[Path], None], name: str = EXPORT) -> Path:
    """Let ``writer(folder)`` fill a fresh folder, then swap it in as ``output_dir/name``; returns that path."""
    final = Path(output_dir) / name
    tmp = final.with_name(f".tmp-{name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer(tmp)
    _replace_dir(tmp, final)
    return final
