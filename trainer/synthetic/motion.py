"""Procedural body motions for synthetic clips: walking, arm swings and turning.

Motions are written as bone rotations about the axes of the shared canonical body frame (Y up,
facing +Z, left at +X; see :mod:`mimo_core.body.base`) and converted to the Anny body model's
``local-ref`` parameterisation (rotations in the axes of Anny's Z-up world frame). Sign conventions
in canonical axes: a negative rotation about +X swings a limb forwards, a positive one bends a
knee; a negative rotation about +Z lowers the left arm, a positive one the right arm.

The global orientation is ``R_x(pi) @ R_y(yaw)``: the body stands upright in the OpenCV camera frame
and faces the camera at ``yaw = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mimo_core.body import BodyModel
from mimo_core.body.rotations import axis_angle_to_matrix, matrix_to_axis_angle

MOTION_KINDS = ("walk", "arm_swing", "turn")
# canonical -> Anny axes: x_anny = x, y_anny = -z, z_anny = y (transpose of Anny's canonical map)
_CANONICAL_TO_ANNY = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass
class Motion:
    """A sampled motion.

    pose: ``[T,P,3]`` float32 body-model pose (axis-angle, model axes).
    yaw: ``[T]`` float32 radians, body heading about the vertical (0 = facing the camera).
    forward_speed: metres per frame along the body's heading (0 = in place).
    kind: one of :data:`MOTION_KINDS`.
    """

    pose: torch.Tensor
    yaw: torch.Tensor
    forward_speed: float
    kind: str

    def global_orient(self) -> torch.Tensor:
        """``[T,3]`` axis-angle: upright in the OpenCV camera frame, turned by ``yaw``."""
        flip = axis_angle_to_matrix(torch.tensor([[math.pi, 0.0, 0.0]]))
        turn = axis_angle_to_matrix(torch.stack([torch.zeros_like(self.yaw), self.yaw, torch.zeros_like(self.yaw)], -1))
        return matrix_to_axis_angle(flip @ turn)

    def heading(self) -> torch.Tensor:
        """``[T,3]`` unit direction the body faces, in the camera frame."""
        forward = torch.tensor([0.0, 0.0, 1.0])
        rot = axis_angle_to_matrix(self.global_orient())
        return rot @ forward


class _PoseBuilder:
    """Accumulates canonical-axis rotations per named bone into a ``[T,P,3]`` model pose."""

    def __init__(self, body_model: BodyModel, frames: int) -> None:
        if body_model.name != "anny":
            raise ValueError(f"procedural motions are written for the 'anny' body model, got {body_model.name!r}")
        self._names = body_model.pose_joint_names
        self.pose = torch.zeros(frames, body_model.num_pose_joints, 3)

    def add(self, bone: str, axis: int, angle: np.ndarray | float) -> None:
        idx = self._names.index(bone)
        vec = torch.zeros(self.pose.shape[0], 3)
        vec[:, axis] = torch.as_tensor(angle, dtype=torch.float32)
        self.pose[:, idx] += vec @ _CANONICAL_TO_ANNY.T

    def result(self) -> torch.Tensor:
        return self.pose.clone()


def _arms_down(b: _PoseBuilder, rng: np.random.Generator) -> None:
    """Lower the arms from the rest A-pose and bend the elbows a little."""
    down = rng.uniform(0.2, 0.6)
    b.add("upperarm01.L", 2, -down)
    b.add("upperarm01.R", 2, down)
    b.add("lowerarm01.L", 0, -rng.uniform(0.05, 0.4))
    b.add("lowerarm01.R", 0, -rng.uniform(0.05, 0.4))


def sample_motion(body_model: BodyModel, rng: np.random.Generator, frames: int, fps: float, kind: str | None = None) -> Motion:
    """Draw a procedural motion of ``frames`` frames at ``fps``.

    Args:
        body_model: the Anny body model (its bone names are used).
        rng: random source.
        frames: number of frames ``T`` (>= 1).
        fps: frame rate (sets the gait and swing frequencies).
        kind: one of :data:`MOTION_KINDS`; ``None`` picks one at random.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if kind is None:
        kind = str(rng.choice(MOTION_KINDS, p=[0.5, 0.25, 0.25]))
    if kind not in MOTION_KINDS:
        raise ValueError(f"unknown motion kind {kind!r}; expected one of {MOTION_KINDS}")
    t = np.arange(frames, dtype=np.float32) / float(fps)
    b = _PoseBuilder(body_model, frames)
    yaw0 = rng.uniform(-0.6, 0.6)
    yaw = np.full(frames, yaw0, np.float32)
    speed = 0.0
    if kind == "walk":
        cadence = rng.uniform(0.7, 1.1)  # gait cycles per second
        phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
        hip, knee, arm = rng.uniform(0.3, 0.55), rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.6)
        s = np.sin(phase)
        b.add("upperleg01.L", 0, -hip * s)
        b.add("upperleg01.R", 0, hip * s)
        b.add("lowerleg01.L", 0, knee * np.clip(np.sin(phase - 1.2), 0, None))
        b.add("lowerleg01.R", 0, knee * np.clip(-np.sin(phase - 1.2), 0, None))
        _arms_down(b, rng)
        b.add("upperarm01.L", 0, arm * s)
        b.add("upperarm01.R", 0, -arm * s)
        b.add("spine02", 1, 0.1 * s)
        side = rng.choice([-1.0, 1.0])
        yaw = np.full(frames, side * np.pi / 2 + rng.uniform(-0.5, 0.5), np.float32)
        speed = float(rng.uniform(0.6, 1.4) * cadence * 0.8 / fps)  # ~stride length x cadence
    elif kind == "arm_swing":
        freq = rng.uniform(0.4, 1.2)
        amp_l, amp_r = rng.uniform(0.3, 1.3, 2)
        ph_l, ph_r = rng.uniform(0, 2 * np.pi, 2)
        b.add("upperarm01.L", 2, -amp_l * (0.5 + 0.5 * np.sin(2 * np.pi * freq * t + ph_l)) + 0.4)
        b.add("upperarm01.R", 2, amp_r * (0.5 + 0.5 * np.sin(2 * np.pi * freq * t + ph_r)) - 0.4)
        b.add("lowerarm01.L", 0, -rng.uniform(0.0, 1.2) * (0.5 + 0.5 * np.sin(2 * np.pi * freq * t)))
        b.add("lowerarm01.R", 0, -rng.uniform(0.0, 1.2) * (0.5 + 0.5 * np.cos(2 * np.pi * freq * t)))
        b.add("spine02", 2, 0.12 * np.sin(2 * np.pi * freq * 0.5 * t))
        b.add("head", 1, rng.uniform(-0.4, 0.4) * np.sin(2 * np.pi * freq * 0.5 * t))
    else:  # turn: step in place while rotating
        rate = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * np.pi  # radians per second
        yaw = (yaw0 + rate * t).astype(np.float32)
        phase = 2 * np.pi * rng.uniform(0.8, 1.4) * t
        b.add("upperleg01.L", 0, -0.25 * np.clip(np.sin(phase), 0, None))
        b.add("lowerleg01.L", 0, 0.5 * np.clip(np.sin(phase), 0, None))
        b.add("upperleg01.R", 0, -0.25 * np.clip(-np.sin(phase), 0, None))
        b.add("lowerleg01.R", 0, 0.5 * np.clip(-np.sin(phase), 0, None))
        _arms_down(b, rng)
        b.add("upperarm01.L", 0, 0.2 * np.sin(phase))
        b.add("upperarm01.R", 0, -0.2 * np.sin(phase))
    return Motion(pose=b.result(), yaw=torch.as_tensor(yaw, dtype=torch.float32), forward_speed=speed, kind=kind)
