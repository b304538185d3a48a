"""``Hmr2Estimator.estimate`` end to end with a tiny model."""

from __future__ import annotations

import math

import pytest
import torch
from _hmr2_tiny import TINY, lightning_checkpoint, tiny_model

from mimo_core.body.hmr2 import Hmr2Estimator
from mimo_core.body.motion import MotionSequence
from mimo_core.body.rotations import axis_angle_to_matrix
from mimo_core.raster.camera import hmr2_full_focal


def _frames() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(3, 48, 64, 3, generator=gen)


BOXES = torch.tensor([[10.0, 5.0, 30.0, 45.0], [float("nan")] * 4, [20.0, 8.0, 44.0, 46.0]])


def test_estimate_returns_valid_motion(tmp_path):
    est = Hmr2Estimator(tiny_model(), batch_size=1)
    offset = torch.tensor([0.0, -0.22, 0.03])
    out = est.estimate(_frames(), BOXES, fps=12.0, pelvis_offset=offset)
    motion = out.motion
    assert isinstance(motion, MotionSequence) and motion.body_model == "smpl"
    assert tuple(motion.pose.shape) == (3, 23, 3) and tuple(motion.shape.shape) == (10,)
    assert motion.observed.tolist() == [True, False, True]
    assert tuple(out.body_pose.shape) == (3, 23, 3, 3) and tuple(out.cam_crop.shape) == (3, 3)
    assert torch.equal(out.cam_t[1], out.cam_t[0])  # the missing frame holds its nearest observed frame
    assert torch.allclose(motion.focal, torch.full((3, 2), hmr2_full_focal(64, 48)))
    assert torch.allclose(motion.principal_point, torch.tensor([32.0, 24.0]).expand(3, 2))
    assert motion.image_size.tolist() == [[64, 48]] * 3 and motion.fps == 12.0
    # Pack convention: R @ pelvis + transl equals smplx's R @ (pelvis - pelvis) + pelvis + cam_t.
    rot = axis_angle_to_matrix(motion.global_orient)
    assert torch.allclose(rot, out.global_orient, atol=1e-4)
    assert torch.allclose(rot @ offset + motion.transl, offset + out.cam_t, atol=1e-4)
    # Frames with a box give the same result in a batch as alone.
    single = est.estimate(_frames()[:1], BOXES[:1], pelvis_offset=offset)
    assert torch.allclose(single.cam_t[0], out.cam_t[0], atol=1e-4)
    assert math.isclose(float(out.box_size[0]), 40.0 * 1.2, rel_tol=1e-6)
    motion.save(tmp_path / "m.safetensors")
    assert MotionSequence.load(tmp_path / "m.safetensors").num_frames == 3


def test_estimate_from_checkpoint_uses_its_smpl_pelvis(tmp_path):
    model = tiny_model()
    torch.save(lightning_checkpoint(model), tmp_path / "hmr2.ckpt")
    est = Hmr2Estimator(tmp_path, config=TINY)
    out = est.estimate((_frames() * 255).to(torch.uint8), BOXES)
    assert est.pelvis_data is not None
    j_frame = est.pelvis_data.pelvis(out.betas)
    j_clip = est.pelvis_data.pelvis(out.motion.shape)
    rot = axis_angle_to_matrix(out.motion.global_orient)
    assert torch.allclose(rot @ j_clip + out.motion.transl, j_frame + out.cam_t, atol=1e-4)


def test_estimate_errors_name_the_problem():
    est = Hmr2Estimator(tiny_model())
    with pytest.raises(ValueError, match="pelvis"):
        est.estimate(_frames(), BOXES)
    with pytest.raises(ValueError, match="boxes must be"):
        est.estimate(_frames(), BOXES[:2], pelvis_offset=torch.zeros(3))
    with pytest.raises(ValueError, match="all boxes are NaN"):
        est.estimate(_frames(), torch.full((3, 4), float("nan")), pelvis_offset=torch.zeros(3))
    with pytest.raises(ValueError, match="frames must be"):
        est.estimate(torch.zeros(3, 48, 64), BOXES, pelvis_offset=torch.zeros(3))


def _fake_smpl_npz(path) -> None:  # noqa: ANN001
    """A random SMPL-topology model file (6,890 vertices, 24 joints; .npz, no pickle)."""
    import numpy as np

    rng = np.random.default_rng(2)
    v, j = 6890, 24
    reg = rng.random((j, v)) * (rng.random((j, v)) < 0.01)
    np.savez(
        path,
        v_template=rng.standard_normal((v, 3)) * 0.3,
        shapedirs=rng.standard_normal((v, 3, 10)) * 0.02,
        posedirs=np.zeros((v, 3, 207)),
        weights=np.full((v, j), 1.0 / j),
        kintree_table=np.stack([np.r_[4294967295, np.arange(j - 1) // 2], np.arange(j)]).astype(np.int64),
        f=rng.integers(0, v, (10, 3)).astype(np.int64),
        J_regressor=reg / reg.sum(1, keepdims=True),
    )


def test_motion_poses_the_body_where_smplx_puts_it(tmp_path):
    from mimo_core.body import SmplBody

    _fake_smpl_npz(tmp_path / "SMPL_FAKE.npz")
    body = SmplBody(tmp_path / "SMPL_FAKE.npz", kind="smpl")
    out = Hmr2Estimator(tiny_model()).estimate(_frames(), BOXES, body_model=body)
    motion = out.motion
    ours = motion.vertices(body)  # pack convention: R x + transl
    with torch.no_grad():
        n = motion.num_frames
        smplx_out = body._smpl(
            global_orient=motion.global_orient, body_pose=motion.pose.reshape(n, -1),
            betas=motion.shape[None].expand(n, -1), transl=torch.zeros(n, 3),
        )  # fmt: skip
        zero = torch.zeros(n + 1, 23, 3)
        j0 = body.canonical(zero, torch.cat([out.betas, motion.shape[None]]), with_vertices=False)[1][:, 0]
    # smplx: rotation about the rest pelvis, then cam_t; the clip shape's pelvis moved to each frame's pelvis.
    expected = smplx_out.vertices + (out.cam_t + j0[:n] - j0[n:])[:, None]
    assert torch.allclose(ours, expected, atol=1e-4)
