"""Compositing nodes: put the occlusion layer (or any layer) back on top of frames."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from comfy_api.latest import io

from mimo_core.compositing import composite_over
from mimo_core.preview import side_by_side

from ._common import CATEGORY, to_intermediate


class MimoCompositeLayer(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoCompositeLayer",
            display_name="MIMO Composite Layer",
            category=f"{CATEGORY}/compose",
            description=(
                "Puts a layer over frames using its mask: frames * (1 - mask) + layer * mask. "
                "Use it to paste the occlusion layer back on top of generated frames so objects "
                "in front of the person stay in front."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Background frames [T,H,W,3] (e.g. the generated video)."),
                io.Image.Input("layer", tooltip="Layer frames drawn on top (e.g. the occlusion layer); same size."),
                io.Mask.Input("mask", tooltip="Where the layer is opaque (1) or transparent (0), per frame."),
            ],
            outputs=[io.Image.Output(display_name="frames", tooltip="The composited frames.")],
        )

    @classmethod
    def execute(cls, frames, layer, mask) -> io.NodeOutput:
        return io.NodeOutput(to_intermediate(composite_over(frames, layer, mask)))


def _to_height(frames: torch.Tensor, height: int) -> torch.Tensor:
    if frames.shape[1] == height:
        return frames
    width = max(2, round(frames.shape[2] * height / frames.shape[1]))
    resized = F.interpolate(frames.movedim(-1, 1), size=(height, width), mode="bilinear", align_corners=False)
    return resized.movedim(1, -1).clamp(0, 1)


class MimoSideBySide(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoSideBySide",
            display_name="MIMO Side By Side",
            category=f"{CATEGORY}/compose",
            description=(
                "Places up to four videos next to each other (e.g. input | layers | pose | result) "
                "for comparison. Each is scaled to the first one's height; the shortest sets the length."
            ),
            inputs=[
                io.Image.Input("video_1", tooltip="Left-most video [T,H,W,3]; sets the height."),
                io.Image.Input("video_2", tooltip="Second video."),
                io.Image.Input("video_3", optional=True, tooltip="Optional third video."),
                io.Image.Input("video_4", optional=True, tooltip="Optional fourth video."),
            ],
            outputs=[io.Image.Output(display_name="frames", tooltip="The videos side by side.")],
        )

    @classmethod
    def execute(cls, video_1, video_2, video_3=None, video_4=None) -> io.NodeOutput:
        height = video_1.shape[1]
        videos = [_to_height(v, height) for v in (video_1, video_2, video_3, video_4) if v is not None]
        return io.NodeOutput(to_intermediate(side_by_side(*videos)))


NODES = [MimoCompositeLayer, MimoSideBySide]
