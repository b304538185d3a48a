"""Saving and loading a whole :class:`~mimo_core.pipeline.mimo.MimoPipeline`.

The pack's own format is a folder::

    <name>/
      pipeline.json                 {"format": "mimo-pipeline", "format_version": "1", "sampler": {...},
                                     "components": {role: file}}
      vae.safetensors               pack-format files (mimo_core.checkpoints.pack_format): tensors +
      reference_net.safetensors     the config that rebuilds the module, one file per network
      video_unet.safetensors
      pose_encoder.safetensors
      image_encoder/                transformers CLIPVisionModelWithProjection folder (config.json +
                                    model.safetensors), as sd-image-variations ships it

The official layout (Moore-AnimateAnyone / official MIMO release) is a folder with
``denoising_unet.pth``, ``reference_unet.pth``, ``pose_guider.pth``, ``motion_module.pth`` plus the
base models it was trained on: an SD1.5 ``unet/config.json`` (architecture), an ``AutoencoderKL``
folder and a CLIP image encoder folder, either inside it or given explicitly
(:func:`load_official_pipeline`). :func:`load_pipeline_any` picks the reader from the folder content.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints.importers import load_animateanyone_release, load_vae_diffusers, unet_architecture
from ..checkpoints.pack_format import load_model, save_model
from ..identity import load_image_encoder
from ..models.pose_encoders import PaperPoseEncoder, PoseGuider
from ..models.temporal import MotionModuleConfig
from ..models.vertex_codes import VertexCodes
from .mimo import MimoPipeline, SamplerSettings

PIPELINE_FILE = "pipeline.json"
PIPELINE_FORMAT = "mimo-pipeline"
PIPELINE_FORMAT_VERSION = "1"
OFFICIAL_FILES = ("denoising_unet.pth", "reference_unet.pth", "pose_guider.pth")
# where the base models of an official release are looked for, relative to its folder (first found wins)
VAE_DIRS = ("vae", "sd-vae-ft-mse", "../sd-vae-ft-mse")
IMAGE_ENCODER_DIRS = ("image_encoder", "sd-image-variations-diffusers/image_encoder",
                      "../sd-image-variations-diffusers/image_encoder", "../image_encoder")
UNET_CONFIG_DIRS = ("unet", "stable-diffusion-v1-5/unet", "../stable-diffusion-v1-5/unet",
                    "sd-image-variations-diffusers/unet", "../sd-image-variations-diffusers/unet")


# ---- component configs -----------------------------------------------------------------------------------
def _plain_config(config: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(config).items() if not k.startswith("_")}


def _vae_config(vae: nn.Module) -> dict[str, Any]:
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    init_keys = set(AutoencoderKL.extract_init_dict(dict(vae.config))[0])
    return {k: v for k, v in _plain_config(vae.config).items() if k in init_keys}


def _pose_encoder_config(module: nn.Module) -> tuple[str, dict[str, Any]]:
    if isinstance(module, PoseGuider):
        widths = [module.conv_in.out_channels] + [b.out_channels for b in list(module.blocks)[1::2]]
        return "pose_guider", {"embedding_channels": module.conv_out.out_channels,
                               "conditioning_channels": module.conv_in.in_channels, "block_out_channels": widths}
    if isinstance(module, PaperPoseEncoder):
        convs = [m for m in module.conv_layers if isinstance(m, nn.Conv2d)]
        widths = [c.out_channels for c in convs if c.stride == (2, 2)] + [convs[-1].out_channels]
        return "paper_pose_encoder", {"conditioning_channels": int(module.conditioning_channels),
                                      "embedding_channels": int(module.final_proj.out_channels),
                                      "widths": [int(w) for w in widths]}
    raise TypeError(f"saving a pose encoder of type {type(module).__name__} is not supported "
                    "(PoseGuider or PaperPoseEncoder)")


# ---- pack format -----------------------------------------------------------------------------------------
def save_pipeline(pipeline: MimoPipeline, folder: str | Path, vertex_codes: VertexCodes | None = None) -> Path:
    """Write ``pipeline`` to ``folder`` in the pack's format (see the module docstring); returns the folder.

    ``vertex_codes``: the per-vertex codes of a model whose pose encoder reads rasterised codes, written as an
    extra ``vertex_codes`` component.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pose_kind, pose_config = _pose_encoder_config(pipeline.pose_encoder)
    save_model(pipeline.vae, folder / "vae.safetensors", "vae", _vae_config(pipeline.vae))
    save_model(pipeline.reference_net, folder / "reference_net.safetensors", "reference_net",
               {"unet": _plain_config(pipeline.reference_net.config)})
    save_model(pipeline.unet, folder / "video_unet.safetensors", "video_unet", pipeline.unet.video_config())
    save_model(pipeline.pose_encoder, folder / "pose_encoder.safetensors", pose_kind, pose_config)
    components = {"vae": "vae.safetensors", "reference_net": "reference_net.safetensors",
                  "unet": "video_unet.safetensors", "pose_encoder": "pose_encoder.safetensors",
                  "image_encoder": "image_encoder"}
    if vertex_codes is not None:
        save_model(vertex_codes, folder / "vertex_codes.safetensors", "vertex_codes",
                   {"num_vertices": int(vertex_codes.num_vertices), "dim": int(vertex_codes.dim)})
        components["vertex_codes"] = "vertex_codes.safetensors"
    pipeline.image_encoder.save_pretrained(str(folder / "image_encoder"), safe_serialization=True)
    description = {
        "format": PIPELINE_FORMAT,
        "format_version": PIPELINE_FORMAT_VERSION,
        "in_channels": pipeline.in_channels,
        "sampler": pipeline.sampler.to_dict(),
        "components": components,
    }
    (folder / PIPELINE_FILE).write_text(json.dumps(description, indent=2, sort_keys=True))
    return folder


def load_pipeline(folder: str | Path, device: torch.device | str = "cpu",
                  dtype: torch.dtype | None = None) -> MimoPipeline:
    """Read a folder written by :func:`save_pipeline`."""
    folder = Path(folder)
    path = folder / PIPELINE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {folder} is not a MIMO pipeline folder in the pack's format")
    description = json.loads(path.read_text())
    if description.get("format") != PIPELINE_FORMAT:
        raise ValueError(f"{path}: format {description.get('format')!r} is not {PIPELINE_FORMAT!r}")
    if description.get("format_version") != PIPELINE_FORMAT_VERSION:
        raise ValueError(f"{path}: format version {description.get('format_version')!r} is not supported "
                         f"(this version reads {PIPELINE_FORMAT_VERSION!r})")
    components = description["components"]
    for role, name in components.items():
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name} ({role}) is missing from the pipeline folder {folder}")
    image_encoder = load_image_encoder(folder / components["image_encoder"]).to(device)
    pipeline = MimoPipeline(
        vae=load_model(folder / components["vae"], device, dtype),
        image_encoder=image_encoder if dtype is None else image_encoder.to(dtype),
        reference_net=load_model(folder / components["reference_net"], device, dtype),
        unet=load_model(folder / components["unet"], device, dtype),
        pose_encoder=load_model(folder / components["pose_encoder"], device, dtype),
        sampler=SamplerSettings(**description.get("sampler", {})),
        source=str(folder),
    )
    if pipeline.in_channels != description.get("in_channels", pipeline.in_channels):
        raise ValueError(f"{path}: in_channels {description['in_channels']} but the UNet file takes "
                         f"{pipeline.in_channels}")
    return pipeline


# ---- official layout ---------------------------------------------------------------------------------------
def _first_dir(folder: Path, candidates: Sequence[str], marker: str = "config.json") -> Path | None:
    for name in candidates:
        if (folder / name / marker).is_file():
            return (folder / name).resolve()
    return None


def _missing_base(folder: Path, what: str, candidates: Sequence[str]) -> FileNotFoundError:
    return FileNotFoundError(f"{what} not found for the official weights in {folder}; looked in "
                             f"{[str(folder / c) for c in candidates]} (each needs a config.json)")


def load_official_pipeline(
    folder: str | Path,
    *,
    vae: str | Path | None = None,
    image_encoder: str | Path | None = None,
    unet_config: str | Path | dict | None = None,
    motion_config: MotionModuleConfig | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
) -> MimoPipeline:
    """Official MIMO / Moore-AnimateAnyone weights (``denoising_unet.pth`` ...) with their base models.

    ``vae`` / ``image_encoder``: folders; default: looked up beside the weights (:data:`VAE_DIRS`,
    :data:`IMAGE_ENCODER_DIRS`). ``unet_config``: the SD1.5 UNet architecture (a dict, a ``config.json``
    or a folder holding one); default :data:`UNET_CONFIG_DIRS` then the SD1.5 architecture.
    ``motion_config``: motion-module heads etc. (default AnimateDiff v2 = the release's).
    """
    folder = Path(folder)
    missing = [name for name in OFFICIAL_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"official MIMO weights incomplete in {folder}: missing {missing} "
                                f"(expected {list(OFFICIAL_FILES)} + motion_module.pth)")
    vae_dir = Path(vae) if vae is not None else _first_dir(folder, VAE_DIRS)
    if vae_dir is None:
        raise _missing_base(folder, "the VAE (sd-vae-ft-mse)", VAE_DIRS)
    encoder_dir = Path(image_encoder) if image_encoder is not None else _first_dir(folder, IMAGE_ENCODER_DIRS)
    if encoder_dir is None:
        raise _missing_base(folder, "the CLIP image encoder (sd-image-variations image_encoder)", IMAGE_ENCODER_DIRS)
    architecture = _unet_architecture(folder, unet_config)
    weights = load_animateanyone_release(folder, unet_config=architecture, motion_config=motion_config)
    if weights.source == "champ":
        raise ValueError(f"{folder} holds Champ guidance encoders; the MIMO pipeline needs pose_guider.pth")
    pipeline = MimoPipeline(
        vae=load_vae_diffusers(vae_dir), image_encoder=load_image_encoder(encoder_dir),
        reference_net=weights.reference_net, unet=weights.denoising_unet, pose_encoder=weights.pose_encoder,
        sampler=SamplerSettings(), source=str(folder),
    )
    return pipeline.to(device, dtype)


def _unet_architecture(folder: Path, unet_config: str | Path | dict | None) -> dict[str, Any] | None:
    if isinstance(unet_config, dict):
        return unet_config
    if unet_config is None:
        found = _first_dir(folder, UNET_CONFIG_DIRS)
        if found is None:
            return None  # SD1.5 architecture
        unet_config = found
    path = Path(unet_config)
    if path.is_dir():
        path = path / "config.json"
    return unet_architecture(json.loads(path.read_text()))


def is_pack_pipeline(folder: str | Path) -> bool:
    return (Path(folder) / PIPELINE_FILE).is_file()


def is_official_folder(folder: str | Path) -> bool:
    return (Path(folder) / "denoising_unet.pth").is_file()


def load_pipeline_any(folder: str | Path, device: torch.device | str = "cpu",
                      dtype: torch.dtype | None = None) -> MimoPipeline:
    """Load the pack's format or an official folder, whichever ``folder`` holds."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"MIMO model folder {folder} does not exist")
    if is_pack_pipeline(folder):
        return load_pipeline(folder, device, dtype)
    if is_official_folder(folder):
        return load_official_pipeline(folder, device=device, dtype=dtype)
    present = sorted(p.name for p in folder.iterdir())
    raise FileNotFoundError(
        f"{folder} is not a MIMO model: expected {PIPELINE_FILE} (the pack's format) or "
        f"{list(OFFICIAL_FILES)} (official release); found {present}"
    )
