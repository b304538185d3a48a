"""Depth, layer split (person / occlusion / scene), scene inpainting and reference nodes."""

from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io

from mimo_core.preprocess.depth import DepthEstimator
from mimo_core.preprocess.inpaint import inpaint_video
from mimo_core.preprocess.layers import split_layers
from mimo_core.preprocess.reference import prepare_reference

from . import model_paths, types
from ._common import BACKGROUNDS, CATEGORY, Progress, model_device, to_intermediate
from .video import rgb_frames


def check_same_video(frames: torch.Tensor, other: torch.Tensor | None, name: str, ref_name: str = "frames") -> None:
    """Raises ValueError naming ``name`` when ``other`` ([T,H,W] or [T,H,W,C]) is not as long and as
    large as ``frames`` ([T,H,W,C])."""
    if other is None:
        return
    if tuple(other.shape[:3]) != tuple(frames.shape[:3]):
        raise ValueError(
            f"{name} is {other.shape[0]} frames of {other.shape[2]}x{other.shape[1]} but {ref_name} is "
            f"{frames.shape[0]} frames of {frames.shape[2]}x{frames.shape[1]}: they must have the same "
            "length and size"
        )


def _t(a: np.ndarray) -> torch.Tensor:
    return to_intermediate(torch.from_numpy(np.ascontiguousarray(a)))


class MimoEstimateDepth(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoEstimateDepth",
            display_name="MIMO Estimate Depth",
            category=f"{CATEGORY}/preprocess",
            description=(
                "Per-frame relative depth with Depth Anything V2 (a transformers model folder in "
                "models/depthanything). Output is a grey image per frame, brighter = nearer, as the "
                "layer split expects; any other depth node with that convention works too."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Video frames [T,H,W,3]."),
                io.Combo.Input("model", options=model_paths.list_entries("depthanything"),
                               tooltip="Depth Anything V2 folder (config.json + weights) in models/depthanything."),
                io.Int.Input("batch_size", default=4, min=1, max=64, tooltip="Frames per forward pass."),
            ],
            outputs=[io.Image.Output(display_name="depth", tooltip="[T,H,W,3] relative depth, 1 = nearest.")],
        )

    @classmethod
    def execute(cls, frames, model, batch_size) -> io.NodeOutput:
        frames = rgb_frames(frames, "frames")
        estimator = DepthEstimator(model_paths.resolve("depthanything", model), device=str(model_device()))
        depth = estimator(frames.cpu().numpy(), batch_size=batch_size, progress=Progress(frames.shape[0]))
        return io.NodeOutput(_t(np.repeat(depth[..., None], 3, axis=-1)))


class MimoSplitLayers(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoSplitLayers",
            display_name="MIMO Split Layers",
            category=f"{CATEGORY}/preprocess",
            description=(
                "Splits the video into a person layer, an occlusion layer (what is in front of the "
                "person) and a scene layer. With depth, segments nearer than the person become "
                "occluders; with a rendered body silhouette, segments hiding part of the body do. "
                "Person over scene with occlusion on top reproduces the input."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Video frames [T,H,W,3]."),
                io.Mask.Input("person_mask", tooltip="The person's mask per frame (from MIMO Track Person)."),
                io.Image.Input("depth", optional=True,
                               tooltip="Optional relative depth per frame, brighter = nearer (MIMO Estimate Depth)."),
                io.Mask.Input("body_silhouette", optional=True,
                              tooltip="Optional rendered silhouette of the whole fitted body (MIMO Render Pose)."),
                io.Float.Input("depth_margin", default=0.05, min=0.0, max=1.0, step=0.01,
                               tooltip="How much nearer than the person (share of the depth range) an object "
                                       "must be to count as in front."),
                io.Boolean.Input("moving_occluders", default=True, optional=True,
                                 tooltip="Without depth: also find things that move in front of the person "
                                         "(optical flow that differs from the body's, and objects followed as "
                                         "rigid templates over the empty scene). Costs about 0.1 s per frame "
                                         "on 2 CPU cores at 256 px (up to 0.25 s with several moving objects); turn off "
                                         "for static shots or speed."),
            ],
            outputs=[
                types.Layers.Output(display_name="layers", tooltip="All layers and masks, for later nodes."),
                io.Image.Output(display_name="person", tooltip="Person layer (black elsewhere)."),
                io.Mask.Output(display_name="person_mask", tooltip="Visible person (occluders removed)."),
                io.Image.Output(display_name="occlusion", tooltip="Occlusion layer (black elsewhere)."),
                io.Mask.Output(display_name="occlusion_mask", tooltip="Things in front of the person."),
                io.Image.Output(display_name="scene", tooltip="Scene layer with holes (black) to inpaint."),
                io.Mask.Output(display_name="scene_holes", tooltip="1 where the scene is hidden (to inpaint)."),
            ],
        )

    @classmethod
    def execute(cls, frames, person_mask, depth=None, body_silhouette=None, depth_margin=0.05,
                moving_occluders=True) -> io.NodeOutput:
        frames = rgb_frames(frames, "frames")
        for name, other in (("person_mask", person_mask), ("depth", depth), ("body_silhouette", body_silhouette)):
            check_same_video(frames, other, name)
        layers = split_layers(
            frames.cpu().numpy(), person_mask.cpu().numpy(),
            depth=None if depth is None else depth.cpu().numpy().mean(-1),
            body_silhouette=None if body_silhouette is None else body_silhouette.cpu().numpy(),
            depth_margin=depth_margin, motion=bool(moving_occluders), rigid=bool(moving_occluders),
            progress=Progress(3),
        )
        return io.NodeOutput(
            layers, _t(layers.person), _t(layers.person_mask), _t(layers.occlusion), _t(layers.occlusion_mask),
            _t(layers.scene), _t(1.0 - layers.scene_mask),
        )


class MimoInpaintScene(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoInpaintScene",
            display_name="MIMO Inpaint Scene",
            category=f"{CATEGORY}/preprocess",
            description=(
                "Fills the holes the person and occluders leave in the scene: each pixel is taken from "
                "frames where it is visible (camera motion compensated if asked), and pixels never seen "
                "are filled spatially."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Frames with holes (e.g. the scene layer or the original video)."),
                io.Mask.Input("holes", tooltip="1 where the scene must be filled (e.g. scene_holes of MIMO Split Layers)."),
                io.Combo.Input("camera", options=["static", "moving"], default="static",
                               tooltip="'moving' aligns frames with a homography before borrowing pixels."),
                io.Int.Input("dilate", default=4, min=0, max=64,
                             tooltip="Grow the holes by this many pixels to cover soft mask edges."),
            ],
            outputs=[io.Image.Output(display_name="scene", tooltip="The clean background video.")],
        )

    @classmethod
    def execute(cls, frames, holes, camera, dilate) -> io.NodeOutput:
        frames = rgb_frames(frames, "frames")
        check_same_video(frames, holes, "holes")
        mask = holes.cpu()
        if dilate > 0:
            k = 2 * dilate + 1
            mask = torch.nn.functional.max_pool2d(mask[:, None], k, stride=1, padding=dilate)[:, 0]
        out = inpaint_video(frames.cpu().numpy(), mask.numpy(), align="none" if camera == "static" else "homography")
        return io.NodeOutput(_t(out))


class MimoPrepareReference(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoPrepareReference",
            display_name="MIMO Prepare Reference",
            category=f"{CATEGORY}/identity",
            description=(
                "Finds the character in a picture, cuts them out onto a plain background and frames "
                "them at the size the model expects."
            ),
            inputs=[
                io.Image.Input("image", tooltip="Picture of the character (the first image of the batch is used)."),
                io.Int.Input("width", default=512, min=64, max=2048, step=8, tooltip="Output width in pixels."),
                io.Int.Input("height", default=768, min=64, max=2048, step=8, tooltip="Output height in pixels."),
                io.Float.Input("margin", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Border around the character, as a share of their size."),
                io.Combo.Input("background", options=list(BACKGROUNDS), default="white",
                               tooltip="Colour put behind the character."),
            ],
            outputs=[
                io.Image.Output(display_name="reference", tooltip="The framed character [1,H,W,3]."),
                io.Mask.Output(display_name="mask", tooltip="The character's mask [1,H,W]."),
            ],
        )

    @classmethod
    def execute(cls, image, width, height, margin, background) -> io.NodeOutput:
        colour = BACKGROUNDS[background]
        image = rgb_frames(image, "image")
        ref, mask = prepare_reference(image[0].cpu().numpy(), size=(height, width), background=colour, margin=margin)
        return io.NodeOutput(_t(ref[None]), _t(mask[None]))


NODES = [MimoEstimateDepth, MimoSplitLayers, MimoInpaintScene, MimoPrepareReference]
