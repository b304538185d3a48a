"""Person-region crops per context window, and feathered paste-back (the released MIMO flow).

MIMO generates each context window on a square crop around the person (784x784 by
default) instead of the whole frame, then pastes the result back over the scene with a
feathered mask and blends consecutive windows linearly over their shared frames. This
module does the geometry with plain tensor ops:

1. :func:`window_crop_boxes`: one square box per window, the union of the window's person
   boxes grown by a margin (5 % of the width on each side, 10 % of the height, as
   released), side rounded up to a multiple of 16, moved inside the frame when it fits.
2. :func:`crop_window`: cut a window's frames to its box and resize to the generation size.
3. :func:`paste_windows`: resize the generated crops back, composite them over the base
   video with :func:`feather_mask`, and blend windows with the ``"linear"`` context weights
   (:class:`WindowPaster` does the same one window at a time).

:func:`mask_boxes` turns a person mask (or any per-frame foreground) into the per-frame
boxes, and :class:`CropOptions` holds the settings
:meth:`~mimo_core.pipeline.mimo.MimoPipeline.generate` takes to run this flow.

Boxes are ``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive; frames are
``[T, H, W, C]`` floats (0..1 for images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .context import check_windows, window_weights


@dataclass(frozen=True)
class CropBox:
    """A square region ``[y0, y0+size) x [x0, x0+size)`` in frame pixels; may extend past the frame."""

    x0: int
    y0: int
    size: int

    @property
    def x1(self) -> int:
        return self.x0 + self.size

    @property
    def y1(self) -> int:
        return self.y0 + self.size

    def in_frame(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The part inside a ``height x width`` frame as ``(x0, y0, x1, y1)``, clamped."""
        return max(self.x0, 0), max(self.y0, 0), min(self.x1, width), min(self.y1, height)


@dataclass(frozen=True, eq=False)
class CropOptions:
    """Per-window person crops for :meth:`~mimo_core.pipeline.mimo.MimoPipeline.generate`.

    Attributes:
        size: generation side in pixels; every window is sampled at ``size x size``. Must be a
            multiple of the pipeline's :meth:`~mimo_core.pipeline.mimo.MimoPipeline.size_multiple`
            (the released MIMO generates at 784; 768 is the nearest multiple of 64).
        person_mask: ``[T, H, W]`` where the person is (> 0.5), like the pose video. Default:
            the pose video's non-background pixels (any channel above ``pose_threshold``).
        person_boxes: ``[T, 4]`` person boxes ``(x0, y0, x1, y1)`` in pixels instead of a mask
            (a NaN or zero-area row: no person in that frame).
        base_video: ``[T, H, W, 3]`` what shows outside the crops. Default: the scene video
            (required for 4-channel pipelines, which take no scene).
        margin: box growth on each side as a fraction of the person's ``(width, height)``.
        feather: paste-mask ramp width in frame pixels.
        blend: how windows sharing frames are mixed when pasted (MIMO: ``"linear"``).
        pose_threshold: pose pixels brighter than this (any channel, 0..1) count as the person.
    """

    size: int = 768
    person_mask: torch.Tensor | None = None
    person_boxes: torch.Tensor | None = None
    base_video: torch.Tensor | None = None
    margin: tuple[float, float] = (0.05, 0.10)
    feather: int = 16
    blend: str = "linear"
    pose_threshold: float = 0.02


def mask_boxes(mask: torch.Tensor, threshold: float = 0.5, chunk_size: int = 32) -> torch.Tensor:
    """Bounding box of ``mask > threshold`` per frame.

    Args:
        mask: ``[T, H, W]`` (any real dtype), or ``[T, H, W, C]`` where a pixel is foreground when
            any channel is above ``threshold`` (e.g. a pose render on black).
        threshold: values above it are foreground.
        chunk_size: frames looked at a time (bounds memory for long videos).

    Returns:
        ``[T, 4]`` float32 ``(x0, y0, x1, y1)`` in pixels, ``x1``/``y1`` exclusive; NaN rows for
        frames with no foreground.
    """
    if mask.dim() not in (3, 4):
        raise ValueError(f"mask must be [T,H,W] or [T,H,W,C], got shape {tuple(mask.shape)}")
    frames, height, width = mask.shape[:3]
    out = torch.full((frames, 4), float("nan"), dtype=torch.float32)
    xs = torch.arange(width, dtype=torch.float32)
    ys = torch.arange(height, dtype=torch.float32)
    step = max(1, int(chunk_size))
    for start in range(0, frames, step):
        fg = (mask[start:start + step] > threshold).cpu()
        if fg.dim() == 4:
            fg = fg.any(dim=-1)
        cols, rows = fg.any(dim=1), fg.any(dim=2)  # [t, W], [t, H]
        found = cols.any(dim=1)
        if not bool(found.any()):
            continue
        inf = torch.tensor(float("inf"))
        x0 = torch.where(cols, xs, inf).amin(dim=1)
        x1 = torch.where(cols, xs, -inf).amax(dim=1) + 1
        y0 = torch.where(rows, ys, inf).amin(dim=1)
        y1 = torch.where(rows, ys, -inf).amax(dim=1) + 1
        boxes = torch.stack([x0, y0, x1, y1], dim=1)
        out[start:start + step][found] = boxes[found]
    return out


def _valid_boxes(boxes: torch.Tensor) -> torch.Tensor:
    finite = torch.isfinite(boxes).all(dim=-1)
    return finite & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def _place(start: float, side: int, extent: int) -> int:
    """Top-left coordinate of a ``side``-long span starting near ``start``, inside ``0..extent`` if it fits."""
    if side <= extent:
        return int(min(max(round(start), 0), extent - side))
    return (extent - side) // 2


def window_crop_boxes(
    boxes: torch.Tensor,
    windows: Sequence[Sequence[int]],
    frame_size: tuple[int, int],
    *,
    margin: tuple[float, float] = (0.05, 0.10),
    multiple: int = 16,
) -> list[CropBox]:
    """One square crop per window covering the person in all of its frames.

    Args:
        boxes: ``[T, 4]`` person boxes ``(x0, y0, x1, y1)`` per frame, pixels; a row with a
            NaN or with zero area means no person in that frame.
        windows: frame indices per window.
        frame_size: ``(H, W)``.
        margin: growth on each side as a fraction of the union's ``(width, height)``.
        multiple: the side is rounded up to a multiple of this.

    Returns:
        A :class:`CropBox` per window. A window with no person gets a square covering the
        whole frame (side ``max(H, W)`` rounded up, centred). A box larger than the frame
        along an axis is centred on that axis and extends past both edges.
    """
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [T,4] (x0, y0, x1, y1), got shape {tuple(boxes.shape)}")
    height, width = int(frame_size[0]), int(frame_size[1])
    if height < 1 or width < 1:
        raise ValueError(f"frame_size must be positive (H, W), got {frame_size}")
    if int(multiple) < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    check_windows(windows, boxes.shape[0])
    boxes = boxes.double()
    valid = _valid_boxes(boxes)
    out = []
    for win in windows:
        idx = torch.as_tensor(list(win))
        sel = boxes[idx][valid[idx]]
        if sel.shape[0] == 0:
            side = math.ceil(max(height, width) / multiple) * multiple
            out.append(CropBox((width - side) // 2, (height - side) // 2, side))
            continue
        x0, y0 = float(sel[:, 0].min()), float(sel[:, 1].min())
        x1, y1 = float(sel[:, 2].max()), float(sel[:, 3].max())
        w, h = x1 - x0, y1 - y0
        x0, x1 = x0 - margin[0] * w, x1 + margin[0] * w
        y0, y1 = y0 - margin[1] * h, y1 + margin[1] * h
        side = max(multiple, math.ceil(max(x1 - x0, y1 - y0) / multiple) * multiple)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        out.append(CropBox(_place(cx - side / 2, side, width), _place(cy - side / 2, side, height), side))
    return out


def _resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Resize ``[N, C, s, s]`` to ``[N, C, size, size]``; identity when already that size."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    if mode == "nearest":
        return F.interpolate(x, size=(size, size), mode="nearest-exact")
    return F.interpolate(x, size=(size, size), mode=mode, align_corners=False, antialias=size < x.shape[-1])


def crop_window(
    frames: torch.Tensor,
    box: CropBox,
    size: int = 784,
    *,
    fill: float = 0.0,
    mode: str = "bilinear",
    chunk_size: int = 8,
) -> torch.Tensor:
    """Cut ``frames`` to ``box`` and resize to ``size x size``.

    Args:
        frames: ``[t, H, W, C]`` float frames of one window.
        box: the window's crop; parts outside the frame are filled with ``fill``.
        size: generation size (MIMO: 784).
        mode: ``"bilinear"`` (antialiased when shrinking) for images, ``"nearest"`` for
            label maps, or any ``F.interpolate`` mode.
        chunk_size: frames resized at a time (bounds memory for big crops).

    Returns:
        ``[t, size, size, C]`` in ``frames``' float dtype.
    """
    if frames.dim() != 4:
        raise ValueError(f"frames must be [t,H,W,C], got shape {tuple(frames.shape)}")
    t, height, width, channels = frames.shape
    fx0, fy0, fx1, fy1 = box.in_frame(height, width)
    dtype = frames.dtype if frames.is_floating_point() else torch.float32
    out = []
    for start in range(0, t, max(1, int(chunk_size))):
        part = frames[start:start + chunk_size]
        canvas = torch.full((part.shape[0], box.size, box.size, channels), float(fill), dtype=dtype,
                            device=frames.device)
        if fx1 > fx0 and fy1 > fy0:
            canvas[:, fy0 - box.y0:fy1 - box.y0, fx0 - box.x0:fx1 - box.x0] = part[:, fy0:fy1, fx0:fx1].to(dtype)
        out.append(_resize(canvas.permute(0, 3, 1, 2), size, mode).permute(0, 2, 3, 1))
    return torch.cat(out)


def feather_mask(box: CropBox, frame_size: tuple[int, int], feather: int = 16,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Paste weight of a crop in frame coordinates, ``[H, W]`` float32 in 0..1.

    1 inside the box, 0 outside, ramping linearly from 0 to 1 over ``feather`` pixels
    inward from each box edge that lies inside the frame. Edges on or past the frame
    border are not feathered (nothing to blend with there), as in the released masks.
    """
    height, width = int(frame_size[0]), int(frame_size[1])
    if feather < 0:
        raise ValueError(f"feather must be >= 0 pixels, got {feather}")

    def axis(lo: int, hi: int, extent: int) -> torch.Tensor:
        c = torch.arange(extent, dtype=torch.float32, device=device) + 0.5
        inside = ((c > lo) & (c < hi)).float()
        if feather == 0:
            return inside
        ramp = torch.ones_like(c)
        if lo > 0:
            ramp = torch.minimum(ramp, (c - lo) / feather)
        if hi < extent:
            ramp = torch.minimum(ramp, (hi - c) / feather)
        return inside * ramp.clamp(0, 1)

    return torch.minimum(axis(box.y0, box.y1, height)[:, None], axis(box.x0, box.x1, width)[None, :])


class WindowPaster:
    """Pastes generated window crops into full frames one window at a time.

    The streaming form of :func:`paste_windows` (same arguments, same result): memory is the
    base video and one output video, whatever the number of windows, so windows can be
    pasted as soon as they are decoded. Pixels no crop reaches keep the base's values exactly.
    """

    def __init__(
        self,
        base: torch.Tensor,
        windows: Sequence[Sequence[int]],
        boxes: Sequence[CropBox],
        *,
        feather: int = 16,
        blend: str = "linear",
        mode: str = "bilinear",
    ) -> None:
        if base.dim() != 4:
            raise ValueError(f"base must be [T,H,W,C], got shape {tuple(base.shape)}")
        if len(windows) != len(boxes):
            raise ValueError(f"got {len(windows)} windows and {len(boxes)} boxes; expected equal counts")
        if feather < 0:
            raise ValueError(f"feather must be >= 0 pixels, got {feather}")
        self.base = base.float()
        self.windows = [[int(f) for f in win] for win in windows]
        self.boxes = list(boxes)
        self.weights = window_weights(self.windows, base.shape[0], blend)
        self.feather, self.mode = int(feather), mode
        self.out = self.base.clone()
        self.pasted = [False] * len(self.windows)

    def add(self, index: int, crop: torch.Tensor) -> None:
        """Paste window ``index``'s generated frames ``[len(window), S, S, C]`` (any square size S)."""
        if not 0 <= index < len(self.windows):
            raise ValueError(f"window index {index} is outside 0..{len(self.windows) - 1}")
        if self.pasted[index]:
            raise ValueError(f"window {index} was already pasted")
        win, box, weight = self.windows[index], self.boxes[index], self.weights[index]
        _, height, width, channels = self.base.shape
        if crop.dim() != 4 or crop.shape[0] != len(win) or crop.shape[1] != crop.shape[2] or crop.shape[3] != channels:
            raise ValueError(
                f"crop shape {tuple(crop.shape)} does not fit a window of {len(win)} frames: expected "
                f"[{len(win)}, S, S, {channels}]"
            )
        device = self.base.device
        fx0, fy0, fx1, fy1 = box.in_frame(height, width)
        if fx1 > fx0 and fy1 > fy0:
            # out starts as the base; each window adds weight * m * (crop - base), so what no crop
            # reaches stays the base bit for bit
            idx = torch.as_tensor(win, device=device)
            full = _resize(crop.float().to(device).permute(0, 3, 1, 2), box.size, self.mode).permute(0, 2, 3, 1)
            gen = full[:, fy0 - box.y0:fy1 - box.y0, fx0 - box.x0:fx1 - box.x0]
            m = feather_mask(box, (height, width), self.feather, device)[fy0:fy1, fx0:fx1, None]
            delta = (gen - self.base[idx, fy0:fy1, fx0:fx1]) * m * weight.to(device).view(-1, 1, 1, 1)
            self.out[:, fy0:fy1, fx0:fx1].index_add_(0, idx, delta)
        self.pasted[index] = True

    def result(self) -> torch.Tensor:
        """``[T, H, W, C]`` float32, once every window is pasted."""
        missing = [k for k, done in enumerate(self.pasted) if not done]
        if missing:
            raise ValueError(f"windows {missing[:10]} are not pasted yet")
        return self.out


def paste_windows(
    base: torch.Tensor,
    crops: Sequence[torch.Tensor],
    windows: Sequence[Sequence[int]],
    boxes: Sequence[CropBox],
    *,
    feather: int = 16,
    blend: str = "linear",
    mode: str = "bilinear",
) -> torch.Tensor:
    """Paste generated window crops back into full frames.

    Args:
        base: ``[T, H, W, C]`` what shows outside the crops (MIMO: the scene video).
        crops: per window ``[len(window), S, S, C]`` generated frames (any square size S).
        windows: frame indices per window (must cover every frame).
        boxes: the :class:`CropBox` each window was cropped with.
        feather: paste-mask ramp width in frame pixels (see :func:`feather_mask`).
        blend: how windows sharing frames are mixed (context blend mode; MIMO: ``"linear"``).

    Returns:
        ``[T, H, W, C]`` float32: per window ``base * (1 - m) + crop * m``, blended over windows.
    """
    if base.dim() != 4:
        raise ValueError(f"base must be [T,H,W,C], got shape {tuple(base.shape)}")
    if not len(crops) == len(windows) == len(boxes):
        raise ValueError(f"got {len(crops)} crops, {len(windows)} windows and {len(boxes)} boxes; expected equal counts")
    paster = WindowPaster(base, windows, boxes, feather=feather, blend=blend, mode=mode)
    for k, crop in enumerate(crops):
        paster.add(k, crop)
    return paster.result()
