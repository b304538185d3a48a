"""Structured motion code: one learnable latent vector per body-model vertex (MIMO paper).

The codes are posed with the body mesh and rasterised into dense ``[C, H, W]`` feature maps by
:func:`mimo_core.pose_condition.render_vertex_codes`; the maps then go through a pose encoder
(:class:`~mimo_core.models.pose_encoders.PaperPoseEncoder`) whose output is added after the denoising UNet's
``conv_in`` (``VideoUNet(..., pose_features=...)``). :class:`VertexCodes` owns the codes;
:class:`StructuredMotionEncoder` chains codes, rasterisation and encoder into one trainable module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..pose_condition import render_vertex_codes
from ..raster import PerspectiveCamera
from .pose_encoders import PaperPoseEncoder

#: vertex counts of the supported body models
SMPL_VERTICES = 6890
ANNY_VERTICES = 13718


class VertexCodes(nn.Module):
    """``codes``: learnable ``[num_vertices, dim]`` latent codes, initialised from ``N(0, init_std^2)``."""

    def __init__(self, num_vertices: int = SMPL_VERTICES, dim: int = 16, init_std: float = 1.0) -> None:
        super().__init__()
        if num_vertices <= 0 or dim <= 0:
            raise ValueError(f"VertexCodes needs positive sizes, got num_vertices={num_vertices}, dim={dim}")
        self.num_vertices = num_vertices
        self.dim = dim
        self.codes = nn.Parameter(torch.randn(num_vertices, dim) * init_std)

    def forward(self, vertices: torch.Tensor | None = None) -> torch.Tensor:
        """Codes for a mesh batch.

        ``vertices``: optional ``[B, V, 3]`` posed vertices, only used to check ``V`` and to get ``B``.
        Returns ``[V, C]`` without ``vertices``, else ``[B, V, C]`` (a broadcast view, no copy).
        """
        if vertices is None:
            return self.codes
        if vertices.ndim != 3 or vertices.shape[1] != self.num_vertices:
            raise ValueError(
                f"VertexCodes holds {self.num_vertices} vertex codes, got vertices of shape {tuple(vertices.shape)} "
                f"(expected [B, {self.num_vertices}, 3])"
            )
        return self.codes.unsqueeze(0).expand(vertices.shape[0], -1, -1)


class StructuredMotionEncoder(nn.Module):
    """Per-vertex codes -> rasterised feature maps -> pose encoder: the paper's motion condition.

    ``codes``: :class:`VertexCodes` (``num_vertices`` x ``dim``); ``encoder``: :class:`PaperPoseEncoder` with
    ``dim`` input channels and ``embedding_channels`` outputs (the UNet's first block width, 320 for SD1.5).
    The encoder's zero-initialised projection makes the output 0 until it is trained, so a UNet starts from
    its image model. Gradients reach the codes through the rasterisation (see
    :func:`~mimo_core.pose_condition.render_vertex_codes`).
    """

    def __init__(
        self,
        num_vertices: int = SMPL_VERTICES,
        dim: int = 16,
        embedding_channels: int = 320,
        widths: Sequence[int] = (16, 32, 64, 128),
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.codes = VertexCodes(num_vertices, dim, init_std)
        self.encoder = PaperPoseEncoder(dim, embedding_channels, widths)

    def render(
        self, vertices_cam: torch.Tensor, faces: torch.Tensor, camera: PerspectiveCamera, chunk_size: int = 8,
        backend: str | None = None,
    ) -> torch.Tensor:
        """Feature maps ``[T, dim, H, W]`` of the codes on the posed mesh ``vertices_cam`` ``[T, V, 3]``."""
        if vertices_cam.ndim != 3 or vertices_cam.shape[1] != self.codes.num_vertices:
            raise ValueError(
                f"StructuredMotionEncoder holds {self.codes.num_vertices} vertex codes, got vertices of shape "
                f"{tuple(vertices_cam.shape)} (expected [T, {self.codes.num_vertices}, 3])"
            )
        return render_vertex_codes(self.codes(), vertices_cam, faces, camera, chunk_size, backend)

    def forward(
        self, vertices_cam: torch.Tensor, faces: torch.Tensor, camera: PerspectiveCamera, chunk_size: int = 8,
        backend: str | None = None,
    ) -> torch.Tensor:
        """Pose features for a video ``[1, embedding_channels, T, H/f, W/f]`` (``f`` = the encoder's downsampling).

        ``vertices_cam``: ``[T, V, 3]`` posed vertices of one video, camera frame. The result is the
        ``pose_features`` argument of :class:`~mimo_core.models.video_unet.VideoUNet`.
        """
        maps = self.render(vertices_cam, faces, camera, chunk_size, backend)  # [T, C, H, W]
        return self.encoder(maps.transpose(0, 1).unsqueeze(0))
