"""The training clip format: one ``.npz`` file per clip plus a ``manifest.jsonl`` per dataset.

A clip file holds (numpy arrays, saved without pickle, read with ``allow_pickle=False``):

=================  ======================  ==================================================
key                shape / dtype           meaning
=================  ======================  ==================================================
frames             [T,H,W,3] uint8         the video
person_mask        [T,H,W] uint8 0..255    the visible person
occlusion_mask     [T,H,W] uint8 0..255    things in front of the person
scene              [T,H,W,3] uint8         background without person and occluders
pose               [T,H,W,3] uint8         rendered pose condition (colour table render)
reference          [Hr,Wr,3] uint8         the character on a white background
reference_mask     [Hr,Wr] uint8 0..255    the character's mask in ``reference``
fps                [] float32              frame rate
body_model         [] str                  body model id of ``vertices`` ('anny', 'smpl', ...)
vertices           [T,V,3] float16         optional: posed vertices, camera frame, metres
camera             [T,4] float32           optional: fx, fy, cx, cy per frame (pixels)
=================  ======================  ==================================================

``manifest.jsonl`` has one JSON object per clip: ``{"clip": "<file name>", "frames": T,
"height": H, "width": W, "source": "...", "split": "train" | "val" | "test"}`` plus any
extra fields. Files are written atomically (a temporary name, then ``os.replace``), so an
interrupted run never leaves a half-written clip under its final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REQUIRED = ("frames", "person_mask", "occlusion_mask", "scene", "pose", "reference", "reference_mask")
OPTIONAL = ("vertices", "camera")
MANIFEST = "manifest.jsonl"


@dataclass
class Clip:
    """One training clip (see the module doc for shapes and dtypes)."""

    frames: np.ndarray
    person_mask: np.ndarray
    occlusion_mask: np.ndarray
    scene: np.ndarray
    pose: np.ndarray
    reference: np.ndarray
    reference_mask: np.ndarray
    fps: float = 24.0
    body_model: str = "anny"
    vertices: np.ndarray | None = None
    camera: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def validate(self) -> None:
        t, h, w = self.frames.shape[:3]
        expect = {
            "frames": ((t, h, w, 3), np.uint8),
            "person_mask": ((t, h, w), np.uint8),
            "occlusion_mask": ((t, h, w), np.uint8),
            "scene": ((t, h, w, 3), np.uint8),
            "pose": ((t, h, w, 3), np.uint8),
        }
        for name, (shape, dtype) in expect.items():
            arr = getattr(self, name)
            if arr.shape != shape or arr.dtype != dtype:
                raise ValueError(f"clip field {name}: expected {shape} {np.dtype(dtype)}, got {arr.shape} {arr.dtype}")
        if self.reference.ndim != 3 or self.reference.shape[-1] != 3 or self.reference.dtype != np.uint8:
            raise ValueError(f"clip field reference: expected [H,W,3] uint8, got {self.reference.shape} {self.reference.dtype}")
        if self.reference_mask.shape != self.reference.shape[:2]:
            raise ValueError("clip field reference_mask must match the reference image size")
        if self.vertices is not None and (self.vertices.ndim != 3 or self.vertices.shape[0] != t):
            raise ValueError(f"clip field vertices: expected [T,V,3] with T={t}, got {self.vertices.shape}")
        if self.camera is not None and self.camera.shape != (t, 4):
            raise ValueError(f"clip field camera: expected ({t}, 4), got {self.camera.shape}")


def write_clip(clip: Clip, path: str | os.PathLike[str]) -> Path:
    """Validate and write ``clip`` atomically to ``path`` (``.npz``)."""
    clip.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {name: getattr(clip, name) for name in REQUIRED}
    arrays["fps"] = np.asarray(clip.fps, np.float32)
    arrays["body_model"] = np.asarray(clip.body_model)
    for name in OPTIONAL:
        value = getattr(clip, name)
        if value is not None:
            arrays[name] = value
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz.part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_clip(path: str | os.PathLike[str], frames: slice | None = None) -> Clip:
    """Read a clip; ``frames`` selects a range of frames (the reference is always whole)."""
    sel = frames if frames is not None else slice(None)
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in REQUIRED if k not in z.files]
        if missing:
            raise ValueError(f"{path} is not a training clip: missing {missing}")
        return Clip(
            frames=z["frames"][sel], person_mask=z["person_mask"][sel], occlusion_mask=z["occlusion_mask"][sel],
            scene=z["scene"][sel], pose=z["pose"][sel], reference=z["reference"],
            reference_mask=z["reference_mask"], fps=float(z["fps"]) if "fps" in z.files else 24.0,
            body_model=str(z["body_model"]) if "body_model" in z.files else "anny",
            vertices=z["vertices"][sel] if "vertices" in z.files else None,
            camera=z["camera"][sel] if "camera" in z.files else None,
        )


def append_manifest(root: str | os.PathLike[str], entry: dict[str, Any]) -> None:
    """Append one clip entry to ``root/manifest.jsonl`` (one line, flushed and synced)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / MANIFEST, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_manifest(root: str | os.PathLike[str], split: str | None = None) -> list[dict[str, Any]]:
    """Entries of ``root/manifest.jsonl`` whose clip file exists (optionally one split).

    A torn last line (a run killed while appending) is ignored; later entries for the same
    clip replace earlier ones.
    """
    path = Path(root) / MANIFEST
    if not path.exists():
        return []
    entries: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (Path(root) / entry["clip"]).exists():
            entries[entry["clip"]] = entry
    out = list(entries.values())
    return [e for e in out if split is None or e.get("split") == split]
