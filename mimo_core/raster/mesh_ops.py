"""Small geometric helpers for rendering previews: vertex normals and Lambert shading."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Area-weighted unit vertex normals.

    Args:
        verts: ``[B,V,3]`` or ``[V,3]`` positions.
        faces: ``[F,3]`` vertex indices; normals follow the right-hand rule
            (counter-clockwise vertices -> normal towards the viewer).

    Returns:
        Same shape as ``verts``; unit length (zero for vertices used by no face).
    """
    squeeze = verts.ndim == 2
    v = verts.unsqueeze(0) if squeeze else verts
    if v.ndim != 3 or v.shape[-1] != 3:
        raise ValueError(f"verts must be [B,V,3] or [V,3], got {tuple(verts.shape)}")
    f = faces.to(device=v.device, dtype=torch.int64)
    tri = v[:, f]  # [B,F,3,3]
    face_n = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)  # 2*area*normal
    normals = torch.zeros_like(v)
    for corner in range(3):
        normals = normals.index_add(1, f[:, corner], face_n)
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp(min=eps)
    return normals[0] if squeeze else normals


def lambert_shading(
    normals: torch.Tensor,
    mask: torch.Tensor,
    light_dir: Sequence[float] | torch.Tensor = (0.0, 0.0, 1.0),
    ambient: float = 0.25,
    two_sided: bool = True,
) -> torch.Tensor:
    """Grey Lambert shading of a normal map.

    Args:
        normals: ``[B,H,W,3]`` camera-space normals (OpenCV axes: x right, y down,
            z forward).
        mask: ``[B,H,W]`` bool, pixels to shade.
        light_dir: direction the light travels, in camera space; the default
            ``(0, 0, 1)`` is a headlight shining from the camera into the scene.
        ambient: constant term in 0..1.
        two_sided: light back faces as if their normal were flipped.

    Returns:
        ``[B,H,W,1]`` intensity in 0..1, 0 outside ``mask``.
    """
    light = torch.as_tensor(light_dir, dtype=normals.dtype, device=normals.device).reshape(3)
    light = light / light.norm().clamp(min=1e-12)
    n = normals / normals.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    cos = -(n * light).sum(-1)  # surface lit when its normal faces against the light travel
    cos = cos.abs() if two_sided else cos.clamp(min=0.0)
    shade = ambient + (1.0 - ambient) * cos
    return (shade * mask.to(shade.dtype)).clamp(0.0, 1.0).unsqueeze(-1)
