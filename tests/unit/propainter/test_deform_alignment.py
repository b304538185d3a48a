"""Offset convention of the deformable alignment: (dy, dx) pairs, flow given as (x, y)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mimo_core.preprocess.propainter.flow_ops import flow_warp
from mimo_core.preprocess.propainter.generator import DeformableAlignment


def test_zero_residual_alignment_is_conv_of_flow_warped_input():
    torch.manual_seed(0)
    c, h, w = 16, 12, 14
    align = DeformableAlignment(c, deform_groups=16).eval()  # last offset conv is zero-initialised
    x = torch.randn(1, c, h, w)
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0] = 2.0  # 2 px in x
    flow[:, 1] = -1.0  # -1 px in y
    cond = torch.randn(1, 2 * c + 5, h, w)
    with torch.no_grad():
        got = align(x, cond, flow)
        warped = flow_warp(x, flow.permute(0, 2, 3, 1))
        # mask = sigmoid(0) = 0.5 scales the sampled values, not the bias
        want = F.conv2d(warped, align.weight, None, padding=1) * 0.5 + align.bias.view(1, -1, 1, 1)
    # compare away from the borders, where zero padding of the two paths differs
    assert torch.allclose(got[..., 2:-3, 2:-3], want[..., 2:-3, 2:-3], atol=1e-5)
