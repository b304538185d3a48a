"""Nodes for the full (heavier, user-provided) backends: SAM 2 tracking, HMR 2.0 motion, ProPainter.

Each reads its weights from its own model folder, never downloads anything, and keeps the loaded
networks in memory between runs until the files change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from comfy_api.latest import io

from mimo_core.preview import draw_boxes, overlay_mask

from . import model_paths, types
from ._common import CATEGORY, Progress, model_device, to_intermediate
from .person import SELECT_OPTIONS

HMR2_CONFIG_FILE = "hmr2_config.json"
PROPAINTER_FILES = ("ProPainter.pth", "recurrent_flow_completion.pth", "raft-things.pth")

_CACHE: dict[str, tuple[Any, Any]] = {}


def _stamp(path: str) -> tuple:
    """Changes when ``path`` (a file, or any file directly in a folder) changes."""
    if os.path.isfile(path):
        return (path, os.path.getmtime(path))
    return tuple(sorted((f.name, f.stat().st_mtime) for f in os.scandir(path) if f.is_file()))


def _cached(kind: str, path: str, load: Callable[[], Any]) -> Any:
    """One loaded model per backend kind, reused until its files change."""
    stamp = (path, _stamp(path))
    hit = _CACHE.get(kind)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    _CACHE.pop(kind, None)
    value = load()
    _CACHE[kind] = (stamp, value)
    return value


def _missing(folder: str, name: str, what: str) -> str:
    return (f"{what} '{name}' was not found in the '{folder}' model folder (models/{folder}); "
            f"expected {model_paths.MODEL_FOLDERS[folder][1]} there")


def _frames_np(frames: torch.Tensor, name: str = "frames") -> np.ndarray:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty RGB video [T,H,W,3], got shape {tuple(frames.shape)}")
    return frames.cpu().numpy()


# ----------------------------------------------------------------------------------------- SAM 2
def sam2_choices() -> list[str]:
    return [e for e in model_paths.list_entries("sam2")
            if any(os.path.isdir(os.path.join(r, e)) for r in _roots("sam2"))]


def _roots(folder: str) -> list[str]:
    import folder_paths

    return folder_paths.get_folder_paths(folder)


class MimoTrackPersonSam2(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoTrackPersonSam2",
            display_name="MIMO Track Person (SAM 2)",
            category=f"{CATEGORY}/preprocess",
            description=(
                "Follows one person through the clip with SAM 2 video segmentation (a transformers SAM 2 "
                "folder in models/sam2: config.json, model.safetensors, preprocessor_config.json). The "
                "person is found automatically on the first frame where MediaPipe sees one (or, when its "
                "usual search finds nobody, the frame where they are seen best), and SAM 2 follows them "
                "from there to the end and back to the start; frames where SAM 2 loses them are reported, "
                "never filled in. Landmarks stay empty (SAM 2 gives masks)."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Video frames [T,H,W,3]."),
                io.Combo.Input("model", options=sam2_choices(),
                               tooltip="SAM 2 video model folder in models/sam2 (refresh after adding one)."),
                io.Combo.Input("select", options=SELECT_OPTIONS, default="largest",
                               tooltip="Which person to prompt SAM 2 with when several are visible."),
                io.Int.Input("person_index", default=0, min=0, max=16,
                             tooltip="Used when select is 'index': 0 is the left-most person."),
            ],
            outputs=[
                io.Mask.Output(display_name="mask", tooltip="[T,H,W] person mask in 0..1."),
                types.PersonTrack.Output(display_name="track", tooltip="Boxes and lost frames (no landmarks)."),
                io.Image.Output(display_name="preview", tooltip="Frames with the mask and box drawn on."),
            ],
        )

    @classmethod
    def validate_inputs(cls, model, **_kwargs):
        if model not in sam2_choices():
            return _missing("sam2", model, "SAM 2 model folder")
        return True

    @classmethod
    def execute(cls, frames, model, select, person_index) -> io.NodeOutput:
        from mimo_core.preprocess.sam2_backend import Sam2VideoBackend

        clip = _frames_np(frames)
        path = model_paths.resolve("sam2", model)
        backend = _cached("sam2", path, lambda: Sam2VideoBackend(path, device=str(model_device())))
        choice = person_index if select == "index" else select
        track = backend.track(clip, select=choice, progress=Progress(clip.shape[0]))
        masks = torch.from_numpy(track.masks)
        preview = draw_boxes(overlay_mask(frames.cpu(), masks), track.boxes)
        return io.NodeOutput(to_intermediate(masks), track, to_intermediate(preview))


# --------------------------------------------------------------------------------------- HMR 2.0
def smpl_choices() -> list[str]:
    return [f for f in model_paths.list_entries("body_models") if f.lower().endswith((".pkl", ".npz"))]


def hmr2_config_for(checkpoint: str):
    """The architecture of a checkpoint: the released one, or ``hmr2_config.json`` beside the file
    (the fields of :class:`mimo_core.body.hmr2.Hmr2Config`) for a differently sized network."""
    from mimo_core.body.hmr2 import Hmr2Config
    from mimo_core.body.hmr2.checkpoint import find_checkpoint

    sidecar = find_checkpoint(checkpoint).parent / HMR2_CONFIG_FILE
    if not sidecar.is_file():
        return None
    fields = json.loads(sidecar.read_text())
    if "image_size" in fields:
        fields["image_size"] = tuple(fields["image_size"])
    return Hmr2Config(**fields)


class MimoEstimateMotionHmr2(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoEstimateMotionHmr2",
            display_name="MIMO Estimate 3D Motion (HMR 2.0)",
            category=f"{CATEGORY}/motion",
            description=(
                "Per-frame SMPL body, shape and camera from the tracked person's boxes with HMR 2.0 "
                "(4D-Humans), the estimator MIMO uses. Needs the released checkpoint "
                "(epoch=35-step=1000000.ckpt, or a folder holding it) in models/hmr2 and an SMPL file "
                "(SMPL_NEUTRAL.pkl / .npz) in models/body_models. Frames without a box copy the nearest "
                "frame with one and are flagged."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="The frames the track was made on."),
                types.PersonTrack.Input("track", tooltip="Person boxes per frame (MIMO Track Person or its SAM 2 twin)."),
                io.Combo.Input("checkpoint", options=model_paths.list_entries("hmr2"),
                               tooltip="HMR 2.0 checkpoint file, or a folder holding it, in models/hmr2."),
                io.Combo.Input("smpl_model", options=smpl_choices(),
                               tooltip="SMPL body file (SMPL_NEUTRAL.pkl or .npz) in models/body_models."),
                io.Int.Input("batch_size", default=8, min=1, max=128, tooltip="Person crops per forward pass."),
                io.Float.Input("box_margin", default=1.2, min=1.0, max=3.0, step=0.05,
                               tooltip="Crop size relative to the person box (HMR 2.0: 1.2)."),
                io.Float.Input("fps", default=30.0, min=1.0, max=240.0, step=0.01,
                               tooltip="Frame rate stored with the motion."),
            ],
            outputs=[types.Motion.Output(display_name="motion", tooltip="The SMPL motion (body model 'smpl').")],
        )

    @classmethod
    def validate_inputs(cls, checkpoint, smpl_model, **_kwargs):
        if checkpoint not in model_paths.list_entries("hmr2"):
            return _missing("hmr2", checkpoint, "HMR 2.0 checkpoint")
        if smpl_model not in smpl_choices():
            return _missing("body_models", smpl_model, "SMPL file")
        return True

    @classmethod
    def execute(cls, frames, track, checkpoint, smpl_model, batch_size, box_margin, fps) -> io.NodeOutput:
        from mimo_core.body.hmr2 import Hmr2Estimator

        from .motion import _body_model

        clip = _frames_np(frames)
        boxes = np.asarray(track.boxes, dtype=np.float64)
        if boxes.shape != (clip.shape[0], 4):
            raise ValueError(f"track has {len(boxes)} frames but frames has {clip.shape[0]}: "
                             "connect the track made on these frames")
        if not np.isfinite(boxes).all(axis=1).any():
            raise ValueError("track: the person was not found in any frame, so there is nothing to estimate")
        if "smplh" in smpl_model.lower():
            raise ValueError(f"smpl_model: HMR 2.0 predicts SMPL bodies; '{smpl_model}' looks like an SMPL-H "
                             "file, choose SMPL_NEUTRAL.pkl (or another SMPL file)")
        path = model_paths.resolve("hmr2", checkpoint)
        estimator = _cached("hmr2", path, lambda: Hmr2Estimator(
            path, device=model_device(), config=hmr2_config_for(path)))
        estimator.batch_size = int(batch_size)
        estimator.box_rescale = float(box_margin)
        body = _body_model("smpl", model_paths.resolve("body_models", smpl_model))
        progress = Progress(2)
        progress(0, 2)
        estimate = estimator.estimate(clip, boxes, fps=fps, body_model=body)
        progress(2, 2)
        motion = estimate.motion
        motion.info["body_model_file"] = smpl_model
        motion.info["estimator"] = "hmr2"
        return io.NodeOutput(motion)


# -------------------------------------------------------------------------------------- ProPainter
def propainter_choices() -> list[str]:
    """Sub-folders holding the three files, and 'ProPainter.pth' when they lie in models/propainter itself."""
    found = []
    for root in _roots("propainter"):
        if not os.path.isdir(root):
            continue
        if os.path.isfile(os.path.join(root, PROPAINTER_FILES[0])):
            found.append(PROPAINTER_FILES[0])
        found.extend(e.name for e in os.scandir(root) if e.is_dir())
    return sorted(set(found))


class MimoInpaintSceneProPainter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoInpaintSceneProPainter",
            display_name="MIMO Inpaint Scene (ProPainter)",
            category=f"{CATEGORY}/preprocess",
            description=(
                "Fills the holes the person and occluders leave in the scene with ProPainter (flow "
                "completion + propagation + transformer), the inpainter MIMO uses. Needs ProPainter.pth, "
                "recurrent_flow_completion.pth and raft-things.pth in models/propainter (or a sub-folder)."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Frames with holes (e.g. the scene layer)."),
                io.Mask.Input("holes", tooltip="1 where the scene must be filled (scene_holes of MIMO Split Layers)."),
                io.Combo.Input("model", options=propainter_choices(),
                               tooltip="'ProPainter.pth' for the files in models/propainter, or a sub-folder "
                                       "holding the three files."),
                io.Int.Input("dilate", default=4, min=0, max=32,
                             tooltip="Grow the holes by this many steps to cover soft mask edges (ProPainter: 4)."),
                io.Int.Input("neighbor_length", default=10, min=2, max=50,
                             tooltip="Local frames attended together (ProPainter: 10)."),
                io.Int.Input("ref_stride", default=10, min=1, max=100,
                             tooltip="Stride of the distant reference frames (ProPainter: 10)."),
                io.Int.Input("subvideo_length", default=80, min=2, max=1000,
                             tooltip="Frames per chunk; smaller uses less memory (ProPainter: 80)."),
                io.Int.Input("raft_iters", default=20, min=1, max=50,
                             tooltip="Optical flow refinement iterations (ProPainter: 20)."),
            ],
            outputs=[io.Image.Output(display_name="scene", tooltip="The clean background video.")],
        )

    @classmethod
    def validate_inputs(cls, model, **_kwargs):
        if model not in propainter_choices():
            return _missing("propainter", model, "ProPainter model")
        return True

    @classmethod
    def execute(cls, frames, holes, model, dilate, neighbor_length, ref_stride, subvideo_length,
                raft_iters) -> io.NodeOutput:
        from mimo_core.preprocess.propainter import load_propainter, propainter_inpaint

        clip = _frames_np(frames)
        if tuple(holes.shape) != tuple(clip.shape[:3]):
            raise ValueError(f"holes is {tuple(holes.shape)} but frames is {tuple(clip.shape[:3])} [T,H,W]: "
                             "they must have the same length and size")
        path = model_paths.resolve("propainter", model)
        folder = os.path.dirname(path) if os.path.isfile(path) else path
        device = model_device()
        models = _cached("propainter", folder, lambda: load_propainter(folder, device=device))
        out = propainter_inpaint(
            clip, holes.cpu().numpy(), models, neighbor_length=neighbor_length, ref_stride=ref_stride,
            subvideo_length=subvideo_length, raft_iters=raft_iters, device=device, mask_dilation=dilate,
            progress=Progress(100),
        )
        return io.NodeOutput(to_intermediate(torch.from_numpy(np.ascontiguousarray(out))))


NODES = [MimoTrackPersonSam2, MimoEstimateMotionHmr2, MimoInpaintSceneProPainter]
