"""Original (LDM / CompVis) single-file Stable Diffusion checkpoints -> diffusers UNet and VAE.

A single-file SD1.5 checkpoint (``.safetensors``, or ``.ckpt`` read with ``torch.load(weights_only=True)``)
holds ``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE) and ``cond_stage_model.*`` (CLIP
text encoder, not used: the model is conditioned on CLIP image embeddings). A standalone VAE file such as
sd-vae-ft-mse's ``vae-ft-mse-840000-ema-pruned`` holds the VAE tensors without a prefix.

* UNet: diffusers' own offline converter (``convert_ldm_unet_checkpoint``) with a local config;
  :func:`diffusers_unet_to_ldm` is the inverse name mapping (for export, and to cross-check the importer).
* VAE: :func:`ldm_vae_to_diffusers` renames the LDM ``AutoencoderKL`` tensors to the diffusers
  ``AutoencoderKL`` layout (the mid-block attention's 1x1-conv ``q``/``k``/``v``/``proj_out`` become the
  linear ``to_q``/``to_k``/``to_v``/``to_out.0``); :func:`vae_config_from_ldm` reads the architecture from the
  tensor shapes. :func:`load_single_file_vae` / :func:`read_single_file_sd` put it together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.video_unet import SD15_UNET_CONFIG
from .state_dict_io import load_exact, read_state_dict

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
    return unet_from_ldm_checkpoint(read_state_dict(path), config, str(path))


def unet_from_ldm_checkpoint(
    checkpoint: Mapping[str, torch.Tensor],
    config: Mapping[str, Any] | None = None,
    source: str = "checkpoint",
) -> dict[str, torch.Tensor]:
    """The ``model.diffusion_model.*`` tensors of an LDM checkpoint dict, renamed to diffusers UNet names."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    config = dict(SD15_UNET_CONFIG if config is None else config)
    if not any(k.startswith(LDM_UNET_PREFIX) for k in checkpoint):
        raise ValueError(f"{source}: no '{LDM_UNET_PREFIX}*' keys; not an original single-file SD checkpoint")
    return dict(convert_ldm_unet_checkpoint(dict(checkpoint), config))


# ---- VAE ---------------------------------------------------------------------------------------------------
#: prefixes of the VAE inside a full SD checkpoint, tried in order ("" = a standalone VAE file)
LDM_VAE_PREFIXES = ("first_stage_model.", "vae.", "")
#: top-level parts of an LDM ``AutoencoderKL`` (anything else, e.g. ``loss.*`` or ``model_ema.*``, is dropped)
LDM_VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
#: SD1.5's VAE (and sd-vae-ft-mse's) fields that tensor shapes do not tell
SD15_VAE_DEFAULTS: dict[str, Any] = {
    "act_fn": "silu",
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}

_VAE_RESNET = {
    "norm1": "norm1",
    "conv1": "conv1",
    "norm2": "norm2",
    "conv2": "conv2",
    "nin_shortcut": "conv_shortcut",
}
_VAE_ATTENTION = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_VAE_LINEAR_WEIGHTS = tuple(f".attentions.0.{name}.weight" for name in ("to_q", "to_k", "to_v", "to_out.0"))


def extract_ldm_vae(
    checkpoint: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """The VAE tensors of a full SD checkpoint (``first_stage_model.*``) or a standalone VAE file, unprefixed."""
    for prefix in LDM_VAE_PREFIXES:
        found = {
            k[len(prefix) :]: v
            for k, v in checkpoint.items()
            if k.startswith(prefix) and k[len(prefix) :].startswith(LDM_VAE_PARTS)
        }
        if any(k.startswith("encoder.") for k in found) or any(k.startswith("decoder.") for k in found):
            return found
    raise ValueError(
        f"{source}: no VAE tensors; expected 'first_stage_model.encoder.*' (full SD checkpoint) or "
        f"'encoder.*' / 'decoder.*' (standalone VAE file)"
    )


def _vae_levels(ldm_vae: Mapping[str, torch.Tensor], part: str) -> int:
    levels = {int(m[1]) for k in ldm_vae if (m := re.match(rf"{re.escape(part)}\.(\d+)\.", k))}
    return max(levels) + 1 if levels else 0


def _ldm_vae_name(key: str, up_levels: int) -> str:
    m = re.match(r"(encoder|decoder)\.(.+)", key)
    if m is None:
        return key  # quant_conv / post_quant_conv
    side, rest = m[1], m[2]
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    if rest.startswith("norm_out."):
        return f"{side}.conv_norm_out.{rest[len('norm_out.') :]}"
    if mm := re.match(r"down\.(\d+)\.block\.(\d+)\.(\w+)\.(\w+)$", rest):
        return f"{side}.down_blocks.{mm[1]}.resnets.{mm[2]}.{_VAE_RESNET[mm[3]]}.{mm[4]}"
    if mm := re.match(r"down\.(\d+)\.downsample\.conv\.(\w+)$", rest):
        return f"{side}.down_blocks.{mm[1]}.downsamplers.0.conv.{mm[2]}"
    if mm := re.match(r"up\.(\d+)\.block\.(\d+)\.(\w+)\.(\w+)$", rest):
        level = up_levels - 1 - int(mm[1])  # LDM counts decoder levels from the lowest resolution up
        return f"{side}.up_blocks.{level}.resnets.{mm[2]}.{_VAE_RESNET[mm[3]]}.{mm[4]}"
    if mm := re.match(r"up\.(\d+)\.upsample\.conv\.(\w+)$", rest):
        return f"{side}.up_blocks.{up_levels - 1 - int(mm[1])}.upsamplers.0.conv.{mm[2]}"
    if mm := re.match(r"mid\.block_([12])\.(\w+)\.(\w+)$", rest):
        return f"{side}.mid_block.resnets.{int(mm[1]) - 1}.{_VAE_RESNET[mm[2]]}.{mm[3]}"
    if mm := re.match(r"mid\.attn_1\.(\w+)\.(\w+)$", rest):
        return f"{side}.mid_block.attentions.0.{_VAE_ATTENTION[mm[1]]}.{mm[2]}"
    raise KeyError(rest)


def ldm_vae_to_diffusers(ldm_vae: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename unprefixed LDM VAE tensors (``encoder.down.0.block.0...``) to diffusers ``AutoencoderKL`` names.

    The mid-block attention's ``q``/``k``/``v``/``proj_out`` are 1x1 convs ``[C, C, 1, 1]`` in LDM and
    linear layers ``[C, C]`` in diffusers; they are reshaped (values unchanged).
    """
    up_levels = _vae_levels(ldm_vae, "decoder.up")
    out: dict[str, torch.Tensor] = {}
    for key, value in ldm_vae.items():
        try:
            name = _ldm_vae_name(key, up_levels)
        except KeyError:
            raise KeyError(f"no diffusers AutoencoderKL name for LDM VAE tensor {key!r}") from None
        if name.endswith(_VAE_LINEAR_WEIGHTS) and value.ndim > 2:  # 1x1 conv [C, C, 1, 1] -> linear [C, C]
            value = value.reshape(value.shape[0], value.shape[1])
        out[name] = value
    return out


def vae_config_from_ldm(
    ldm_vae: Mapping[str, torch.Tensor], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Diffusers ``AutoencoderKL`` config read from LDM VAE tensor shapes (+ :data:`SD15_VAE_DEFAULTS`).

    ``overrides`` replaces any field (e.g. ``norm_num_groups`` for a non-SD VAE: group counts are not in the
    tensors).
    """
    levels = _vae_levels(ldm_vae, "encoder.down")
    needed = ["encoder.conv_in.weight", "decoder.conv_out.weight", "decoder.conv_in.weight"]
    needed += [f"encoder.down.{i}.block.0.conv1.weight" for i in range(levels)]
    missing = [k for k in needed if k not in ldm_vae]
    if not levels or missing:
        raise ValueError(f"incomplete LDM VAE: missing {missing or ['encoder.down.0.block.0.conv1.weight']}")
    blocks = {int(m[1]) for k in ldm_vae if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
    config = dict(
        SD15_VAE_DEFAULTS,
        in_channels=int(ldm_vae["encoder.conv_in.weight"].shape[1]),
        out_channels=int(ldm_vae["decoder.conv_out.weight"].shape[0]),
        down_block_types=["DownEncoderBlock2D"] * levels,
        up_block_types=["UpDecoderBlock2D"] * levels,
        block_out_channels=[
            int(ldm_vae[f"encoder.down.{i}.block.0.conv1.weight"].shape[0]) for i in range(levels)
        ],
        layers_per_block=max(blocks) + 1,
        latent_channels=int(ldm_vae["decoder.conv_in.weight"].shape[1]),
        use_quant_conv="quant_conv.weight" in ldm_vae,
        use_post_quant_conv="post_quant_conv.weight" in ldm_vae,
        mid_block_add_attention="encoder.mid.attn_1.q.weight" in ldm_vae,
    )
    config.update(overrides or {})
    return config


def vae_from_ldm_checkpoint(
    checkpoint: Mapping[str, torch.Tensor],
    config: Mapping[str, Any] | None = None,
    source: str = "checkpoint",
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(AutoencoderKL config, diffusers state dict)`` of the VAE in an LDM checkpoint dict."""
    ldm_vae = extract_ldm_vae(checkpoint, source)
    return vae_config_from_ldm(ldm_vae, config), ldm_vae_to_diffusers(ldm_vae)


def build_vae(config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """A diffusers ``AutoencoderKL`` from ``config`` holding exactly ``state_dict`` (eval mode)."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    vae = AutoencoderKL(**config)
    load_exact(vae, state_dict, f"VAE weights in {source}")
    return vae.eval()


def load_single_file_vae(path: str | Path, config: Mapping[str, Any] | None = None) -> nn.Module:
    """The VAE of a single-file SD checkpoint or a standalone LDM VAE file (sd-vae-ft-mse) as ``AutoencoderKL``.

    ``config``: overrides of the inferred architecture (:func:`vae_config_from_ldm`).
    """
    vae_config, state_dict = vae_from_ldm_checkpoint(read_state_dict(path), config, str(path))
    return build_vae(vae_config, state_dict, str(path))


@dataclass
class SingleFileSD:
    """The parts of a single-file SD checkpoint the pack uses, in diffusers layout."""

    unet_state_dict: dict[str, torch.Tensor]
    vae: nn.Module


def read_single_file_sd(
    path: str | Path,
    unet_config: Mapping[str, Any] | None = None,
    vae_config: Mapping[str, Any] | None = None,
) -> SingleFileSD:
    """UNet tensors (diffusers names) and the VAE (``AutoencoderKL``) of one SD1.5 single file, read once."""
    checkpoint = read_state_dict(path)
    unet = unet_from_ldm_checkpoint(checkpoint, unet_config, str(path))
    config, vae_state = vae_from_ldm_checkpoint(checkpoint, vae_config, str(path))
    return SingleFileSD(unet, build_vae(config, vae_state, str(path)))
