"""Training datasets over a folder of clips (``manifest.jsonl`` + ``.npz`` clips, see ``trainer.data.clips``).

Samples are addressed by a *stream position* ``pos`` (0, 1, 2, ...), not by clip index: position ``pos``
belongs to epoch ``pos // len(dataset)`` and uses clip ``perm(seed, epoch)[pos % len(dataset)]``; every
random choice of the sample (frame, identity dropout) comes from ``(seed, pos)``. The data order is thus a
pure function of ``(seed, epoch)``, and :class:`StreamBatchSampler` resumes it exactly from any step and
splits it over processes so that a run on ``P`` processes sees the same global batches as one process.

Item layout (float32, values 0..1, ``R`` = resolution):

* stage 1 (:class:`FramePairDataset`): ``target``/``pose``/``scene``/``occlusion`` ``[3, R, R]`` of one
  random frame, ``reference`` ``[3, R, R]``, ``drop_identity`` bool, ``position`` int64.
* stage 2 (:class:`ClipDataset`): the same keys with ``[3, F, R, R]`` video tensors (``F`` frames, stride
  ``frame_stride``, reduced for short clips).

``occlusion`` is the occlusion layer: the frame where ``occlusion_mask`` > 0.5, black elsewhere. ``person``
is the visible person's mask (``[1, R, R]`` / ``[1, F, R, R]``), used by the person-weighted loss.

With ``vertex_codes=True`` (``pose_input: vertex_codes``) items also carry the posed body mesh of the sampled
frames, ``vertices`` ``[V, 3]`` / ``[F, V, 3]`` (camera frame, metres), and ``camera`` ``[4]`` / ``[F, 4]``
(fx, fy, cx, cy in pixels) for the resized and cropped ``R x R`` frames (:func:`crop_camera`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .data.clips import Clip, read_clip, read_manifest

_DATA_STREAM = 0x5EED_DA7A  # separates the data RNG stream from the noise stream


def resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """``[H, W, C]`` or ``[H, W]`` uint8 -> ``[size, size, (C)]``: shorter side to ``size``, centre crop."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    if (new_h, new_w) != (h, w):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (new_w, new_h), interpolation=interp)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[top:top + size, left:left + size]


def crop_camera(camera: np.ndarray, height: int, width: int, size: int) -> np.ndarray:
    """Intrinsics ``[..., 4]`` (fx, fy, cx, cy in pixels) of ``height x width`` frames -> those of the frames
    :func:`resize_center_crop` makes (``size x size``), so a point projects onto the same content.

    Pixel coordinates are continuous from the top-left corner (:mod:`mimo_core.raster.camera`), which the
    resize scales by ``new / old`` per axis; the crop then moves the principal point by its offset.
    """
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    sx, sy = new_w / width, new_h / height
    top, left = (new_h - size) // 2, (new_w - size) // 2
    camera = np.asarray(camera, np.float64)
    if camera.shape[-1] != 4:
        raise ValueError(f"camera must be [..., 4] (fx, fy, cx, cy), got shape {camera.shape}")
    out = camera * np.array([sx, sy, sx, sy]) - np.array([0.0, 0.0, left, top])
    return out.astype(np.float32)


def pad_to_square(image: np.ndarray, fill: int = 255) -> np.ndarray:
    """Pad ``[H, W, 3]`` uint8 to a square with ``fill`` (white) keeping the character centred."""
    h, w = image.shape[:2]
    side = max(h, w)
    out = np.full((side, side, image.shape[2]), fill, dtype=image.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = image
    return out


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """``[H, W, 3]`` -> ``[3, H, W]`` or ``[F, H, W, 3]`` -> ``[3, F, H, W]``, uint8 -> float 0..1."""
    t = torch.from_numpy(np.ascontiguousarray(images)).float() / 255.0
    return t.permute(2, 0, 1) if t.ndim == 3 else t.permute(3, 0, 1, 2)


def sample_rng(seed: int, position: int, stream: int = _DATA_STREAM) -> np.random.Generator:
    """The numpy RNG of one stream position (independent of process count, worker and resume point)."""
    return np.random.default_rng([stream, seed, position])


class _ClipFolder(Dataset):
    """Shared part: the manifest, the epoch permutation and per-frame preprocessing."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        resolution: int,
        seed: int = 0,
        identity_dropout: float = 0.0,
        split: str | None = "train",
        min_frames: int = 1,
        vertex_codes: bool = False,
    ) -> None:
        self.root = Path(root)
        entries = read_manifest(self.root, split)
        if not entries:
            raise FileNotFoundError(
                f"no clips in {self.root} (split={split!r}): expected a manifest.jsonl listing .npz clips "
                "(write them with trainer.data.clips.write_clip / append_manifest)"
            )
        self.entries = sorted(
            (e for e in entries if int(e.get("frames", 0)) >= min_frames), key=lambda e: e["clip"]
        )
        if not self.entries:
            raise ValueError(f"no clip in {self.root} has at least {min_frames} frames")
        if not 0 <= identity_dropout < 1:
            raise ValueError(f"identity_dropout must be in [0, 1), got {identity_dropout}")
        self.resolution = int(resolution)
        self.seed = int(seed)
        self.identity_dropout = float(identity_dropout)
        self.vertex_codes = bool(vertex_codes)
        self._perm_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def permutation(self, epoch: int) -> np.ndarray:
        """Clip order of ``epoch`` (a function of ``(seed, epoch)`` only)."""
        if epoch not in self._perm_cache:
            rng = np.random.default_rng([_DATA_STREAM, self.seed, epoch, 0xE90C])
            self._perm_cache = {epoch: rng.permutation(len(self.entries))}
        return self._perm_cache[epoch]

    def locate(self, position: int) -> tuple[dict[str, Any], np.random.Generator]:
        """Manifest entry and RNG of stream ``position``."""
        if position < 0:
            raise IndexError(f"stream position must be >= 0, got {position}")
        epoch, offset = divmod(int(position), len(self.entries))
        entry = self.entries[int(self.permutation(epoch)[offset])]
        return entry, sample_rng(self.seed, position)

    def _frames_item(self, clip: Clip, index: list[int], drop: float, position: int) -> dict[str, Any]:
        """Resized uint8 ``[F, R, R, (3)]`` arrays of frames ``index`` plus the reference tensor."""
        size = self.resolution

        def video(array: np.ndarray) -> np.ndarray:
            return np.stack([resize_center_crop(a, size) for a in array[index]])

        frames = video(clip.frames)
        occ = video(clip.occlusion_mask)[..., None].astype(np.float32) / 255.0
        occlusion = (frames * (occ > 0.5)).astype(np.uint8)
        reference = resize_center_crop(pad_to_square(clip.reference), size)
        return {
            "person": video(clip.person_mask)[..., None],
            "target": frames,
            "pose": video(clip.pose),
            "scene": video(clip.scene),
            "occlusion": occlusion,
            "reference": _to_tensor(reference),
            "drop_identity": bool(drop < self.identity_dropout),
            "position": torch.tensor(position, dtype=torch.int64),
        }


    def _mesh_item(self, clip: Clip, index: list[int], name: str) -> dict[str, torch.Tensor]:
        """``vertices`` ``[F, V, 3]`` and ``camera`` ``[F, 4]`` (float32) of frames ``index``, camera adjusted
        to the resized and cropped frames."""
        if clip.vertices is None or clip.camera is None:
            missing = [k for k in ("vertices", "camera") if getattr(clip, k) is None]
            raise ValueError(
                f"clip {self.root / name} has no {' / '.join(missing)}: pose_input 'vertex_codes' needs the posed "
                "body mesh and camera of every frame (clips from `trainer prepare` or the synthetic generator "
                "have them); use pose_input 'render' for this data"
            )
        height, width = clip.frames.shape[1:3]
        return {
            "vertices": torch.from_numpy(clip.vertices[index].astype(np.float32)),
            "camera": torch.from_numpy(crop_camera(clip.camera[index], height, width, self.resolution)),
        }


class FramePairDataset(_ClipFolder):
    """Stage 1: one random frame of a clip + the clip's reference image (see the module doc for keys)."""

    def __getitem__(self, position: int) -> dict[str, Any]:
        entry, rng = self.locate(position)
        clip = read_clip(self.root / entry["clip"])
        drop = rng.random()  # always drawn first: the frame choice does not depend on the dropout rate
        frame = int(rng.integers(clip.num_frames))
        item = self._frames_item(clip, [frame], drop, position)
        for key in ("target", "pose", "scene", "occlusion", "person"):
            item[key] = _to_tensor(item[key][0])
        if self.vertex_codes:
            item.update({k: v[0] for k, v in self._mesh_item(clip, [frame], entry["clip"]).items()})
        return item


class ClipDataset(_ClipFolder):
    """Stage 2: ``frames`` frames of a clip taken every ``stride`` frames from a random start.

    Clips shorter than ``frames`` are skipped; for clips shorter than ``(frames - 1) * stride + 1`` the stride
    is reduced to the largest one that fits.
    """

    def __init__(self, root: str | os.PathLike[str], resolution: int, frames: int, stride: int = 4,
                 **kwargs: Any) -> None:
        if frames < 1 or stride < 1:
            raise ValueError(f"frames and stride must be >= 1, got frames={frames}, stride={stride}")
        super().__init__(root, resolution, min_frames=frames, **kwargs)
        self.frames = int(frames)
        self.stride = int(stride)

    def frame_indices(self, num_frames: int, rng: np.random.Generator) -> list[int]:
        """Indices of the sampled frames in a clip of ``num_frames`` frames."""
        stride = self.stride if self.frames == 1 else min(self.stride, (num_frames - 1) // (self.frames - 1))
        span = (self.frames - 1) * stride + 1
        start = int(rng.integers(num_frames - span + 1))
        return [start + k * stride for k in range(self.frames)]

    def __getitem__(self, position: int) -> dict[str, Any]:
        entry, rng = self.locate(position)
        drop = rng.random()
        clip = read_clip(self.root / entry["clip"])
        index = self.frame_indices(clip.num_frames, rng)
        item = self._frames_item(clip, index, drop, position)
        for key in ("target", "pose", "scene", "occlusion", "person"):
            item[key] = _to_tensor(item[key])
        if self.vertex_codes:
            item.update(self._mesh_item(clip, index, entry["clip"]))
        return item


class StreamBatchSampler(Sampler[list[int]]):
    """Yields the stream positions of this process's part of each micro-batch, from ``start_micro_step``.

    Micro-step ``m`` covers global positions ``[m*G, (m+1)*G)`` with ``G = batch_size * num_processes``;
    process ``r`` takes ``[m*G + r*batch_size, m*G + (r+1)*batch_size)``. One process with batch ``2b`` and two
    processes with batch ``b`` therefore see the same global batches. Infinite: the loop decides when to stop.
    """

    def __init__(self, batch_size: int, num_processes: int = 1, process_index: int = 0,
                 start_micro_step: int = 0) -> None:
        if batch_size < 1 or num_processes < 1 or not 0 <= process_index < num_processes:
            raise ValueError(
                f"bad sampler layout: batch_size={batch_size}, num_processes={num_processes}, "
                f"process_index={process_index}"
            )
        self.batch_size = batch_size
        self.num_processes = num_processes
        self.process_index = process_index
        self.start_micro_step = start_micro_step

    def positions(self, micro_step: int) -> list[int]:
        """Positions of this process in micro-step ``micro_step``."""
        first = micro_step * self.batch_size * self.num_processes + self.process_index * self.batch_size
        return list(range(first, first + self.batch_size))

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_micro_step
        while True:
            yield self.positions(step)
            step += 1
