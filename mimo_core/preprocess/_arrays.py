"""Small array helpers shared by the preprocessing modules (numpy in, numpy out)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor or nested list) as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def as_frames(frames: Any, name: str = "frames") -> np.ndarray:
    """Validate a clip and return it as ``[T,H,W,3]`` float32 in 0..1.

    Accepts float arrays in 0..1 or uint8 arrays in 0..255, numpy or torch.
    A single ``[H,W,3]`` image becomes a one-frame clip.
    """
    arr = to_numpy(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must be [T,H,W,3] RGB (or one [H,W,3] image), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (T=0)")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * np.float32(1.0 / 255.0)
    return arr.astype(np.float32, copy=False)


def as_masks(masks: Any, shape: tuple[int, int, int], name: str) -> np.ndarray:
    """Validate a mask clip and return it as ``[T,H,W]`` float32 in 0..1.

    ``shape`` is the expected (T, H, W). Boolean, uint8 (0/255 or 0/1) and
    float masks are accepted; a trailing channel axis of size 1 is dropped.
    """
    arr = to_numpy(masks)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2 and shape[0] == 1:
        arr = arr[None]
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape [T,H,W]={tuple(shape)}, got {tuple(arr.shape)}")
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        scale = 1.0 / 255.0 if arr.max(initial=0) > 1 else 1.0
        return arr.astype(np.float32) * np.float32(scale)
    return np.clip(arr.astype(np.float32, copy=False), 0.0, 1.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float 0..1 image/clip -> uint8 0..255 (rounded); uint8 is returned as it is."""
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boxes ``[x0,y0,x1,y1]`` in pixels (0.0 if either is empty/NaN)."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def mask_box(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray | None:
    """Tight box ``[x0,y0,x1,y1]`` (x1/y1 exclusive) of ``mask > threshold``, or None if empty."""
    ys = np.flatnonzero((mask > threshold).any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero((mask > threshold).any(axis=0))
    return np.array([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=np.float32)


def expand_box(box: np.ndarray, scale: float, width: int, height: int, square: bool = False) -> np.ndarray:
    """Grow ``box`` about its centre by ``scale`` and clip it to the image; integer pixels."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * scale, (box[3] - box[1]) * scale
    if square:
        w = h = max(w, h)
    x0, x1 = int(max(0, np.floor(cx - w / 2))), int(min(width, np.ceil(cx + w / 2)))
    y0, y1 = int(max(0, np.floor(cy - h / 2))), int(min(height, np.ceil(cy + h / 2)))
    return np.array([x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)], dtype=np.int64)


def to_working_size(
    frames: np.ndarray, masks: list[np.ndarray], max_side: int
) -> tuple[np.ndarray, list[np.ndarray], tuple[int, int]]:
    """Shrink a clip and its masks so that the longer side is at most ``max_side`` pixels.

    Args:
        frames: [T,H,W,3] float32.
        masks: [T,H,W] float masks, each thresholded at 0.5 after shrinking.

    Returns:
        (frames [T,h,w,3] float32, the masks as [T,h,w] bool, (w, h)).
    """
    h, w = frames.shape[1:3]
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = np.stack([cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in frames])
    small_masks = [
        np.stack([cv2.resize(m, (sw, sh), interpolation=cv2.INTER_AREA) for m in ms]) > 0.5 for ms in masks
    ]
    return small, small_masks, (sw, sh)


def to_full_size(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """[T,h,w] bool masks at working size -> [T,height,width] float32 0/1 (bilinear, then 0.5)."""
    out = np.zeros((len(masks), height, width), np.float32)
    for i, m in enumerate(masks):
        if m.any():
            up = cv2.resize(m.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
            out[i] = (up > 0.5).astype(np.float32)
    return out


def disk(r: float) -> np.ndarray:
    """Elliptic structuring element of radius ``int(r)`` (at least 1)."""
    r = max(1, int(r))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with the areas it encloses filled."""
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(m)
    cv2.drawContours(out, contours, -1, 1, thickness=-1)
    return out.astype(bool)


def channel_max(image: np.ndarray) -> np.ndarray:
    """Largest of the last axis' values (colour channels); like ``.max(-1)`` (NaN too), many times
    faster on a short last axis."""
    out = image[..., 0].copy()
    for c in range(1, image.shape[-1]):
        np.maximum(out, image[..., c], out=out)
    return out


def nan_median(stack: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN (NaN where every value is NaN); like ``np.nanmedian``, much faster."""
    ordered = np.sort(stack, axis=0)  # NaN sort last
    n = (~np.isnan(ordered)).sum(0)
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[None], 0)[0]
    hi = np.take_along_axis(ordered, np.minimum(n // 2, len(stack) - 1)[None], 0)[0]
    out = 0.5 * (lo + hi)
    out[n == 0] = np.nan
    return out.astype(stack.dtype, copy=False)
