"""Tiny model configs and helpers shared by the model / checkpoint tests."""

from __future__ import annotations

from pathlib import Path

import torch

from mimo_core.models.temporal import MotionModuleConfig
from mimo_core.models.video_unet import SD15_UNET_CONFIG

TINY_UNET = dict(
    SD15_UNET_CONFIG,
    sample_size=8,
    block_out_channels=[32, 64],
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    layers_per_block=1,
    cross_attention_dim=16,
    attention_head_dim=4,
    norm_num_groups=8,
)
TINY_MOTION = MotionModuleConfig(num_attention_heads=2, norm_num_groups=8, max_frames=8)
MANIFEST_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "checkpoint_manifests"


def randomize_(module: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Fill every parameter with random values (norm weights near 1), zero-initialised layers included."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * std
            is_norm_weight = param.ndim == 1 and "norm" in name and name.endswith("weight")
            param.copy_(noise + 1.0 if is_norm_weight else noise)
    return module
