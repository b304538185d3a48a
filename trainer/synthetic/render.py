"""Drawing the synthetic character: Lambert-shaded vertex colours, the pose condition, the reference.

The body is rasterised ONCE per clip with two attribute sets side by side (shaded albedo and the
pose colour table), so the pose render is exactly what
:func:`mimo_core.pose_condition.render_pose_video` draws for the same vertices (a test checks it).
"""

from __future__ import annotations

import numpy as np
import torch

from mimo_core.body import BodyModel, BodyParams
from mimo_core.pose_condition import rest_pose_colours
from mimo_core.raster import PerspectiveCamera, render_attributes, vertex_normals

_TABLES: dict[tuple[str, int], torch.Tensor] = {}


def canonical_pose_colours(body_model: BodyModel) -> torch.Tensor:
    """``[V,3]`` float32 pose colour table of ``body_model``: :func:`rest_pose_colours` of its mean-shape,
    zero-pose body. Fixed per body model (not per character), like the official release's table."""
    key = (body_model.name, body_model.num_vertices)
    if key not in _TABLES:
        with torch.no_grad():
            rest = body_model(body_model.zero_params(1)).vertices
        assert rest is not None
        _TABLES[key] = rest_pose_colours(rest[0])
    return _TABLES[key]


def rest_vertices(body_model: BodyModel, shape: torch.Tensor) -> torch.Tensor:
    """``[V,3]`` canonical zero-pose vertices of a character of ``shape`` ``[S]``."""
    params = body_model.zero_params(1)
    params.shape = shape[None].to(params.shape.dtype)
    with torch.no_grad():
        out = body_model(params).vertices
    assert out is not None
    return out[0]


def lambert_vertex_colours(
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    albedo: torch.Tensor,
    light_dir: torch.Tensor,
    ambient: float,
) -> torch.Tensor:
    """Per-vertex Lambert shading: ``albedo * (ambient + (1 - ambient) * max(0, n . -light))``.

    Args:
        vertices_cam: ``[T,V,3]`` camera-frame vertices.
        faces: ``[F,3]``.
        albedo: ``[V,3]`` RGB 0..1.
        light_dir: ``[3]`` direction the light travels (camera frame).
        ambient: 0..1.
    Returns:
        ``[T,V,3]`` float32 RGB 0..1.
    """
    normals = vertex_normals(vertices_cam, faces)
    light = light_dir / light_dir.norm().clamp_min(1e-9)
    cos = (-(normals * light).sum(-1)).clamp_min(0.0)
    shade = ambient + (1.0 - ambient) * cos
    return (albedo[None] * shade[..., None]).clamp(0.0, 1.0)


def render_body(
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    shaded: torch.Tensor,
    pose_colours: torch.Tensor,
    camera: PerspectiveCamera,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One rasterisation -> ``(rgb [T,H,W,3], pose [T,H,W,3], mask [T,H,W] bool)``, floats in 0..1.

    ``shaded`` is ``[T,V,3]`` per-frame vertex colours, ``pose_colours`` the ``[V,3]`` table; uncovered
    pixels are 0.
    """
    t = vertices_cam.shape[0]
    attrs = torch.cat([shaded, pose_colours[None].expand(t, -1, -1)], -1)
    image, mask = render_attributes(vertices_cam.float(), faces, attrs.float(), camera)
    return image[..., :3], image[..., 3:], mask


def framing_camera(height: int, width: int) -> PerspectiveCamera:
    """The full-frame camera of the clip (focal ``5000/256 * max(W, H)``, the body fitter's convention)."""
    from mimo_core.raster import full_frame_camera

    return full_frame_camera(width, height)


def render_reference(
    rest: torch.Tensor,
    faces: torch.Tensor,
    albedo: torch.Tensor,
    size: tuple[int, int],
    fill: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """The character in its canonical standing (rest A-) pose, facing the camera, on white.

    Args:
        rest: ``[V,3]`` the character's canonical zero-pose vertices (:func:`rest_vertices`).
        faces: ``[F,3]``.
        albedo: ``[V,3]`` its vertex colours.
        size: ``(height, width)`` of the image.
        fill: fraction of the image height the body covers.
    Returns:
        ``(image [H,W,3] uint8, mask [H,W] uint8 0/255)``.
    """
    h, w = size
    camera = framing_camera(h, w)
    verts = rest * torch.tensor([1.0, -1.0, -1.0])  # R_x(pi): upright and facing an OpenCV camera
    lo, hi = verts.amin(0), verts.amax(0)
    depth = camera.fy * float(hi[1] - lo[1]) / (fill * h)
    verts = verts - (lo + hi) / 2 + torch.tensor([0.0, 0.0, depth])
    shaded = lambert_vertex_colours(verts[None], faces, albedo, torch.tensor([0.3, 0.4, 1.0]), 0.45)
    image, mask = render_attributes(verts[None], faces, shaded, camera, background=1.0)
    return to_uint8(image[0]), mask[0].numpy().astype(np.uint8) * 255


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float 0..1 -> uint8 0..255 (rounded)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def posed_vertices(body_model: BodyModel, params: BodyParams) -> torch.Tensor:
    """``[T,V,3]`` posed vertices (no gradients)."""
    with torch.no_grad():
        out = body_model(params).vertices
    assert out is not None
    return out
