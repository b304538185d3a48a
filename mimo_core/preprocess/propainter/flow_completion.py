"""Recurrent flow completion network (``recurrent_flow_completion.pth``).

Module and parameter names follow the published checkpoint exactly (74 keys,
no wrapper, no ``module.`` prefix). Widths scale with ``base`` (32 in the
published model) so tiny test models exist.

Shapes: flows [B,T-1,2,H,W] with H, W multiples of 8; masks [B,T,1,H,W]
(1 = hole).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .deform import ModulatedDeformConv2d


def _lrelu(slope: float = 0.2) -> nn.LeakyReLU:
    return nn.LeakyReLU(slope, inplace=True)


class SecondOrderDeformableAlignment(ModulatedDeformConv2d):
    """Deformable alignment conditioned on the two previous propagated features."""

    def __init__(self, in_channels: int, out_channels: int, deform_groups: int, max_residue_magnitude: float = 5.0):
        super().__init__(in_channels, out_channels, 3, padding=1, deform_groups=deform_groups)
        self.max_residue_magnitude = max_residue_magnitude
        c = out_channels
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * c, c, 3, 1, 1), _lrelu(0.1),
            nn.Conv2d(c, c, 3, 1, 1), _lrelu(0.1),
            nn.Conv2d(c, c, 3, 1, 1), _lrelu(0.1),
            nn.Conv2d(c, 27 * deform_groups, 3, 1, 1),
        )
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x [N,2C,H,W], cond [N,3C,H,W] -> [N,C,H,W]."""
        o1, o2, mask = torch.chunk(self.conv_offset(cond), 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        return self.deform(x, offset, torch.sigmoid(mask))


class FlowBidirectionalPropagation(nn.Module):
    """Second-order recurrent propagation, backward then forward, fused 1x1."""

    def __init__(self, channel: int, deform_groups: int = 16) -> None:
        super().__init__()
        self.channel = channel
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(("backward_", "forward_")):
            self.deform_align[name] = SecondOrderDeformableAlignment(2 * channel, channel, deform_groups)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1), _lrelu(0.1), nn.Conv2d(channel, channel, 3, 1, 1)
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,T,C,H,W] -> [B,T,C,H,W]."""
        b, t, c, h, w = x.shape
        spatial = [x[:, i] for i in range(t)]
        done: dict[str, list[torch.Tensor]] = {}
        for name in ("backward_", "forward_"):
            order = range(t - 1, -1, -1) if name == "backward_" else range(t)
            outs: list[torch.Tensor] = []
            feat_prop = x.new_zeros(b, c, h, w)
            for i, idx in enumerate(order):
                current = spatial[idx]
                if i > 0:
                    feat_n2 = outs[-2] if i > 1 else torch.zeros_like(feat_prop)
                    cond = torch.cat([feat_prop, current, feat_n2], dim=1)
                    feat_prop = self.deform_align[name](torch.cat([feat_prop, feat_n2], dim=1), cond)
                parts = [current] + [done[k][idx] for k in done] + [feat_prop]
                feat_prop = feat_prop + self.backbone[name](torch.cat(parts, dim=1))
                outs.append(feat_prop)
            done[name] = outs[::-1] if name == "backward_" else outs
        fused = [self.fusion(torch.cat([done["backward_"][i], done["forward_"][i]], dim=1)) for i in range(t)]
        return torch.stack(fused, dim=1) + x


class Deconv(nn.Module):
    """2x bilinear upsample (align_corners) then conv."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, 1, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class P3DBlock(nn.Module):
    """Pseudo-3D conv: (1,k,k) spatial conv + LeakyReLU, then (3,1,1) dilated temporal conv."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__()
        k = kernel_size
        self.conv1 = nn.Sequential(
            nn.Conv3d(cin, cout, (1, k, k), (1, stride, stride), (0, padding, padding)), _lrelu()
        )
        self.conv2 = nn.Sequential(nn.Conv3d(cout, cout, (3, 1, 1), (1, 1, 1), (2, 0, 0), dilation=(2, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class EdgeDetection(nn.Module):
    """Flow edge head (used in training only; kept for strict loading)."""

    def __init__(self, in_ch: int = 2, out_ch: int = 1, mid_ch: int = 16) -> None:
        super().__init__()
        self.projection = nn.Sequential(nn.Conv2d(in_ch, mid_ch, 3, 1, 1), _lrelu())
        self.mid_layer_1 = nn.Sequential(nn.Conv2d(mid_ch, mid_ch, 3, 1, 1), _lrelu())
        self.mid_layer_2 = nn.Sequential(nn.Conv2d(mid_ch, mid_ch, 3, 1, 1))
        self.l_relu = nn.LeakyReLU(0.01)
        self.out_layer = nn.Conv2d(mid_ch, out_ch, 1, 1, 0)

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        feat = self.projection(flow)
        edge = self.l_relu(feat + self.mid_layer_2(self.mid_layer_1(feat)))
        return torch.sigmoid(self.out_layer(edge))


class RecurrentFlowCompleteNet(nn.Module):
    """Completes masked optical flow; ``base=32`` is the published model."""

    def __init__(self, base: int = 32, deform_groups: int = 16) -> None:
        super().__init__()
        c1, c2, c3 = base, 2 * base, 4 * base
        self.channel = c3
        self.downsample = nn.Sequential(
            nn.Conv3d(3, c1, (1, 5, 5), (1, 2, 2), (0, 2, 2), padding_mode="replicate"), _lrelu()
        )
        self.encoder1 = nn.Sequential(P3DBlock(c1, c1, 3, 1, 1), _lrelu(), P3DBlock(c1, c2, 3, 2, 1), _lrelu())
        self.encoder2 = nn.Sequential(P3DBlock(c2, c2, 3, 1, 1), _lrelu(), P3DBlock(c2, c3, 3, 2, 1), _lrelu())
        self.mid_dilation = nn.Sequential(
            nn.Conv3d(c3, c3, (1, 3, 3), (1, 1, 1), padding=(0, 3, 3), dilation=(1, 3, 3)), _lrelu(),
            nn.Conv3d(c3, c3, (1, 3, 3), (1, 1, 1), padding=(0, 2, 2), dilation=(1, 2, 2)), _lrelu(),
            nn.Conv3d(c3, c3, (1, 3, 3), (1, 1, 1), padding=(0, 1, 1), dilation=(1, 1, 1)), _lrelu(),
        )
        self.feat_prop_module = FlowBidirectionalPropagation(c3, deform_groups)
        self.decoder2 = nn.Sequential(nn.Conv2d(c3, c3, 3, 1, 1), _lrelu(), Deconv(c3, c2, 3, 1), _lrelu())
        self.decoder1 = nn.Sequential(nn.Conv2d(c2, c2, 3, 1, 1), _lrelu(), Deconv(c2, c1, 3, 1), _lrelu())
        self.upsample = nn.Sequential(nn.Conv2d(c1, c1, 3, padding=1), _lrelu(), Deconv(c1, 2, 3, 1))
        self.edgeDetector = EdgeDetection(in_ch=2, out_ch=1, mid_ch=16)

    def forward(self, masked_flows: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """masked_flows [B,L,2,H,W], masks [B,L,1,H,W] -> completed flows [B,L,2,H,W]."""
        b, t, _, h, w = masked_flows.shape
        if h % 8 or w % 8:
            raise ValueError(f"flow size must be a multiple of 8, got {h}x{w}")
        x = self.downsample(torch.cat((masked_flows, masks), dim=2).permute(0, 2, 1, 3, 4))
        feat_e1 = self.encoder1(x)
        feat_mid = self.mid_dilation(self.encoder2(feat_e1)).permute(0, 2, 1, 3, 4)
        feat_prop = self.feat_prop_module(feat_mid).reshape(-1, self.channel, h // 8, w // 8)
        _, c, _, hf, wf = feat_e1.shape
        feat_e1 = feat_e1.permute(0, 2, 1, 3, 4).reshape(-1, c, hf, wf)
        feat_d2 = self.decoder2(feat_prop) + feat_e1
        flow = self.upsample(self.decoder1(feat_d2))
        return flow.view(b, t, 2, h, w)

    def forward_bidirect_flow(
        self, flows_bi: tuple[torch.Tensor, torch.Tensor], masks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Complete forward and backward flows [B,T-1,2,H,W] given masks [B,T,1,H,W]."""
        m_f = masks[:, :-1].contiguous()
        m_b = masks[:, 1:].contiguous()
        pred_f = self.forward(flows_bi[0] * (1 - m_f), m_f)
        pred_b = self.forward(torch.flip(flows_bi[1] * (1 - m_b), dims=[1]), torch.flip(m_b, dims=[1]))
        return pred_f, torch.flip(pred_b, dims=[1])

    @staticmethod
    def combine_flow(
        flows_bi: tuple[torch.Tensor, torch.Tensor],
        pred_bi: tuple[torch.Tensor, torch.Tensor],
        masks: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep measured flow outside the holes, predicted flow inside."""
        m_f = masks[:, :-1]
        m_b = masks[:, 1:]
        return pred_bi[0] * m_f + flows_bi[0] * (1 - m_f), pred_bi[1] * m_b + flows_bi[1] * (1 - m_b)
