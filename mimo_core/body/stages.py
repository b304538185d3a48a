"""Pipeline stages over the body package: motion from a person track, pose renders of a motion."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..pose_condition import render_pose_video, rest_pose_colours
from ..raster import PerspectiveCamera, render_normals
from .base import BodyModel
from .fitting import fit_motion
from .motion import MotionSequence

RENDER_MODES = ("parts", "normals", "silhouette")


def estimate_motion(
    landmarks: np.ndarray,
    world_landmarks: np.ndarray,
    image_size: tuple[int, int],
    body_model: BodyModel,
    iterations: int = 200,
    fps: float = 30.0,
    fit_shape: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> MotionSequence:
    """Fit a body motion to the landmarks of one tracked person.

    Args:
        landmarks: ``[T,33,4]`` image landmarks (x, y pixels, z, visibility), NaN on lost frames
            (``PersonTrack.landmarks``).
        world_landmarks: ``[T,33,3]`` metres about the hips, NaN on lost frames.
        image_size: ``(width, height)`` of the frames the landmarks refer to.
        body_model: the body model to fit.
        iterations, fps, fit_shape: see :func:`fit_motion`.
        progress: ``progress(done, total)`` per optimisation step.
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.ndim != 3 or lm.shape[1:] != (33, 4):
        raise ValueError(f"landmarks must be [T,33,4] (x, y, z, visibility), got {lm.shape}")
    if np.isnan(lm).all():
        raise ValueError("no landmarks in any frame: the person was never found, so there is no motion to fit")
    callback = None if progress is None else (lambda i, n, _loss: progress(i, n))
    return fit_motion(lm[..., [0, 1, 3]], np.asarray(world_landmarks, np.float32), image_size, body_model,
                      iterations=iterations, fps=fps, fit_shape=fit_shape, progress=callback)


def motion_camera(motion: MotionSequence, frame: int = 0, size: tuple[int, int] | None = None) -> PerspectiveCamera:
    """The camera of ``frame``; ``size=(width, height)`` rescales it to another image size."""
    w, h = (int(v) for v in motion.image_size[frame])
    fx, fy = (float(v) for v in motion.focal[frame])
    cx, cy = (float(v) for v in motion.principal_point[frame])
    if size is not None:
        sx, sy = size[0] / w, size[1] / h
        fx, fy, cx, cy, w, h = fx * sx, fy * sy, cx * sx, cy * sy, int(size[0]), int(size[1])
    return PerspectiveCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=w, height=h)


def render_motion(
    motion: MotionSequence,
    body_model: BodyModel,
    mode: str = "parts",
    size: tuple[int, int] | None = None,
    chunk_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render the posed body of every frame.

    Args:
        motion: the motion to draw.
        body_model: the model ``motion`` belongs to.
        mode: ``"parts"`` (the pose condition: a fixed colour per body location),
            ``"normals"`` (shaded grey, for looking at the fit) or ``"silhouette"`` (white body).
        size: output ``(width, height)``; default the motion's image size.
        chunk_size: frames posed and rasterised at once.
        progress: ``progress(done, total)``.

    Returns:
        ``(frames [T,H,W,3] float32 in 0..1, silhouette [T,H,W] float32 in {0,1})``.
    """
    if mode not in RENDER_MODES:
        raise ValueError(f"mode must be one of {RENDER_MODES}, got {mode!r}")
    if motion.body_model != body_model.name:
        raise ValueError(f"the motion is for body model {motion.body_model!r} but {body_model.name!r} was given")
    camera = motion_camera(motion, 0, size)
    faces = body_model.faces
    colours = None
    if mode == "parts":
        zero = body_model.zero_params(1)
        zero.shape = motion.shape[None].float()
        with torch.no_grad():
            rest = body_model(zero).vertices[0]
        colours = rest_pose_colours(rest)
    elif mode == "silhouette":
        colours = torch.ones(body_model.num_vertices, 3)
    total = motion.num_frames
    frames, masks = [], []
    for start in range(0, total, chunk_size):
        sl = slice(start, min(start + chunk_size, total))
        with torch.no_grad():
            verts = motion.vertices(body_model, sl).float()
        if colours is not None:
            image, mask = render_pose_video(verts, faces, colours, camera, chunk_size=chunk_size)
            if mode == "silhouette":
                image = mask[..., None].expand(*mask.shape, 3).clone()
        else:
            image, mask = render_normals(verts, faces, camera, light_dir=(0.0, 0.0, 1.0))
            mask = mask.float()
            if image.shape[-1] == 1:
                image = image.expand(*image.shape[:-1], 3)
        frames.append(image.clamp(0, 1))
        masks.append(mask.float())
        if progress is not None:
            progress(sl.stop, total)
    return torch.cat(frames), torch.cat(masks)
