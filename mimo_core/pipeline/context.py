"""Context windows: cover a video of any length with fixed-length windows of frames.

The denoiser sees ``window`` frames at a time (24 in MIMO, the training clip length);
consecutive windows share ``overlap`` frames (4 in MIMO). Every per-window prediction is
written back to its frames with a per-window weight, and the weights of each frame sum
to 1 over the windows that contain it, so blending is a partition of unity:

* ``"average"``: every window counts the same (Moore-AnimateAnyone's sampler);
* ``"linear"``: linear ramps over each shared stretch, the newer window fading in as
  ``(j + 1) / (o + 1)`` at the ``j``-th of ``o`` shared frames (MIMO's paste-back blend);
* ``"pyramid"``: a triangle peaking at the window's centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

BLEND_MODES = ("average", "linear", "pyramid")


def uniform_windows(num_frames: int, window: int = 24, overlap: int = 4, closed_loop: bool = False) -> list[list[int]]:
    """Frame indices of each context window, in order.

    Without ``closed_loop``, the fewest windows of exactly ``window`` frames that share at
    least ``overlap`` frames are spread evenly from the first to the last frame (so the
    spare overlap is shared out instead of piling up in the last window). With
    ``closed_loop`` the windows wrap around the end of the video (indices modulo
    ``num_frames``), so the last frames also blend into the first ones, for looping videos.
    A video no longer than ``window`` is one window of all its frames.

    Args:
        num_frames: video length, >= 1.
        window: frames per window, >= 1.
        overlap: frames shared by consecutive windows, 0 <= overlap < window.

    Returns:
        A list of windows, each a list of frame indices in 0..num_frames-1; every frame is
        in at least one window.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in 0..window-1 = 0..{window - 1}, got {overlap}")
    if num_frames <= window:
        return [list(range(num_frames))]
    stride = window - overlap
    if closed_loop:
        count = -(-num_frames // stride)
        return [[(k * stride + i) % num_frames for i in range(window)] for k in range(count)]
    count = -(-(num_frames - overlap) // stride)
    span = num_frames - window
    starts = [k * span // (count - 1) for k in range(count)]
    return [list(range(s, s + window)) for s in starts]


def _shared_run(flags: list[bool]) -> int:
    """Length of the leading run of True in ``flags``."""
    run = 0
    for flag in flags:
        if not flag:
            break
        run += 1
    return run


def window_weights(
    windows: Sequence[Sequence[int]], num_frames: int, mode: str = "average"
) -> list[torch.Tensor]:
    """Per-window blending weights, normalised so each frame's weights sum to 1.

    Args:
        windows: frame indices per window (any lists in 0..num_frames-1, e.g. from
            :func:`uniform_windows`).
        num_frames: video length.
        mode: one of ``BLEND_MODES``.

    Returns:
        One float32 tensor ``[len(window)]`` per window, values in (0, 1].
    """
    if mode not in BLEND_MODES:
        raise ValueError(f"blend mode {mode!r} is unknown; expected one of {BLEND_MODES}")
    check_windows(windows, num_frames)
    coverage = torch.zeros(num_frames, dtype=torch.int64)
    for win in windows:
        coverage[torch.as_tensor(list(win))] += 1
    raw: list[torch.Tensor] = []
    for win in windows:
        length = len(win)
        pos = torch.arange(length, dtype=torch.float64)
        if mode == "average":
            w = torch.ones(length, dtype=torch.float64)
        elif mode == "pyramid":
            w = torch.minimum(pos + 1, length - pos)
        else:
            shared = [bool(coverage[f] > 1) for f in win]
            head = _shared_run(shared)
            tail = _shared_run(shared[::-1])
            w = torch.ones(length, dtype=torch.float64)
            if head and head < length:
                w = torch.minimum(w, (pos + 1) / (head + 1))
            if tail and tail < length:
                w = torch.minimum(w, (length - pos) / (tail + 1))
        raw.append(w)
    total = torch.zeros(num_frames, dtype=torch.float64)
    for win, w in zip(windows, raw, strict=True):
        total.index_add_(0, torch.as_tensor(list(win)), w)
    return [(w / total[torch.as_tensor(list(win))]).float() for win, w in zip(windows, raw, strict=True)]


def check_windows(windows: Sequence[Sequence[int]], num_frames: int) -> None:
    """Raise ``ValueError`` unless the windows are non-empty, in range and cover every frame."""
    if not windows:
        raise ValueError("windows is empty; expected at least one window of frame indices")
    seen = torch.zeros(num_frames, dtype=torch.bool)
    for k, win in enumerate(windows):
        if len(win) == 0:
            raise ValueError(f"window {k} is empty")
        if len(set(win)) != len(win):
            raise ValueError(f"window {k} repeats a frame index: {list(win)}")
        bad = [f for f in win if not 0 <= int(f) < num_frames]
        if bad:
            raise ValueError(f"window {k} has frame indices {bad} outside 0..{num_frames - 1}")
        seen[torch.as_tensor(list(win))] = True
    if not bool(seen.all()):
        missing = torch.nonzero(~seen).flatten().tolist()
        raise ValueError(f"windows leave frames {missing[:10]} uncovered; every frame needs a window")


class WindowAccumulator:
    """Accumulates weighted per-window tensors into one full-length tensor along ``dim``.

    Memory: one full-length float tensor; window predictions can be dropped once added.
    """

    def __init__(self, shape: Sequence[int], dim: int = 2, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        self.total = torch.zeros(tuple(shape), dtype=dtype, device=device)
        self.dim = dim

    def add(self, value: torch.Tensor, frames: Sequence[int], weight: torch.Tensor) -> None:
        """Add ``value`` (frames along ``dim``, ``len(frames)`` of them) times ``weight`` ``[len(frames)]``."""
        if value.shape[self.dim] != len(frames) or weight.numel() != len(frames):
            raise ValueError(
                f"window value has {value.shape[self.dim]} frames along dim {self.dim} and weight "
                f"{weight.numel()}, expected {len(frames)} (the window length)"
            )
        view = [1] * value.dim()
        view[self.dim] = len(frames)
        w = weight.to(device=self.total.device, dtype=self.total.dtype).view(view)
        index = torch.as_tensor(list(frames), device=self.total.device)
        self.total.index_add_(self.dim, index, value.to(self.total.dtype) * w)

    def result(self) -> torch.Tensor:
        """The blended tensor (weights already sum to 1 per frame)."""
        return self.total


def blend_windows(
    preds: Sequence[torch.Tensor],
    windows: Sequence[Sequence[int]],
    num_frames: int,
    weights: str | Sequence[torch.Tensor] = "average",
    dim: int = 2,
) -> torch.Tensor:
    """Blend per-window predictions into one full-length tensor.

    Args:
        preds: one tensor per window, frames along ``dim`` (e.g. ``[B,C,t,h,w]`` with ``dim=2``),
            otherwise the same shape for all windows.
        windows: frame indices per window.
        num_frames: output length along ``dim``.
        weights: a mode name from ``BLEND_MODES`` or weights from :func:`window_weights`.

    Returns:
        ``preds[0]``'s shape with ``num_frames`` along ``dim``, float32 or ``preds``' float dtype.
    """
    if len(preds) != len(windows):
        raise ValueError(f"got {len(preds)} window predictions for {len(windows)} windows")
    if isinstance(weights, str):
        weights = window_weights(windows, num_frames, weights)
    shape = list(preds[0].shape)
    shape[dim] = num_frames
    dtype = preds[0].dtype if preds[0].is_floating_point() else torch.float32
    acc = WindowAccumulator(shape, dim, dtype=dtype, device=preds[0].device)
    for pred, win, w in zip(preds, windows, weights, strict=True):
        acc.add(pred, win, w)
    return acc.result()
