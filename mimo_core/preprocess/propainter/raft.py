"""RAFT optical flow (``raft-things.pth``) on torchvision's RAFT implementation.

torchvision's ``RAFT`` is the same network as princeton-vl/RAFT (the copy
ProPainter vendors): same encoders, correlation pyramid, update block and
convex upsampling, input in -1..1. Only the parameter names differ, so the
published file (a DataParallel state dict, every key ``module.``-prefixed) is
loaded through an explicit name map. The published layout also stores each
context-encoder downsample BatchNorm twice (``norm3`` and ``downsample.1``
are one module); ``official_state_dict`` writes both, loading checks they agree.

``RaftConfig()`` is the published model; small configs exist for tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.optical_flow.raft import (
    RAFT,
    CorrBlock,
    FeatureEncoder,
    FlowHead,
    MaskPredictor,
    MotionEncoder,
    RecurrentBlock,
    ResidualBlock,
    UpdateBlock,
)

OFFICIAL_PREFIX = "module."


@dataclass(frozen=True)
class RaftConfig:
    """RAFT widths; defaults are raft-things (large RAFT, 4 levels, radius 4)."""

    feature_layers: tuple[int, ...] = (64, 64, 96, 128, 256)
    context_layers: tuple[int, ...] = (64, 64, 96, 128, 256)
    corr_levels: int = 4
    corr_radius: int = 4
    corr_layers: tuple[int, int] = (256, 192)
    flow_layers: tuple[int, int] = (128, 64)
    motion_out: int = 128
    hidden: int = 128
    flow_head_hidden: int = 256
    mask_hidden: int = 256


def build_raft(cfg: RaftConfig) -> RAFT:
    """A torchvision ``RAFT`` with the given widths."""
    feature = FeatureEncoder(block=ResidualBlock, layers=cfg.feature_layers, norm_layer=nn.InstanceNorm2d)
    context = FeatureEncoder(block=ResidualBlock, layers=cfg.context_layers, norm_layer=nn.BatchNorm2d)
    corr = CorrBlock(num_levels=cfg.corr_levels, radius=cfg.corr_radius)
    context_dim = cfg.context_layers[-1] - cfg.hidden
    motion = MotionEncoder(in_channels_corr=corr.out_channels, corr_layers=cfg.corr_layers,
                           flow_layers=cfg.flow_layers, out_channels=cfg.motion_out)
    recurrent = RecurrentBlock(input_size=motion.out_channels + context_dim, hidden_size=cfg.hidden)
    update = UpdateBlock(motion_encoder=motion, recurrent_block=recurrent,
                         flow_head=FlowHead(in_channels=cfg.hidden, hidden_size=cfg.flow_head_hidden))
    mask = MaskPredictor(in_channels=cfg.hidden, hidden_size=cfg.mask_hidden, multiplier=0.25)
    return RAFT(feature_encoder=feature, context_encoder=context, corr_block=corr, update_block=update,
                mask_predictor=mask)


# (official regex, torchvision replacement); applied to keys without "module."
_RULES: list[tuple[str, str]] = [
    (r"^fnet\.", "feature_encoder."),
    (r"^cnet\.", "context_encoder."),
    (r"^(feature_encoder|context_encoder)\.conv1\.", r"\1.convnormrelu.0."),
    (r"^(feature_encoder|context_encoder)\.norm1\.", r"\1.convnormrelu.1."),
    (r"^(feature_encoder|context_encoder)\.conv2\.", r"\1.conv."),
    (r"\.(layer\d\.\d)\.conv([12])\.", r".\1.convnormrelu\2.0."),
    (r"\.(layer\d\.\d)\.norm([12])\.", r".\1.convnormrelu\2.1."),
    (r"^update_block\.encoder\.convc([12])\.", r"update_block.motion_encoder.convcorr\1.0."),
    (r"^update_block\.encoder\.convf([12])\.", r"update_block.motion_encoder.convflow\1.0."),
    (r"^update_block\.encoder\.conv\.", "update_block.motion_encoder.conv.0."),
    (r"^update_block\.gru\.conv([zrq])([12])\.", r"update_block.recurrent_block.convgru\2.conv\1."),
    (r"^update_block\.mask\.0\.", "mask_predictor.convrelu.0."),
    (r"^update_block\.mask\.2\.", "mask_predictor.conv."),
]
_NORM3 = re.compile(r"^(.*\.layer\d\.\d)\.norm3\.(.*)$")


def official_to_torchvision(key: str) -> str:
    """Map one official RAFT key (no ``module.``) to its torchvision name."""
    for pattern, repl in _RULES:
        key = re.sub(pattern, repl, key)
    return key


_INVERSE_RULES: list[tuple[str, str]] = [
    (r"^mask_predictor\.conv\.", "update_block.mask.2."),
    (r"^mask_predictor\.convrelu\.0\.", "update_block.mask.0."),
    (r"^update_block\.recurrent_block\.convgru([12])\.conv([zrq])\.", r"update_block.gru.conv\2\1."),
    (r"^update_block\.motion_encoder\.conv\.0\.", "update_block.encoder.conv."),
    (r"^update_block\.motion_encoder\.convflow([12])\.0\.", r"update_block.encoder.convf\1."),
    (r"^update_block\.motion_encoder\.convcorr([12])\.0\.", r"update_block.encoder.convc\1."),
    (r"\.(layer\d\.\d)\.convnormrelu([12])\.1\.", r".\1.norm\2."),
    (r"\.(layer\d\.\d)\.convnormrelu([12])\.0\.", r".\1.conv\2."),
    (r"^(feature_encoder|context_encoder)\.conv\.", r"\1.conv2."),
    (r"^(feature_encoder|context_encoder)\.convnormrelu\.1\.", r"\1.norm1."),
    (r"^(feature_encoder|context_encoder)\.convnormrelu\.0\.", r"\1.conv1."),
    (r"^feature_encoder\.", "fnet."),
    (r"^context_encoder\.", "cnet."),
]


def torchvision_to_official(key: str) -> str:
    """Inverse of :func:`official_to_torchvision`."""
    for pattern, repl in _INVERSE_RULES:
        key = re.sub(pattern, repl, key)
    return key


class RaftFlow(nn.Module):
    """Bidirectional RAFT flow for frame sequences; holds a torchvision ``RAFT`` as ``raft``."""

    def __init__(self, config: RaftConfig | None = None) -> None:
        super().__init__()
        self.config = config or RaftConfig()
        self.raft = build_raft(self.config)

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """State dict in the published layout (``module.`` prefix, ``norm3`` aliases); key order may differ."""
        out: dict[str, torch.Tensor] = {}
        for k, v in self.raft.state_dict().items():
            name = torchvision_to_official(k)
            out[OFFICIAL_PREFIX + name] = v
            m = re.match(r"^(cnet|fnet)\.(layer\d\.\d)\.downsample\.1\.(.*)$", name)
            if m:
                out[f"{OFFICIAL_PREFIX}{m.group(1)}.{m.group(2)}.norm3.{m.group(3)}"] = v
        return out

    def load_official_state_dict(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Load a published-layout state dict (with or without ``module.``), strictly."""
        mapped: dict[str, torch.Tensor] = {}
        aliases: dict[str, torch.Tensor] = {}
        for k, v in state.items():
            key = k[len(OFFICIAL_PREFIX):] if k.startswith(OFFICIAL_PREFIX) else k
            m = _NORM3.match(key)
            if m:
                aliases[f"{m.group(1)}.downsample.1.{m.group(2)}"] = v
                continue
            mapped[official_to_torchvision(key)] = v
        for k, v in aliases.items():
            tv = official_to_torchvision(k)
            if tv in mapped and not torch.equal(mapped[tv], v):
                raise ValueError(f"{source}: {k} and its norm3 alias differ")
            mapped.setdefault(tv, v)
        result = self.raft.load_state_dict(mapped, strict=False)
        if result.missing_keys or result.unexpected_keys:
            missing = [OFFICIAL_PREFIX + torchvision_to_official(k) for k in result.missing_keys]
            raise ValueError(
                f"{source} is not a RAFT (raft-things) checkpoint: missing {missing[:8]}"
                f"{'...' if len(missing) > 8 else ''}, unexpected {result.unexpected_keys[:8]}"
            )

    def min_size(self) -> int:
        """Smallest H/W RAFT's correlation pyramid accepts (pixels)."""
        return 8 * 2 * (2 ** (self.config.corr_levels - 1))

    def pair_flow(self, image1: torch.Tensor, image2: torch.Tensor, iters: int = 20) -> torch.Tensor:
        """Flow from image1 to image2: [N,3,H,W] in -1..1 (H, W multiples of 8) -> [N,2,H,W].

        Inputs smaller than :meth:`min_size` are edge-padded for RAFT and the flow cropped back.
        """
        _, _, h, w = image1.shape
        m = self.min_size()
        ph, pw = max(0, m - h), max(0, m - w)
        if ph or pw:
            image1 = F.pad(image1, (0, pw, 0, ph), mode="replicate")
            image2 = F.pad(image2, (0, pw, 0, ph), mode="replicate")
        flow = self.raft(image1.contiguous(), image2.contiguous(), num_flow_updates=iters)[-1]
        return flow[:, :, :h, :w]

    def forward(self, frames: torch.Tensor, iters: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
        """frames [B,T,3,H,W] in -1..1 -> (forward, backward) flows, each [B,T-1,2,H,W]."""
        b, t, c, h, w = frames.shape
        if t < 2:
            raise ValueError(f"need at least 2 frames for flow, got {t}")
        f1 = frames[:, :-1].reshape(-1, c, h, w)
        f2 = frames[:, 1:].reshape(-1, c, h, w)
        fwd = self.pair_flow(f1, f2, iters).view(b, t - 1, 2, h, w)
        bwd = self.pair_flow(f2, f1, iters).view(b, t - 1, 2, h, w)
        return fwd, bwd

