"""The rendered pose condition: the posed body mesh drawn with a fixed per-vertex colour table.

The official MIMO release conditions its denoiser on such a render ("sdc": the SMPL mesh with
a fixed colour per vertex). The pack's own models use the same idea with the body model they
were trained on: :func:`rest_pose_colours` gives every vertex a colour from its position on
the canonical body (so the colour says *which part of the body* a pixel shows, and left and
right differ), and :func:`render_pose_video` draws the posed mesh with it, frame by frame.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .raster import PerspectiveCamera, render_attributes


def rest_pose_colours(rest_vertices: torch.Tensor, margin: float = 0.05) -> torch.Tensor:
    """A dense-correspondence colour table from canonical vertex positions.

    Args:
        rest_vertices: ``[V,3]`` vertices of the canonical (zero-pose) body, metres.
        margin: colours are kept inside ``[margin, 1 - margin]`` so that no body part
            is pure black (the background colour).

    Returns:
        ``[V,3]`` float32 RGB in 0..1: x, y, z of the canonical body scaled to the unit cube
        (R = left/right, G = up/down, B = front/back).
    """
    if rest_vertices.ndim != 2 or rest_vertices.shape[-1] != 3:
        raise ValueError(f"rest_vertices must be [V,3], got {tuple(rest_vertices.shape)}")
    v = rest_vertices.detach().float()
    lo, hi = v.min(0).values, v.max(0).values
    unit = (v - lo) / (hi - lo).clamp_min(1e-6)
    return (margin + (1 - 2 * margin) * unit).clamp(0, 1)


def render_pose_video(
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    colours: torch.Tensor,
    camera: PerspectiveCamera,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
    chunk_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the posed body with a per-vertex colour table, chunk by chunk.

    Args:
        vertices_cam: ``[T,V,3]`` posed vertices in the camera frame (OpenCV axes, metres).
        faces: ``[F,3]`` long.
        colours: ``[V,C]`` per-vertex values (RGB in 0..1 for a pose video; any C works).
        camera: intrinsics and image size shared by all frames.
        background: value of pixels the body does not cover.
        chunk_size: frames rasterised at once (bounds memory).
        progress: ``progress(done, total)`` after each chunk.

    Returns:
        ``(frames [T,H,W,C] float32, mask [T,H,W] float32 in {0,1})`` on the vertices' device.
    """
    if vertices_cam.ndim != 3 or vertices_cam.shape[-1] != 3:
        raise ValueError(f"vertices_cam must be [T,V,3], got {tuple(vertices_cam.shape)}")
    if colours.shape[0] != vertices_cam.shape[1]:
        raise ValueError(
            f"colour table has {colours.shape[0]} vertices but the mesh has {vertices_cam.shape[1]}: "
            "use the table made for this body model"
        )
    total = vertices_cam.shape[0]
    frames, masks = [], []
    colours = colours.to(vertices_cam.device, torch.float32)
    for start in range(0, total, chunk_size):
        image, mask = render_attributes(
            vertices_cam[start:start + chunk_size].float(), faces, colours, camera,
            background=list(background)[: colours.shape[-1]] if colours.shape[-1] == len(background) else 0.0,
            backend=backend,
        )
        frames.append(image)
        masks.append(mask.float())
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    return torch.cat(frames), torch.cat(masks)


def render_vertex_codes(
    codes: torch.Tensor,
    vertices_cam: torch.Tensor,
    faces: torch.Tensor,
    camera: PerspectiveCamera,
    chunk_size: int = 8,
    backend: str | None = None,
) -> torch.Tensor:
    """Rasterise per-vertex latent codes (the MIMO paper's structured motion code) into feature maps.

    Every covered pixel holds the perspective-correct barycentric blend of the codes of the three
    vertices of the visible triangle; pixels off the body are exactly 0. Differentiable with respect
    to ``codes`` (the rasterisation itself is constant), so the codes train through the pose encoder
    and the denoising UNet.

    Args:
        codes: ``[V,C]`` float per-vertex codes (e.g. :class:`~mimo_core.models.vertex_codes.VertexCodes`).
        vertices_cam: ``[T,V,3]`` posed vertices in the camera frame (OpenCV axes, metres).
        faces: ``[F,3]`` long.
        camera: intrinsics and image size shared by all frames.
        chunk_size: frames rasterised at once (bounds memory).
        backend: rasteriser backend (see :func:`mimo_core.raster.rasterize`); default: the best available.

    Returns:
        ``[T,C,H,W]`` feature maps in ``codes``' dtype, on ``vertices_cam``'s device.
    """
    if codes.ndim != 2 or not codes.is_floating_point():
        raise ValueError(f"codes must be a float [V,C] tensor, got {tuple(codes.shape)} {codes.dtype}")
    if vertices_cam.ndim != 3 or vertices_cam.shape[-1] != 3:
        raise ValueError(f"vertices_cam must be [T,V,3], got {tuple(vertices_cam.shape)}")
    if codes.shape[0] != vertices_cam.shape[1]:
        raise ValueError(
            f"{codes.shape[0]} vertex codes for a mesh with {vertices_cam.shape[1]} vertices: "
            "the codes must be made for this body model"
        )
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    codes = codes.to(vertices_cam.device)
    maps = []
    for start in range(0, vertices_cam.shape[0], int(chunk_size)):
        image, _ = render_attributes(
            vertices_cam[start:start + int(chunk_size)].float(), faces, codes, camera, backend=backend
        )
        maps.append(image.permute(0, 3, 1, 2))
    return torch.cat(maps)
