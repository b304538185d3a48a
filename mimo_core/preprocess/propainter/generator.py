"""ProPainter inpainting generator (``ProPainter.pth``).

Encoder (1/4 resolution), flow-guided dual-domain propagation (pixel-level
image propagation without weights; feature propagation with deformable
alignment), temporal sparse transformer, decoder. Module and parameter names
match the published checkpoint (216 keys, no wrapper). ``ProPainterConfig()``
is the published model; smaller configs exist for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from .deform import ModulatedDeformConv2d
from .flow_completion import Deconv
from .flow_ops import binarize, fb_consistency_valid, flow_warp
from .sparse_transformer import SoftComp, SoftSplit, TemporalSparseTransformerBlock


@dataclass(frozen=True)
class ProPainterConfig:
    """Widths of the generator. Defaults are the published ProPainter model.

    ``base_width`` scales the encoder (64 -> feature channel 128 = 2*base);
    ``ffn_hidden`` must be a multiple of 49 (7x7 soft-split kernel).
    """

    base_width: int = 64
    hidden: int = 512
    depths: int = 8
    num_heads: int = 4
    ffn_hidden: int = 1960
    window_size: tuple[int, int] = (5, 9)
    pool_size: tuple[int, int] = (4, 4)
    deform_groups: int = 16

    @property
    def channel(self) -> int:
        return 2 * self.base_width


class DeformableAlignment(ModulatedDeformConv2d):
    """Flow-guided deformable alignment: offsets are residuals on the flow."""

    def __init__(self, channel: int, deform_groups: int, max_residue_magnitude: float = 3.0) -> None:
        super().__init__(channel, channel, 3, padding=1, deform_groups=deform_groups)
        self.max_residue_magnitude = max_residue_magnitude
        c = channel
        self.conv_offset = nn.Sequential(
            nn.Conv2d(2 * c + 2 + 1 + 2, c, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(c, 27 * deform_groups, 3, 1, 1),
        )
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """x [N,C,H,W], cond [N,2C+5,H,W], flow [N,2,H,W] (x,y) -> [N,C,H,W]."""
        o1, o2, mask = torch.chunk(self.conv_offset(cond), 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        offset = offset + flow.flip(1).repeat(1, offset.size(1) // 2, 1, 1)
        return self.deform(x, offset, torch.sigmoid(mask))


class BidirectionalPropagation(nn.Module):
    """Backward then forward recurrent propagation along completed flows.

    ``learnable=False`` is the image propagation (copies valid warped pixels
    into holes); ``learnable=True`` is the feature propagation.
    """

    def __init__(self, channel: int, learnable: bool = True, deform_groups: int = 16) -> None:
        super().__init__()
        self.channel = channel
        self.learnable = learnable
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        if learnable:
            for name in ("backward_1", "forward_1"):
                self.deform_align[name] = DeformableAlignment(channel, deform_groups)
                self.backbone[name] = nn.Sequential(
                    nn.Conv2d(2 * channel + 2, channel, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                    nn.Conv2d(channel, channel, 3, 1, 1),
                )
            self.fuse = nn.Sequential(
                nn.Conv2d(2 * channel + 2, channel, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )

    def forward(
        self, x: torch.Tensor, flows_forward: torch.Tensor, flows_backward: torch.Tensor, mask: torch.Tensor,
        interpolation: str = "bilinear",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B,T,C,H,W]; flows [B,T-1,2,H,W]; mask [B,T,M,H,W] (M=1 image, 2 feature).

        Returns (outputs [B,T,C,H,W], updated masks [B,T,1,H,W] or None when learnable).
        """
        b, t, c, h, w = x.shape
        feats = [x[:, i] for i in range(t)]
        masks = [mask[:, i] for i in range(t)]
        results: dict[str, list[torch.Tensor]] = {}
        for name in ("backward_1", "forward_1"):
            if name == "backward_1":
                frame_idx = list(range(t - 1, -1, -1))
                flow_idx = frame_idx
                flows_prop, flows_check = flows_forward, flows_backward
            else:
                frame_idx = list(range(t))
                flow_idx = list(range(-1, t - 1))
                flows_prop, flows_check = flows_backward, flows_forward
            out_f: list[torch.Tensor] = []
            out_m: list[torch.Tensor] = []
            for i, idx in enumerate(frame_idx):
                feat_current, mask_current = feats[idx], masks[idx]
                if i == 0:
                    feat_prop, mask_prop = feat_current, mask_current
                else:
                    flow_prop = flows_prop[:, flow_idx[i]]
                    valid = fb_consistency_valid(flow_prop, flows_check[:, flow_idx[i]])
                    warped = flow_warp(feat_prop, flow_prop.permute(0, 2, 3, 1), interpolation)
                    if self.learnable:
                        cond = torch.cat([feat_current, warped, flow_prop, valid, mask_current], dim=1)
                        feat_prop = self.deform_align[name](feat_prop, cond, flow_prop)
                        mask_prop = mask_current
                    else:
                        prop_valid = binarize(flow_warp(mask_prop, flow_prop.permute(0, 2, 3, 1)))
                        use = binarize(mask_current * valid * (1 - prop_valid))
                        feat_prop = use * warped + (1 - use) * feat_current
                        mask_prop = binarize(mask_current * (1 - valid * (1 - prop_valid)))
                if self.learnable:
                    feat = torch.cat([feat_current, feat_prop, mask_current], dim=1)
                    feat_prop = feat_prop + self.backbone[name](feat)
                out_f.append(feat_prop)
                out_m.append(mask_prop)
            if name == "backward_1":
                out_f, out_m = out_f[::-1], out_m[::-1]
            results[name] = out_f
            feats, masks = out_f, out_m
        outputs_b = torch.stack(results["backward_1"], dim=1).view(-1, c, h, w)
        outputs_f = torch.stack(results["forward_1"], dim=1).view(-1, c, h, w)
        if self.learnable:
            fused = self.fuse(torch.cat([outputs_b, outputs_f, mask.view(-1, 2, h, w)], dim=1))
            return (fused + x.view(-1, c, h, w)).view(b, t, c, h, w), None
        return outputs_f.view(b, t, c, h, w), torch.stack(masks, dim=1)


class Encoder(nn.Module):
    """Frames+masks [N,5,H,W] -> features [N,2*base,H/4,W/4] with grouped skip concatenations."""

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        w = base
        self.group = [1, 2, 4, 8, 1]
        specs = [  # (in, out, stride, groups)
            (5, w, 2, 1), (w, w, 1, 1), (w, 2 * w, 2, 1), (2 * w, 4 * w, 1, 1), (4 * w, 6 * w, 1, 1),
            (10 * w, 8 * w, 1, 2), (12 * w, 6 * w, 1, 4), (10 * w, 4 * w, 1, 8), (8 * w, 2 * w, 1, 1),
        ]
        layers: list[nn.Module] = []
        for cin, cout, stride, groups in specs:
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, groups=groups), nn.LeakyReLU(0.2, inplace=True)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bt = x.size(0)
        out = x
        x0 = x
        h = w = 0
        for i, layer in enumerate(self.layers):
            if i == 8:
                x0 = out
                _, _, h, w = x0.shape
            if i > 8 and i % 2 == 0:
                g = self.group[(i - 8) // 2]
                out = torch.cat([x0.view(bt, g, -1, h, w), out.view(bt, g, -1, h, w)], 2).view(bt, -1, h, w)
            out = layer(out)
        return out


class InpaintGenerator(nn.Module):
    """The ProPainter network; see ``forward`` and ``img_propagation``."""

    def __init__(self, config: ProPainterConfig | None = None) -> None:
        super().__init__()
        cfg = config or ProPainterConfig()
        self.config = cfg
        channel, hidden = cfg.channel, cfg.hidden
        self.encoder = Encoder(cfg.base_width)
        half = channel // 2
        self.decoder = nn.Sequential(
            Deconv(channel, channel, 3, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channel, half, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            Deconv(half, half, 3, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(half, 3, 3, 1, 1),
        )
        kernel, stride, padding = (7, 7), (3, 3), (3, 3)
        t2t = {"kernel_size": kernel, "stride": stride, "padding": padding}
        self.ss = SoftSplit(channel, hidden, kernel, stride, padding)
        self.sc = SoftComp(channel, hidden, kernel, stride, padding)
        self.max_pool = nn.MaxPool2d(kernel, stride, padding)
        self.img_prop_module = BidirectionalPropagation(3, learnable=False)
        self.feat_prop_module = BidirectionalPropagation(channel, learnable=True, deform_groups=cfg.deform_groups)
        self.transformers = TemporalSparseTransformerBlock(
            hidden, cfg.num_heads, cfg.window_size, cfg.pool_size, cfg.depths, cfg.ffn_hidden, t2t
        )

    def img_propagation(
        self, masked_frames: torch.Tensor, flows_bi: tuple[torch.Tensor, torch.Tensor], masks: torch.Tensor,
        interpolation: str = "nearest",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel propagation: frames [B,T,3,H,W] in -1..1, masks [B,T,1,H,W].

        Returns (propagated frames [B,T,3,H,W], still-unfilled masks [B,T,1,H,W]).
        """
        frames, new_masks = self.img_prop_module(masked_frames, flows_bi[0], flows_bi[1], masks, interpolation)
        assert new_masks is not None
        return frames, new_masks

    def forward(
        self, masked_frames: torch.Tensor, flows_bi: tuple[torch.Tensor, torch.Tensor], masks_in: torch.Tensor,
        masks_updated: torch.Tensor, num_local_frames: int, interpolation: str = "bilinear", t_dilation: int = 2,
    ) -> torch.Tensor:
        """Inpaint the local frames.

        Args:
            masked_frames: [B,T,3,H,W] in -1..1 (local frames first, then references); H, W multiples of 8.
            flows_bi: completed (forward, backward) flows of the local frames, each [B,Tl-1,2,H,W].
            masks_in: [B,T,1,H,W] original (dilated) holes; masks_updated: holes left after image propagation.
            num_local_frames: Tl.

        Returns:
            [B,Tl,3,H,W] in -1..1.
        """
        l_t = num_local_frames
        b, t, _, ori_h, ori_w = masked_frames.shape
        enc = self.encoder(torch.cat([masked_frames.view(b * t, 3, ori_h, ori_w),
                                      masks_in.view(b * t, 1, ori_h, ori_w),
                                      masks_updated.view(b * t, 1, ori_h, ori_w)], dim=1))
        _, c, h, w = enc.shape
        local_feat = enc.view(b, t, c, h, w)[:, :l_t]
        ref_feat = enc.view(b, t, c, h, w)[:, l_t:]
        fold_size = (h, w)

        def ds_flow(f: torch.Tensor) -> torch.Tensor:
            f = F.interpolate(f.reshape(-1, 2, ori_h, ori_w), scale_factor=1 / 4, mode="bilinear",
                              align_corners=False)
            return f.view(b, l_t - 1, 2, h, w) / 4.0

        ds_f, ds_b = ds_flow(flows_bi[0]), ds_flow(flows_bi[1])
        ds_mask_in = F.interpolate(masks_in.reshape(-1, 1, ori_h, ori_w), scale_factor=1 / 4, mode="nearest")
        ds_mask_local = ds_mask_in.view(b, t, 1, h, w)[:, :l_t]
        ds_upd_local = F.interpolate(masks_updated[:, :l_t].reshape(-1, 1, ori_h, ori_w), scale_factor=1 / 4,
                                     mode="nearest").view(b, l_t, 1, h, w)
        mask_pool = self.max_pool(ds_mask_local.reshape(-1, 1, h, w))
        mask_pool = mask_pool.view(b, l_t, 1, mask_pool.size(-2), mask_pool.size(-1))

        prop_mask = torch.cat([ds_mask_local, ds_upd_local], dim=2)
        local_feat, _ = self.feat_prop_module(local_feat, ds_f, ds_b, prop_mask, interpolation)
        enc = torch.cat((local_feat, ref_feat), dim=1)

        tokens = self.ss(enc.view(-1, c, h, w), b, fold_size)
        mask_pool = rearrange(mask_pool, "b t c h w -> b t h w c").contiguous()
        tokens = self.transformers(tokens, fold_size, mask_pool, t_dilation=t_dilation)
        trans = self.sc(tokens, t, fold_size).view(b, t, -1, h, w)
        enc = enc + trans
        out = self.decoder(enc[:, :l_t].reshape(-1, c, h, w))
        return torch.tanh(out).view(b, l_t, 3, ori_h, ori_w)
