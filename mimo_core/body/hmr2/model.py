"""The HMR 2.0 network: ``backbone`` (ViT) + ``smpl_head`` (transformer decoder)."""

from __future__ import annotations

import torch
from torch import nn

from .config import Hmr2Config
from .head import SmplPrediction, SmplTransformerHead
from .vit import ViT

#: ImageNet normalisation applied to 0..1 RGB crops.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


class Hmr2Model(nn.Module):
    """``forward(images [B, 3, H, W] normalised) -> SmplPrediction``.

    ``images`` are ImageNet-normalised RGB crops of ``config.image_size`` (256x192 for the released
    model: the centre 192 columns of a 256x256 square crop around the person). The parameter names
    equal the ``backbone.*`` / ``smpl_head.*`` keys of the released checkpoint.
    """

    def __init__(self, config: Hmr2Config | None = None) -> None:
        super().__init__()
        self.config = config or Hmr2Config.official()
        self.backbone = ViT(self.config)
        self.smpl_head = SmplTransformerHead(self.config)

    def forward(self, images: torch.Tensor) -> SmplPrediction:
        h, w = self.config.image_size
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, h, w):
            raise ValueError(f"HMR 2.0 input must be [B, 3, {h}, {w}], got {tuple(images.shape)}")
        return self.smpl_head(self.backbone(images))
