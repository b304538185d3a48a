"""Preview nodes with their own frontend widgets: layer viewer, character picker, 3D motion viewer.

Preview files go to ``<temp>/mimo_preview/<run id>/`` (ComfyUI empties its temp folder at start);
the nodes return ``ui`` entries that the pack's web extension (``web/js/``) reads.
"""

from __future__ import annotations

import json
import os
import struct
import uuid

import folder_paths
import numpy as np
import torch
from comfy_api.latest import io
from PIL import Image, ImageOps

from . import types
from ._common import CATEGORY, to_intermediate

PREVIEW_SUBFOLDER = "mimo_preview"
CHARACTER_SUBFOLDER = "mimo_characters"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
MAX_PREVIEW_SIDE = 384
MAX_PREVIEW_FRAMES = 96
MESH_MAGIC = b"MIMOMSH1"


# ------------------------------------------------------------------------------------- files
def new_preview_dir() -> tuple[str, str]:
    """A fresh folder for one run's preview files -> (absolute path, subfolder relative to temp)."""
    subfolder = f"{PREVIEW_SUBFOLDER}/{uuid.uuid4().hex[:16]}"
    path = os.path.join(folder_paths.get_temp_directory(), subfolder)
    os.makedirs(path, exist_ok=True)
    return path, subfolder


def frame_indices(count: int, limit: int = MAX_PREVIEW_FRAMES) -> list[int]:
    """Evenly spread indices of at most ``limit`` frames out of ``count``."""
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def _small(frame: np.ndarray, max_side: int = MAX_PREVIEW_SIDE) -> Image.Image:
    """[H,W,3] float 0..1 -> RGB image whose longest side is at most ``max_side``."""
    img = Image.fromarray((np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8))
    img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return img


def write_views(views: dict[str, np.ndarray], folder: str, indices: list[int]) -> dict[str, list[str]]:
    """Writes ``<view>_<k>.jpg`` for the chosen frames of every view -> {view: [file names]}."""
    written: dict[str, list[str]] = {}
    for name, frames in views.items():
        names = []
        for k, t in enumerate(indices):
            file_name = f"{name}_{k:04d}.jpg"
            _small(frames[min(t, len(frames) - 1)]).save(os.path.join(folder, file_name), quality=85)
            names.append(file_name)
        written[name] = names
    return written


# --------------------------------------------------------------------------------- characters
def characters_dir() -> str:
    path = os.path.join(folder_paths.get_input_directory(), CHARACTER_SUBFOLDER)
    os.makedirs(path, exist_ok=True)
    return path


def list_characters() -> list[str]:
    """Image files in ``input/mimo_characters``, most recently changed first."""
    root = characters_dir()
    entries = [e for e in os.scandir(root) if e.is_file(follow_symlinks=False) and e.name.lower().endswith(IMAGE_EXTENSIONS)]
    entries.sort(key=lambda e: (-e.stat().st_mtime, e.name))
    return [e.name for e in entries]


def character_path(name: str) -> str:
    """Absolute path of a character file; raises ValueError for anything but a plain file name in the folder."""
    if not name or name != os.path.basename(name) or name in (".", "..") or "\x00" in name or "\\" in name:
        raise ValueError(f"invalid character name {name!r}: expected a file name in input/{CHARACTER_SUBFOLDER}")
    root = os.path.realpath(characters_dir())
    path = os.path.realpath(os.path.join(root, name))
    if os.path.dirname(path) != root:
        raise ValueError(f"character {name!r} points outside input/{CHARACTER_SUBFOLDER}")
    return path


class MimoCharacter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoCharacter",
            display_name="MIMO Character",
            category=f"{CATEGORY}/identity",
            description=(
                "Picks the character picture from input/mimo_characters. The node's picker shows the "
                "recent characters; drop or upload a picture to add one, and 'Swap & run' selects it "
                "and runs the graph again."
            ),
            inputs=[io.Combo.Input("character", options=list_characters(),
                                   tooltip="A picture in input/mimo_characters (most recent first).")],
            outputs=[
                io.Image.Output(display_name="image", tooltip="[1,H,W,3] the character picture in 0..1."),
                io.Mask.Output(display_name="alpha", tooltip="[1,H,W] the picture's alpha (1 when it has none)."),
            ],
        )

    @classmethod
    def validate_inputs(cls, character, **_kwargs):
        try:
            path = character_path(character)
        except ValueError as e:
            return str(e)
        return True if os.path.isfile(path) else f"character '{character}' is not in input/{CHARACTER_SUBFOLDER}"

    @classmethod
    def fingerprint_inputs(cls, character, **_kwargs):
        path = character_path(character)
        return f"{path}:{os.path.getmtime(path)}"

    @classmethod
    def execute(cls, character) -> io.NodeOutput:
        with Image.open(character_path(character)) as img:
            img = ImageOps.exif_transpose(img).convert("RGBA")
        rgba = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
        return io.NodeOutput(to_intermediate(rgba[None, ..., :3]), to_intermediate(rgba[None, ..., 3]))


# ------------------------------------------------------------------------------ layer preview
class MimoLayerPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoLayerPreview",
            display_name="MIMO Layer Preview",
            category=f"{CATEGORY}/preview",
            description=(
                "Shows the video and its layers in the node: scrub the frames and switch between "
                "original, person, scene, occlusion and pose. Writes small preview frames only."
            ),
            inputs=[
                io.Image.Input("frames", tooltip="Video frames [T,H,W,3]."),
                types.Layers.Input("layers", optional=True, tooltip="Layers from MIMO Split Layers."),
                io.Image.Input("pose", optional=True, tooltip="Rendered pose per frame (MIMO Render Pose)."),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, frames, layers=None, pose=None) -> io.NodeOutput:
        views: dict[str, np.ndarray] = {"original": frames.cpu().numpy()}
        if layers is not None:
            views.update(person=layers.person, scene=layers.scene, occlusion=layers.occlusion)
        if pose is not None:
            views["pose"] = pose.cpu().numpy()
        indices = frame_indices(len(views["original"]))
        folder, subfolder = new_preview_dir()
        files = write_views(views, folder, indices)
        entry = {"subfolder": subfolder, "type": "temp", "frames": len(indices), "views": files,
                 "source_frames": [int(i) for i in indices]}
        return io.NodeOutput(ui={"mimo_layers": [entry]})


# ----------------------------------------------------------------------------- motion preview
def decimate_mesh(rest: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering -> (kept vertex indices [V'], faces [F',3] indexing the kept vertices).

    ``rest``: [V,3] positions used for clustering; ``faces``: [F,3] int. Each grid cell keeps
    one of its vertices; faces whose corners fall in fewer than three cells are dropped. The
    cell size grows until at most ``target_faces`` faces are left.
    """
    if len(faces) <= target_faces:
        return np.arange(len(rest)), faces
    lo, span = rest.min(0), float(np.ptp(rest, axis=0).max()) or 1.0
    cells = 160
    while True:
        q = np.floor((rest - lo) / (span / cells)).astype(np.int64)
        _, first, cluster = np.unique(q, axis=0, return_index=True, return_inverse=True)
        f = cluster.reshape(-1)[faces]
        f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
        f = f[np.sort(np.unique(np.sort(f, axis=1), axis=0, return_index=True)[1])]
        if len(f) <= target_faces or cells <= 8:
            break
        cells = int(cells * 0.85)
    used, compact = np.unique(f, return_inverse=True)
    return first[used], compact.reshape(-1, 3)


def pack_mesh(vertices: np.ndarray, faces: np.ndarray, fps: float) -> bytes:
    """Binary mesh clip: magic, uint32 T, V, F, float32 fps, uint32 faces [F,3], float16 vertices [T,V,3]."""
    t, v, _ = vertices.shape
    header = MESH_MAGIC + struct.pack("<IIIf", t, v, len(faces), fps)
    return header + faces.astype("<u4").tobytes() + vertices.astype("<f2").tobytes()


class MimoMotionPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MimoMotionPreview",
            display_name="MIMO Motion Preview",
            category=f"{CATEGORY}/preview",
            description=(
                "Shows the 3D body motion in the node: drag to orbit, scroll to zoom, scrub or play "
                "the frames. Long clips and dense meshes are thinned for the preview."
            ),
            inputs=[
                types.Motion.Input("motion", tooltip="A motion (MIMO Estimate 3D Motion or MIMO Load Motion)."),
                io.Int.Input("max_faces", default=6000, min=500, max=60000, step=500,
                             tooltip="Triangles kept in the preview mesh."),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, max_faces) -> io.NodeOutput:
        from .motion import body_model_for

        body = body_model_for(motion.info.get("body_model_file", motion.body_model))
        indices = frame_indices(motion.num_frames)
        verts = torch.cat([motion.vertices(body, slice(i, i + 1)) for i in indices]).cpu().numpy()
        keep, faces = decimate_mesh(verts[0], body.faces.cpu().numpy(), max_faces)
        folder, subfolder = new_preview_dir()
        fps = float(motion.fps) * len(indices) / max(motion.num_frames, 1)
        with open(os.path.join(folder, "motion.bin"), "wb") as f:
            f.write(pack_mesh(verts[:, keep], faces, fps))
        entry = {"subfolder": subfolder, "type": "temp", "filename": "motion.bin", "frames": len(indices),
                 "vertices": len(keep), "faces": len(faces), "body_model": motion.body_model,
                 "info": json.dumps({"source_frames": motion.num_frames})}
        return io.NodeOutput(ui={"mimo_motion": [entry]})


NODES = [MimoCharacter, MimoLayerPreview, MimoMotionPreview]
