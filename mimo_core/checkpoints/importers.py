"""Importers for the public checkpoint formats the pack loads unchanged.

* SD1.5 UNet from a diffusers folder (``unet/config.json`` + ``diffusion_pytorch_model.{safetensors,bin}``)
  or from an original single-file SD checkpoint (:mod:`.sd_single_file`).
* sd-vae-ft-mse: a diffusers ``AutoencoderKL`` folder, its original single file, or the VAE inside a
  single-file SD checkpoint (:func:`load_vae`).
* AnimateDiff ``mm_sd_v15_v2.ckpt`` and the ``motion_module.pth`` of Moore-AnimateAnyone / Champ / MIMO.
* The four (or more) ``.pth`` files of Moore-AnimateAnyone, Champ and the official MIMO release:
  ``denoising_unet.pth``, ``reference_unet.pth``, ``motion_module.pth``, ``pose_guider.pth`` (Moore, MIMO) or
  ``guidance_encoder_{depth,normal,semantic_map,dwpose}.pth`` (Champ). MIMO's ``conv_in`` takes 8 channels.

Shapes that can be read from the files (input channels, motion position-table length, which blocks carry
motion modules, pose-guider input channels) are inferred; the rest of the architecture is the SD1.5 one
unless ``unet_config`` says otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.pose_encoders import ChampGuidanceEncoder, GuidanceEncoderSet, PoseGuider
from ..models.reference import ReferenceNet
from ..models.temporal import MotionModuleConfig
from ..models.video_unet import (
    MOTION_KEY,
    SD15_UNET_CONFIG,
    VideoUNet,
    check_conv_in_kind,
    fit_conv_in,
    split_motion_state_dict,
)
from .state_dict_io import load_exact, read_state_dict

DIFFUSERS_WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
)
CHAMP_GUIDANCE_TYPES = ("depth", "normal", "semantic_map", "dwpose")
_ARCH_KEYS = set(SD15_UNET_CONFIG) | {
    "transformer_layers_per_block",
    "use_linear_projection",
    "upcast_attention",
    "num_attention_heads",
    "resnet_time_scale_shift",
    "class_embed_type",
    "num_class_embeds",
    "dual_cross_attention",
}


# ---- diffusers folders ------------------------------------------------------------------------------------
def read_diffusers_folder(folder: str | Path, subfolder: str | None = None) -> tuple[dict[str, Any], dict]:
    """``(config, state_dict)`` of a diffusers model folder (``config.json`` + weights), read offline."""
    folder = Path(folder)
    if subfolder and (folder / subfolder / "config.json").is_file():
        folder = folder / subfolder
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no config.json in {folder} (expected a diffusers model folder)")
    config = json.loads(config_path.read_text())
    for name in DIFFUSERS_WEIGHT_NAMES:
        if (folder / name).is_file():
            return config, read_state_dict(folder / name)
    raise FileNotFoundError(f"no weights in {folder}; expected one of {DIFFUSERS_WEIGHT_NAMES}")


def unet_architecture(config: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture fields of a diffusers UNet ``config.json`` (drops ``_class_name`` etc.)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items() if k in _ARCH_KEYS}


def load_unet2d_diffusers(folder: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """SD1.5-style UNet folder (``<root>/unet`` or the unet folder itself) -> ``(architecture, state_dict)``."""
    config, state_dict = read_diffusers_folder(folder, "unet")
    return unet_architecture(config), state_dict


def load_vae_diffusers(folder: str | Path) -> nn.Module:
    """sd-vae-ft-mse style ``AutoencoderKL`` folder (``<root>/vae`` or the folder itself), in eval mode."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    config, state_dict = read_diffusers_folder(folder, "vae")
    init_keys = set(AutoencoderKL.extract_init_dict(config)[0])
    vae = AutoencoderKL(**{k: v for k, v in config.items() if k in init_keys})
    load_exact(vae, state_dict, f"VAE weights in {folder}")
    return vae.eval()


def load_vae(source: str | Path, config: Mapping[str, Any] | None = None) -> nn.Module:
    """A VAE from a diffusers folder, a standalone LDM VAE file (sd-vae-ft-mse ``.safetensors``/``.ckpt``) or
    a single-file SD checkpoint (its ``first_stage_model.*``); ``config`` overrides a single file's inferred
    architecture. Returns an ``AutoencoderKL`` in eval mode."""
    source = Path(source)
    if source.is_dir():
        return load_vae_diffusers(source)
    from .sd_single_file import load_single_file_vae

    return load_single_file_vae(source, config)


# ---- motion modules ----------------------------------------------------------------------------------------
def read_motion_module(path: str | Path) -> dict[str, torch.Tensor]:
    """Motion-module tensors of an AnimateDiff ``.ckpt`` / ``motion_module.pth`` (wrappers removed)."""
    state_dict = read_state_dict(path)
    motion = {k: v for k, v in state_dict.items() if MOTION_KEY in k}
    if not motion:
        raise ValueError(f"{path}: no '{MOTION_KEY}' keys; not an AnimateDiff-layout motion module file")
    return motion


def infer_motion_config(
    motion_state_dict: Mapping[str, torch.Tensor], base: MotionModuleConfig | None = None
) -> MotionModuleConfig:
    """Motion config read from tensor names/shapes (position-table length, blocks, mid block); heads from ``base``."""
    base = base or MotionModuleConfig()
    pe = [v for k, v in motion_state_dict.items() if k.endswith("pos_encoder.pe")]
    max_frames = pe[0].shape[1] if pe else base.max_frames
    blocks = {
        int(m.group(1)) for k in motion_state_dict if (m := re.search(r"transformer_blocks\.(\d+)\.", k))
    }
    attns = {int(m.group(1)) for k in motion_state_dict if (m := re.search(r"attention_blocks\.(\d+)\.", k))}
    return replace(
        base,
        max_frames=int(max_frames),
        num_transformer_blocks=max(blocks) + 1 if blocks else base.num_transformer_blocks,
        attention_block_types=("Temporal_Self",) * (max(attns) + 1) if attns else base.attention_block_types,
        mid_block=any(k.startswith("mid_block.") for k in motion_state_dict),
        decoder_only=not any(k.startswith("down_blocks.") for k in motion_state_dict),
    )


# ---- video UNet assembly -------------------------------------------------------------------------------------
def build_video_unet(
    unet_state_dict: Mapping[str, torch.Tensor],
    motion_state_dict: Mapping[str, torch.Tensor] | None = None,
    unet_config: Mapping[str, Any] | None = None,
    in_channels: int | None = None,
    motion_config: MotionModuleConfig | None = None,
    conv_in_kind: str | None = None,
) -> VideoUNet:
    """Assemble a :class:`VideoUNet` from a 2D UNet state dict (+ motion-module tensors).

    ``in_channels`` defaults to the file's ``conv_in`` width; a larger value zero-expands ``conv_in``
    (SD1.5 -> 8 or 12 channels). ``conv_in_kind`` defaults to the file's (``"3d"`` for a 5-D ``conv_in``
    weight, else ``"2d"``); ``"3d"`` with a 2D weight puts it in the centre temporal slice
    (:func:`~mimo_core.models.video_unet.fit_conv_in`). Motion tensors inside ``unet_state_dict`` are used
    unless ``motion_state_dict`` is given. Every tensor of the result must be covered (strict).
    """
    spatial, embedded_motion = split_motion_state_dict(unet_state_dict)
    motion = dict(motion_state_dict) if motion_state_dict is not None else embedded_motion
    if "conv_in.weight" not in spatial:
        raise ValueError("UNet state dict has no conv_in.weight; is this a denoising UNet checkpoint?")
    weight = spatial["conv_in.weight"]
    in_channels = weight.shape[1] if in_channels is None else in_channels
    if conv_in_kind is None:
        conv_in_kind = "3d" if weight.ndim == 5 else "2d"
    spatial["conv_in.weight"] = fit_conv_in(weight, in_channels, check_conv_in_kind(conv_in_kind))
    config = dict(SD15_UNET_CONFIG if unet_config is None else unet_config)
    config["in_channels"] = in_channels
    mm_config = infer_motion_config(motion, motion_config) if motion else None
    with torch.device("meta"):
        unet = VideoUNet(config, mm_config, conv_in_kind=conv_in_kind)
    _load_into_meta(unet, {**spatial, **motion}, "denoising UNet + motion module weights")
    return unet


def _load_into_meta(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    """Check names/shapes against a meta-device module, then assign the tensors into it."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{what} does not match {type(module).__name__}: {len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, {len(wrong)} wrong shapes {wrong[:5]}"
        )
    module.load_state_dict(dict(state_dict), strict=True, assign=True)
    left = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"{what}: tensors left uninitialised after loading: {left[:5]}")
    return module


# ---- Moore-AnimateAnyone / MIMO / Champ releases ----------------------------------------------------------
@dataclass
class AnimateAnyoneWeights:
    """Networks of a Moore-AnimateAnyone-style release, ready to run (eval mode, float32 as stored)."""

    denoising_unet: VideoUNet
    reference_net: ReferenceNet
    pose_encoder: nn.Module
    source: str


def _find(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise FileNotFoundError(f"{name} not found in {folder} (present: {present})")
    return path


def load_pose_guider(path: str | Path) -> PoseGuider:
    """Moore / MIMO ``pose_guider.pth`` -> :class:`PoseGuider` (input channels and widths read from shapes)."""
    state_dict = read_state_dict(path)
    if "conv_in.weight" not in state_dict or "conv_out.weight" not in state_dict:
        raise ValueError(f"{path}: not a PoseGuider checkpoint (needs conv_in.weight and conv_out.weight)")
    widths = [state_dict["conv_in.weight"].shape[0]]
    index = 1
    while f"blocks.{index}.weight" in state_dict:
        widths.append(state_dict[f"blocks.{index}.weight"].shape[0])
        index += 2
    guider = PoseGuider(
        embedding_channels=state_dict["conv_out.weight"].shape[0],
        conditioning_channels=state_dict["conv_in.weight"].shape[1],
        block_out_channels=tuple(widths),
    )
    load_exact(guider, state_dict, str(path))
    return guider.eval()


def load_champ_guidance_encoders(
    folder: str | Path, types: tuple[str, ...] = CHAMP_GUIDANCE_TYPES, block_out_channels=(16, 32, 96, 256)
) -> GuidanceEncoderSet:
    """Champ ``guidance_encoder_<type>.pth`` files -> summed :class:`GuidanceEncoderSet` (missing types skipped)."""
    folder = Path(folder)
    encoders: dict[str, nn.Module] = {}
    for kind in types:
        path = folder / f"guidance_encoder_{kind}.pth"
        if not path.is_file():
            continue
        state_dict = read_state_dict(path)
        encoder = ChampGuidanceEncoder(
            embedding_channels=state_dict["conv_out.weight"].shape[0],
            conditioning_channels=state_dict["conv_in.weight"].shape[1],
            block_out_channels=block_out_channels,
        )
        load_exact(encoder, state_dict, str(path))
        encoders[kind] = encoder
    if not encoders:
        raise FileNotFoundError(f"no guidance_encoder_<type>.pth for types {types} in {folder}")
    return GuidanceEncoderSet(encoders).eval()


def load_reference_net(path: str | Path, unet_config: Mapping[str, Any] | None = None) -> ReferenceNet:
    """``reference_unet.pth`` (682 keys, or a full 686-key SD1.5 UNet) -> :class:`ReferenceNet`."""
    state_dict = {
        k: v for k, v in read_state_dict(path).items() if not k.startswith(("conv_norm_out.", "conv_out."))
    }
    config = dict(SD15_UNET_CONFIG if unet_config is None else unet_config)
    config["in_channels"] = state_dict["conv_in.weight"].shape[1]
    with torch.device("meta"):
        net = ReferenceNet(**config)
    return _load_into_meta(net, state_dict, str(path)).eval()


def load_animateanyone_release(
    folder: str | Path,
    flavour: str = "auto",
    motion_module: str | Path | None = None,
    unet_config: Mapping[str, Any] | None = None,
    motion_config: MotionModuleConfig | None = None,
) -> AnimateAnyoneWeights:
    """Load a Moore-AnimateAnyone, Champ or official MIMO weight folder.

    ``flavour``: ``"moore"``, ``"mimo"``, ``"champ"`` or ``"auto"`` (Champ if guidance encoders are present,
    else MIMO if ``conv_in`` has 8 input channels, else Moore). ``motion_module`` overrides
    ``<folder>/motion_module.pth`` (e.g. AnimateDiff ``mm_sd_v15_v2.ckpt`` for stage-2 training).
    """
    folder = Path(folder)
    unet_file = read_state_dict(_find(folder, "denoising_unet.pth"))
    motion_path = Path(motion_module) if motion_module is not None else folder / "motion_module.pth"
    motion = read_motion_module(motion_path) if motion_path.is_file() else {}
    if not motion and not any(MOTION_KEY in k for k in unet_file):
        raise FileNotFoundError(
            f"no motion modules: {motion_path} is missing and denoising_unet.pth has none"
        )
    has_champ = any((folder / f"guidance_encoder_{kind}.pth").is_file() for kind in CHAMP_GUIDANCE_TYPES)
    if flavour == "auto":
        flavour = "champ" if has_champ else ("mimo" if unet_file["conv_in.weight"].shape[1] == 8 else "moore")
    if flavour not in ("moore", "mimo", "champ"):
        raise ValueError(f"unknown flavour {flavour!r}; expected 'moore', 'mimo', 'champ' or 'auto'")
    unet = build_video_unet(unet_file, motion or None, unet_config=unet_config, motion_config=motion_config)
    reference = load_reference_net(_find(folder, "reference_unet.pth"), unet_config)
    if flavour == "champ":
        pose: nn.Module = load_champ_guidance_encoders(folder)
    else:
        pose = load_pose_guider(_find(folder, "pose_guider.pth"))
    return AnimateAnyoneWeights(unet.eval(), reference, pose, flavour)


def video_unet_from_sd15(
    unet_source: str | Path,
    motion_module: str | Path | None = None,
    in_channels: int = 4,
    motion_config: MotionModuleConfig | None = None,
    conv_in_kind: str = "2d",
) -> VideoUNet:
    """Stage-1/2 training start point: SD1.5 UNet weights (+ AnimateDiff motion module), ``conv_in`` zero-expanded.

    ``unet_source``: a diffusers folder (root or ``unet/``) or an original single-file ``.safetensors``/``.ckpt``.
    ``conv_in_kind="3d"``: the paper's temporal fusion conv, the SD1.5 kernel in its centre frame (see
    :data:`~mimo_core.models.video_unet.INPUT_LAYOUTS`, e.g. ``**input_layout("paper")``).
    """
    source = Path(unet_source)
    if source.is_dir():
        config, state_dict = load_unet2d_diffusers(source)
    else:
        from .sd_single_file import read_single_file_unet

        config, state_dict = dict(SD15_UNET_CONFIG), read_single_file_unet(source)
    motion = read_motion_module(motion_module) if motion_module is not None else None
    if motion is None and motion_config is not None:
        config["in_channels"] = in_channels
        unet = VideoUNet(config, motion_config, conv_in_kind=conv_in_kind)
        unet.load_unet2d_state_dict(state_dict)
        return unet
    return build_video_unet(
        state_dict,
        motion,
        unet_config=config,
        in_channels=in_channels,
        motion_config=motion_config,
        conv_in_kind=conv_in_kind,
    )
