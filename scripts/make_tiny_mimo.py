"""Build a tiny randomly initialised MIMO pipeline and save it in the pack's format.

For tests and smoke runs: the architecture is the real one (video UNet with motion modules and
reference attention, ReferenceNet, PoseGuider, AutoencoderKL, CLIP vision tower with projection),
only narrow. It is built and saved in well under a second on a CPU.

    python -m scripts.make_tiny_mimo OUT_DIR [--in-channels 8] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mimo_core.models import PoseGuider, ReferenceNet, VideoUNet
from mimo_core.models.temporal import MotionModuleConfig
from mimo_core.models.video_unet import SD15_UNET_CONFIG
from mimo_core.pipeline.mimo import MimoPipeline
from mimo_core.pipeline.mimo_io import save_pipeline

CROSS_DIM = 32
TINY_UNET = dict(
    SD15_UNET_CONFIG,
    sample_size=8,
    block_out_channels=[32, 64],
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    layers_per_block=1,
    cross_attention_dim=CROSS_DIM,
    attention_head_dim=4,
    norm_num_groups=8,
)
TINY_MOTION = MotionModuleConfig(num_attention_heads=2, norm_num_groups=8, max_frames=16, zero_initialize=False)
TINY_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
    block_out_channels=[8, 8, 8, 8],
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    sample_size=64, scaling_factor=0.18215,
)
TINY_CLIP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 image_size=32, patch_size=8, projection_dim=CROSS_DIM)


def _randomize(module: torch.nn.Module, generator: torch.Generator, std: float = 0.05) -> None:
    """Small random values everywhere (zero-initialised output layers included), norm weights near 1."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * std
            is_norm_weight = param.ndim == 1 and "norm" in name and name.endswith("weight")
            param.copy_(noise + 1.0 if is_norm_weight else noise)


def _kaiming(module: torch.nn.Module, generator: torch.Generator) -> None:
    """He-normal conv weights, zero biases: the pose signal keeps its size through the stack."""
    with torch.no_grad():
        for conv in module.modules():
            if isinstance(conv, torch.nn.Conv2d):
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                if conv.bias is not None:
                    conv.bias.zero_()


def build_tiny_pipeline(in_channels: int = 8, seed: int = 0, motion: bool = True) -> MimoPipeline:
    """A tiny random :class:`MimoPipeline` (latents 1/8 of the pixels, UNet multiple 16 px, 16-frame windows)."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    unet = VideoUNet(dict(TINY_UNET, in_channels=in_channels), TINY_MOTION if motion else None)
    reference = ReferenceNet(**TINY_UNET)
    pose = PoseGuider(embedding_channels=TINY_UNET["block_out_channels"][0], conditioning_channels=3,
                      block_out_channels=(4, 8, 8, 16))
    for module in (unet, reference):
        _randomize(module, generator)
    _kaiming(pose, generator)
    vae = AutoencoderKL(**TINY_VAE)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP))
    return MimoPipeline(vae=vae.eval(), image_encoder=encoder.eval(), reference_net=reference.eval(),
                        unet=unet.eval(), pose_encoder=pose.eval(), source="tiny-random")


def make_tiny_mimo(folder: str | Path, in_channels: int = 8, seed: int = 0) -> Path:
    """Build the tiny pipeline and save it to ``folder`` (pack format); returns the folder."""
    return save_pipeline(build_tiny_pipeline(in_channels, seed), folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write (e.g. ComfyUI/models/mimo/tiny)")
    parser.add_argument("--in-channels", type=int, default=8, choices=(4, 8, 12),
                        help="UNet input channels: 4 no scene, 8 official MIMO, 12 paper")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_tiny_mimo(args.out_dir, args.in_channels, args.seed))


if __name__ == "__main__":
    main()
