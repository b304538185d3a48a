"""nvdiffrast rasteriser behind the same interface as :mod:`.torch_backend`.

nvdiffrast is CUDA-only and not on PyPI, so it is imported lazily; use
:func:`is_available` before calling :func:`rasterize_nvdiffrast`.

Conversion from the pack's pixel space to nvdiffrast clip space: nvdiffrast
samples pixel ``(col, row)`` at NDC ``x = 2 (col + 0.5) / W - 1`` and stores NDC
``y = -1`` in row 0, so a pixel-space point ``(u, v)`` with depth ``z`` (pixel
centres at ``+0.5``, row 0 at the top) maps to clip space without any flip::

    x_c = (2 u / W - 1) z,  y_c = (2 v / H - 1) z,  w_c = z,
    z_c = ((f + n) z - 2 f n) / (f - n)

with ``n``, ``f`` bracketing the scene depth (only the depth test uses them).
Triangles the torch backend drops (culled, or with a vertex at
``z <= min_depth``) are moved behind the camera here so both backends cover the
same pixels; nvdiffrast's own edge rule may still differ on pixel centres lying
exactly on an edge.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from .types import Rasterization, check_cull, check_screen_inputs

_CONTEXTS: dict[str, Any] = {}


def _import_nvdiffrast():
    return importlib.import_module("nvdiffrast.torch")


def is_available() -> bool:
    """True when nvdiffrast can be imported and CUDA is available."""
    if not torch.cuda.is_available():
        return False
    try:
        _import_nvdiffrast()
    except Exception:  # ImportError, or a broken CUDA extension build
        return False
    return True


def _context(device: torch.device):
    key = str(device)
    if key not in _CONTEXTS:
        dr = _import_nvdiffrast()
        _CONTEXTS[key] = dr.RasterizeCudaContext(device=device)
    return _CONTEXTS[key]


@torch.no_grad()
def rasterize_nvdiffrast(
    verts_px: torch.Tensor,
    faces: torch.Tensor,
    height: int,
    width: int,
    *,
    cull: str = "none",
    min_depth: float = 1e-6,
) -> Rasterization:
    """Rasterise pixel-space triangles with nvdiffrast (CUDA tensors only).

    Arguments and result are those of :func:`.torch_backend.rasterize_torch`.
    """
    verts_px = check_screen_inputs(verts_px, faces, height, width)
    check_cull(cull)
    if verts_px.device.type != "cuda":
        raise ValueError(f"the nvdiffrast backend needs CUDA tensors, got verts_px on {verts_px.device}")
    dr = _import_nvdiffrast()
    height, width = int(height), int(width)
    device = verts_px.device
    faces = faces.to(device=device, dtype=torch.int64)
    verts = verts_px.float()
    n_frames = verts.shape[0]
    z = verts[..., 2]

    near, far = depth_range(z, min_depth)
    clip = pixel_to_clip(verts, height, width, near, far)  # [B,V,4]

    drop = _dropped_faces(verts, faces, cull, min_depth)  # [B,F]
    if bool(drop.any()):
        # Unweld so each frame can hide its own triangles behind the camera.
        clip = clip[:, faces.reshape(-1)].reshape(n_frames, -1, 3, 4)
        hidden = torch.tensor([0.0, 0.0, 0.0, -1.0], device=device)
        clip = torch.where(drop[..., None, None], hidden, clip).reshape(n_frames, -1, 4)
        tri = torch.arange(faces.shape[0] * 3, device=device, dtype=torch.int32).reshape(-1, 3)
    else:
        tri = faces.to(torch.int32)

    rast, _ = dr.rasterize(_context(device), clip.contiguous(), tri.contiguous(), resolution=[height, width])
    return from_nvdiffrast_output(rast, faces, z)


def depth_range(z: torch.Tensor, min_depth: float) -> tuple[float, float]:
    """Near/far planes bracketing the visible depths ``z`` (any shape)."""
    front = z[z > min_depth]
    if front.numel() == 0:
        return 1.0, 10.0
    near = max(float(front.min()) * 0.5, min_depth)
    far = max(float(front.max()) * 2.0, near * 4.0)
    return near, far


def pixel_to_clip(verts_px: torch.Tensor, height: int, width: int, near: float, far: float) -> torch.Tensor:
    """``[B,V,3]`` pixel ``(u, v, z)`` -> ``[B,V,4]`` nvdiffrast clip coordinates (see module doc)."""
    u, v, z = verts_px.unbind(-1)
    return torch.stack(
        [
            (2.0 * u / width - 1.0) * z,
            (2.0 * v / height - 1.0) * z,
            ((far + near) * z - 2.0 * far * near) / (far - near),
            z,
        ],
        dim=-1,
    )


def from_nvdiffrast_output(rast: torch.Tensor, faces: torch.Tensor, z: torch.Tensor) -> Rasterization:
    """Convert nvdiffrast's ``[B,H,W,4]`` ``(u, v, z/w, triangle id + 1)`` output.

    nvdiffrast's barycentrics weight the triangle's vertices as ``(u, v, 1 - u - v)``
    and are perspective-correct, so the camera depth is their blend of vertex ``z``.
    """
    n_frames = rast.shape[0]
    face_id = rast[..., 3].round().long() - 1
    covered = face_id >= 0
    u, v = rast[..., 0], rast[..., 1]
    bary = torch.stack([u, v, 1.0 - u - v], dim=-1) * covered.unsqueeze(-1)
    vid = faces[face_id.clamp(min=0)]  # [B,H,W,3]
    frame = torch.arange(n_frames, device=rast.device).view(-1, 1, 1, 1)
    depth = (bary * z[frame, vid]).sum(-1) * covered
    return Rasterization(face_id=face_id, bary=bary.float(), depth=depth.float(), faces=faces)


def _dropped_faces(verts: torch.Tensor, faces: torch.Tensor, cull: str, min_depth: float) -> torch.Tensor:
    """``[B,F]`` bool: triangles the torch backend would not draw."""
    tri = verts[:, faces]  # [B,F,3,3]
    drop = (tri[..., 2] <= min_depth).any(-1)
    if cull != "none":
        a, b, c = tri[..., 0, :2], tri[..., 1, :2], tri[..., 2, :2]
        area2 = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
        drop |= (area2 >= 0) if cull == "back" else (area2 <= 0)
    return drop
