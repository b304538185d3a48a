"""Compositing nodes: put the occlusion layer (or any layer) back on top of frames."""

from __future__ import annotations

from comfy_api.latest import io

from mimo_core.compositing import composite_over

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


NODES = [MimoCompositeLayer]
