"""Structured motion code: one learnable latent vector per body-model vertex (MIMO paper).

The codes are posed with the body mesh and rasterised into a dense ``[H, W, C]`` feature map by
``mimo_core.raster.render_attributes(verts_cam, faces, vertex_attrs, camera)``; the map then goes through a
pose encoder (:class:`~mimo_core.models.pose_encoders.PaperPoseEncoder`). This module only owns the codes.
"""

from __future__ import annotations

import torch
from torch import nn

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
