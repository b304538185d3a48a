"""Person crops for HMR 2.0 and the crop <-> image geometry.

A box ``(x0, y0, x1, y1)`` (continuous pixel coordinates, see :mod:`mimo_core.raster.camera`) becomes a
square of side ``box_size = rescale * max(h, w * 256/192)`` centred on the box: the box is first widened
or heightened to the network's 192:256 aspect (4D-Humans ``expand_to_aspect_ratio``), then the larger
side is taken. The square is resampled to 256x256 (bilinear, zero outside the frame, Gaussian
pre-blur with ``sigma = (box_size / 512 - 1) / 2`` when shrinking by more than 2.2x, as 4D-Humans does)
and its centre 192 columns are kept. A crop pixel centre ``u`` (0..256) maps to the frame point
``center + (u - 128) * box_size / 256``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .model import IMAGE_MEAN, IMAGE_STD

CROP_SIZE = 256
ASPECT = 192.0 / 256.0  # width / height of the network input


def square_boxes(
    boxes: torch.Tensor, rescale: float = 1.2, aspect: float = ASPECT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crop boxes around person boxes.

    Args:
        boxes: ``[N, 4]`` ``x0, y0, x1, y1`` pixels (finite).
        rescale: factor applied to the box before squaring (1.2: the margin 4D-Humans crops use;
            1.0: the detector box as in its ViTDet demo).
        aspect: width / height of the network input.
    Returns:
        ``(center [N, 2], size [N])`` in pixels.
    """
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be [N, 4] (x0, y0, x1, y1), got {tuple(boxes.shape)}")
    center = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    wh = (boxes[:, 2:] - boxes[:, :2]).abs() * rescale
    size = torch.maximum(wh[:, 1], wh[:, 0] / aspect)
    return center, size


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[C, H, W]`` (radius ``4 sigma``, edge-replicated)."""
    radius = max(1, int(math.ceil(4.0 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = image.shape[0]
    img = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")
    img = F.conv2d(img, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    img = F.conv2d(img, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return img[0]


def crop_people(
    images: torch.Tensor,
    center: torch.Tensor,
    size: torch.Tensor,
    out_hw: tuple[int, int] = (256, 192),
    antialias: bool = True,
) -> torch.Tensor:
    """Resample square crops into network inputs.

    Args:
        images: ``[N, 3, H, W]`` RGB in 0..1 (one frame per crop).
        center: ``[N, 2]`` square centre (pixels). size: ``[N]`` square side (pixels).
        out_hw: network input; the square maps to ``out_hw[0] x out_hw[0]`` pixels and the centre
            ``out_hw[1]`` columns are kept.
        antialias: pre-blur the frame when the square shrinks by more than 2.2x (4D-Humans' rule).
    Returns:
        ``[N, 3, out_h, out_w]`` ImageNet-normalised crops (outside the frame: black before normalising).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [N, 3, H, W], got {tuple(images.shape)}")
    n, _, h, w = images.shape
    if tuple(center.shape) != (n, 2) or tuple(size.reshape(-1).shape) != (n,):
        raise ValueError(
            f"center must be [{n}, 2] and size [{n}], got {tuple(center.shape)} / {tuple(size.shape)}"
        )
    out_h, out_w = out_hw
    side = out_h
    dev, dt = images.device, images.dtype
    center = center.to(device=dev, dtype=dt)
    scale = (size.reshape(-1).to(device=dev, dtype=dt) / side)[:, None]  # frame pixels per crop pixel
    u = torch.arange(out_w, device=dev, dtype=dt) + 0.5 + (side - out_w) / 2.0 - side / 2.0  # [out_w]
    v = torch.arange(out_h, device=dev, dtype=dt) + 0.5 - side / 2.0  # [out_h]
    x = center[:, :1] + u[None] * scale  # [N, out_w] frame pixels
    y = center[:, 1:] + v[None] * scale  # [N, out_h]
    gx = (2.0 * x / w - 1.0)[:, None, :].expand(n, out_h, out_w)
    gy = (2.0 * y / h - 1.0)[:, :, None].expand(n, out_h, out_w)
    grid = torch.stack([gx, gy], dim=-1)
    sources = []
    for i in range(n):
        factor = float(scale[i, 0]) / 2.0
        img = images[i]
        if antialias and factor > 1.1:
            img = _gaussian_blur(img, (factor - 1.0) / 2.0)
        sources.append(img)
    crops = F.grid_sample(
        torch.stack(sources), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    mean = torch.tensor(IMAGE_MEAN, device=dev, dtype=dt).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=dev, dtype=dt).view(1, 3, 1, 1)
    return (crops - mean) / std


def crop_to_image_points(
    points: torch.Tensor, center: torch.Tensor, size: torch.Tensor, side: int = CROP_SIZE
) -> torch.Tensor:
    """Map ``[N, K, 2]`` pixel positions of the ``side x side`` square crop to frame pixels."""
    return center[:, None, :] + (points - side / 2.0) * (size.reshape(-1, 1, 1) / side)
