"""The canonical A-pose: the body standing upright, facing the camera, arms lowered to the sides.

MIMO shows its identity encoders the character in a canonical A-pose, made from any picture of
them by a human repose model. :func:`a_pose_motion` gives that target pose as a one-frame
:class:`~mimo_core.body.motion.MotionSequence`, framed in a picture of a chosen size, for any body
model and shape; rendered as a pose condition (``render_motion`` "parts", or the official "sdc"
render for SMPL) it drives the denoiser to redraw the character in that pose
(:meth:`~mimo_core.pipeline.mimo.MimoPipeline.repose`).

The arms are set by rotating each upper-arm joint about the body's front-back axis until the line
from shoulder to wrist, seen from the front, lies ``arm_angle`` degrees below the horizontal
(SMPL's rest pose is a T-pose, 0 degrees; Anny's is already close to an A-pose). Every other joint
keeps its rest rotation.
"""

from __future__ import annotations

import math

import torch

from .base import BodyModel, BodyParams
from .camera import default_focal_length, project_points
from .landmarks import MEDIAPIPE_33
from .motion import MotionSequence

# Upper-arm joint of each side (left, right) per body model.
_ARM_JOINTS = {
    "anny": ("upperarm01.L", "upperarm01.R"),
    "smpl": ("left_shoulder", "right_shoulder"),
    "smplh": ("left_shoulder", "right_shoulder"),
}
_LEFT = (MEDIAPIPE_33.index("left_shoulder"), MEDIAPIPE_33.index("left_wrist"))
_RIGHT = (MEDIAPIPE_33.index("right_shoulder"), MEDIAPIPE_33.index("right_wrist"))


def arm_angles(landmarks: torch.Tensor) -> torch.Tensor:
    """``[B, 2]`` angle (degrees) of the left and right shoulder-to-wrist lines below the horizontal,
    seen from the front, for canonical ``[B, 33, 3]`` landmarks (y up)."""
    out = []
    for shoulder, wrist in (_LEFT, _RIGHT):
        d = landmarks[:, wrist] - landmarks[:, shoulder]
        out.append(torch.rad2deg(torch.atan2(-d[:, 1], d[:, 0].abs())))
    return torch.stack(out, -1)


def _pose_axes(body_model: BodyModel) -> torch.Tensor:
    """Matrix taking a rotation vector in canonical axes to the model's pose-parameter axes."""
    if body_model.name == "anny":
        from .anny_model import ANNY_TO_CANONICAL  # Anny's pose rotations are in its own (Z-up) axes

        return ANNY_TO_CANONICAL.T
    return torch.eye(3)  # SMPL joints rotate in the canonical axes at rest


def a_pose(body_model: BodyModel, shape: torch.Tensor | None = None, arm_angle: float = 45.0,
           iterations: int = 3) -> torch.Tensor:
    """``[P, 3]`` pose of ``body_model`` with the arms ``arm_angle`` degrees below the horizontal.

    The rotation is found by a few secant steps per arm (the joint's rotation axis is not exactly
    the shoulder-to-wrist line's), so the measured angle ends within a fraction of a degree.
    """
    if body_model.name not in _ARM_JOINTS:
        raise ValueError(f"no A-pose is defined for body model {body_model.name!r}; "
                         f"supported: {sorted(_ARM_JOINTS)}")
    if not 0.0 <= float(arm_angle) <= 90.0:
        raise ValueError(f"arm_angle must be between 0 (T-pose) and 90 degrees (arms down), got {arm_angle}")
    shape = body_model.default_shape() if shape is None else torch.as_tensor(shape, dtype=torch.float32)
    names = body_model.pose_joint_names
    joints = [names.index(j) for j in _ARM_JOINTS[body_model.name]]
    axes = _pose_axes(body_model).float()
    # Lowering the left arm (at +X) is a negative rotation about +Z; the right arm, positive.
    signs = torch.tensor([-1.0, 1.0])
    z_axis = axes @ torch.tensor([0.0, 0.0, 1.0])

    def posed(turn: torch.Tensor) -> torch.Tensor:
        """The rest pose with each upper arm turned by ``turn`` (radians, lowering)."""
        p = torch.zeros(body_model.num_pose_joints, 3)
        for k, j in enumerate(joints):
            p[j] = z_axis * signs[k] * turn[k]
        return p

    def measure(turn: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            _, _, landmarks = body_model.canonical(posed(turn)[None], shape[None].float(), with_vertices=False)
        return arm_angles(landmarks)[0]

    target = math.radians(float(arm_angle))
    turn = torch.zeros(2)
    angle = torch.deg2rad(measure(turn))
    turn_next = turn + (target - angle)
    for _ in range(iterations):
        angle_next = torch.deg2rad(measure(turn_next))
        slope = (angle_next - angle) / torch.where((turn_next - turn).abs() > 1e-6, turn_next - turn,
                                                   torch.ones(2))
        slope = torch.where(slope.abs() > 0.2, slope, torch.ones(2))
        turn, angle = turn_next, angle_next
        turn_next = turn + (target - angle) / slope
    return posed(turn_next)


def a_pose_motion(
    body_model: BodyModel,
    image_size: tuple[int, int] = (512, 768),
    shape: torch.Tensor | None = None,
    arm_angle: float = 45.0,
    fill: float = 0.85,
    fps: float = 30.0,
) -> MotionSequence:
    """One frame of the body in the A-pose, facing the camera, centred in a ``(width, height)`` picture.

    Args:
        body_model: the body model (Anny, SMPL or SMPL-H).
        image_size: ``(width, height)`` of the picture, pixels.
        shape: ``[S]`` body shape (e.g. ``motion.shape`` of a motion fitted to the character); default
            the model's average shape.
        arm_angle: degrees of the arms below the horizontal (0 = T-pose, 90 = arms down).
        fill: share of the picture's height (or width, if that binds first) the body spans.
        fps: frame rate stored with the motion.

    Returns:
        A one-frame :class:`MotionSequence` with the camera of that picture (focal length
        :func:`~mimo_core.body.camera.default_focal_length`, so close to a front orthographic view).
    """
    width, height = (int(v) for v in image_size)
    if width < 8 or height < 8:
        raise ValueError(f"image_size must be at least 8x8 pixels, got {width}x{height}")
    if not 0.1 <= float(fill) <= 1.0:
        raise ValueError(f"fill must be between 0.1 and 1 (share of the picture the body spans), got {fill}")
    shape = body_model.default_shape() if shape is None else torch.as_tensor(shape, dtype=torch.float32)
    if tuple(shape.shape) != (body_model.num_shape,):
        raise ValueError(f"shape must be [{body_model.num_shape}] for body model {body_model.name!r}, "
                         f"got {tuple(shape.shape)}")
    pose = a_pose(body_model, shape, arm_angle)
    focal = default_focal_length(width, height)
    f = torch.tensor([[focal, focal]])
    c = torch.tensor([[width / 2.0, height / 2.0]])
    orient = torch.tensor([[math.pi, 0.0, 0.0]])  # upright in the OpenCV camera frame, facing it
    params = BodyParams(pose=pose[None], shape=shape[None].float(), global_orient=orient, transl=torch.zeros(1, 3))
    with torch.no_grad():
        verts = body_model(params).vertices
    assert verts is not None
    lo, hi = verts[0].amin(0), verts[0].amax(0)
    extent_x, extent_y = float(hi[0] - lo[0]), float(hi[1] - lo[1])
    # Distance at which the body spans `fill` of the picture (whichever side binds), then centred.
    depth = focal * max(extent_y / (fill * height), extent_x / (fill * width))
    transl = torch.stack([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, depth - (lo[2] + hi[2]) / 2])[None]
    for _ in range(2):  # perspective: re-centre on the projected box
        pixels = project_points(verts + transl[:, None], f, c)[0]
        offset = (pixels.amin(0) + pixels.amax(0)) / 2 - c[0]
        transl = transl - torch.cat([offset * float(transl[0, 2]) / focal, torch.zeros(1)])[None]
    return MotionSequence(
        body_model=body_model.name, pose=pose[None], shape=shape.clone(), global_orient=orient, transl=transl,
        focal=f, principal_point=c, image_size=torch.tensor([[width, height]], dtype=torch.int64), fps=float(fps),
        info={"source": "a_pose", "arm_angle": f"{float(arm_angle):g}"},
    )
