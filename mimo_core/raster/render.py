"""Render a posed mesh seen by a :class:`PerspectiveCamera`: attributes, depth, normals."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .backend import rasterize
from .camera import PerspectiveCamera
from .interpolate import interpolate
from .mesh_ops import lambert_shading, vertex_normals
from .types import Rasterization


def rasterize_mesh(
    verts: torch.Tensor,
    faces: torch.Tensor,
    camera: PerspectiveCamera,
    *,
    backend: str | None = None,
    cull: str = "none",
) -> Rasterization:
    """Project ``verts`` (``[B,V,3]``/``[V,3]``, camera space unless the camera has
    ``R``/``t``) with ``camera`` and rasterise them at the camera's image size."""
    screen = camera.to_screen(verts.detach())
    return rasterize(screen, faces, camera.height, camera.width, backend=backend, cull=cull, min_depth=camera.znear)


def _background(background: float | Sequence[float] | torch.Tensor, channels: int, like: torch.Tensor):
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device).reshape(-1)
    if bg.numel() not in (1, channels):
        raise ValueError(f"background must be a scalar or have {channels} values, got {bg.numel()}")
    return bg.expand(channels)


def render_attributes(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    vertex_attrs: torch.Tensor,
    camera: PerspectiveCamera,
    background: float | Sequence[float] | torch.Tensor = 0.0,
    *,
    backend: str | None = None,
    cull: str = "none",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render per-vertex attributes (colours, latent codes, ...) of a mesh.

    Args:
        verts_cam: ``[B,V,3]`` or ``[V,3]`` vertices (camera space, OpenCV axes,
            unless ``camera`` carries ``R``/``t``).
        faces: ``[F,3]`` vertex indices.
        vertex_attrs: ``[V,C]`` or ``[B,V,C]`` float values; gradients flow into them.
        camera: intrinsics and image size.
        background: value of uncovered pixels, scalar or ``C`` values.
        backend, cull: see :func:`mimo_core.raster.rasterize`.

    Returns:
        ``(image [B,H,W,C], mask [B,H,W] bool)``.
    """
    rast = rasterize_mesh(verts_cam, faces, camera, backend=backend, cull=cull)
    image = interpolate(vertex_attrs, rast)
    mask = rast.mask.to(image.device)
    bg = _background(background, image.shape[-1], image)
    if bool((bg != 0).any()):
        image = torch.where(mask.unsqueeze(-1), image, bg)
    return image, mask


def render_depth(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    camera: PerspectiveCamera,
    background: float = 0.0,
    *,
    backend: str | None = None,
    cull: str = "none",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-space depth (``z``, same unit as the vertices) of the visible surface.

    Returns:
        ``(depth [B,H,W] float32, mask [B,H,W] bool)``; ``background`` where uncovered.
    """
    rast = rasterize_mesh(verts_cam, faces, camera, backend=backend, cull=cull)
    depth = torch.where(rast.mask, rast.depth, torch.full_like(rast.depth, float(background)))
    return depth, rast.mask


def render_normals(
    verts_cam: torch.Tensor,
    faces: torch.Tensor,
    camera: PerspectiveCamera,
    *,
    light_dir: Sequence[float] | torch.Tensor | None = None,
    ambient: float = 0.25,
    backend: str | None = None,
    cull: str = "none",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth (per-vertex, area-weighted) normals of the visible surface.

    Args:
        verts_cam: ``[B,V,3]`` or ``[V,3]`` vertices (camera space unless the
            camera has ``R``/``t``; normals are always returned in camera space).
        faces: ``[F,3]`` vertex indices, counter-clockwise seen from outside.
        camera: intrinsics and image size.
        light_dir: ``None`` returns the normal map; a direction (camera space, the
            way the light travels, e.g. ``(0, 0, 1)`` for a headlight) returns grey
            two-sided Lambert shading instead.
        ambient: ambient term of the shading, 0..1.

    Returns:
        ``(image [B,H,W,3], mask [B,H,W])``: unit normals (x right, y down, z
        forward; 0 on the background) or, with ``light_dir``, shading in 0..1
        repeated over 3 channels.
    """
    cam_verts = camera.world_to_camera(verts_cam)
    normals = vertex_normals(cam_verts, faces)
    rast = rasterize_mesh(verts_cam, faces, camera, backend=backend, cull=cull)
    image = interpolate(normals, rast)
    mask = rast.mask.to(image.device)
    image = image / image.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    if light_dir is None:
        return image, mask
    return lambert_shading(image, mask, light_dir, ambient=ambient).expand(-1, -1, -1, 3), mask
