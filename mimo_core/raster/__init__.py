"""Mesh rasterisation: posed body mesh -> per-pixel attributes, depth, normals.

One interface, two backends: a pure-PyTorch rasteriser (CPU and GPU, always
available) and nvdiffrast (CUDA, optional). See :mod:`.camera` for the camera and
pixel conventions shared by both.
"""

from .backend import available_backends, rasterize, select_backend
from .camera import PerspectiveCamera, cam_crop_to_full, full_frame_camera, hmr2_full_focal
from .interpolate import interpolate
from .mesh_ops import lambert_shading, vertex_normals
from .render import rasterize_mesh, render_attributes, render_depth, render_normals
from .types import Rasterization

__all__ = [
    "PerspectiveCamera",
    "Rasterization",
    "available_backends",
    "cam_crop_to_full",
    "full_frame_camera",
    "hmr2_full_focal",
    "interpolate",
    "lambert_shading",
    "rasterize",
    "rasterize_mesh",
    "render_attributes",
    "render_depth",
    "render_normals",
    "select_backend",
    "vertex_normals",
]
