"""Identity encoding and video generation nodes."""

from __future__ import annotations

import comfy.latent_formats
import comfy.model_management as mm
import latent_preview
import torch
from comfy_api.latest import io

from mimo_core.pipeline.crops import CropOptions
from mimo_core.pipeline.mimo import MimoPipeline

from ._common import BACKGROUNDS, CATEGORY, Progress, to_intermediate
from .layers import check_same_video
from .models import Pipeline
from .video import rgb_frames

# Largest frame generated at once (pixels): beyond it the denoiser's activations outgrow any GPU.
MAX_GENERATE_PIXELS = 2048 * 2048

# mimo_core.identity.Identity: the reference picture, its CLIP token, cached ReferenceNet features.
Identity = io.Custom("MIMO_IDENTITY")


class MimoEncodeIdentity(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoEncodeIdentity",
            display_name="MIMO Encode Identity",
            category=f"{CATEGORY}/identity",
            description=(
                "Encodes the character picture with the pipeline's CLIP image encoder (one cross-attention "
                "token). Its ReferenceNet features are computed once, at the generation size, by MIMO Generate."
            ),
            inputs=[
                Pipeline.Input("pipeline", tooltip="From MIMO Load Pipeline."),
                io.Image.Input("reference", tooltip="The character picture (first image of the batch), "
                                                    "e.g. from MIMO Prepare Reference."),
            ],
            outputs=[Identity.Output(display_name="identity", tooltip="Who is animated.")],
        )

    @classmethod
    def execute(cls, pipeline, reference) -> io.NodeOutput:
        reference = rgb_frames(reference, "reference")
        return io.NodeOutput(pipeline.ready().encode_identity(reference[:1].cpu()))


def _previewer(pipeline: MimoPipeline):
    """ComfyUI's latent previewer for SD1.5 latents (None when previews are off or latents differ)."""
    if int(pipeline.vae.config.latent_channels) != 4:
        return None
    return latent_preview.get_previewer(pipeline.device, comfy.latent_formats.SD15())


class MimoGenerate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoGenerate",
            display_name="MIMO Generate",
            category=f"{CATEGORY}/generate",
            description=(
                "Synthesises the character video: the identity animated by the pose video, over the scene "
                "video (8/12-channel models), with the occluders pasted back on top. Long videos are "
                "denoised in overlapping context windows. Output has the pose video's size and length. "
                "With person_crop, each window is generated on a square crop around the person and pasted "
                "back over the scene with a feathered edge (the released MIMO's way)."
            ),
            inputs=[
                Pipeline.Input("pipeline", tooltip="From MIMO Load Pipeline."),
                Identity.Input("identity", tooltip="From MIMO Encode Identity."),
                io.Image.Input("pose", tooltip="Pose render per frame [T,H,W,3] (MIMO Render Pose)."),
                io.Image.Input("scene", optional=True,
                               tooltip="Inpainted background video, same size and length as the pose "
                                       "(required by 8- and 12-channel models; refused by 4-channel ones, "
                                       "except with person_crop, where it is only what the crops are pasted on)."),
                io.Image.Input("occlusion", optional=True,
                               tooltip="Occlusion layer: what is in front of the person (pasted back on top)."),
                io.Mask.Input("occlusion_mask", optional=True,
                              tooltip="Where the occlusion layer is, per frame (needs the occlusion input)."),
                io.Int.Input("steps", default=25, min=1, max=200, tooltip="Denoising steps (MIMO: 25)."),
                io.Float.Input("cfg", default=3.5, min=1.0, max=20.0, step=0.1,
                               tooltip="Classifier-free guidance scale (MIMO: 3.5; 1 skips the unconditional pass)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed; the same seed gives the same video on any device."),
                io.Int.Input("window", default=24, min=1, max=64,
                             tooltip="Frames per context window (MIMO: 24; at most the motion modules' length)."),
                io.Int.Input("overlap", default=4, min=0, max=63, tooltip="Frames shared by consecutive windows."),
                io.Boolean.Input("person_crop", default=False, optional=True,
                                 tooltip="Generate each window on a square crop around the person (from "
                                         "person_mask, else the pose render's non-black pixels), resized to "
                                         "crop_size, and paste it back over the scene with a feathered edge, "
                                         "windows blended linearly. Needs the scene input. Off: whole frames."),
                io.Int.Input("crop_size", default=768, min=16, max=2048, step=16, optional=True,
                             tooltip="Side in pixels each person crop is generated at (with person_crop). Must "
                                     "be a multiple of the model's size multiple (64 for SD1.5-sized models; "
                                     "the released MIMO generates at 784, about 768)."),
                io.Mask.Input("person_mask", optional=True,
                              tooltip="Where the person is, per frame, to place the crops (with person_crop; "
                                      "e.g. MIMO Track Person). Default: the pose render's non-black pixels."),
            ],
            outputs=[io.Image.Output(display_name="frames", tooltip="[T,H,W,3] generated frames in 0..1.")],
        )

    @classmethod
    def execute(cls, pipeline, identity, pose, steps, cfg, seed, window, overlap,
                scene=None, occlusion=None, occlusion_mask=None, person_crop=False, crop_size=768,
                person_mask=None) -> io.NodeOutput:
        pose = rgb_frames(pose, "pose")
        if not person_crop and pose.shape[1] * pose.shape[2] > MAX_GENERATE_PIXELS:
            raise ValueError(
                f"pose is {pose.shape[2]}x{pose.shape[1]} pixels, more than this node generates at once "
                f"({MAX_GENERATE_PIXELS // 1_000_000} megapixels); load the video with a smaller max_side "
                "(MIMO works at 768 pixels)"
            )
        scene = None if scene is None else rgb_frames(scene, "scene")
        occlusion = None if occlusion is None else rgb_frames(occlusion, "occlusion")
        for name, other in (("scene", scene), ("occlusion", occlusion), ("occlusion_mask", occlusion_mask),
                            ("person_mask", person_mask)):
            check_same_video(pose, other, name, ref_name="pose")
        if occlusion_mask is not None and occlusion is None:
            raise ValueError("occlusion_mask is connected but occlusion is not: connect the occlusion layer too")
        if person_mask is not None and not person_crop:
            raise ValueError("person_mask is connected but person_crop is off: the mask only places the "
                             "person crops, turn person_crop on (or disconnect the mask)")
        model = pipeline.ready()
        crop = None
        if person_crop:
            crop, scene = _crop_options(model, scene, crop_size, person_mask)
        frames = model.generate(
            identity, pose.cpu(), None if scene is None else scene.cpu(),
            None if occlusion is None else occlusion.cpu(), None if occlusion_mask is None else occlusion_mask.cpu(),
            steps=steps, guidance=cfg, seed=seed, window=window, overlap=overlap,
            callback=_step_callback(model, steps), cancel_check=mm.throw_exception_if_processing_interrupted,
            crop=crop,
        )
        return io.NodeOutput(to_intermediate(frames))



class MimoReposeReference(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoReposeReference",
            display_name="MIMO Repose Reference (A-pose)",
            category=f"{CATEGORY}/identity",
            description=(
                "Redraws the character in another pose with the pipeline's own denoiser: one frame from the "
                "identity, driven by the pose render, over a plain background. With the A-pose render of MIMO "
                "A-Pose Motion this is the paper's canonical A-pose picture, on the plain background at the "
                "render's size: encode it with MIMO Encode Identity to animate it. Worth it with the full MIMO weights; a "
                "small model redraws the character less faithfully than the original picture shows them."
            ),
            inputs=[
                Pipeline.Input("pipeline", tooltip="From MIMO Load Pipeline."),
                Identity.Input("identity", tooltip="The character, from MIMO Encode Identity."),
                io.Image.Input("pose", tooltip="Pose render of the target pose (first image of the batch): MIMO "
                                               "Render Pose 'parts' of MIMO A-Pose Motion, or MIMO Render SDC Condition "
                                               "for the official weights. Sets the output size."),
                io.Combo.Input("background", options=list(BACKGROUNDS), default="white",
                               tooltip="Plain scene behind the character (the scene input of 8/12-channel models)."),
                io.Int.Input("steps", default=25, min=1, max=200, tooltip="Denoising steps (MIMO: 25)."),
                io.Float.Input("cfg", default=3.5, min=1.0, max=20.0, step=0.1,
                               tooltip="Classifier-free guidance scale (MIMO: 3.5)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed."),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="[1,H,W,3] the character in the pose.")],
        )

    @classmethod
    def execute(cls, pipeline, identity, pose, background, steps, cfg, seed) -> io.NodeOutput:
        pose = rgb_frames(pose, "pose")
        if pose.shape[1] * pose.shape[2] > MAX_GENERATE_PIXELS:
            raise ValueError(f"pose is {pose.shape[2]}x{pose.shape[1]} pixels, more than this node generates at "
                             f"once ({MAX_GENERATE_PIXELS // 1_000_000} megapixels); render it smaller")
        model = pipeline.ready()
        image = model.repose(identity, pose[:1].cpu(), BACKGROUNDS[background], steps=steps, guidance=cfg,
                             seed=seed, callback=_step_callback(model, steps),
                             cancel_check=mm.throw_exception_if_processing_interrupted)
        return io.NodeOutput(to_intermediate(image[None]))


def _step_callback(model: MimoPipeline, steps: int):
    """Sampler callback: progress bar with a latent preview of the middle frame, and interruption."""
    progress, previewer = Progress(steps), _previewer(model)

    def on_step(step: int, total: int, x0: torch.Tensor) -> None:
        mm.throw_exception_if_processing_interrupted()
        image = None
        if previewer is not None:
            image = previewer.decode_latent_to_preview_image("JPEG", x0[:, :, x0.shape[2] // 2])
        progress.bar.update_absolute(step, total, image)

    return on_step


def _crop_options(model: MimoPipeline, scene: torch.Tensor | None, crop_size: int,
                  person_mask: torch.Tensor | None) -> tuple[CropOptions, torch.Tensor | None]:
    """The person-crop settings, and the scene to condition on (None for 4-channel models, which only
    paste onto it)."""
    multiple = model.size_multiple()
    if crop_size < multiple or crop_size % multiple:
        nearest = max(1, round(crop_size / multiple)) * multiple
        raise ValueError(f"crop_size {crop_size} is not a multiple of {multiple}, the size multiple of "
                         f"{model.source or 'this pipeline'}; use e.g. {nearest}")
    if scene is None:
        raise ValueError("person_crop pastes the generated crops over the scene: connect the scene input "
                         "(the inpainted background)")
    mask = None if person_mask is None else person_mask.float().cpu()
    if mask is not None and not bool((mask > 0.5).any()):
        raise ValueError("person_mask is empty (no pixel above 0.5 in any frame): connect a mask of the person, "
                         "or none to place the crops from the pose render")
    if model.in_channels == 4:
        return CropOptions(size=int(crop_size), person_mask=mask, base_video=scene.cpu()), None
    return CropOptions(size=int(crop_size), person_mask=mask), scene


NODES = [MimoEncodeIdentity, MimoGenerate, MimoReposeReference]
