"""The body-model interface shared by the Anny and SMPL backends.

Conventions, identical for every backend:

- units are metres;
- the *canonical* body (zero pose, zero global orientation, zero translation) is Y-up, faces +Z,
  and has its left side at +X (the SMPL convention);
- ``global_orient`` (axis-angle) rotates the canonical body about the model origin and ``transl`` then
  moves it: ``x = R(global_orient) @ x_canonical + transl``. Fitted motions express the result in an
  OpenCV camera frame (x right, y down, z forward), so an upright person facing the camera has
  ``global_orient`` close to ``(pi, 0, 0)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from .landmarks import MEDIAPIPE_33
from .rotations import axis_angle_to_matrix


@dataclass
class BodyParams:
    """Parameters of a batch of posed bodies.

    Attributes:
        pose: ``[B, P, 3]`` axis-angle per pose joint (backend specific, see ``BodyModel.pose_joint_names``).
        shape: ``[B, S]`` or ``[1, S]`` shape coefficients (Anny phenotypes in 0..1, SMPL betas).
        global_orient: ``[B, 3]`` axis-angle of the whole body.
        transl: ``[B, 3]`` translation in metres.
    """

    pose: torch.Tensor
    shape: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.pose.shape[0])


@dataclass
class BodyOutput:
    """Posed body.

    Attributes:
        vertices: ``[B, V, 3]`` metres, or ``None`` when only landmarks were requested.
        joints: ``[B, J, 3]`` skeleton joints (bone heads for Anny, SMPL joints for SMPL), metres.
        landmarks: ``[B, 33, 3]`` MediaPipe-33 landmarks, metres (rows the model cannot reproduce are
            filled with the nearest available point and flagged in ``BodyModel.landmark_available``).
    """

    vertices: torch.Tensor | None
    joints: torch.Tensor
    landmarks: torch.Tensor


class BodyModel(torch.nn.Module, ABC):
    """A parametric body: ``forward(params) -> BodyOutput``.

    Subclasses set ``name``, implement :meth:`canonical` and expose ``faces``.
    """

    name: str = ""
    #: names of the ``P`` pose joints, in ``BodyParams.pose`` order.
    pose_joint_names: tuple[str, ...] = ()
    #: indices of the pose joints worth optimising from body landmarks (no fingers, toes, eyes...).
    fit_pose_joints: tuple[int, ...] = ()
    #: names of the ``S`` shape coefficients.
    shape_names: tuple[str, ...] = ()

    @property
    @abstractmethod
    def faces(self) -> torch.Tensor:
        """``[F, 3]`` int64 triangle vertex indices."""

    @property
    @abstractmethod
    def num_vertices(self) -> int:
        """Number of mesh vertices ``V``."""

    @property
    @abstractmethod
    def landmark_available(self) -> torch.Tensor:
        """``[33]`` bool: which MediaPipe-33 landmarks this model reproduces faithfully."""

    @property
    def num_pose_joints(self) -> int:
        return len(self.pose_joint_names)

    @property
    def num_shape(self) -> int:
        return len(self.shape_names)

    @property
    def landmark_names(self) -> tuple[str, ...]:
        return MEDIAPIPE_33

    @abstractmethod
    def default_shape(self) -> torch.Tensor:
        """``[S]`` the mean / neutral shape."""

    def shape_prior_scale(self) -> torch.Tensor:
        """``[S]`` typical deviation of each shape coefficient (for the fitter's regulariser)."""
        return torch.ones(self.num_shape)

    def clamp_shape(self, shape: torch.Tensor) -> torch.Tensor:
        """Project shape coefficients onto their valid range (identity by default)."""
        return shape

    @abstractmethod
    def canonical(
        self, pose: torch.Tensor, shape: torch.Tensor, with_vertices: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Posed body before the global transform.

        Args:
            pose: ``[B, P, 3]`` axis-angle.
            shape: ``[B, S]`` or ``[1, S]``.
            with_vertices: skip the (expensive) skinning of every vertex when False.
        Returns:
            ``(vertices [B,V,3] | None, joints [B,J,3], landmarks [B,33,3])`` in the canonical frame.
        """

    def fit_landmarks(self, fit_pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Canonical ``[B, 33, 3]`` landmarks for a pose where only ``fit_pose_joints`` rotate.

        Args:
            fit_pose: ``[B, F, 3]`` axis-angle of the joints ``fit_pose_joints``, in that order.
            shape: ``[B or 1, S]``.
        Backends may override this with a cheaper exact path (the fitter calls it every iteration).
        """
        return self.canonical(self.full_pose(fit_pose), shape, with_vertices=False)[2]

    def full_pose(self, fit_pose: torch.Tensor) -> torch.Tensor:
        """Scatter ``[B, F, 3]`` fitted-joint rotations into a ``[B, P, 3]`` pose (other joints zero)."""
        pose = fit_pose.new_zeros(fit_pose.shape[0], self.num_pose_joints, 3)
        return pose.index_copy(1, torch.tensor(self.fit_pose_joints, device=pose.device), fit_pose)

    def zero_params(self, batch_size: int = 1, dtype: torch.dtype = torch.float32) -> BodyParams:
        """Neutral shape, zero pose, identity orientation, zero translation."""
        return BodyParams(
            pose=torch.zeros(batch_size, self.num_pose_joints, 3, dtype=dtype),
            shape=self.default_shape().to(dtype)[None].expand(batch_size, -1).clone(),
            global_orient=torch.zeros(batch_size, 3, dtype=dtype),
            transl=torch.zeros(batch_size, 3, dtype=dtype),
        )

    def forward(self, params: BodyParams, with_vertices: bool = True) -> BodyOutput:  # type: ignore[override]
        """Pose, shape and place the body. Shapes: see :class:`BodyParams` and :class:`BodyOutput`."""
        self._check_params(params)
        vertices, joints, landmarks = self.canonical(params.pose, params.shape, with_vertices)
        rot = axis_angle_to_matrix(params.global_orient)  # [B,3,3]
        t = params.transl[:, None, :]

        def place(x: torch.Tensor) -> torch.Tensor:
            return x @ rot.transpose(-1, -2) + t

        return BodyOutput(
            vertices=None if vertices is None else place(vertices),
            joints=place(joints),
            landmarks=place(landmarks),
        )

    def rest_height(self, shape: torch.Tensor) -> torch.Tensor:
        """Standing height in metres of the zero-pose body, ``[B]`` for ``shape [B, S]``."""
        pose = torch.zeros(shape.shape[0], self.num_pose_joints, 3, dtype=shape.dtype)
        vertices, _, _ = self.canonical(pose, shape, with_vertices=True)
        assert vertices is not None
        return vertices[..., 1].amax(-1) - vertices[..., 1].amin(-1)

    def _check_params(self, params: BodyParams) -> None:
        b = params.pose.shape[0]
        if params.pose.ndim != 3 or params.pose.shape[1:] != (self.num_pose_joints, 3):
            raise ValueError(
                f"{self.name}: pose must be [B, {self.num_pose_joints}, 3], got {tuple(params.pose.shape)}"
            )
        if params.shape.ndim != 2 or params.shape.shape[1] != self.num_shape or params.shape.shape[0] not in (1, b):
            raise ValueError(
                f"{self.name}: shape must be [B or 1, {self.num_shape}], got {tuple(params.shape.shape)} (B={b})"
            )
        for field in ("global_orient", "transl"):
            value = getattr(params, field)
            if tuple(value.shape) != (b, 3):
                raise ValueError(f"{self.name}: {field} must be [{b}, 3], got {tuple(value.shape)}")
