"""Helpers shared by the node modules: category, device placement, progress and cancel."""

from __future__ import annotations

import comfy.model_management as mm
import comfy.utils
import torch

CATEGORY = "MIMO"
# Plain backgrounds offered for the character picture (RGB in 0..1).
BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5)}


def to_intermediate(t: torch.Tensor) -> torch.Tensor:
    """Move a node output to ComfyUI's intermediate device, as float32."""
    return t.to(device=mm.intermediate_device(), dtype=torch.float32)


class Progress:
    """Drives ComfyUI's progress bar and raises if the user cancelled the job.

    ``callback(done, total)`` matches the progress signature used across mimo_core.
    """

    def __init__(self, total: int = 100):
        self.bar = comfy.utils.ProgressBar(total)

    def __call__(self, done: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        self.bar.update_absolute(done, total)


def model_device() -> torch.device:
    """The device ComfyUI runs models on (CPU with --cpu)."""
    return mm.get_torch_device()
