"""Baselines and hooks for :mod:`trainer.evaluate`.

A *generator* is any callable ``clip -> frames [T,H,W,3]`` (uint8, or float in 0..1) that sees the
held-out :class:`~trainer.data.clips.Clip` (reference, pose, scene, masks) and predicts its frames.

- :func:`paste_reference`: no learning at all; the reference character's cut-out is scaled into the
  person's box in every frame and pasted over the scene (occluders kept on top from the source).
- :func:`without_pose`: evaluation hook for a model trained without the pose condition: the wrapped
  generator gets the clip with a blank (all-zero) pose video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from trainer.data.clips import Clip

Generator = Callable[[Clip], np.ndarray]


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def paste_reference(clip: Clip, keep_occluders: bool = True) -> np.ndarray:
    """The "paste reference" baseline.

    For each frame, the reference's masked crop (box of ``reference_mask``) is resized to the box of
    the visible person (``person_mask``) and composited over ``scene`` with the resized mask; with
    ``keep_occluders`` the source frame is put back where ``occlusion_mask`` is set. Frames without a
    person are the scene.

    Returns:
        ``[T,H,W,3]`` uint8.
    """
    ref_box = _box(clip.reference_mask > 127)
    out = clip.scene.copy()
    if ref_box is None:
        return out
    rx0, ry0, rx1, ry1 = ref_box
    ref_rgb = clip.reference[ry0:ry1, rx0:rx1].astype(np.float32)
    ref_alpha = clip.reference_mask[ry0:ry1, rx0:rx1].astype(np.float32) / 255.0
    for i in range(clip.num_frames):
        box = _box(clip.person_mask[i] > 127)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        size = (x1 - x0, y1 - y0)
        rgb = cv2.resize(ref_rgb, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(ref_alpha, size, interpolation=cv2.INTER_AREA)[..., None]
        region = out[i, y0:y1, x0:x1].astype(np.float32)
        out[i, y0:y1, x0:x1] = np.clip(np.rint(alpha * rgb + (1 - alpha) * region), 0, 255).astype(np.uint8)
    if keep_occluders:
        occ = clip.occlusion_mask > 127
        out[occ] = clip.frames[occ]
    return out


def without_pose(generator: Generator) -> Generator:
    """Wrap a generator trained without the pose condition: it is called with an all-zero pose video."""

    def run(clip: Clip) -> np.ndarray:
        return generator(replace(clip, pose=np.zeros_like(clip.pose)))

    return run


BASELINES: dict[str, Generator] = {"paste_reference": paste_reference}
