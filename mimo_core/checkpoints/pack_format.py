"""The pack's own model files: one safetensors file per model, self-describing.

Metadata: ``{"format": "mimo-pack", "format_version": "1", "kind": <kind>, "config": <json>}``; the config is
enough to rebuild the module (:data:`BUILDERS`), the tensors are its full ``state_dict()``.

A Champ guidance-encoder set (:class:`~mimo_core.models.pose_encoders.GuidanceEncoderSet` of
:class:`~mimo_core.models.pose_encoders.ChampGuidanceEncoder`) is one file of kind ``champ_guidance_set``:
config ``{"guidance_types": [...], "encoders": {<type>: <ChampGuidanceEncoder kwargs>}}``, tensors
``encoders.<type>.*`` (:func:`save_champ_guidance_set`, :func:`champ_guidance_set_config`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..models.pose_encoders import ChampGuidanceEncoder, GuidanceEncoderSet, PaperPoseEncoder, PoseGuider
from ..models.reference import ReferenceNet
from ..models.vertex_codes import VertexCodes
from ..models.video_unet import VideoUNet
from .state_dict_io import load_exact

FORMAT = "mimo-pack"
FORMAT_VERSION = "1"


def _build_vae(config: Mapping[str, Any]) -> nn.Module:
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    return AutoencoderKL(**config)


def champ_guidance_encoder_config(encoder: ChampGuidanceEncoder) -> dict[str, Any]:
    """The :class:`ChampGuidanceEncoder` keyword arguments that rebuild ``encoder`` (read from its layers)."""
    if not isinstance(encoder, ChampGuidanceEncoder):
        raise TypeError(f"expected a ChampGuidanceEncoder, got {type(encoder).__name__}")
    widths = [encoder.conv_in.out_channels] + [block.out_channels for block in encoder.blocks[1::2]]
    return {
        "embedding_channels": int(encoder.conv_out.out_channels),
        "conditioning_channels": int(encoder.conv_in.in_channels),
        "block_out_channels": [int(w) for w in widths],
        "attention_heads": int(encoder.guidance_attention.config.num_attention_heads),
    }


def champ_guidance_set_config(encoders: GuidanceEncoderSet) -> dict[str, Any]:
    """Config of a Champ guidance-encoder set: its guidance types (summation order) and each encoder's config."""
    if not isinstance(encoders, GuidanceEncoderSet):
        raise TypeError(f"expected a GuidanceEncoderSet, got {type(encoders).__name__}")
    names = list(encoders.encoders)
    return {
        "guidance_types": names,
        "encoders": {name: champ_guidance_encoder_config(encoders.encoders[name]) for name in names},
    }


def _build_champ_guidance_set(config: Mapping[str, Any]) -> GuidanceEncoderSet:
    types = list(config.get("guidance_types") or [])
    encoders = config.get("encoders") or {}
    missing = [name for name in types if name not in encoders]
    if not types or missing or set(encoders) - set(types):
        raise ValueError(
            f"champ_guidance_set config needs a non-empty 'guidance_types' list and one 'encoders' entry per "
            f"type: types {types}, encoders {sorted(encoders)}"
        )
    return GuidanceEncoderSet({name: ChampGuidanceEncoder(**encoders[name]) for name in types})


#: kind -> function building a randomly initialised module from its config
BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "video_unet": VideoUNet.from_video_config,
    "reference_net": lambda config: ReferenceNet(**config["unet"]),
    "pose_guider": lambda config: PoseGuider(**config),
    "paper_pose_encoder": lambda config: PaperPoseEncoder(**config),
    "champ_guidance_encoder": lambda config: ChampGuidanceEncoder(**config),
    "champ_guidance_set": _build_champ_guidance_set,
    "vertex_codes": lambda config: VertexCodes(**config),
    "vae": _build_vae,
}


def save_model(module: nn.Module, path: str | Path, kind: str, config: Mapping[str, Any]) -> None:
    """Write ``module``'s state dict and ``config`` to ``path`` (a ``.safetensors`` file)."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {sorted(BUILDERS)}")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": json.dumps(config, sort_keys=True),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def save_champ_guidance_set(encoders: GuidanceEncoderSet, path: str | Path) -> None:
    """Write a Champ guidance-encoder set (e.g. from ``load_champ_guidance_encoders``) as one pack file."""
    save_model(encoders, path, "champ_guidance_set", champ_guidance_set_config(encoders))


def read_header(path: str | Path) -> tuple[str, dict[str, Any]]:
    """``(kind, config)`` of a pack file, checking the format tag and version."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{path}: not a readable safetensors file (damaged or incomplete?): {exc}") from exc
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file (metadata format={metadata.get('format')!r})")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: {FORMAT} format version {metadata.get('format_version')!r} is not supported "
            f"(this version reads {FORMAT_VERSION!r})"
        )
    return metadata["kind"], json.loads(metadata["config"])


def build_model(kind: str, config: Mapping[str, Any], on_meta: bool = False) -> nn.Module:
    """Instantiate a module of ``kind`` from ``config`` (on the meta device when ``on_meta``)."""
    if kind not in BUILDERS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {sorted(BUILDERS)}")
    if on_meta:
        with torch.device("meta"):
            return BUILDERS[kind](config)
    return BUILDERS[kind](config)


def load_model(
    path: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = None
) -> nn.Module:
    """Rebuild and load the module saved by :func:`save_model`; returns it in eval mode."""
    kind, config = read_header(path)
    try:
        state_dict = load_file(str(path), device=str(device))
    except Exception as exc:
        raise ValueError(f"{path}: could not read its tensors (damaged or incomplete file?): {exc}") from exc
    module = build_model(kind, config, on_meta=True)
    has_non_persistent = any(m._non_persistent_buffers_set for m in module.modules())
    if has_non_persistent:
        module = build_model(kind, config).to(device)
        load_exact(module, state_dict, str(path))
    else:
        own = module.state_dict()
        if set(own) != set(state_dict) or any(own[k].shape != state_dict[k].shape for k in own):
            load_exact(module, state_dict, str(path))  # raises with a precise message
        module.load_state_dict(state_dict, strict=True, assign=True)
    if dtype is not None:
        module = module.to(dtype)
    return module.eval()
