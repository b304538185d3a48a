"""The result of rasterising a triangle mesh, shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

import torch

CULL_MODES = ("none", "back", "front")


@dataclass
class Rasterization:
    """Per-pixel visibility of a mesh in ``B`` frames of ``H x W`` pixels.

    Attributes:
        face_id: ``[B,H,W]`` int64 index into ``faces`` of the visible triangle,
            ``-1`` where no triangle covers the pixel centre.
        bary: ``[B,H,W,3]`` float32 perspective-correct barycentric weights of the
            visible triangle's three vertices (in the order of its row in
            ``faces``); they sum to 1 on covered pixels and are 0 elsewhere.
        depth: ``[B,H,W]`` float32 camera-space ``z`` of the visible surface;
            0 on background pixels.
        faces: ``[F,3]`` int64 triangle vertex indices used for the render
            (needed by :func:`mimo_core.raster.interpolate`).
    """

    face_id: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    faces: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """``[B,H,W]`` bool, True where a triangle is visible."""
        return self.face_id >= 0

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(B, H, W)``."""
        b, h, w = self.face_id.shape
        return int(b), int(h), int(w)


def check_screen_inputs(verts_px: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Validate rasteriser inputs; returns ``verts_px`` as ``[B,V,3]``.

    Args:
        verts_px: ``[B,V,3]`` or ``[V,3]``: pixel ``x``, pixel ``y`` (continuous,
            corner origin) and camera depth ``z``.
        faces: ``[F,3]`` integer vertex indices.
        height, width: image size in pixels.
    """
    if not isinstance(verts_px, torch.Tensor) or verts_px.ndim not in (2, 3) or verts_px.shape[-1] != 3:
        shape = tuple(verts_px.shape) if isinstance(verts_px, torch.Tensor) else type(verts_px).__name__
        raise ValueError(f"verts_px must be [B,V,3] or [V,3] (pixel x, pixel y, depth), got {shape}")
    if not verts_px.is_floating_point():
        raise ValueError(f"verts_px must be a floating-point tensor, got {verts_px.dtype}")
    if not isinstance(faces, torch.Tensor) or faces.ndim != 2 or faces.shape[1] != 3:
        shape = tuple(faces.shape) if isinstance(faces, torch.Tensor) else type(faces).__name__
        raise ValueError(f"faces must be an [F,3] integer tensor, got {shape}")
    if faces.is_floating_point() or faces.dtype == torch.bool:
        raise ValueError(f"faces must hold integer vertex indices, got {faces.dtype}")
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if verts_px.ndim == 2:
        verts_px = verts_px.unsqueeze(0)
    n_verts = verts_px.shape[1]
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= n_verts):
        raise ValueError(
            f"faces index vertices in [{int(faces.min())}, {int(faces.max())}] but there are {n_verts} vertices"
        )
    return verts_px


def check_cull(cull: str) -> str:
    """Validate a culling mode name (see :data:`CULL_MODES`)."""
    if cull not in CULL_MODES:
        raise ValueError(f"cull must be one of {CULL_MODES}, got {cull!r}")
    return cull
