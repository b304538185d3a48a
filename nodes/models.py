"""Loading a MIMO pipeline from the 'mimo' model folder, kept between runs and managed by ComfyUI."""

from __future__ import annotations

import os
from dataclasses import dataclass

import comfy.model_management as mm
import comfy.model_patcher
import torch
from comfy_api.latest import io

from mimo_core.pipeline.mimo import MimoPipeline
from mimo_core.pipeline.mimo_io import PIPELINE_FILE, load_pipeline_any

from . import model_paths
from ._common import CATEGORY

# mimo_core.pipeline.MimoPipeline wrapped in a LoadedPipeline (networks + their ModelPatcher).
Pipeline = io.Custom("MIMO_PIPELINE")


@dataclass
class LoadedPipeline:
    """A pipeline and the ModelPatcher through which ComfyUI loads it to / offloads it from the GPU."""

    pipeline: MimoPipeline
    patcher: comfy.model_patcher.ModelPatcher
    path: str

    def ready(self) -> MimoPipeline:
        """Load every network onto ComfyUI's compute device (freeing others' memory if needed)."""
        mm.load_models_gpu([self.patcher], force_full_load=True)
        return self.pipeline


def _folder_stamp(path: str) -> tuple:
    """Changes when any file in the model folder (one level of sub-folders) changes."""
    stamps = []
    for root, _dirs, files in os.walk(path):
        if root.count(os.sep) - path.count(os.sep) > 1:
            continue
        stamps.extend((os.path.join(root, f), os.path.getmtime(os.path.join(root, f))) for f in sorted(files))
    return tuple(sorted(stamps))


_CACHE: dict[str, tuple[tuple, LoadedPipeline]] = {}


def load_cached(path: str) -> LoadedPipeline:
    """The pipeline in ``path``, loaded once and reused until a file in the folder changes."""
    stamp = _folder_stamp(path)
    hit = _CACHE.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    _CACHE.clear()  # one pipeline at a time: they are several GB at full size
    pipeline = load_pipeline_any(path, device=mm.unet_offload_device())
    holder = torch.nn.ModuleDict(pipeline.modules())
    patcher = comfy.model_patcher.ModelPatcher(
        holder, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device()
    )
    loaded = LoadedPipeline(pipeline, patcher, path)
    _CACHE[path] = (stamp, loaded)
    return loaded


class MimoLoadPipeline(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoLoadPipeline",
            display_name="MIMO Load Pipeline",
            category=f"{CATEGORY}/generate",
            description=(
                f"Loads a MIMO model from models/mimo: a folder in the pack's format ({PIPELINE_FILE} + "
                "one safetensors file per network) or an official release folder (denoising_unet.pth, "
                "reference_unet.pth, pose_guider.pth, motion_module.pth with sd-vae-ft-mse, image_encoder "
                "and the SD1.5 unet config beside it). Kept in memory between runs until its files change."
            ),
            inputs=[
                io.Combo.Input("model", options=model_paths.list_entries("mimo"),
                               tooltip="Model folder inside models/mimo (refresh after adding one)."),
            ],
            outputs=[Pipeline.Output(display_name="pipeline", tooltip="The loaded MIMO networks.")],
        )

    @classmethod
    def validate_inputs(cls, model, **_kwargs):
        if model not in model_paths.list_entries("mimo"):
            return f"MIMO model '{model}' was not found in the 'mimo' model folder (models/mimo)"
        return True

    @classmethod
    def fingerprint_inputs(cls, model, **_kwargs):
        try:
            path = model_paths.resolve("mimo", model)
        except FileNotFoundError:
            return model
        return f"{path}:{hash(_folder_stamp(path))}"

    @classmethod
    def execute(cls, model) -> io.NodeOutput:
        path = model_paths.resolve("mimo", model)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"'{model}' in the 'mimo' model folder is a file ({path}); a MIMO model is a folder holding "
                f"{PIPELINE_FILE} or the official denoising_unet.pth, reference_unet.pth, pose_guider.pth"
            )
        return io.NodeOutput(load_cached(path))


NODES = [MimoLoadPipeline]
