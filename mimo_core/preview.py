"""Preview images for people to look at: mask overlays, boxes, side-by-side strips."""

from __future__ import annotations

import numpy as np
import torch


def overlay_mask(frames: torch.Tensor, masks: torch.Tensor, color: tuple[float, float, float] = (0.1, 0.9, 0.3),
                 alpha: float = 0.5) -> torch.Tensor:
    """Tint ``frames`` where ``masks`` is on.

    Args:
        frames: [T,H,W,3] float in 0..1.
        masks: [T,H,W] float in 0..1.
        color: RGB tint in 0..1.
        alpha: tint strength in 0..1.

    Returns:
        [T,H,W,3] float in 0..1.
    """
    if frames.shape[:3] != masks.shape:
        raise ValueError(f"masks {tuple(masks.shape)} must match frames {tuple(frames.shape[:3])}")
    tint = torch.tensor(color, dtype=frames.dtype, device=frames.device)
    a = (masks.to(frames.dtype) * alpha).unsqueeze(-1)
    return frames * (1 - a) + tint * a


def draw_boxes(frames: torch.Tensor, boxes: np.ndarray | torch.Tensor,
               color: tuple[float, float, float] = (1.0, 0.8, 0.0), thickness: int = 2) -> torch.Tensor:
    """Draw one axis-aligned box per frame (NaN boxes are skipped).

    Args:
        frames: [T,H,W,3] float in 0..1.
        boxes: [T,4] ``x0,y0,x1,y1`` in pixels (NaN = no box).
    """
    out = frames.clone()
    boxes = np.asarray(boxes, dtype=np.float64)
    h, w = frames.shape[1:3]
    tint = torch.tensor(color, dtype=frames.dtype)
    for i, box in enumerate(boxes):
        if not np.all(np.isfinite(box)):
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, x1 = max(0, min(x0, w - 1)), max(0, min(x1, w - 1))
        y0, y1 = max(0, min(y0, h - 1)), max(0, min(y1, h - 1))
        t = thickness
        out[i, y0:y0 + t, x0:x1 + 1] = tint
        out[i, max(y1 - t + 1, 0):y1 + 1, x0:x1 + 1] = tint
        out[i, y0:y1 + 1, x0:x0 + t] = tint
        out[i, y0:y1 + 1, max(x1 - t + 1, 0):x1 + 1] = tint
    return out


def side_by_side(*videos: torch.Tensor) -> torch.Tensor:
    """Concatenate videos [T,H,W,3] left to right (heights must match; T is the shortest)."""
    if not videos:
        raise ValueError("side_by_side needs at least one video")
    t = min(v.shape[0] for v in videos)
    heights = {v.shape[1] for v in videos}
    if len(heights) != 1:
        raise ValueError(f"videos must share a height to be placed side by side, got {sorted(heights)}")
    return torch.cat([v[:t] for v in videos], dim=2)
