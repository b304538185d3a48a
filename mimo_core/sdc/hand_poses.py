"""Hands of the sdc condition: finger poses from MediaPipe, undetected hands hidden as in the release.

The release poses the SMPL-H hands with HaMeR and removes a hand from the mesh in the frames where
no hand was detected. :func:`pose_sdc_hands` does the same with the pack's MediaPipe hand
detector and SMPL-H finger fit (:mod:`mimo_core.body.hands`):

- ``hands="mediapipe"``: hands are searched around the motion's projected wrists in the source
  frames, fitted, and written into the motion's finger joints (needs an SMPL-H body; with a plain
  SMPL body the fingers stay as modelled and only the hiding applies);
- ``hands="mediapipe-pca"``: the same, fitted in the model file's hand-pose PCA subspace;
- ``hands="from motion"``: the motion's own finger joints (flat for SMPL motions);
- ``hands="none"``: flat hands.

An SMPL motion (HMR 2.0) drawn on an SMPL-H body is converted: the 21 body joints are shared, SMPL's
two hand joints give way to the 2 x 15 finger joints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..body.hands import (
    BODY_ELBOW,
    BODY_WRIST,
    SMPLH_FIRST_FINGER,
    SMPLH_WRIST,
    HandModel,
    HandPoses,
    detect_hands,
    fit_hands_to_track,
)

log = logging.getLogger(__name__)

HAND_SOURCES = ("mediapipe", "mediapipe-pca", "from motion", "none")
MISSING_HANDS = ("hide", "keep")
_SMPL_ELBOW = {"left": 18, "right": 19}


@dataclass
class SdcHands:
    """A motion ready for :func:`~mimo_core.sdc.render_sdc`, with its hands decided.

    Attributes:
        motion: the motion for the body model (fingers written in when fitted).
        hidden_vertices: ``[T,V]`` bool hand vertices to leave out (undetected hands), or None.
        poses: the fitted finger poses (``hands="mediapipe*"`` with an SMPL-H body), or None.
        report: one line per step, for logs and node reports.
    """

    motion: object
    hidden_vertices: torch.Tensor | None
    poses: HandPoses | None
    report: str


def motion_for_body(motion, body):  # noqa: ANN001, ANN201 - MotionSequence, BodyModel
    """``motion`` expressed for ``body`` (SMPL <-> SMPL-H: shared body joints, hand joints reset)."""
    if motion.body_model == body.name:
        return motion
    kinds = {motion.body_model, body.name}
    if kinds != {"smpl", "smplh"}:
        raise ValueError(f"a {motion.body_model!r} motion cannot be drawn on a {body.name!r} body")
    t = motion.num_frames
    extra = body.num_pose_joints - 21
    pose = torch.cat([motion.pose[:, :21], motion.pose.new_zeros(t, extra, 3)], 1)
    shape = motion.shape.new_zeros(body.num_shape)
    n = min(body.num_shape, motion.shape.shape[0])
    shape[:n] = motion.shape[:n]
    info = dict(motion.info, converted_from=motion.body_model)
    return replace(motion, body_model=body.name, pose=pose, shape=shape, info=info)


def arm_landmarks(motion, body, size: tuple[int, int]) -> np.ndarray:  # noqa: ANN001
    """``[T,33,2]`` MediaPipe-33 layout with the motion's elbows and wrists projected to ``size`` pixels
    (``(W, H)``), NaN elsewhere and behind the camera."""
    out = motion.posed(body, with_vertices=False)
    joints = out.joints.detach().cpu().double()
    sx = size[0] / motion.image_size[:, 0].double()
    sy = size[1] / motion.image_size[:, 1].double()
    fx, fy = motion.focal[:, 0].double() * sx, motion.focal[:, 1].double() * sy
    cx, cy = motion.principal_point[:, 0].double() * sx, motion.principal_point[:, 1].double() * sy
    lm = np.full((motion.num_frames, 33, 2), np.nan, np.float32)
    for side in ("left", "right"):
        for mp_index, joint in ((BODY_ELBOW[side], _SMPL_ELBOW[side]), (BODY_WRIST[side], SMPLH_WRIST[side])):
            p = joints[:, joint]
            z = p[:, 2]
            ok = (z > 1e-3).numpy()
            xy = torch.stack([fx * p[:, 0] / z + cx, fy * p[:, 1] / z + cy], -1).numpy()
            lm[ok, mp_index] = xy[ok]
    return lm


def hand_vertex_mask(body) -> torch.Tensor:  # noqa: ANN001
    """``[2,V]`` bool vertices of the left / right hand: those skinned mostly to the wrist or a finger
    joint (SMPL: wrist and hand joint), the release's ``leftHand`` + ``leftHandIndex1`` parts."""
    weights = body._smpl.lbs_weights
    owner = weights.argmax(-1)
    masks = []
    for side in ("left", "right"):
        if body.name == "smplh":
            first = SMPLH_FIRST_FINGER[side]
            joints = [SMPLH_WRIST[side], *range(first, first + 15)]
        else:
            joints = [SMPLH_WRIST[side], 22 if side == "left" else 23]
        masks.append(torch.isin(owner, torch.tensor(joints, device=owner.device)))
    return torch.stack(masks).cpu()


def _uint8_frames(frames) -> Iterator[np.ndarray]:  # noqa: ANN001
    for frame in frames:
        f = frame.detach().cpu().numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
        if f.dtype != np.uint8:
            f = (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        yield np.ascontiguousarray(f[..., :3])


def pose_sdc_hands(
    motion,  # noqa: ANN001 - MotionSequence
    body,  # noqa: ANN001 - SmplBody
    hands: str = "mediapipe",
    frames: torch.Tensor | np.ndarray | None = None,
    *,
    missing: str = "hide",
    progress: Callable[[int, int], None] | None = None,
    **fit_options,  # noqa: ANN003 - see fit_hand_poses
) -> SdcHands:
    """Decide the hands of the sdc render (see module doc).

    Args:
        motion: SMPL / SMPL-H motion.
        body: the SMPL / SMPL-H body to draw (the motion is converted to it when needed).
        hands: one of :data:`HAND_SOURCES`.
        frames: ``[T,H,W,3]`` source frames (float 0..1 or uint8) the motion was estimated on;
            needed for ``mediapipe``. Any size with the motion's aspect ratio.
        missing: ``"hide"`` leaves out a hand in the frames where it was not found (the release's
            behaviour), ``"keep"`` draws it with its held / flat pose.
        progress: ``progress(done, total)`` over detection then fitting.
        fit_options: passed to :func:`~mimo_core.body.hands.fit_hand_poses`.
    """
    if hands not in HAND_SOURCES:
        raise ValueError(f"hands must be one of {HAND_SOURCES}, got {hands!r}")
    if missing not in MISSING_HANDS:
        raise ValueError(f"missing must be one of {MISSING_HANDS}, got {missing!r}")
    motion = motion_for_body(motion, body)
    has_fingers = body.name == "smplh"
    if hands == "none":
        if has_fingers:
            pose = motion.pose.clone()
            pose[:, 21:] = 0.0
            motion = replace(motion, pose=pose)
        return SdcHands(motion, None, None, "hands: flat")
    if hands == "from motion":
        return SdcHands(motion, None, None, "hands: the motion's own finger joints" if has_fingers else "hands: flat")
    if frames is None:
        raise ValueError("hands='mediapipe' needs the source frames the motion was estimated on")
    t = motion.num_frames
    if len(frames) < t:
        raise ValueError(f"frames: {len(frames)} frames for a motion of {t}; give the frames the motion was made from")
    height, width = (int(v) for v in np.asarray(frames[0]).shape[:2])
    mw, mh = (int(v) for v in motion.image_size[0])
    if abs(width / height - mw / mh) > 0.02 * mw / mh:
        raise ValueError(f"frames are {width}x{height} but the motion was estimated on {mw}x{mh} images")

    def stage(offset: int, total: int) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, n: progress(offset + done * 100 // max(n, 1), total))

    body_lm = arm_landmarks(motion, body, (width, height))
    track = detect_hands(_uint8_frames(frames[:t]), body_lm, num_frames=t, progress=stage(0, 200))
    lines = [f"hands: MediaPipe found the left hand in {track.found[:, 0].mean():.0%} and the right in "
             f"{track.found[:, 1].mean():.0%} of {t} frames ({track.info['seconds_per_frame'] * 1000:.0f} ms/frame)"]
    poses = None
    if has_fingers:
        model = HandModel.from_body(body, motion.shape)
        poses = fit_hands_to_track(track, model, use_pca=hands == "mediapipe-pca", progress=stage(100, 200),
                                   **fit_options)  # fmt: skip
        pose = motion.pose.clone()
        pose[:, 21:36] = poses.pose[:, 0].to(pose)
        pose[:, 36:51] = poses.pose[:, 1].to(pose)
        motion = replace(motion, pose=pose, info=dict(motion.info, hands=hands))
        if bool(poses.found.any()):
            lines.append(f"fingers fitted: median landmark error {np.nanmedian(poses.error.numpy()):.3f} hand sizes, "
                         f"{poses.info.get('seconds', 0.0):.1f} s")
    else:
        lines.append("fingers not posed: the body model is SMPL (choose an SMPL-H file to pose them)")
    hidden = None
    if missing == "hide":
        mask = hand_vertex_mask(body)  # [2,V]
        lost = torch.as_tensor(~track.found)  # [T,2]
        hidden = (lost[:, :, None] & mask[None]).any(1)
        lines.append(f"undetected hands hidden in {int(lost.any(1).sum())} of {t} frames")
    report = "\n".join(lines)
    log.info(report)
    return SdcHands(motion, hidden, poses, report)
