"""Modulated deformable convolution (DCNv2) on ``torchvision.ops.deform_conv2d``.

Parameter names (``weight``, ``bias``) match mmcv's ``ModulatedDeformConv2d``
so the published state dicts load unchanged. Offsets use the same layout:
per deformable group and kernel tap an interleaved (dy, dx) pair.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torchvision.ops import deform_conv2d


class ModulatedDeformConv2d(nn.Module):
    """Weights of a modulated deformable conv; ``deform`` applies it.

    Args:
        in_channels / out_channels: channel counts.
        kernel_size: square kernel side.
        padding: zero padding.
        deform_groups: number of offset groups (divides ``in_channels``).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1, deform_groups: int = 1
    ) -> None:
        super().__init__()
        if in_channels % deform_groups:
            raise ValueError(f"in_channels={in_channels} not divisible by deform_groups={deform_groups}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = padding
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        stdv = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        nn.init.uniform_(self.weight, -stdv, stdv)
        nn.init.zeros_(self.bias)

    def deform(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [N,Cin,H,W], offset [N,2*G*k*k,H,W], mask [N,G*k*k,H,W] -> [N,Cout,H,W]."""
        return deform_conv2d(
            x, offset, self.weight, self.bias, stride=(1, 1), padding=(self.padding, self.padding), mask=mask
        )
