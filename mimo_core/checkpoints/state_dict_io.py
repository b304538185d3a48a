"""Reading state dicts from the file formats the pack accepts, safely.

``.safetensors`` files are read with safetensors; ``.pth`` / ``.pt`` / ``.ckpt`` / ``.bin`` files with
``torch.load(..., weights_only=True)`` (never full unpickling). Common wrappers are removed: a top-level
``state_dict`` / ``model`` / ``module`` / ``model_state_dict`` entry, and a ``module.`` prefix on every key
(``DataParallel`` / DDP saves).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module")
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def unwrap_state_dict(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Return the flat ``{name: tensor}`` dict inside ``obj`` (see module docstring for the wrappers)."""
    while isinstance(obj, Mapping):
        wrapped = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if wrapped is None or any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj = obj[wrapped]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a state dict (mapping of tensors), got {type(obj).__name__}")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(f"{source}: no tensors found (top-level keys: {sorted(map(str, obj))[:10]})")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` onto the CPU (safetensors, or a weights-only torch pickle)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        return dict(load_file(str(path), device="cpu"))
    if path.suffix not in PICKLE_SUFFIXES:
        raise ValueError(
            f"{path}: unknown checkpoint type {path.suffix!r}; expected .safetensors or {PICKLE_SUFFIXES}"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(
            f"{path}: cannot be read as a weights-only torch checkpoint ({error}); the pack never fully "
            "unpickles files. Convert it to .safetensors first."
        ) from error
    return unwrap_state_dict(obj, source=str(path))


def load_exact(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """``load_state_dict`` with strict names *and* shapes; errors name the file and the first offenders."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{what} does not match {type(module).__name__}: {len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, {len(mismatched)} wrong shapes {mismatched[:5]}"
        )
    module.load_state_dict(dict(state_dict), strict=True)
