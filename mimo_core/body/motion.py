"""A clip of 3D body motion: per-frame pose, one shape, global placement and camera.

Saved as ONE safetensors file: tensors for the arrays, the string metadata for the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .base import BodyModel, BodyOutput, BodyParams

MOTION_FORMAT = "mimo.motion_sequence"
MOTION_VERSION = "1"
BODY_MODEL_IDS = ("anny", "smpl", "smplh")
_TENSOR_FIELDS = ("pose", "shape", "global_orient", "transl", "focal", "principal_point", "image_size", "observed")


@dataclass
class MotionSequence:
    """Body motion of one person over ``T`` frames, in the camera frame of each frame.

    Attributes:
        body_model: id of the body model the parameters belong to (``'anny' | 'smpl' | 'smplh'``).
        pose: ``[T, P, 3]`` float axis-angle per pose joint (radians).
        shape: ``[S]`` float, one shape for the clip (Anny phenotypes in 0..1 or SMPL betas).
        global_orient: ``[T, 3]`` float axis-angle, canonical body -> OpenCV camera frame.
        transl: ``[T, 3]`` float metres, camera frame.
        focal: ``[T, 2]`` float (fx, fy) pixels.
        principal_point: ``[T, 2]`` float (cx, cy) pixels.
        image_size: ``[T, 2]`` int64 (width, height) pixels.
        fps: frames per second.
        observed: ``[T]`` bool, False for frames whose landmarks were missing and were interpolated.
        info: free-form string metadata (fit errors, source file...).
    """

    body_model: str
    pose: torch.Tensor
    shape: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor
    focal: torch.Tensor
    principal_point: torch.Tensor
    image_size: torch.Tensor
    fps: float
    observed: torch.Tensor | None = None
    info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.body_model not in BODY_MODEL_IDS:
            raise ValueError(f"body_model must be one of {BODY_MODEL_IDS}, got {self.body_model!r}")
        t = self.num_frames
        if self.observed is None:
            self.observed = torch.ones(t, dtype=torch.bool)
        expected = {
            "global_orient": (t, 3), "transl": (t, 3), "focal": (t, 2), "principal_point": (t, 2),
            "image_size": (t, 2), "observed": (t,),
        }  # fmt: skip
        if self.pose.ndim != 3 or self.pose.shape[2] != 3:
            raise ValueError(f"pose must be [T, P, 3], got {tuple(self.pose.shape)}")
        if self.shape.ndim != 1:
            raise ValueError(f"shape must be [S] (one shape per clip), got {tuple(self.shape.shape)}")
        for name, shp in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shp:
                raise ValueError(f"{name} must have shape {shp} for T={t} frames, got {got}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.pose.shape[0])

    def __len__(self) -> int:
        return self.num_frames

    # -------------------------------------------------------------------------------------- I/O
    def save(self, path: str | Path) -> Path:
        """Write one ``.safetensors`` file (tensors + metadata); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {name: getattr(self, name).detach().cpu().contiguous() for name in _TENSOR_FIELDS}
        tensors["observed"] = tensors["observed"].to(torch.uint8)
        metadata = {
            "format": MOTION_FORMAT,
            "version": MOTION_VERSION,
            "body_model": self.body_model,
            "fps": repr(float(self.fps)),
            "info": json.dumps(self.info, sort_keys=True),
        }
        save_file(tensors, str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MotionSequence:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"motion file not found: {path}")
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != MOTION_FORMAT:
                raise ValueError(
                    f"{path} is not a MIMO motion file (metadata format={metadata.get('format')!r}, "
                    f"expected {MOTION_FORMAT!r})"
                )
            missing = [name for name in _TENSOR_FIELDS if name not in f.keys()]
            if missing:
                raise ValueError(f"{path} lacks tensors {missing}")
            tensors = {name: f.get_tensor(name) for name in _TENSOR_FIELDS}
        tensors["observed"] = tensors["observed"].bool()
        return cls(
            body_model=metadata["body_model"],
            fps=float(metadata["fps"]),
            info=json.loads(metadata.get("info", "{}")),
            **tensors,
        )

    # -------------------------------------------------------------------------------- helpers
    def params(self, frames: slice | None = None) -> BodyParams:
        """Body parameters of the selected frames (``shape`` broadcast as ``[1, S]``)."""
        sel = slice(None) if frames is None else frames
        return BodyParams(
            pose=self.pose[sel],
            shape=self.shape[None],
            global_orient=self.global_orient[sel],
            transl=self.transl[sel],
        )

    def posed(self, body_model: BodyModel, frames: slice | None = None, with_vertices: bool = True) -> BodyOutput:
        """Posed bodies of the selected frames in camera coordinates."""
        self._check_model(body_model)
        with torch.no_grad():
            return body_model(self.params(frames), with_vertices=with_vertices)

    def vertices(self, body_model: BodyModel, frames: slice | None = None) -> torch.Tensor:
        """``[T', V, 3]`` camera-frame vertices (metres) of the selected frames."""
        out = self.posed(body_model, frames)
        assert out.vertices is not None
        return out.vertices

    def retarget(self, shape: torch.Tensor, body_model: BodyModel) -> MotionSequence:
        """The same motion on another body shape of the same model.

        Pose and orientation are kept. The translation is scaled by the ratio of standing heights
        (new / old), i.e. the whole scene is scaled about the camera centre: the new body covers the
        same pixels as the old one would at its size, so feet that touched the ground in the image
        still do, and nothing slides. Metric depth changes with the height ratio.

        Args:
            shape: ``[S]`` new shape coefficients.
            body_model: the model these parameters belong to (to measure heights).
        """
        self._check_model(body_model)
        shape = torch.as_tensor(shape, dtype=self.shape.dtype)
        if tuple(shape.shape) != tuple(self.shape.shape):
            raise ValueError(f"shape must be {tuple(self.shape.shape)}, got {tuple(shape.shape)}")
        with torch.no_grad():
            heights = body_model.rest_height(torch.stack([self.shape, shape]).to(torch.float32))
        ratio = float(heights[1] / heights[0])
        info = dict(self.info, retarget_height_ratio=f"{ratio:.6f}")
        return replace(self, shape=shape.clone(), transl=self.transl * ratio, info=info)

    def _check_model(self, body_model: BodyModel) -> None:
        if body_model.name != self.body_model:
            raise ValueError(f"motion was made for body model {self.body_model!r}, got {body_model.name!r}")
        if self.pose.shape[1] != body_model.num_pose_joints or self.shape.shape[0] != body_model.num_shape:
            raise ValueError(
                f"motion has pose [T,{self.pose.shape[1]},3] / shape [{self.shape.shape[0]}], body model "
                f"{body_model.name} expects {body_model.num_pose_joints} joints / {body_model.num_shape} shape values"
            )
