"""Render the official MIMO "sdc" pose condition: the posed body with a fixed per-vertex colour table.

What the release does (``video_decomp/run.py`` and ``hmr2/utils/renderer.py`` of
github.com/menyifang/MIMO, ``Renderer.render_rgba_multiple``; pyrender 0.1.45), and how it is
reproduced here:

* Geometry: SMPL-H vertices (6,890, the SMPL topology; hands posed from the hand estimator) plus
  the HMR 2.0 full-image translation, camera ``IntrinsicsCamera(f, f, W/2, H/2)`` with
  ``f = 5000 / 256 * max(W, H)`` and the full frame ``W x H`` as viewport
  (:func:`mimo_core.raster.full_frame_camera`).
* No crop or pad: ``run.py`` first shrinks the input video so that it is at most 720p
  (only when both sides exceed 720), renders every frame at that full frame size, and saves
  ``sdc.mp4`` with ``imageio.mimsave(fps=30, quality=8, macro_block_size=1)`` (libx264,
  yuv420p, about crf 10). A frame without a person box is all black.
* Hands: when the hand detector finds no hand in a frame, the vertices of that hand
  (``leftHand`` + ``leftHandIndex1``, resp. right, of ``smpl_vert_segmentation.json``) are removed
  from the mesh before rendering. ``hidden_vertices`` reproduces this: faces touching a hidden
  vertex are not drawn. Finger poses come from HaMeR in the release; here from MediaPipe hand
  landmarks fitted to the SMPL-H hands (:func:`mimo_core.sdc.hand_poses.pose_sdc_hands`, which also
  gives the hidden vertices of undetected hands), or the motion's own, or flat (``flat_hand_mean``).
* Shading: ``RenderFlags.FLAT``, ambient light only, black background, no alpha. The trimesh
  vertex colours are stored as uint8 (``round(255 c)`` for a 0..1 table). ``Mesh.from_trimesh``
  gives a vertex-coloured mesh no material, so pyrender's default
  ``MetallicRoughnessMaterial(baseColorFactor=[0.3, 0.3, 0.3, 1])`` applies, and the flat shader
  outputs ``clamp(baseColorFactor * vertex_colour, 0, 1)``: a rendered colour is **0.3 x** the
  table colour (:data:`SDC_GAIN`). Colours are interpolated over each triangle.
* Rasterisation: back faces culled (material not double-sided), 4x MSAA resolved by averaging
  (anti-aliased silhouettes), 8-bit output (``round``), then ``uint8 -> /255 -> *255 -> uint8``
  in ``run.py`` (exact for every level). The standard 4x sample pattern is used here; colours
  are evaluated at each sample (the GPU evaluates them once per pixel), a difference below one
  grey level inside the body.

A table recovered from an official ``sdc.mp4`` (:mod:`mimo_core.sdc.recover`) is stored in table
space (rendered colour / gain), so that rendering it here reproduces the template.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..raster import PerspectiveCamera, full_frame_camera, interpolate, rasterize
from ..raster.sdc_conventions import SDC_BASE_COLOR_FACTOR

#: Factor between a table colour and its rendered value (pyrender's default material).
SDC_GAIN = float(SDC_BASE_COLOR_FACTOR)
#: Standard 4x MSAA sample positions, offsets from the pixel centre in pixels (x right, y down).
MSAA4_OFFSETS = ((-2 / 16, -6 / 16), (6 / 16, -2 / 16), (-6 / 16, 2 / 16), (2 / 16, 6 / 16))
CENTRE_OFFSETS = ((0.0, 0.0),)


def sample_offsets(samples: int) -> tuple[tuple[float, float], ...]:
    """Sub-pixel sample offsets for ``samples`` = 1 (pixel centre) or 4 (MSAA pattern)."""
    if samples == 1:
        return CENTRE_OFFSETS
    if samples == 4:
        return MSAA4_OFFSETS
    raise ValueError(f"samples must be 1 or 4 (the release renders with 4x MSAA), got {samples}")


def quantize_table(colour_table: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``[V,3]`` 0..1 colours -> the uint8 levels trimesh stores (``round(255 c) / 255``), float32."""
    table = torch.as_tensor(np.asarray(colour_table) if not isinstance(colour_table, torch.Tensor) else colour_table)
    return (table.float().clamp(0, 1) * 255.0).round() / 255.0


def sdc_camera(image_size: tuple[int, int], focal: float | None = None) -> PerspectiveCamera:
    """The release's camera for a ``(W, H)`` frame: focal ``5000/256*max(W,H)`` unless given, centred."""
    width, height = int(image_size[0]), int(image_size[1])
    cam = full_frame_camera(width, height, focal)
    return PerspectiveCamera(cam.fx, cam.fy, cam.cx, cam.cy, width, height, znear=0.05)


def hide_vertices(vertices_cam: torch.Tensor, hidden_vertices: torch.Tensor | None) -> torch.Tensor:
    """Move hidden vertices behind the camera so that the rasteriser drops every face touching them.

    Args:
        vertices_cam: ``[T,V,3]``.
        hidden_vertices: ``None``, ``[V]`` or ``[T,V]`` bool.
    """
    if hidden_vertices is None:
        return vertices_cam
    hidden = torch.as_tensor(hidden_vertices, dtype=torch.bool, device=vertices_cam.device)
    t, v = vertices_cam.shape[:2]
    if hidden.shape not in ((v,), (t, v)):
        raise ValueError(f"hidden_vertices must be [V]={v} or [T,V]=({t},{v}) bool, got {tuple(hidden.shape)}")
    hidden = hidden.expand(t, v)
    behind = vertices_cam.clone()
    behind[..., 2] = torch.where(hidden, torch.full_like(behind[..., 2], -1.0), behind[..., 2])
    return behind


def render_sdc(
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    colour_table: torch.Tensor | np.ndarray,
    image_size: tuple[int, int],
    focal: float | None = None,
    *,
    gain: float = SDC_GAIN,
    samples: int = 4,
    hidden_vertices: torch.Tensor | None = None,
    quantize: bool = True,
    chunk_size: int = 8,
    backend: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Render sdc frames the way the official release does (see module doc).

    Args:
        vertices_cam: ``[T,V,3]`` posed vertices in the OpenCV camera frame (metres; body
            vertices + HMR 2.0 full-image ``cam_t``).
        faces: ``[F,3]`` int vertex indices, counter-clockwise seen from outside.
        colour_table: ``[V,3]`` table colours in 0..1 (e.g. :func:`load_colour_table`).
        image_size: ``(W, H)`` of the frame in pixels.
        focal: focal length in pixels; ``None`` = ``5000 / 256 * max(W, H)``.
        gain: rendered / table colour factor (0.3, pyrender's default material).
        samples: 4 (the release's MSAA) or 1 (pixel centres only).
        hidden_vertices: ``[V]`` or ``[T,V]`` bool; faces touching them are not drawn (undetected hands).
        quantize: round the table to uint8 (as trimesh stores it) and the output to 8-bit levels.
        chunk_size: frames rasterised at once (bounds memory).
        backend: raster backend (see :func:`mimo_core.raster.rasterize`).
        progress: ``progress(done, total)`` after each chunk.

    Returns:
        ``[T,H,W,3]`` float32 RGB in 0..1 (multiples of 1/255 when ``quantize``); black background.
    """
    if not isinstance(vertices_cam, torch.Tensor) or vertices_cam.ndim != 3 or vertices_cam.shape[-1] != 3:
        shape = tuple(vertices_cam.shape) if isinstance(vertices_cam, torch.Tensor) else type(vertices_cam).__name__
        raise ValueError(f"vertices_cam must be a [T,V,3] tensor, got {shape}")
    table = quantize_table(colour_table) if quantize else torch.as_tensor(np.asarray(colour_table)).float()
    if table.ndim != 2 or table.shape[1] != 3:
        raise ValueError(f"colour_table must be [V,3] RGB in 0..1, got {tuple(table.shape)}")
    if table.shape[0] != vertices_cam.shape[1]:
        raise ValueError(
            f"colour table has {table.shape[0]} vertices but the mesh has {vertices_cam.shape[1]}: "
            "use the table made for this body model (the release's is for the 6,890-vertex SMPL-H mesh)"
        )
    camera = sdc_camera(image_size, focal)
    device = vertices_cam.device
    colours = (table * float(gain)).to(device)
    faces = torch.as_tensor(faces, dtype=torch.long, device=device)
    offsets = sample_offsets(samples)
    total = vertices_cam.shape[0]
    out = []
    for start in range(0, total, chunk_size):
        verts = hide_vertices(vertices_cam[start:start + chunk_size].float(), _slice(hidden_vertices, start, chunk_size))
        screen = camera.to_screen(verts)
        acc = None
        for dx, dy in offsets:
            shifted = screen - torch.tensor([dx, dy, 0.0], device=device)
            rast = rasterize(shifted, faces, camera.height, camera.width, backend=backend, cull="back",
                             min_depth=camera.znear)
            img = interpolate(colours, rast)
            acc = img if acc is None else acc + img
        frames = (acc / len(offsets)).clamp(0, 1)
        if quantize:
            frames = (frames * 255.0).round() / 255.0
        out.append(frames)
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    return torch.cat(out)


def _slice(hidden: torch.Tensor | None, start: int, size: int) -> torch.Tensor | None:
    if hidden is None:
        return None
    hidden = torch.as_tensor(hidden)
    return hidden if hidden.ndim == 1 else hidden[start:start + size]


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``[T,H,W,3]`` float 0..1 -> uint8 numpy (rounded)."""
    return (frames.detach().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
