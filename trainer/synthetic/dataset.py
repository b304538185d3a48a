"""Write many synthetic clips + ``manifest.jsonl`` into a folder, resumably.

Clip ``i`` of a dataset with base seed ``s`` is named ``synthetic_<s>_<i:06d>.npz`` and generated from
:func:`clip_seed` ``(s, i)``; its split is a deterministic function of the same pair. A re-run skips
clips whose file exists (files are written atomically, so an existing file is complete) and only adds
the manifest entries that are missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mimo_core.body import BodyModel
from trainer.data.clips import append_manifest, read_manifest, write_clip

from .clip import default_body_model, synthesize_clip

SPLITS = ("train", "val", "test")


def clip_seed(base_seed: int, index: int) -> int:
    """Seed of clip ``index`` in a dataset with ``base_seed`` (independent streams per clip)."""
    return int(np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1, np.uint32)[0])


def clip_split(base_seed: int, index: int, fractions: tuple[float, float, float]) -> str:
    """Deterministic split of clip ``index`` for ``(train, val, test)`` fractions (summing to 1)."""
    u = np.random.default_rng([int(base_seed), int(index), 7]).random()
    edges = np.cumsum(fractions)
    return SPLITS[int(np.searchsorted(edges, u, side="right").clip(0, 2))]


def clip_name(base_seed: int, index: int) -> str:
    return f"synthetic_{int(base_seed)}_{int(index):06d}.npz"


def generate_dataset(
    out_dir: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    frames: int = 24,
    split_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
    body_model: BodyModel | None = None,
    fps: float = 24.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Generate clips ``0 .. count-1`` into ``out_dir``.

    Args:
        out_dir: dataset folder (created).
        count: number of clips.
        seed: base seed of the dataset.
        size: ``(height, width)`` of every clip.
        frames: frames per clip.
        split_fractions: ``(train, val, test)`` fractions, non-negative, summing to 1.
        body_model: the Anny model (created once per process when ``None``).
        fps: frame rate of the clips.
        progress: ``progress(done, count)`` after each clip.
    Returns:
        ``{"written": n, "skipped": m, "seconds": s}``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    fr = tuple(float(f) for f in split_fractions)
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {split_fractions}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    listed = {e["clip"] for e in read_manifest(root)}
    body = body_model
    written = skipped = 0
    start = time.perf_counter()
    for i in range(count):
        name = clip_name(seed, i)
        split = clip_split(seed, i, fr)  # type: ignore[arg-type]
        entry = {"clip": name, "frames": frames, "height": int(size[0]), "width": int(size[1]),
                 "source": "synthetic", "split": split, "seed": clip_seed(seed, i)}  # fmt: skip
        if (root / name).exists():
            skipped += 1
            if name not in listed:
                append_manifest(root, entry)
        else:
            body = body or default_body_model()
            sample = synthesize_clip(clip_seed(seed, i), size, frames, body, fps)
            write_clip(sample.clip, root / name)
            entry.update({k: sample.clip.extra[k] for k in ("motion", "background", "occluders")})
            append_manifest(root, entry)
            written += 1
        if progress is not None:
            progress(i + 1, count)
    return {"written": written, "skipped": skipped, "seconds": round(time.perf_counter() - start, 3)}
