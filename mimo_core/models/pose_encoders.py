"""Pose / motion-map encoders whose output is added right after the denoising UNet's ``conv_in``.

All encoders work per frame: input ``[B, C, F, H, W]`` (or ``[B, C, H, W]``), output
``[B, 320, F, H/8, W/8]`` (or ``[B, 320, H/8, W/8]``), so the residual matches the UNet's first feature map.

* :class:`PoseGuider` - Moore-AnimateAnyone / official MIMO release layout (3x3 convs, widths 16/32/96/256,
  zero-initialised 3x3 ``conv_out``); loads ``pose_guider.pth`` unchanged.
* :class:`PaperPoseEncoder` - the Animate Anyone paper design used by the MIMO paper: 4x4 stride-2 convs
  over 16/32/64 channels, a 3x3 conv to 128, a zero-initialised 1x1 projection to 320 and a learnable scale.
* :class:`ChampGuidanceEncoder` / :class:`GuidanceEncoderSet` - Champ's per-map guidance encoders
  (depth, normal, semantic map, skeleton), summed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch import nn


def apply_per_frame(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Run an image function on ``[B, C, H, W]`` directly or on each frame of ``[B, C, F, H, W]``."""
    if x.ndim == 4:
        return fn(x)
    if x.ndim != 5:
        raise ValueError(f"expected [B, C, H, W] or [B, C, F, H, W], got shape {tuple(x.shape)}")
    batch, channels, frames, height, width = x.shape
    out = fn(x.transpose(1, 2).reshape(batch * frames, channels, height, width))
    return out.reshape(batch, frames, *out.shape[1:]).transpose(1, 2)


def _check_channels(name: str, x: torch.Tensor, expected: int) -> None:
    if x.shape[1] != expected:
        raise ValueError(f"{name} expects {expected} input channels (dim 1), got shape {tuple(x.shape)}")


class PoseGuider(nn.Module):
    """Moore-AnimateAnyone ``PoseGuider``: conv_in, (3x3, 3x3 stride 2) per width step, zero conv_out.

    ``condition``: ``[B, C, (F,) H, W]`` in ``[0, 1]`` (rendered pose / "sdc" body image, C=3).
    Keys: ``conv_in``, ``blocks.{0..5}``, ``conv_out`` (16 tensors for the default widths).
    """

    def __init__(
        self,
        embedding_channels: int = 320,
        conditioning_channels: int = 3,
        block_out_channels: Sequence[int] = (16, 32, 96, 256),
    ) -> None:
        super().__init__()
        self.conditioning_channels = conditioning_channels
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(block_out_channels[:-1], block_out_channels[1:], strict=True):
            self.blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.conv_out = nn.Conv2d(block_out_channels[-1], embedding_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = F.silu(block(x))
        return self.conv_out(x)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        _check_channels("PoseGuider", condition, self.conditioning_channels)
        return apply_per_frame(self._encode, condition)


class PaperPoseEncoder(nn.Module):
    """Animate Anyone / MIMO-paper pose encoder: 4x4 stride-2 convs, 1x1 zero projection, learnable scale.

    ``condition``: ``[B, C, (F,) H, W]`` (e.g. rasterised per-vertex latent codes, C = code dim).
    Layers: 3x3 conv C->C, then for each of ``widths[:-1]`` a 4x4 stride-2 conv followed by a 3x3 conv,
    a 3x3 conv to ``widths[-1]``, SiLU after each; ``final_proj`` 1x1 to ``embedding_channels`` (zero init),
    times ``scale`` (init 2.0). Downsamples by ``2 ** (len(widths) - 1)`` (8 for the default widths).
    """

    def __init__(
        self,
        conditioning_channels: int = 16,
        embedding_channels: int = 320,
        widths: Sequence[int] = (16, 32, 64, 128),
    ) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"PaperPoseEncoder needs at least two widths, got {tuple(widths)}")
        self.conditioning_channels = conditioning_channels
        layers: list[nn.Module] = [
            nn.Conv2d(conditioning_channels, conditioning_channels, 3, padding=1),
            nn.SiLU(),
        ]
        previous = conditioning_channels
        for width in widths[:-1]:
            layers += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.SiLU()]
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
            previous = width
        layers += [nn.Conv2d(previous, widths[-1], 3, padding=1), nn.SiLU()]
        self.conv_layers = nn.Sequential(*layers)
        self.final_proj = nn.Conv2d(widths[-1], embedding_channels, kernel_size=1)
        nn.init.zeros_(self.final_proj.weight)
        nn.init.zeros_(self.final_proj.bias)
        self.scale = nn.Parameter(torch.full((1,), 2.0))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_proj(self.conv_layers(x)) * self.scale

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        _check_channels("PaperPoseEncoder", condition, self.conditioning_channels)
        return apply_per_frame(self._encode, condition)


def _self_attention_block(channels: int, heads: int, groups: int) -> Transformer2DModel:
    """Per-frame spatial self-attention block (no cross-attention), Champ ``Transformer3DModel`` layout."""
    return Transformer2DModel(
        num_attention_heads=heads,
        attention_head_dim=channels // heads,
        in_channels=channels,
        norm_num_groups=groups,
    )


class ChampGuidanceEncoder(nn.Module):
    """Champ ``GuidanceEncoder`` for one rendered SMPL map (depth, normal, semantic map or skeleton).

    Same conv stack as :class:`PoseGuider`, plus self-attention blocks ``attentions.{0..5}`` and
    ``guidance_attention`` kept for key compatibility; as in Champ's forward, only the last entry of
    ``attentions`` runs (after the conv stack, before ``conv_out``).
    """

    def __init__(
        self,
        embedding_channels: int = 320,
        conditioning_channels: int = 3,
        block_out_channels: Sequence[int] = (16, 32, 96, 256),
        attention_heads: int = 8,
    ) -> None:
        super().__init__()
        self.conditioning_channels = conditioning_channels
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList()
        self.attentions = nn.ModuleList()
        for c_in, c_out in zip(block_out_channels[:-1], block_out_channels[1:], strict=True):
            self.blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            self.attentions.append(_self_attention_block(c_in, attention_heads, groups=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
            self.attentions.append(_self_attention_block(c_out, attention_heads, groups=32))
        self.guidance_attention = _self_attention_block(block_out_channels[-1], attention_heads, groups=32)
        self.conv_out = nn.Conv2d(block_out_channels[-1], embedding_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.conv_in(x))
        for block in self.blocks:
            x = F.silu(block(x))
        x = self.attentions[-1](x, return_dict=False)[0]
        return self.conv_out(x)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        _check_channels("ChampGuidanceEncoder", condition, self.conditioning_channels)
        return apply_per_frame(self._encode, condition)


class GuidanceEncoderSet(nn.Module):
    """Several guidance encoders, one per named map; their outputs are summed (Champ's multi-guidance)."""

    def __init__(self, encoders: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("GuidanceEncoderSet needs at least one encoder")
        self.encoders = nn.ModuleDict(encoders)

    def forward(self, conditions: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``conditions[name]``: ``[B, C, (F,) H, W]`` for every encoder name; returns the summed embedding."""
        missing = set(self.encoders) - set(conditions)
        if missing:
            raise KeyError(f"GuidanceEncoderSet is missing condition maps {sorted(missing)}")
        total: torch.Tensor | None = None
        for name, encoder in self.encoders.items():
            out = encoder(conditions[name])
            total = out if total is None else total + out
        assert total is not None
        return total
