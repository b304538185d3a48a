"""Default 3D body-motion estimator: fit a body model to MediaPipe Pose landmarks of a clip.

Per frame: pose (the model's ``fit_pose_joints``), global orientation and translation; one shape for
the clip. Objective (all frames batched, Adam):

- 2D: projected model landmarks vs image landmarks (full-frame camera ``f = 5000/256 * max(W, H)``,
  principal point at the image centre), Huber on the error divided by the person's pixel height;
- 3D: model landmarks relative to the hip centre vs MediaPipe world landmarks (same frame, metres);
- priors: squared pose magnitude, a soft per-joint angle limit, shape toward the model's mean;
- temporal: velocity and acceleration of the 3D landmarks and of the pose.

Frames without landmarks (NaN or too few visible points) get no data term: their landmarks are
linearly interpolated for the initialisation and the temporal terms carry the motion through them;
they are reported in ``MotionSequence.observed`` and ``info['missing_frames']``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .base import BodyModel
from .camera import default_focal_length, project_points
from .landmarks import MP_LEFT_HIP, MP_LEFT_SHOULDER, MP_RIGHT_HIP, MP_RIGHT_SHOULDER
from .motion import MotionSequence
from .rotations import axis_angle_to_matrix, kabsch_rotation, matrix_to_axis_angle

TORSO = (MP_LEFT_SHOULDER, MP_RIGHT_SHOULDER, MP_LEFT_HIP, MP_RIGHT_HIP)


@dataclass
class FitWeights:
    """Relative weights of the fitting objective (defaults tuned on synthetic and real clips)."""

    keypoints_2d: float = 1.0
    keypoints_3d: float = 0.3
    pose_prior: float = 1e-4
    joint_limit: float = 1.0
    shape_prior: float = 1e-2
    velocity: float = 0.0
    acceleration: float = 0.1
    pose_acceleration: float = 0.01
    sigma_2d: float = 0.01  # fraction of the person's pixel height counted as one unit of 2D error
    sigma_3d: float = 0.03  # metres counted as one unit of 3D error
    huber_delta: float = 3.0  # in those units
    min_visibility: float = 0.3
    # Huber threshold (sigma_3d units) on each landmark's acceleration about the hips; 0 = quadratic.
    # MediaPipe sometimes swaps or misplaces a limb for a frame or two (often while it is hidden):
    # a quadratic penalty then drags the whole body, orientation included, of the nearby frames.
    acceleration_delta: float = 3.0


def _interpolate_missing(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid frames of ``values [T, ...]`` by linear interpolation (edge frames: nearest valid)."""
    out = values.copy()
    idx = np.nonzero(valid)[0]
    if len(idx) == 0:
        return out
    flat = out.reshape(out.shape[0], -1)
    t = np.arange(out.shape[0])
    for c in range(flat.shape[1]):
        flat[:, c] = np.interp(t, idx, flat[idx, c])
    return flat.reshape(out.shape)


def _prepare_landmarks(
    landmarks_2d: np.ndarray, world_landmarks: np.ndarray, min_visibility: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and clean the inputs.

    Returns ``(uv [T,33,2], conf [T,33], world [T,33,3], observed [T] bool)`` with NaNs removed.
    """
    if landmarks_2d.ndim != 3 or landmarks_2d.shape[1:] != (33, 3):
        raise ValueError(f"landmarks_2d must be [T, 33, 3] (x px, y px, visibility), got {landmarks_2d.shape}")
    if world_landmarks.shape != (landmarks_2d.shape[0], 33, 3):
        raise ValueError(
            f"world_landmarks must be [T, 33, 3] with T={landmarks_2d.shape[0]}, got {world_landmarks.shape}"
        )
    uv = landmarks_2d[..., :2].astype(np.float64)
    vis = np.nan_to_num(landmarks_2d[..., 2].astype(np.float64), nan=0.0)
    world = world_landmarks.astype(np.float64)
    point_ok = np.isfinite(uv).all(-1) & np.isfinite(world).all(-1) & (vis >= min_visibility)
    observed = point_ok[:, list(TORSO)].all(-1) & (point_ok.sum(-1) >= 8)
    if not observed.any():
        raise ValueError("no frame has enough visible landmarks (needs both shoulders, both hips and 8 points)")
    conf = np.where(point_ok & observed[:, None], vis, 0.0)
    uv = np.where(point_ok[..., None], uv, np.nan)
    world = np.where(point_ok[..., None], world, np.nan)
    # Per landmark: interpolate over time where missing (for the initialisation only; conf stays 0).
    for k in range(33):
        ok_k = np.isfinite(uv[:, k]).all(-1) & observed
        if ok_k.any():
            uv[:, k] = _interpolate_missing(uv[:, k], ok_k)
            world[:, k] = _interpolate_missing(world[:, k], ok_k)
    uv = np.nan_to_num(uv)
    world = np.nan_to_num(world)
    return uv, conf, world, observed


def _init_translation(
    canon: torch.Tensor, rot: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor, focal: float, principal: torch.Tensor
) -> torch.Tensor:
    """Least-squares translation putting ``rot @ canon + t`` on the 2D points (linear in ``t``).

    Args:
        canon: ``[T, N, 3]`` canonical points; rot: ``[T, 3, 3]``; uv: ``[T, N, 2]`` px; conf: ``[T, N]``.
    Returns:
        ``[T, 3]`` translations.
    """
    p = canon @ rot.transpose(-1, -2)  # [T, N, 3]
    du = uv - principal  # [T, N, 2]
    # (u - cx)(p_z + t_z) - f (p_x + t_x) = 0 ; same for y.
    rows_x = torch.stack([-focal * torch.ones_like(du[..., 0]), torch.zeros_like(du[..., 0]), du[..., 0]], -1)
    rows_y = torch.stack([torch.zeros_like(du[..., 1]), -focal * torch.ones_like(du[..., 1]), du[..., 1]], -1)
    rhs_x = focal * p[..., 0] - du[..., 0] * p[..., 2]
    rhs_y = focal * p[..., 1] - du[..., 1] * p[..., 2]
    a = torch.cat([rows_x, rows_y], 1)
    b = torch.cat([rhs_x, rhs_y], 1)
    w = torch.cat([conf, conf], 1).sqrt()[..., None]
    sol = torch.linalg.lstsq(a * w, b[..., None] * w).solution[..., 0]
    sol[:, 2] = sol[:, 2].clamp_min(0.5)
    return sol


def fit_motion(*args, **kwargs) -> MotionSequence:  # noqa: ANN002, ANN003 - see _fit_motion
    """Fit ``body_model`` to a clip of MediaPipe Pose landmarks (see :func:`_fit_motion` for the arguments).

    Runs with autograd enabled even when the caller is in ``torch.no_grad`` / ``inference_mode``
    (as node graphs are), since the fit is an optimisation.
    """
    with torch.inference_mode(False), torch.enable_grad():
        return _fit_motion(*args, **kwargs)


def _fit_motion(
    landmarks_2d: np.ndarray | torch.Tensor,
    world_landmarks: np.ndarray | torch.Tensor,
    image_size: tuple[int, int],
    body_model: BodyModel,
    iterations: int = 200,
    fps: float = 30.0,
    weights: FitWeights | None = None,
    fit_shape: bool = True,
    learning_rate: float = 0.03,
    shape_every: int = 5,
    progress: Callable[[int, int, float], None] | None = None,
) -> MotionSequence:
    """Fit ``body_model`` to a clip of MediaPipe Pose landmarks.

    Args:
        landmarks_2d: ``[T, 33, 3]`` image landmarks: x, y in pixels, visibility in 0..1 (NaN = missing).
        world_landmarks: ``[T, 33, 3]`` MediaPipe world landmarks in metres (origin between the hips,
            axes as the camera: x right, y down, z away from the camera; NaN = missing).
        image_size: ``(width, height)`` in pixels.
        body_model: the body model to fit (e.g. :class:`mimo_core.body.AnnyBody`).
        iterations: Adam iterations in total (the first quarter only places the torso).
        fps: frame rate stored in the result.
        weights: objective weights (:class:`FitWeights`).
        fit_shape: also fit the clip's shape (else the model's mean shape).
        learning_rate: Adam step size.
        shape_every: update the shape every this many iterations (it is shared by all frames, and its
            gradient is the costly part of an iteration).
        progress: optional ``callback(iteration, iterations, loss)`` called after every step.
    Returns:
        The fitted :class:`MotionSequence` (camera = full-frame convention). ``info`` holds
        ``reprojection_error_px`` (mean over visible, faithfully modelled landmarks), ``missing_frames``
        and ``seconds``.
    """
    start = time.perf_counter()
    w = weights or FitWeights()
    width, height = int(image_size[0]), int(image_size[1])
    focal = default_focal_length(width, height)
    principal = torch.tensor([width / 2.0, height / 2.0])
    lm2d = landmarks_2d.detach().cpu().numpy() if isinstance(landmarks_2d, torch.Tensor) else np.asarray(landmarks_2d)
    lm3d = (
        world_landmarks.detach().cpu().numpy() if isinstance(world_landmarks, torch.Tensor) else np.asarray(world_landmarks)
    )
    uv_np, conf_np, world_np, observed_np = _prepare_landmarks(lm2d, lm3d, w.min_visibility)
    n_frames = uv_np.shape[0]
    dtype = torch.float32
    uv = torch.tensor(uv_np, dtype=dtype)
    available = body_model.landmark_available.to(dtype)
    conf = torch.tensor(conf_np, dtype=dtype) * available
    world = torch.tensor(world_np, dtype=dtype)
    observed = torch.tensor(observed_np)
    hips = [MP_LEFT_HIP, MP_RIGHT_HIP]
    world_rel = world - world[:, hips].mean(1, keepdim=True)
    # Person height in pixels per frame (normalises the 2D residuals).
    vis_uv = torch.where(conf[..., None] > 0, uv, torch.nan)
    span = (vis_uv[..., 1].nan_to_num(-1e9).amax(1) - vis_uv[..., 1].nan_to_num(1e9).amin(1)).clamp_min(1.0)
    span = torch.where(observed, span, torch.nan)
    span = torch.tensor(_interpolate_missing(span.numpy()[:, None], observed_np)[:, 0], dtype=dtype)
    span = torch.maximum(span, torch.tensor(0.05 * max(width, height)))

    # ---- initialisation: torso orientation by Kabsch against the world landmarks, translation by least squares.
    shape0 = body_model.default_shape().to(dtype)
    f_count = len(body_model.fit_pose_joints)
    with torch.no_grad():
        canon0 = body_model.fit_landmarks(torch.zeros(1, f_count, 3), shape0[None])[0]  # [33, 3]
        torso = list(TORSO)
        src = (canon0[torso] - canon0[hips].mean(0))[None].expand(n_frames, -1, -1)
        rot0 = kabsch_rotation(src, world_rel[:, torso])
        # The hip-centred world landmarks carry no translation: place the body from the 2D points.
        t0 = _init_translation(canon0[torso][None].expand(n_frames, -1, -1), rot0, uv[:, torso], conf[:, torso] + 1e-3,
                               focal, principal)  # fmt: skip

    fit_pose = torch.zeros(n_frames, f_count, 3, dtype=dtype, requires_grad=True)
    orient_delta = torch.zeros(n_frames, 3, dtype=dtype, requires_grad=True)
    # Translation as image-plane offset (in person heights) and log-depth: well scaled for Adam at any focal.
    xy0 = t0[:, :2] / t0[:, 2:]
    xy_unit = (span / focal)[:, None]
    log_z0 = t0[:, 2:].log()
    transl_delta = torch.zeros(n_frames, 3, dtype=dtype, requires_grad=True)

    def translation() -> torch.Tensor:
        z = (log_z0 + transl_delta[:, 2:]).exp()
        return torch.cat([(xy0 + transl_delta[:, :2] * xy_unit) * z, z], -1)

    shape = shape0.clone()[None].requires_grad_(fit_shape)
    shape_scale = body_model.shape_prior_scale().to(dtype)
    limits = _joint_limits(body_model).to(dtype)
    focal_t = torch.full((n_frames, 2), focal, dtype=dtype)
    principal_t = principal[None].expand(n_frames, 2).to(dtype)

    stage1 = max(1, iterations // 4)
    torso_mask = torch.zeros(33, dtype=dtype)
    torso_mask[torso] = 1.0

    def objective(it: int) -> tuple[torch.Tensor, torch.Tensor]:
        use_shape = fit_shape and it >= stage1 and (it % shape_every == 0 or it == iterations - 1)
        sh = shape if use_shape else shape.detach()
        canon = body_model.fit_landmarks(fit_pose, sh)  # [T, 33, 3]
        rot = rot0 @ axis_angle_to_matrix(orient_delta)
        cam = canon @ rot.transpose(-1, -2) + translation()[:, None]
        proj = project_points(cam, focal_t, principal_t)
        c = conf * (torso_mask if it < stage1 else 1.0)
        err = (proj - uv).norm(dim=-1) / (span[:, None] * w.sigma_2d)
        csum = c.sum().clamp_min(1.0)
        loss = w.keypoints_2d * (c * _huber(err, w.huber_delta)).sum() / csum
        rel = cam - cam[:, hips].mean(1, keepdim=True)
        err3 = (rel - world_rel).norm(dim=-1) / w.sigma_3d
        loss = loss + w.keypoints_3d * (c * _huber(err3, w.huber_delta)).sum() / csum
        if it >= stage1:
            angle = fit_pose.norm(dim=-1)
            loss = loss + w.pose_prior * fit_pose.square().sum() / n_frames
            loss = loss + w.joint_limit * torch.relu(angle - limits).square().sum() / n_frames
            if fit_shape:
                loss = loss + w.shape_prior * ((shape - shape0) / shape_scale).square().sum()
        if n_frames > 2:
            acc = cam[2:] - 2 * cam[1:-1] + cam[:-2]
            if w.acceleration_delta > 0:
                # The body's path stays quadratic; the limbs about it are robust to a glitch.
                root = acc[:, hips].mean(1, keepdim=True)
                rel = ((acc - root) / w.sigma_3d).norm(dim=-1)
                loss = loss + w.acceleration * (root[:, 0] / w.sigma_3d).square().sum(-1).mean()
                loss = loss + w.acceleration * 2 * _huber(rel, w.acceleration_delta).mean()
            else:
                loss = loss + w.acceleration * (acc / w.sigma_3d).square().sum(-1).mean()
            pacc = fit_pose[2:] - 2 * fit_pose[1:-1] + fit_pose[:-2]
            loss = loss + w.pose_acceleration * pacc.square().sum() / n_frames
        if n_frames > 1 and w.velocity > 0:
            loss = loss + w.velocity * ((cam[1:] - cam[:-1]) / w.sigma_3d).square().sum(-1).mean()
        return loss, proj

    params = [fit_pose, orient_delta, transl_delta] + ([shape] if fit_shape else [])
    opt = torch.optim.Adam(params, lr=learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: 1.0 if it < stage1 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (it - stage1) / max(1, iterations - stage1)))
    )
    for it in range(iterations):
        opt.zero_grad(set_to_none=True)
        loss, _ = objective(it)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(it + 1, iterations, float(loss.detach()))
        with torch.no_grad():
            shape.copy_(body_model.clamp_shape(shape))

    with torch.no_grad():
        _, proj = objective(iterations)
        faithful = (conf > 0).float()
        reproj = float(((proj - uv).norm(dim=-1) * faithful).sum() / faithful.sum().clamp_min(1.0))
        rot = rot0 @ axis_angle_to_matrix(orient_delta)
        global_orient = matrix_to_axis_angle(rot)
        pose = body_model.full_pose(fit_pose.detach())
    missing = [int(i) for i in np.nonzero(~observed_np)[0]]
    seconds = time.perf_counter() - start
    return MotionSequence(
        body_model=body_model.name,
        pose=pose.to(torch.float32),
        shape=shape.detach()[0].to(torch.float32),
        global_orient=global_orient.to(torch.float32),
        transl=translation().detach().to(torch.float32),
        focal=focal_t.clone(),
        principal_point=principal_t.clone(),
        image_size=torch.tensor([[width, height]], dtype=torch.int64).expand(n_frames, 2).clone(),
        fps=float(fps),
        observed=observed.clone(),
        info={
            "estimator": "mediapipe33_fit",
            "iterations": str(iterations),
            "reprojection_error_px": f"{reproj:.4f}",
            "missing_frames": json.dumps(missing),
            "seconds": f"{seconds:.3f}",
        },
    )


def _huber(x: torch.Tensor, delta: float) -> torch.Tensor:
    """Huber penalty of non-negative residuals ``x`` (quadratic below ``delta``, linear above)."""
    return torch.where(x < delta, 0.5 * x.square(), delta * (x - 0.5 * delta))


# Soft angle limits (radians) per fitted joint, matched by name fragment; others get 2.5 rad.
_LIMITS = (("spine", 0.6), ("neck", 0.8), ("head", 0.9), ("wrist", 1.2), ("hand", 1.2), ("foot", 0.9),
           ("ankle", 0.9), ("upperleg", 2.0), ("hip", 2.0), ("lowerleg", 2.5), ("knee", 2.5))  # fmt: skip


def _joint_limits(body_model: BodyModel) -> torch.Tensor:
    """``[F]`` soft angle limit per fitted joint (radians)."""
    out = []
    for j in body_model.fit_pose_joints:
        name = body_model.pose_joint_names[j].lower()
        out.append(next((lim for frag, lim in _LIMITS if frag in name), 2.5))
    return torch.tensor(out)
