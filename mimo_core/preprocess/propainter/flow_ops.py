"""Flow helpers shared by the ProPainter networks.

All flows are pixel displacements ``[N,2,H,W]`` (channel 0 = x, 1 = y) unless
stated otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flow_warp(
    x: torch.Tensor,
    flow: torch.Tensor,
    interpolation: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = True,
) -> torch.Tensor:
    """Backward-warp ``x`` [N,C,H,W] by ``flow`` [N,H,W,2] (pixels, x then y).

    Output pixel ``p`` samples ``x`` at ``p + flow[p]``.
    """
    if x.shape[-2:] != flow.shape[1:3]:
        raise ValueError(f"flow_warp: x spatial size {tuple(x.shape[-2:])} != flow size {tuple(flow.shape[1:3])}")
    _, _, h, w = x.shape
    gy, gx = torch.meshgrid(
        torch.arange(h, device=flow.device), torch.arange(w, device=flow.device), indexing="ij"
    )
    grid = torch.stack((gx, gy), 2).to(x.dtype) + flow
    gx_n = 2.0 * grid[..., 0] / max(w - 1, 1) - 1.0
    gy_n = 2.0 * grid[..., 1] / max(h - 1, 1) - 1.0
    grid = torch.stack((gx_n, gy_n), dim=3)
    return F.grid_sample(x, grid, mode=interpolation, padding_mode=padding_mode, align_corners=align_corners)


def length_sq(x: torch.Tensor) -> torch.Tensor:
    """Squared length over channels: [N,C,H,W] -> [N,1,H,W]."""
    return torch.sum(torch.square(x), dim=1, keepdim=True)


def fb_consistency_valid(
    flow_fw: torch.Tensor, flow_bw: torch.Tensor, alpha1: float = 0.01, alpha2: float = 0.5
) -> torch.Tensor:
    """Forward-backward check; 1 where ``flow_fw`` [N,2,H,W] is consistent.

    Returns [N,1,H,W] in the dtype of ``flow_fw``.
    """
    bw_warped = flow_warp(flow_bw, flow_fw.permute(0, 2, 3, 1))
    diff = flow_fw + bw_warped
    thresh = alpha1 * (length_sq(flow_fw) + length_sq(bw_warped)) + alpha2
    return (length_sq(diff) < thresh).to(flow_fw)


def binarize(mask: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """1 where ``mask > threshold`` else 0, same dtype and shape."""
    return (mask > threshold).to(mask)
