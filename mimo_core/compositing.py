"""Alpha compositing of layers (occlusion over generated frames, layers back into a video)."""

from __future__ import annotations

import torch


def _match_mask(mask: torch.Tensor, image: torch.Tensor, name: str) -> torch.Tensor:
    """Broadcast ``mask`` ([T,H,W], [H,W] or [T,H,W,1]) to ``image`` [T,H,W,C]."""
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim == 4 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 3:
        raise ValueError(f"{name}: expected a mask [T,H,W] or [H,W], got shape {tuple(mask.shape)}")
    if mask.shape[-2:] != image.shape[1:3]:
        raise ValueError(
            f"{name}: mask size {tuple(mask.shape[-2:])} does not match the image size "
            f"{tuple(image.shape[1:3])}; resize one of them first"
        )
    if mask.shape[0] not in (1, image.shape[0]):
        raise ValueError(f"{name}: mask has {mask.shape[0]} frames but the image has {image.shape[0]}")
    return mask.to(image.dtype).clamp(0, 1).unsqueeze(-1)


def composite_over(background: torch.Tensor, foreground: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Put ``foreground`` over ``background`` where ``mask`` is 1.

    Args:
        background: [T,H,W,C] float in 0..1 (a single frame [1,H,W,C] is broadcast over T).
        foreground: [T,H,W,C] float in 0..1 (same broadcasting).
        mask: [T,H,W] or [H,W] float in 0..1, the foreground's alpha.

    Returns:
        [T,H,W,C] float in 0..1: ``fg * a + bg * (1 - a)``.
    """
    if background.ndim != 4 or foreground.ndim != 4:
        raise ValueError(
            "background and foreground must be image batches [T,H,W,C]; got "
            f"{tuple(background.shape)} and {tuple(foreground.shape)}"
        )
    if background.shape[1:] != foreground.shape[1:]:
        raise ValueError(
            f"background {tuple(background.shape[1:])} and foreground {tuple(foreground.shape[1:])} "
            "must have the same height, width and channels"
        )
    frames = max(background.shape[0], foreground.shape[0])
    for name, t in (("background", background), ("foreground", foreground)):
        if t.shape[0] not in (1, frames):
            raise ValueError(f"{name} has {t.shape[0]} frames, expected 1 or {frames}")
    alpha = _match_mask(mask, foreground if foreground.shape[0] == frames else background, "mask")
    return foreground * alpha + background * (1.0 - alpha)
