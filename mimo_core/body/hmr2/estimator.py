"""Per-frame SMPL bodies from video frames and person boxes with HMR 2.0.

:class:`Hmr2Estimator` crops each box (:mod:`.crop`), runs the network in batches, converts the crop
camera to a full-frame translation with :func:`mimo_core.raster.camera.cam_crop_to_full` (focal
``5000 / 256 * max(W, H)``, principal point at the frame centre) and returns the raw predictions plus a
:class:`~mimo_core.body.motion.MotionSequence` for body model ``'smpl'``.

Convention change. HMR 2.0 (through smplx) rotates the body about its rest *pelvis* ``J0(betas)``::

    x_cam = R (x - J0) + J0 + cam_t

while the pack (``mimo_core/body/base.py``) rotates about the model origin: ``x_cam = R x + transl``. So
``transl = cam_t + J0 - R J0``. ``J0`` depends on the SMPL model data and the betas; it comes from, in
order: a given SMPL ``body_model``; a given ``pelvis_offset`` (``[3]`` or ``[T, 3]``, metres); the SMPL
buffers stored in the checkpoint. The motion keeps one shape for the clip (the mean betas of the observed
frames); ``transl`` is chosen so that this body's pelvis lands exactly where each frame's prediction put
it (``transl = cam_t + J0(betas_t) - R J0(mean betas)``).

Frames whose box is missing (any NaN) are not run: they are flagged ``observed = False`` and hold the
parameters of the nearest observed frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...raster.camera import cam_crop_to_full, hmr2_full_focal
from ..base import BodyModel
from ..motion import MotionSequence
from ..rotations import matrix_to_axis_angle
from .checkpoint import Hmr2Checkpoint, SmplPelvisData, load_hmr2
from .config import Hmr2Config
from .crop import crop_people, square_boxes
from .model import Hmr2Model


@dataclass
class Hmr2Estimate:
    """HMR 2.0 results for ``T`` frames (unobserved frames hold the nearest observed frame's values).

    Attributes:
        global_orient: ``[T, 3, 3]`` root rotation, smplx convention (about the rest pelvis).
        body_pose: ``[T, 23, 3, 3]`` SMPL body-joint rotations.
        betas: ``[T, 10]`` per-frame SMPL shape.
        cam_crop: ``[T, 3]`` weak-perspective crop camera ``(s, tx, ty)``.
        cam_t: ``[T, 3]`` smplx-convention translation in the full-frame OpenCV camera.
        box_center: ``[T, 2]`` crop square centre, pixels. box_size: ``[T]`` crop square side, pixels.
        focal: ``[T]`` full-frame focal length, pixels.
        observed: ``[T]`` bool, False where the box was missing.
        motion: the same motion as a pack :class:`MotionSequence` (``body_model='smpl'``, axis-angle).
    """

    global_orient: torch.Tensor
    body_pose: torch.Tensor
    betas: torch.Tensor
    cam_crop: torch.Tensor
    cam_t: torch.Tensor
    box_center: torch.Tensor
    box_size: torch.Tensor
    focal: torch.Tensor
    observed: torch.Tensor
    motion: MotionSequence


def _as_frames(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``[T, H, W, 3]`` float 0..1 on the CPU (uint8 input is divided by 255)."""
    t = torch.as_tensor(frames)
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3] RGB, got {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    if not t.is_floating_point():
        raise ValueError(f"frames must be float in 0..1 or uint8, got {t.dtype}")
    return t


def _nearest_observed(observed: torch.Tensor) -> torch.Tensor:
    """``[T]`` index of the nearest observed frame for every frame (ties: the earlier one)."""
    idx = torch.nonzero(observed).flatten()
    t = torch.arange(observed.shape[0])
    return idx[(t[:, None] - idx[None, :]).abs().argmin(dim=1)]


class Hmr2Estimator:
    """HMR 2.0 inference on person boxes.

    Args:
        checkpoint: a checkpoint file / folder (see :func:`load_hmr2`), a loaded :class:`Hmr2Checkpoint`,
            or an :class:`Hmr2Model`.
        device, dtype: where and in which precision the network runs.
        batch_size: crops per forward pass.
        box_rescale: margin factor applied to each box before squaring (see :func:`square_boxes`).
        config: architecture when ``checkpoint`` is a path (``None``: the released model).
    """

    def __init__(
        self,
        checkpoint: str | Path | Hmr2Checkpoint | Hmr2Model,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        batch_size: int = 8,
        box_rescale: float = 1.2,
        config: Hmr2Config | None = None,
    ) -> None:
        if isinstance(checkpoint, Hmr2Model):
            checkpoint = Hmr2Checkpoint(model=checkpoint, ignored_keys=[], pelvis=None)
        elif not isinstance(checkpoint, Hmr2Checkpoint):
            checkpoint = load_hmr2(checkpoint, config=config, device=device, dtype=dtype)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = checkpoint.model.to(device=self.device, dtype=dtype).eval().requires_grad_(False)
        self.pelvis_data: SmplPelvisData | None = checkpoint.pelvis
        self.batch_size = int(batch_size)
        self.box_rescale = float(box_rescale)

    @torch.no_grad()
    def estimate(
        self,
        frames: torch.Tensor | np.ndarray,
        boxes: torch.Tensor | np.ndarray,
        fps: float = 25.0,
        body_model: BodyModel | None = None,
        pelvis_offset: torch.Tensor | None = None,
    ) -> Hmr2Estimate:
        """Run HMR 2.0 on every frame with a box.

        Args:
            frames: ``[T, H, W, 3]`` RGB, float 0..1 (or uint8).
            boxes: ``[T, 4]`` ``x0, y0, x1, y1`` pixels; a row with any NaN marks a frame without the person.
            fps: frame rate stored in the motion.
            body_model: an SMPL :class:`BodyModel` (``name == 'smpl'``) giving the rest pelvis.
            pelvis_offset: ``[3]`` or ``[T, 3]`` rest pelvis (metres) when no ``body_model`` is given.
        Returns:
            :class:`Hmr2Estimate` (raw predictions and the pack :class:`MotionSequence`).
        """
        video = _as_frames(frames)
        n_frames, height, width = int(video.shape[0]), int(video.shape[1]), int(video.shape[2])
        box = torch.as_tensor(
            np.asarray(boxes, dtype=np.float64) if not torch.is_tensor(boxes) else boxes
        ).double()
        if tuple(box.shape) != (n_frames, 4):
            raise ValueError(
                f"boxes must be [T, 4] = [{n_frames}, 4] for {n_frames} frames, got {tuple(box.shape)}"
            )
        observed = torch.isfinite(box).all(dim=1)
        if not bool(observed.any()):
            raise ValueError("no frame has a person box (all boxes are NaN): nothing to estimate")
        obs_idx = torch.nonzero(observed).flatten()
        center, size = square_boxes(box[obs_idx].float(), rescale=self.box_rescale)
        if bool((size <= 0).any()):
            bad = obs_idx[size <= 0].tolist()
            raise ValueError(f"boxes of frames {bad} have zero size")
        preds = []
        hw = self.model.config.image_size
        for start in range(0, len(obs_idx), self.batch_size):
            sel = slice(start, start + self.batch_size)
            imgs = video[obs_idx[sel]].permute(0, 3, 1, 2).to(device=self.device, dtype=torch.float32)
            crops = crop_people(imgs, center[sel], size[sel], out_hw=hw).to(self.dtype)
            p = self.model(crops)
            preds.append([t.float().cpu() for t in (p.global_orient, p.body_pose, p.betas, p.cam_crop)])
        go, bp, betas, cam = (torch.cat(parts) for parts in zip(*preds, strict=True))
        cam_t = cam_crop_to_full(cam, center, size, (width, height))
        # Scatter to all frames; missing frames copy their nearest observed frame.
        src = torch.searchsorted(obs_idx, _nearest_observed(observed))
        go, bp, betas, cam, cam_t, center, size = (x[src] for x in (go, bp, betas, cam, cam_t, center, size))
        focal = torch.full((n_frames,), hmr2_full_focal(width, height))
        motion = self._motion(
            go, bp, betas, cam_t, observed, focal, (width, height), fps, body_model, pelvis_offset
        )
        return Hmr2Estimate(
            global_orient=go, body_pose=bp, betas=betas, cam_crop=cam, cam_t=cam_t, box_center=center,
            box_size=size, focal=focal, observed=observed, motion=motion,
        )  # fmt: skip

    def _pelvis(
        self,
        betas: torch.Tensor,
        shape: torch.Tensor,
        body_model: BodyModel | None,
        pelvis_offset: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest pelvis ``([T, 3] per-frame betas, [T, 3] clip shape)`` from the first available source."""
        n = betas.shape[0]
        if body_model is not None:
            if body_model.name != "smpl":
                raise ValueError(
                    f"HMR 2.0 predicts SMPL parameters; body_model must be 'smpl', got {body_model.name!r}"
                )
            both = torch.cat([betas, shape[None]])
            nb = body_model.num_shape
            coeffs = torch.zeros(n + 1, nb)
            coeffs[:, : min(nb, both.shape[1])] = both[:, :nb]
            pose = torch.zeros(n + 1, body_model.num_pose_joints, 3)
            j0 = body_model.canonical(pose, coeffs, with_vertices=False)[1][:, 0].float()
            return j0[:n], j0[n:].expand(n, 3)
        if pelvis_offset is not None:
            off = torch.as_tensor(pelvis_offset, dtype=torch.float32)
            if tuple(off.shape) not in ((3,), (n, 3)):
                raise ValueError(f"pelvis_offset must be [3] or [T, 3] = [{n}, 3], got {tuple(off.shape)}")
            off = off.expand(n, 3)
            return off, off
        if self.pelvis_data is not None:
            return self.pelvis_data.pelvis(betas), self.pelvis_data.pelvis(shape).expand(n, 3)
        raise ValueError(
            "the SMPL rest pelvis is needed to express HMR 2.0's pelvis-centred rotation in the pack's "
            "convention: pass body_model=SmplBody(...) or pelvis_offset=[3] metres (the checkpoint holds no "
            "SMPL buffers)"
        )

    def _motion(
        self,
        go: torch.Tensor,
        bp: torch.Tensor,
        betas: torch.Tensor,
        cam_t: torch.Tensor,
        observed: torch.Tensor,
        focal: torch.Tensor,
        size_wh: tuple[int, int],
        fps: float,
        body_model: BodyModel | None,
        pelvis_offset: torch.Tensor | None,
    ) -> MotionSequence:
        n = go.shape[0]
        shape = betas[observed].mean(dim=0)
        j_frame, j_clip = self._pelvis(betas, shape, body_model, pelvis_offset)
        transl = cam_t + j_frame - (go @ j_clip[..., None])[..., 0]
        w, h = size_wh
        return MotionSequence(
            body_model="smpl",
            pose=matrix_to_axis_angle(bp),
            shape=shape,
            global_orient=matrix_to_axis_angle(go),
            transl=transl,
            focal=focal[:, None].expand(n, 2).clone(),
            principal_point=torch.tensor([[w / 2.0, h / 2.0]]).expand(n, 2).clone(),
            image_size=torch.tensor([[w, h]], dtype=torch.int64).expand(n, 2).clone(),
            fps=float(fps),
            observed=observed.clone(),
            info={"estimator": "hmr2", "box_rescale": f"{self.box_rescale}"},
        )
