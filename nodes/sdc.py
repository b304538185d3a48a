"""The official MIMO "sdc" pose condition: render it from a motion, recover its colour table."""

from __future__ import annotations

import logging
import os

import folder_paths
import numpy as np
from comfy_api.latest import io

from mimo_core.sdc import load_colour_table, recover_colour_table, render_sdc, save_colour_table
from mimo_core.sdc.hand_poses import motion_for_body, pose_sdc_hands

from . import model_paths, types
from ._common import CATEGORY, Progress, to_intermediate
from .backends import smpl_choices

log = logging.getLogger(__name__)

FROM_MOTION = "(from motion)"
HANDS = ("mediapipe", "mediapipe (pca)", "from motion", "none")
MISSING = ("hide (as the release)", "keep")
TABLE_EXTENSIONS = (".npy", ".npz", ".txt", ".csv")


def table_choices() -> list[str]:
    return [f for f in model_paths.list_entries("body_models") if f.lower().endswith(TABLE_EXTENSIONS)]


def _smpl_body(motion, body_model_file: str):
    """The SMPL / SMPL-H body of ``motion`` (its own file unless another is chosen)."""
    from .motion import _body_model

    if motion.body_model not in ("smpl", "smplh"):
        raise ValueError(
            f"motion: the sdc condition is drawn on the SMPL / SMPL-H mesh, but this motion uses "
            f"{motion.body_model!r}; estimate it with an SMPL file (MIMO Estimate 3D Motion with an SMPL "
            "body model, or MIMO Estimate 3D Motion (HMR 2.0))"
        )
    choice = motion.info.get("body_model_file", "") if body_model_file == FROM_MOTION else body_model_file
    if not choice or choice == "anny":
        raise ValueError("body_model_file: the motion does not name its SMPL file; choose it in models/body_models")
    path = model_paths.resolve("body_models", choice)
    # An SMPL-H file draws an SMPL motion too (shared body joints, fingers added): the release's mesh.
    kind = "smplh" if "smplh" in os.path.basename(path).lower() else motion.body_model
    return _body_model(kind, path)


def _camera(motion, size: tuple[int, int] | None) -> tuple[tuple[int, int], float]:
    """Output ``(W, H)`` and focal length, scaled from the motion's own image size."""
    mw, mh = (int(v) for v in motion.image_size[0])
    width, height = size or (mw, mh)
    if abs(width / height - mw / mh) > 0.01 * mw / mh:
        raise ValueError(f"output size {width}x{height} does not have the motion's aspect ratio ({mw}x{mh})")
    return (width, height), float(motion.focal[0, 0]) * width / mw


class MimoRenderSdc(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoRenderSdc",
            display_name="MIMO Render SDC Condition",
            category=f"{CATEGORY}/motion",
            description=(
                "Draws the pose condition the official MIMO weights were trained on: the posed SMPL / SMPL-H "
                "mesh with a fixed colour per vertex (the release's sdc_info.npy, or a table recovered with "
                "MIMO Recover SDC Table) on black, with the release's camera, shading gain and anti-aliasing."
            ),
            inputs=[
                types.Motion.Input("motion", tooltip="An SMPL or SMPL-H motion (HMR 2.0, or a fit with an SMPL file)."),
                io.Combo.Input("colour_table", options=table_choices(),
                               tooltip="sdc_info.npy (the release's, key 'smpl') or a plain [V,3] array file "
                                       "(.npy/.npz/.txt) in models/body_models."),
                io.Combo.Input("body_model_file", options=[FROM_MOTION, *smpl_choices()], default=FROM_MOTION,
                               tooltip="The SMPL / SMPL-H file to pose; by default the one the motion was made with."),
                io.String.Input("table_key", default="smpl",
                                tooltip="Entry of the table file to read (the release's sdc_info.npy: 'smpl')."),
                io.Int.Input("width", default=0, min=0, max=4096, step=8,
                             tooltip="Output width (0 = the motion's own image size)."),
                io.Int.Input("height", default=0, min=0, max=4096, step=8,
                             tooltip="Output height (0 = the motion's own image size)."),
                io.Image.Input("frames", optional=True,
                               tooltip="The source video the motion was estimated on: MediaPipe finds the "
                                       "hands in it (around the motion's wrists) for the finger poses."),
                io.Combo.Input("hands", options=list(HANDS), default="mediapipe", optional=True,
                               tooltip="Finger poses. mediapipe: fitted to MediaPipe hand landmarks of 'frames' "
                                       "(needs an SMPL-H body file; without 'frames' the motion's own are used); "
                                       "mediapipe (pca): the same in the file's hand-pose PCA space; from motion: "
                                       "the motion's own finger joints; none: flat hands."),
                io.Combo.Input("missing_hands", options=list(MISSING), default=MISSING[0], optional=True,
                               tooltip="With mediapipe: a hand not found in a frame is left out of that frame, as "
                                       "the release does with its hand detector (the weights were trained so), "
                                       "or kept with its last pose."),
            ],
            outputs=[
                io.Image.Output(display_name="sdc", tooltip="[T,H,W,3] the sdc condition video."),
                io.Mask.Output(display_name="silhouette", tooltip="[T,H,W] where the body is drawn."),
            ],
        )

    @classmethod
    def validate_inputs(cls, colour_table, **_kwargs):
        if colour_table not in table_choices():
            return (f"colour table '{colour_table}' was not found in the 'body_models' model folder "
                    "(models/body_models); expected sdc_info.npy or a [V,3] array file there")
        return True

    @classmethod
    def execute(cls, motion, colour_table, body_model_file, table_key, width, height, frames=None,
                hands="mediapipe", missing_hands=MISSING[0]) -> io.NodeOutput:
        body = _smpl_body(motion, body_model_file)
        table = load_colour_table(model_paths.resolve("body_models", colour_table), key=table_key or "smpl")
        size, focal = _camera(motion, (width, height) if width and height else None)
        source = hands.replace(" (pca)", "-pca")
        if source.startswith("mediapipe") and frames is None:
            log.warning("MIMO Render SDC Condition: no 'frames' connected, so the hands come from the motion")
            source = "from motion"
        posed = pose_sdc_hands(motion, body, source, frames, missing="keep" if missing_hands == "keep" else "hide",
                               progress=Progress(200))
        vertices = posed.motion.vertices(body)
        frames = render_sdc(vertices, body.faces, table, size, focal, hidden_vertices=posed.hidden_vertices,
                            progress=Progress(motion.num_frames))
        silhouette = (frames.amax(-1) > 0).float()
        return io.NodeOutput(to_intermediate(frames), to_intermediate(silhouette))


class MimoRecoverSdcTable(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoRecoverSdcTable",
            display_name="MIMO Recover SDC Table",
            category=f"{CATEGORY}/motion",
            description=(
                "Solves the per-vertex colour table from an official MIMO template: load the template's "
                "sdc.mp4 as frames and fit the body to its vid.mp4 (SMPL / SMPL-H motion). Writes a plain "
                "[V,3] table into models/body_models for MIMO Render SDC Condition, and reports how well "
                "the body matched (silhouette IoU) and how many vertices were seen."
            ),
            inputs=[
                io.Image.Input("sdc_frames", tooltip="The template's sdc.mp4 frames [T,H,W,3], unresized."),
                types.Motion.Input("motion", tooltip="Body fit of the template's vid.mp4, one pose per sdc frame."),
                io.Combo.Input("body_model_file", options=[FROM_MOTION, *smpl_choices()], default=FROM_MOTION,
                               tooltip="The SMPL / SMPL-H file to pose; by default the one the motion was made with."),
                io.String.Input("filename", default="sdc_table_recovered.npy",
                                tooltip="File written in models/body_models (.npy, .npz or .txt)."),
                io.Boolean.Input("overwrite", default=False, tooltip="Replace the file when it exists."),
                io.Float.Input("min_iou", default=0.6, min=0.0, max=1.0, step=0.01,
                               tooltip="Frames whose body silhouette matches worse than this are left out."),
            ],
            outputs=[
                io.String.Output(display_name="table_file", tooltip="Name of the written table in models/body_models."),
                io.String.Output(display_name="report", tooltip="Silhouette IoU, vertex coverage and frames used."),
                io.Image.Output(display_name="rerender", tooltip="The sdc frames drawn again with the recovered table."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, sdc_frames, motion, body_model_file, filename, overwrite, min_iou) -> io.NodeOutput:
        name = os.path.basename(filename.strip())
        if not name or name != filename.strip() or not name.lower().endswith((".npy", ".npz", ".txt")):
            raise ValueError(f"filename {filename!r}: expected a plain file name ending in .npy, .npz or .txt")
        roots = folder_paths.get_folder_paths("body_models")
        path = os.path.join(roots[0], name)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"filename: {path} exists; choose another name or turn on overwrite")
        body = _smpl_body(motion, body_model_file)
        t, h, w = (int(v) for v in sdc_frames.shape[:3])
        if t < motion.num_frames:
            raise ValueError(f"sdc_frames has {t} frames but the motion has {motion.num_frames}: "
                             "load the whole sdc.mp4 (one frame per pose)")
        size, focal = _camera(motion, (w, h))
        vertices = motion_for_body(motion, body).vertices(body)
        frames = sdc_frames[: motion.num_frames].cpu()
        rec = recover_colour_table(vertices, body.faces, frames, focal, min_iou=min_iou,
                                   progress=Progress(motion.num_frames))
        save_colour_table(path, rec.table)
        rerender = render_sdc(vertices, body.faces, rec.table, size, focal)
        iou = np.asarray(rec.silhouette_iou, dtype=np.float64)
        report = (
            f"table: {path}\nvertices: {len(rec.table)}, seen {rec.share_seen:.1%}, filled from neighbours "
            f"{float(rec.filled.mean()):.1%}\nsilhouette IoU: mean {np.nanmean(iou):.3f}, min {np.nanmin(iou):.3f} "
            f"over {len(iou)} frames\nframes left out (IoU < {min_iou}): {rec.info.get('frames_excluded', [])}"
        )
        return io.NodeOutput(name, report, to_intermediate(rerender),
                             ui={"text": [report]})


NODES = [MimoRenderSdc, MimoRecoverSdcTable]
