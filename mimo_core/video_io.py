"""Streaming video reading and writing with PyAV.

Frames are exchanged as ``[T,H,W,3]`` float32 arrays in 0..1 (RGB). Reading is
chunked: :func:`iter_video_frames` decodes lazily and holds at most one chunk of
frames in memory, so memory does not grow with the clip length. Writing encodes
H.264 ``yuv420p`` MP4 (playable everywhere); odd frame sizes are padded by one
replicated edge pixel because ``yuv420p`` needs even width and height.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

__all__ = ["VideoInfo", "VideoWriter", "iter_video_frames", "probe_video", "read_video", "scaled_size"]


@dataclass(frozen=True)
class VideoInfo:
    """Basic facts about a video file.

    ``frame_count`` is the container's count when it has one, otherwise an
    estimate from duration x fps (0 when neither is known).
    """

    width: int
    height: int
    fps: float
    frame_count: int


def _open_container(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """Open ``path`` and return (container, first video stream) with clear errors."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"video file not found: {str(p)!r}")
    try:
        container = av.open(str(p), mode="r")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(p)!r} is not a readable video file ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise ValueError(f"{str(p)!r} has no video stream")
    return container, container.streams.video[0]


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read width, height, fps and frame count of ``path`` without decoding frames."""
    container, stream = _open_container(path)
    try:
        width = int(stream.codec_context.width)
        height = int(stream.codec_context.height)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        count = int(stream.frames or 0)
        if count <= 0 and fps > 0:
            if stream.duration is not None and stream.time_base is not None:
                count = int(round(float(stream.duration * stream.time_base) * fps))
            elif container.duration is not None:
                count = int(round(container.duration / av.time_base * fps))
        return VideoInfo(width=width, height=height, fps=fps, frame_count=max(count, 0))
    finally:
        container.close()


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Size (w, h) after shrinking so the longer side is at most ``max_side``.

    Never enlarges; both sides are rounded to even numbers (>= 2).
    """
    if max_side is None or max(width, height) <= max_side:
        return width, height
    if max_side < 2:
        raise ValueError(f"max_side must be >= 2, got {max_side}")
    scale = max_side / max(width, height)
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def iter_video_frames(
    path: str | os.PathLike[str],
    chunk_size: int = 16,
    max_side: int | None = None,
    start: int = 0,
    stride: int = 1,
    max_frames: int | None = None,
    as_torch: bool = False,
) -> Iterator[Any]:
    """Decode ``path`` lazily and yield chunks of frames.

    Args:
        path: video file.
        chunk_size: frames per yielded chunk (the last chunk may be shorter).
        max_side: if given, frames are shrunk (area filter) so that their longer
            side is at most this many pixels; see :func:`scaled_size`.
        start: index of the first decoded frame to keep.
        stride: keep every ``stride``-th frame from ``start``.
        max_frames: stop after this many kept frames.
        as_torch: yield ``torch.Tensor`` instead of numpy arrays.

    Yields:
        ``[T,H,W,3]`` float32 RGB in 0..1, ``T <= chunk_size``.
    """
    if chunk_size < 1 or stride < 1 or start < 0:
        raise ValueError(
            f"chunk_size and stride must be >= 1 and start >= 0, got chunk_size={chunk_size}, "
            f"stride={stride}, start={start}"
        )
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0 or None, got {max_frames}")
    container, stream = _open_container(path)
    stream.thread_type = "AUTO"
    width, height = scaled_size(stream.codec_context.width, stream.codec_context.height, max_side)
    resize = (width, height) != (stream.codec_context.width, stream.codec_context.height)
    buffer: list[np.ndarray] = []
    kept = 0
    try:
        for index, frame in enumerate(container.decode(stream)):
            if max_frames is not None and kept >= max_frames:
                break
            if index < start or (index - start) % stride:
                continue
            if resize:
                rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
            else:
                rgb = frame.to_ndarray(format="rgb24")
            buffer.append(rgb)
            kept += 1
            if len(buffer) == chunk_size:
                yield _to_float(buffer, as_torch)
                buffer = []
        if buffer:
            yield _to_float(buffer, as_torch)
    except av.error.FFmpegError as exc:
        raise ValueError(f"failed to decode {str(path)!r}: {exc}") from exc
    finally:
        container.close()


def _to_float(frames: list[np.ndarray], as_torch: bool) -> Any:
    arr = np.stack(frames).astype(np.float32) * np.float32(1.0 / 255.0)
    if as_torch:
        import torch

        return torch.from_numpy(arr)
    return arr


def read_video(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Read a whole clip as one ``[T,H,W,3]`` float32 array in 0..1.

    Takes the keyword arguments of :func:`iter_video_frames` (``chunk_size``
    excepted). Use :func:`iter_video_frames` for long clips.
    """
    as_torch = bool(kwargs.get("as_torch", False))
    chunks = list(iter_video_frames(path, chunk_size=64, **kwargs))
    if not chunks:
        raise ValueError(f"no frames were read from {str(path)!r} with options {kwargs}")
    if as_torch:
        import torch

        return torch.cat(chunks, 0)
    return np.concatenate(chunks, 0)


def _to_uint8(frames: Any) -> np.ndarray:
    """[T,H,W,3] or [H,W,3] float 0..1 / uint8, numpy or torch -> uint8 [T,H,W,3]."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be [T,H,W,3] or [H,W,3] RGB, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class VideoWriter:
    """Write frames to an H.264 ``yuv420p`` MP4 file, chunk by chunk.

    Use as a context manager::

        with VideoWriter("out.mp4", fps=30) as w:
            for chunk in chunks:        # [T,H,W,3] float 0..1 or uint8
                w.write(chunk)

    The frame size is fixed by the first chunk written. Odd widths/heights are
    padded by replicating the last column/row (``yuv420p`` needs even sizes).
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, crf: int = 18, codec: str = "libx264") -> None:
        if not fps or fps <= 0 or not math.isfinite(fps):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"output folder does not exist: {str(self.path.parent)!r}")
        self.fps = fps
        self.frames_written = 0
        self._size: tuple[int, int] | None = None  # (H, W) of input frames
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(int(crf))}
        self._closed = False

    def write(self, frames: Any) -> None:
        """Append ``frames`` ([T,H,W,3] or [H,W,3], float 0..1 or uint8, numpy or torch)."""
        if self._closed:
            raise RuntimeError(f"VideoWriter for {str(self.path)!r} is closed")
        arr = _to_uint8(frames)
        h, w = arr.shape[1:3]
        if self._size is None:
            self._size = (h, w)
            self._stream.width = w + (w % 2)
            self._stream.height = h + (h % 2)
        elif (h, w) != self._size:
            raise ValueError(f"frame size changed from {self._size} to {(h, w)} while writing {str(self.path)!r}")
        if h % 2 or w % 2:
            arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        for img in arr:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and close the file (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._size is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
