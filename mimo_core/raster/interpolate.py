"""Per-pixel interpolation of per-vertex attributes (backend independent)."""

from __future__ import annotations

import torch

from .types import Rasterization


def interpolate(attrs: torch.Tensor, rast: Rasterization) -> torch.Tensor:
    """Interpolate vertex attributes over the visible triangles.

    Differentiable with respect to ``attrs`` (gradients flow into the per-vertex
    values, e.g. learnable latent codes); the rasterisation itself is constant.

    Args:
        attrs: ``[V,C]`` (shared by all frames) or ``[B,V,C]`` float per-vertex values.
        rast: the result of :func:`mimo_core.raster.rasterize` for ``B`` frames.

    Returns:
        ``[B,H,W,C]``: ``sum_i bary_i * attrs[face[i]]`` on covered pixels, 0 on the
        background (see :func:`mimo_core.raster.render_attributes` for a background value).
    """
    n_frames, height, width = rast.shape
    if not isinstance(attrs, torch.Tensor) or attrs.ndim not in (2, 3):
        shape = tuple(attrs.shape) if isinstance(attrs, torch.Tensor) else type(attrs).__name__
        raise ValueError(f"attrs must be [V,C] or [B,V,C], got {shape}")
    if not attrs.is_floating_point():
        raise ValueError(f"attrs must be floating point, got {attrs.dtype}")
    if attrs.ndim == 3 and attrs.shape[0] not in (1, n_frames):
        raise ValueError(f"attrs has {attrs.shape[0]} frames but the rasterisation has {n_frames}")
    n_verts = attrs.shape[-2]
    faces = rast.faces.to(attrs.device)
    if faces.numel() and int(faces.max()) >= n_verts:
        raise ValueError(f"attrs has {n_verts} vertices but faces index vertex {int(faces.max())}")
    channels = attrs.shape[-1]
    face_id = rast.face_id.to(attrs.device).reshape(-1)
    pix = (face_id >= 0).nonzero(as_tuple=True)[0]
    vid = faces[face_id[pix]]  # [N,3]
    bary = rast.bary.to(device=attrs.device, dtype=attrs.dtype).reshape(-1, 3)[pix]
    if attrs.ndim == 2 or attrs.shape[0] == 1:
        vals = attrs.reshape(n_verts, channels)[vid]  # [N,3,C]
    else:
        frame = torch.div(pix, height * width, rounding_mode="floor")
        vals = attrs[frame.unsqueeze(-1), vid]
    per_pixel = (vals * bary.unsqueeze(-1)).sum(-2)
    out = attrs.new_zeros(n_frames * height * width, channels)
    out = out.index_copy(0, pix, per_pixel)
    return out.view(n_frames, height, width, channels)
