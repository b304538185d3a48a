"""Original (LDM / CompVis) single-file Stable Diffusion checkpoints <-> diffusers UNet names.

Import uses diffusers' own offline converter (``convert_ldm_unet_checkpoint``) with a local config;
:func:`diffusers_unet_to_ldm` is the inverse name mapping (for export, and to cross-check the importer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..models.video_unet import SD15_UNET_CONFIG
from .state_dict_io import read_state_dict

LDM_UNET_PREFIX = "model.diffusion_model."

_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _resnet(prefix: str, rest: str) -> str:
    name, _, tail = rest.partition(".")
    return f"{prefix}.{_RESNET_NAMES[name]}.{tail}"


def diffusers_unet_to_ldm(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """Rename a diffusers ``UNet2DConditionModel`` state dict to LDM names (``model.diffusion_model.*``)."""
    config = SD15_UNET_CONFIG if config is None else config
    per_level = int(config["layers_per_block"]) + 1
    up_has_attention = [t.startswith("CrossAttn") for t in config["up_block_types"]]
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        out[LDM_UNET_PREFIX + _ldm_name(key, per_level, up_has_attention)] = value
    return out


def _ldm_name(key: str, per_level: int, up_has_attention: list[bool]) -> str:
    for diffusers_name, ldm_name in _FIXED.items():
        if key.startswith(diffusers_name + "."):
            return ldm_name + key[len(diffusers_name) :]
    if m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        level, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        prefix = f"input_blocks.{1 + level * per_level + layer}"
        return _resnet(f"{prefix}.0", rest) if kind == "resnets" else f"{prefix}.1.{rest}"
    if m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * per_level}.0.op.{m[2]}"
    if m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return _resnet(f"middle_block.{2 * int(m[1])}", m[2])
    if m := re.match(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        level, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
        prefix = f"output_blocks.{level * per_level + layer}"
        return _resnet(f"{prefix}.0", rest) if kind == "resnets" else f"{prefix}.1.{rest}"
    if m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        level = int(m[1])
        slot = 2 if up_has_attention[level] else 1
        return f"output_blocks.{level * per_level + per_level - 1}.{slot}.conv.{m[2]}"
    raise KeyError(f"no LDM name for diffusers UNet key {key!r}")


def read_single_file_unet(
    path: str | Path, config: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """UNet tensors of an original single-file SD checkpoint, renamed to diffusers names (offline)."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    config = dict(SD15_UNET_CONFIG if config is None else config)
    checkpoint = read_state_dict(path)
    if not any(k.startswith(LDM_UNET_PREFIX) for k in checkpoint):
        raise ValueError(f"{path}: no '{LDM_UNET_PREFIX}*' keys; not an original single-file SD checkpoint")
    return dict(convert_ldm_unet_checkpoint(checkpoint, config))
