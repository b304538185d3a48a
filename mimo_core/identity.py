"""Identity encoding: the CLIP image embedding and the ReferenceNet features of the reference picture.

MIMO (like Moore-AnimateAnyone) conditions the denoiser on the character twice:

* the CLIP image embedding of the reference (sd-image-variations' ``image_encoder``, a
  ``CLIPVisionModelWithProjection``): its projected ``image_embeds`` ``[B, 768]`` become one
  cross-attention token ``[B, 1, 768]``; the unconditional branch of classifier-free guidance
  uses zeros of the same shape;
* the ReferenceNet's self-attention inputs, recorded once from the VAE latents of the reference
  resized to the generation size, at timestep 0, with that CLIP token as context.

Preprocessing is done in torch and matches ``CLIPImageProcessor``: bicubic resize of the short
side to the encoder's ``image_size`` (224), centre crop, CLIP mean / std.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .models.reference import ReferenceFeatures, ReferenceNet

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_image_encoder(folder: str | Path) -> nn.Module:
    """A local transformers ``CLIPVisionModelWithProjection`` folder (``config.json`` + weights), eval mode.

    Accepts the encoder folder itself or a root holding ``image_encoder/``. Never downloads.
    """
    from transformers import CLIPVisionModelWithProjection

    folder = Path(folder)
    if not (folder / "config.json").is_file() and (folder / "image_encoder" / "config.json").is_file():
        folder = folder / "image_encoder"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no CLIP image encoder in {folder}: expected a transformers CLIPVisionModelWithProjection folder "
            "(config.json + model.safetensors or pytorch_model.bin), e.g. sd-image-variations' image_encoder/"
        )
    return CLIPVisionModelWithProjection.from_pretrained(str(folder), local_files_only=True).eval()


def clip_preprocess(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``[B, H, W, 3]`` floats in 0..1 -> ``[B, 3, size, size]`` CLIP-normalised pixel values.

    Short side resized to ``size`` (bicubic, antialiased), centre crop, then ``(x - mean) / std``.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [B,H,W,3] floats in 0..1, got shape {tuple(images.shape)}")
    x = images.float().permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    x = x[:, :, top:top + size, left:left + size].clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def clip_image_embeds(image_encoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Projected CLIP image embedding as a cross-attention context ``[B, 1, D]`` (float32, on ``images.device``).

    ``images``: ``[B, H, W, 3]`` in 0..1. ``D`` is the encoder's ``projection_dim`` (768 for
    sd-image-variations).
    """
    param = next(image_encoder.parameters())
    size = int(image_encoder.config.image_size)
    pixels = clip_preprocess(images, size).to(device=param.device, dtype=param.dtype)
    embeds = image_encoder(pixel_values=pixels).image_embeds
    return embeds.float().unsqueeze(1).to(images.device)


@dataclass
class Identity:
    """Who is animated: the reference picture and its CLIP token; ReferenceNet features cached per size.

    * ``image``: ``[H, W, 3]`` float in 0..1 (CPU), the reference picture as given;
    * ``clip_embeds``: ``[1, 1, D]`` float32 CLIP context (the unconditional branch uses zeros).

    :meth:`reference_features` computes the ReferenceNet features for one generation size once and
    keeps them, so repeated generations (and every step and window of one) reuse them.
    """

    image: torch.Tensor
    clip_embeds: torch.Tensor
    _cache: dict[tuple, ReferenceFeatures] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[-1] != 3:
            raise ValueError(f"identity image must be [H,W,3] in 0..1, got shape {tuple(self.image.shape)}")
        if self.clip_embeds.ndim != 3 or self.clip_embeds.shape[:2] != (1, 1):
            raise ValueError(f"clip_embeds must be [1,1,D], got shape {tuple(self.clip_embeds.shape)}")

    @torch.no_grad()
    def reference_features(
        self, vae: nn.Module, reference_net: ReferenceNet, height: int, width: int
    ) -> ReferenceFeatures:
        """ReferenceNet features of the picture resized to ``height x width`` (cached per size and model).

        Returns features on the ReferenceNet's device and dtype, one ``[1, L, C]`` tensor per
        self-attention layer.
        """
        param = next(reference_net.parameters())
        key = (int(height), int(width), id(vae), id(reference_net), param.device, param.dtype)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        from .pipeline.vae import encode_video  # here: mimo_core.pipeline imports this module

        resized = resize_image(self.image, height, width)
        latents = encode_video(vae, resized[None])[:, :, 0]  # [1, 4, h, w]
        context = self.clip_embeds.to(device=param.device, dtype=param.dtype)
        features = reference_net.encode(latents.to(device=param.device, dtype=param.dtype), context)
        self._cache.clear()  # one size at a time: features are large at full resolution
        self._cache[key] = features.detach()
        return self._cache[key]


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[H, W, 3]`` -> ``[height, width, 3]`` (bilinear, antialiased), values kept in 0..1."""
    x = image.float().permute(2, 0, 1)[None]
    if tuple(x.shape[-2:]) != (height, width):
        x = F.interpolate(x, size=(int(height), int(width)), mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).clamp(0, 1)


def encode_identity(image_encoder: nn.Module, image: torch.Tensor) -> Identity:
    """Encode a reference picture ``[H, W, 3]`` (or ``[1, H, W, 3]``) in 0..1 into an :class:`Identity`."""
    if image.ndim == 4:
        if image.shape[0] < 1:
            raise ValueError("reference image batch is empty")
        image = image[0]
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"reference image must be [H,W,3] in 0..1, got shape {tuple(image.shape)}")
    image = image.detach().float().cpu()
    return Identity(image=image, clip_embeds=clip_image_embeds(image_encoder, image[None]).cpu())
