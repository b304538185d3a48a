"""Fixtures for the training tests: a tiny synthetic clip folder (6 clips of 8 frames at 32x32)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.data.clips import Clip, append_manifest, write_clip


def make_clip(seed: int, frames: int = 8, size: int = 32) -> Clip:
    """A coloured box moving over a gradient, a grey occluder in the corner, the box's outline as pose."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 40 * seed % 255)], -1)
    colour = rng.integers(60, 255, 3)
    video, person, occ, pose = [], [], [], []
    for t in range(frames):
        x0, y0 = 4 + t, 6 + (t * seed) % 10
        box = (xx >= x0) & (xx < x0 + 12) & (yy >= y0) & (yy < y0 + 14)
        occluder = (xx >= 20) & (yy >= 24)
        frame = background.copy()
        frame[box] = colour
        frame[occluder] = (200, 200, 200)
        video.append(frame)
        person.append(box & ~occluder)
        occ.append(occluder)
        pose.append(np.where(box[..., None], (255 - colour)[None, None], 0))
    reference = np.full((40, 24, 3), 255, np.uint8)
    reference[8:32, 4:20] = colour
    return Clip(
        frames=np.asarray(video, np.uint8),
        person_mask=np.asarray(person, np.uint8) * 255,
        occlusion_mask=np.asarray(occ, np.uint8) * 255,
        scene=np.repeat(background[None], frames, 0).astype(np.uint8),
        pose=np.asarray(pose, np.uint8),
        reference=reference,
        reference_mask=(reference < 255).any(-1).astype(np.uint8) * 255,
    )


def write_dataset(root: Path, clips: int = 6, frames: int = 8) -> Path:
    for i in range(clips):
        name = f"clip_{i:03d}.npz"
        write_clip(make_clip(i + 1, frames), root / name)
        append_manifest(root, {"clip": name, "frames": frames, "height": 32, "width": 32,
                               "source": "synthetic", "split": "train"})
    return root


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("clips"))


@pytest.fixture(autouse=True)
def _single_thread():
    """One intra-op thread: the tiny models are overhead-bound, CI has two shared cores, and results are
    compared bitwise with subprocesses that also run on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_vertex_dataset(root: Path, clips: int = 3, frames: int = 4, size: tuple[int, int] = (40, 32)) -> Path:
    """Synthetic clips (posed Anny mesh, camera and renders, see :mod:`trainer.synthetic`), not square, so
    that the training resolution crops them."""
    from trainer.synthetic import default_body_model, synthesize_clip

    body = default_body_model()
    for i in range(clips):
        name = f"body_{i:03d}.npz"
        write_clip(synthesize_clip(100 + i, size, frames, body, occluder_count=0).clip, root / name)
        append_manifest(root, {"clip": name, "frames": frames, "height": size[0], "width": size[1],
                               "source": "synthetic", "split": "train"})
    return root


@pytest.fixture(scope="session")
def vertex_clip_dir(tmp_path_factory) -> Path:
    """3 synthetic clips of 4 frames at 40x32 with ``vertices`` / ``camera`` (the Anny body model)."""
    return write_vertex_dataset(tmp_path_factory.mktemp("vertex_clips"))
