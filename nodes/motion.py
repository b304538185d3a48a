"""3D body motion nodes: estimate, re-target, render, save and load."""

from __future__ import annotations

import functools
import os

import folder_paths
import torch
from comfy_api.latest import io

from mimo_core.body import MotionSequence, load_body_model
from mimo_core.body.a_pose import a_pose_motion
from mimo_core.body.stages import RENDER_MODES, estimate_motion, render_motion

from . import model_paths, types
from ._common import CATEGORY, Progress, to_intermediate

ANNY_SHAPE = ("gender", "age", "muscle", "weight", "height", "proportions")


@functools.lru_cache(maxsize=4)
def _body_model(name: str, model_file: str | None = None):
    # Built outside inference mode: the motion fit differentiates through the model's buffers.
    with torch.inference_mode(False):
        return load_body_model(name, model_file).eval()


def body_model_choices() -> list[str]:
    files = [f for f in model_paths.list_entries("body_models") if f.lower().endswith((".pkl", ".npz"))]
    return ["anny"] + files


def body_model_for(choice: str):
    if choice == "anny":
        return _body_model("anny")
    path = model_paths.resolve("body_models", choice)
    kind = "smplh" if "smplh" in os.path.basename(path).lower() else "smpl"
    return _body_model(kind, path)


class MimoEstimateMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoEstimateMotion",
            display_name="MIMO Estimate 3D Motion",
            category=f"{CATEGORY}/motion",
            description=(
                "Fits a 3D body model to the tracked person's landmarks in every frame: pose per frame, "
                "one body shape for the clip, orientation and position in the camera, smoothed over time. "
                "Frames where the person was lost are interpolated and flagged."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="The frames the track was made on (for the image size)."),
                types.PersonTrack.Input("track", tooltip="Output of MIMO Track Person."),
                io.Combo.Input("body_model", options=body_model_choices(), default="anny",
                               tooltip="'anny' ships with the pack; SMPL/SMPL-H files go in models/body_models."),
                io.Int.Input("iterations", default=200, min=10, max=5000,
                             tooltip="Optimisation steps; more is slower and closer."),
                io.Boolean.Input("fit_shape", default=False,
                                 tooltip="Also fit the body shape (otherwise the average shape is used)."),
                io.Float.Input("fps", default=30.0, min=1.0, max=240.0, step=0.01,
                               tooltip="Frame rate stored with the motion."),
            ],
            outputs=[types.Motion.Output(display_name="motion", tooltip="The fitted 3D motion.")],
        )

    @classmethod
    def execute(cls, frames, track, body_model, iterations, fit_shape, fps) -> io.NodeOutput:
        size = (int(frames.shape[2]), int(frames.shape[1]))
        motion = estimate_motion(track.landmarks, track.world_landmarks, size, body_model_for(body_model),
                                 iterations=iterations, fps=fps, fit_shape=fit_shape,
                                 progress=Progress(iterations))
        motion.info["body_model_file"] = body_model
        return io.NodeOutput(motion)


class MimoRetargetMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        shape_inputs = [
            io.Float.Input(name, default=0.5, min=0.0, max=1.0, step=0.01,
                           tooltip=f"Anny body shape: {name} (0..1, 0.5 = average).")
            for name in ANNY_SHAPE
        ]
        return io.Schema(
            node_id="MimoRetargetMotion",
            display_name="MIMO Retarget Motion",
            category=f"{CATEGORY}/motion",
            description=(
                "Puts the same motion on another body shape (e.g. the new character's): pose is kept, "
                "the path is scaled by the height ratio so feet stay on the ground in the image."
            ),
            inputs=[types.Motion.Input("motion", tooltip="A motion fitted with the Anny body model."), *shape_inputs],
            outputs=[types.Motion.Output(display_name="motion", tooltip="The re-targeted motion.")],
        )

    @classmethod
    def execute(cls, motion, **shape) -> io.NodeOutput:
        if motion.body_model != "anny":
            raise ValueError(f"MIMO Retarget Motion sets Anny shape values; this motion uses {motion.body_model!r}")
        values = torch.tensor([shape[name] for name in ANNY_SHAPE], dtype=motion.shape.dtype)
        return io.NodeOutput(motion.retarget(values, _body_model("anny")))


class MimoAPoseMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoAPoseMotion",
            display_name="MIMO A-Pose Motion",
            category=f"{CATEGORY}/motion",
            description=(
                "One frame of the body in MIMO's canonical A-pose: upright, facing the camera, arms lowered "
                "to the sides, centred in a picture of the given size. Render it (MIMO Render Pose, or MIMO "
                "Render SDC Condition for SMPL) and feed it to MIMO Repose Reference to redraw the character in that pose."
            ),
            inputs=[
                io.Combo.Input("body_model", options=body_model_choices(), default="anny",
                               tooltip="The body model the pipeline's pose condition is drawn with ('anny' for "
                                       "the pack's models; an SMPL / SMPL-H file for the official sdc render)."),
                io.Int.Input("width", default=512, min=8, max=4096, step=8, tooltip="Picture width in pixels."),
                io.Int.Input("height", default=768, min=8, max=4096, step=8, tooltip="Picture height in pixels."),
                io.Float.Input("arm_angle", default=45.0, min=0.0, max=90.0, step=1.0,
                               tooltip="Degrees of the arms below the horizontal (0 = T-pose, 90 = arms down)."),
                io.Float.Input("fill", default=0.85, min=0.1, max=1.0, step=0.01,
                               tooltip="Share of the picture the body spans."),
                types.Motion.Input("shape_from", optional=True,
                                   tooltip="Take the body shape from this motion (e.g. fitted to the character "
                                           "picture with fit_shape on); same body model. Default: average shape."),
            ],
            outputs=[types.Motion.Output(display_name="motion", tooltip="The one-frame A-pose motion.")],
        )

    @classmethod
    def execute(cls, body_model, width, height, arm_angle, fill, shape_from=None) -> io.NodeOutput:
        body = body_model_for(body_model)
        shape = None
        if shape_from is not None:
            if shape_from.body_model != body.name:
                raise ValueError(f"shape_from: that motion uses body model {shape_from.body_model!r}, but "
                                 f"body_model is {body.name!r}; choose the same model")
            shape = shape_from.shape
        motion = a_pose_motion(body, (width, height), shape=shape, arm_angle=arm_angle, fill=fill)
        motion.info["body_model_file"] = body_model
        return io.NodeOutput(motion)


class MimoRenderPose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoRenderPose",
            display_name="MIMO Render Pose",
            category=f"{CATEGORY}/motion",
            description=(
                "Draws the posed 3D body of every frame: 'parts' is the pose condition the MIMO model "
                "reads (a fixed colour per body location), 'normals' a shaded body to check the fit, "
                "'silhouette' the whole body (also for finding occluders)."
            ),
            inputs=[
                types.Motion.Input("motion", tooltip="The motion to draw."),
                io.Combo.Input("mode", options=list(RENDER_MODES), default="parts", tooltip="What to draw."),
                io.Int.Input("width", default=0, min=0, max=4096, step=8,
                             tooltip="Output width (0 = the motion's own image size)."),
                io.Int.Input("height", default=0, min=0, max=4096, step=8,
                             tooltip="Output height (0 = the motion's own image size)."),
            ],
            outputs=[
                io.Image.Output(display_name="pose", tooltip="[T,H,W,3] rendered body on black."),
                io.Mask.Output(display_name="silhouette", tooltip="[T,H,W] where the body is."),
            ],
        )

    @classmethod
    def execute(cls, motion, mode, width, height) -> io.NodeOutput:
        size = (width, height) if width and height else None
        choice = motion.info.get("body_model_file", motion.body_model)
        frames, mask = render_motion(motion, body_model_for(choice), mode=mode, size=size,
                                     progress=Progress(motion.num_frames))
        return io.NodeOutput(to_intermediate(frames), to_intermediate(mask))


class MimoSaveMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoSaveMotion",
            display_name="MIMO Save Motion",
            category=f"{CATEGORY}/motion",
            description="Saves a motion to the output folder as one .safetensors file (loadable with MIMO Load Motion).",
            inputs=[
                types.Motion.Input("motion", tooltip="The motion to save."),
                io.String.Input("filename_prefix", default="mimo/motion", tooltip="File name prefix in the output folder."),
            ],
            outputs=[io.String.Output(display_name="path", tooltip="Where the file was written.")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, filename_prefix) -> io.NodeOutput:
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory())
        path = os.path.join(folder, f"{name}_{counter:05}.motion.safetensors")
        motion.save(path)
        file_name = os.path.basename(path)
        return io.NodeOutput(path, ui={"motion": [{"filename": file_name, "subfolder": subfolder, "type": "output"}]})


class MimoLoadMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        files = []
        root = folder_paths.get_input_directory()
        if os.path.isdir(root):
            files = sorted(f for f in os.listdir(root) if f.endswith(".safetensors"))
        return io.Schema(
            node_id="MimoLoadMotion",
            display_name="MIMO Load Motion",
            category=f"{CATEGORY}/motion",
            description="Loads a motion saved by MIMO Save Motion (a .safetensors file in the input folder).",
            inputs=[io.Combo.Input("file", options=files, tooltip="Motion file in the input folder.")],
            outputs=[types.Motion.Output(display_name="motion", tooltip="The loaded motion.")],
        )

    @classmethod
    def execute(cls, file) -> io.NodeOutput:
        path = folder_paths.get_annotated_filepath(file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"motion file '{file}' was not found in the input folder")
        return io.NodeOutput(MotionSequence.load(path))


NODES = [MimoEstimateMotion, MimoRetargetMotion, MimoAPoseMotion, MimoRenderPose, MimoSaveMotion, MimoLoadMotion]
