"""Tiny weights in the official MIMO release formats (shared by the generation and server tests).

:func:`write_official_weights` writes a tiny random pipeline as the release lays out its model
folder: ``denoising_unet.pth`` (8-channel ``conv_in``), ``motion_module.pth``, ``reference_unet.pth``
and ``pose_guider.pth`` as plain state dicts, with the base models the loader looks for beside them
(a diffusers VAE, a transformers CLIP image encoder and the SD1.5-style ``unet/config.json`` that
gives the architecture). :func:`write_release_colour_table` writes an sdc colour table the way the
release ships ``assets/sdc_info.npy``: a pickled dict whose key ``"smpl"`` holds ``[V, 3]`` colours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from scripts.make_tiny_mimo import TINY_UNET

SMPL_VERTICES = 6890


def write_official_weights(pipeline, folder: str | Path, base_models: str = "inside") -> Path:  # noqa: ANN001
    """Write ``pipeline`` (e.g. ``build_tiny_pipeline(in_channels=8)``) in the release layout.

    ``base_models``: ``"inside"`` puts ``vae/``, ``image_encoder/`` and ``unet/config.json`` in the
    weight folder itself (one self-contained folder, as in ``models/mimo/<name>/``); ``"beside"``
    puts ``sd-vae-ft-mse/``, ``image_encoder/`` and ``stable-diffusion-v1-5/unet/`` one level up, as
    the release's ``pretrained_weights/`` folder holds them. Returns the weight folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(pipeline.unet.spatial_state_dict(), folder / "denoising_unet.pth")
    torch.save(pipeline.unet.motion_state_dict(), folder / "motion_module.pth")
    torch.save(pipeline.reference_net.state_dict(), folder / "reference_unet.pth")
    torch.save(pipeline.pose_encoder.state_dict(), folder / "pose_guider.pth")
    if base_models == "inside":
        vae, encoder, unet = folder / "vae", folder / "image_encoder", folder / "unet"
    elif base_models == "beside":
        vae, encoder = folder.parent / "sd-vae-ft-mse", folder.parent / "image_encoder"
        unet = folder.parent / "stable-diffusion-v1-5" / "unet"
    else:
        raise ValueError(f"base_models must be 'inside' or 'beside', got {base_models!r}")
    pipeline.vae.save_pretrained(str(vae))
    pipeline.image_encoder.save_pretrained(str(encoder))
    unet.mkdir(parents=True, exist_ok=True)
    (unet / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel", **TINY_UNET}))
    return folder


def release_colour_table(vertices: int = SMPL_VERTICES, seed: int = 3) -> np.ndarray:
    """``[V, 3]`` uint8 colours, bright enough that every drawn pixel (colour x 0.3) stands out from black."""
    return np.random.default_rng(seed).integers(64, 256, (vertices, 3)).astype(np.uint8)


def write_release_colour_table(path: str | Path, vertices: int = SMPL_VERTICES, seed: int = 3) -> Path:
    """A colour table in the release's ``sdc_info.npy`` format (``np.save`` of ``{"smpl": table}``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, {"smpl": release_colour_table(vertices, seed)}, allow_pickle=True)
    return path
