"""Chunked person-tracking pipeline for videos of any length.

:func:`preprocess_video_stream` reads ``chunk_size`` frames at a time
(:func:`~mimo_core.video_io.iter_video_frames`), tracks the person with one
:class:`~mimo_core.preprocess.tracking.PersonTracker` whose state carries over
between chunks, writes each chunk's masks to ``person_mask.mp4`` (grey video,
mask x 255) and drops the frames. Only the per-frame small arrays (boxes,
landmarks) are accumulated, so memory stays at one chunk of frames whatever
the clip length. Outputs in ``out_dir``:

* ``person_mask.mp4``: the masks (same size as the processed frames).
* ``track.npz``: ``boxes [T,4]``, ``landmarks [T,33,4]``, ``world_landmarks
  [T,33,3]``, ``scores [T]``, ``lost_frames [K]``, ``fps``, ``size (H,W)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..video_io import VideoWriter, iter_video_frames, probe_video
from ._arrays import to_uint8
from .tracking import PersonTracker, Select, empty_track, fill_track_frame, recover_lost_frames, refine_masks


@dataclass(frozen=True)
class StreamResult:
    """Where the streamed outputs are and what they hold."""

    mask_video: Path
    track_file: Path
    frame_count: int
    lost_frames: list[int]
    size: tuple[int, int]  # (H, W) of the processed frames

    @property
    def found_fraction(self) -> float:
        return 0.0 if self.frame_count == 0 else 1.0 - len(self.lost_frames) / self.frame_count


def preprocess_video_stream(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    chunk_size: int = 32,
    max_side: int | None = 768,
    select: Select = "largest",
    start: int = 0,
    stride: int = 1,
    max_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StreamResult:
    """Track one person through the video at ``path`` chunk by chunk; write masks and poses.

    Args:
        path: input video.
        out_dir: output folder (created if needed).
        chunk_size: frames held in memory at once.
        max_side: frames are shrunk so their longer side is at most this (None: full size).
        select: which person (see :class:`PersonTracker`).
        start, stride, max_frames: frame selection, as in ``iter_video_frames``.
        progress: ``progress(done, total_estimate)`` after each chunk.

    Returns:
        :class:`StreamResult`.
    """
    info = probe_video(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mask_path, track_path = out / "person_mask.mp4", out / "track.npz"
    fps = info.fps / stride if info.fps > 0 else 30.0
    total = max(0, (info.frame_count - start + stride - 1) // stride)
    if max_frames is not None:
        total = min(total, max_frames)
    parts, lost, done = [], [], 0
    size = (0, 0)
    with PersonTracker(select=select) as tracker, VideoWriter(mask_path, fps=fps, crf=12) as writer:
        for chunk in iter_video_frames(path, chunk_size, max_side, start, stride, max_frames):
            t, h, w = chunk.shape[:3]
            size = (h, w)
            part = empty_track(t, h, w)
            for i in range(t):
                fill_track_frame(part, i, tracker.update(to_uint8(chunk[i])))
            # Nobody found yet: search every frame of the chunk (see PersonTracker.search_every_frame).
            tracker.search_every_frame(chunk, part)
            # A loss that ends inside this chunk is looked at again from where it ends
            # (back to the chunk's start at most: earlier frames are already written).
            recover_lost_frames(chunk, part, tracker.detector, window_scale=tracker.window_scale)
            refine_masks(chunk, part)
            writer.write(np.repeat(part.masks[..., None], 3, axis=-1))
            lost.extend(done + i for i in part.lost_frames)
            part.masks = np.zeros((0, h, w), np.float32)  # drop the chunk's masks (a [:0] view would keep them alive)
            parts.append(part)
            done += t
            if progress is not None:
                progress(done, max(total, done))
    np.savez_compressed(
        track_path,
        boxes=_cat(parts, "boxes", (0, 4)),
        landmarks=_cat(parts, "landmarks", (0, 33, 4)),
        world_landmarks=_cat(parts, "world_landmarks", (0, 33, 3)),
        scores=_cat(parts, "scores", (0,)),
        lost_frames=np.asarray(lost, np.int64),
        fps=np.float64(fps),
        size=np.asarray(size, np.int64),
    )
    return StreamResult(mask_path, track_path, done, lost, size)


def _cat(parts: list, name: str, empty_shape: tuple[int, ...]) -> np.ndarray:
    arrays = [getattr(p, name) for p in parts]
    return np.concatenate(arrays, 0) if arrays else np.zeros(empty_shape, np.float32)
