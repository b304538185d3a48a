"""Per-call state shared by the video UNet's hooks and attention processors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .reference import ReferenceFeatures


@dataclass
class VideoRunState:
    """What the current :class:`~mimo_core.models.video_unet.VideoUNet` call needs inside its blocks.

    Set at the start of each forward and kept until the next one, so that activations recomputed by
    gradient checkpointing during backward see the same values.

    * ``num_frames``: frames per video ``F``; the UNet runs on ``B*F`` images, frames of a video contiguous.
    * ``pose_residual``: ``[B*F, C0, h, w]`` added to the ``conv_in`` output, or ``None``.
    * ``reference`` / ``reference_mask``: reference features and the ``[B]`` bool mask of videos using them.
    * ``use_motion``: run the temporal modules (``False`` = per-frame image model, stage-1 training).
    """

    num_frames: int = 1
    pose_residual: torch.Tensor | None = None
    reference: ReferenceFeatures | None = None
    reference_mask: torch.Tensor | None = None
    use_motion: bool = True
