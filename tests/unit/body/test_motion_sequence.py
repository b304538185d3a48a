"""MotionSequence: validation, one-file safetensors round trip, retargeting, vertices helper."""

from __future__ import annotations

import math

import pytest
import torch

from mimo_core.body import MotionSequence


def _motion(body, frames: int = 4) -> MotionSequence:
    torch.manual_seed(0)
    return MotionSequence(
        body_model=body.name,
        pose=torch.randn(frames, body.num_pose_joints, 3) * 0.01,
        shape=body.default_shape().float(),
        global_orient=torch.tensor([[math.pi, 0.0, 0.0]]).repeat(frames, 1),
        transl=torch.tensor([[0.1, 0.2, 30.0]]).repeat(frames, 1),
        focal=torch.full((frames, 2), 10000.0),
        principal_point=torch.full((frames, 2), 256.0),
        image_size=torch.full((frames, 2), 512, dtype=torch.int64),
        fps=24.0,
        info={"source": "unit test"},
    )


def test_save_load_round_trip(tmp_path, anny_body) -> None:
    motion = _motion(anny_body)
    motion.observed[1] = False
    path = motion.save(tmp_path / "clip.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.safetensors"]
    loaded = MotionSequence.load(path)
    assert loaded.body_model == "anny" and loaded.fps == 24.0 and loaded.info == {"source": "unit test"}
    for name in ("pose", "shape", "global_orient", "transl", "focal", "principal_point", "image_size", "observed"):
        assert torch.equal(getattr(loaded, name), getattr(motion, name)), name


def test_validation_errors(anny_body) -> None:
    motion = _motion(anny_body)
    with pytest.raises(ValueError, match="transl"):
        MotionSequence(**{**motion.__dict__, "transl": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match="body_model"):
        MotionSequence(**{**motion.__dict__, "body_model": "mano"})


def test_retarget_scales_translation_by_height_ratio(anny_body) -> None:
    body = anny_body
    motion = _motion(body)
    tall = motion.shape.clone()
    tall[body.shape_names.index("height")] = 0.9
    moved = motion.retarget(tall, body)
    ratio = float(body.rest_height(tall[None]) / body.rest_height(motion.shape[None]))
    assert ratio > 1.1
    torch.testing.assert_close(moved.transl, motion.transl * ratio)
    assert torch.equal(moved.pose, motion.pose) and torch.equal(moved.shape, tall)
    # Scaling the scene about the camera keeps the projected hip centre in place.
    for m in (motion, moved):
        hips = m.posed(body, slice(0, 1), with_vertices=False).landmarks[0, 23:25].mean(0)
        uv = hips[:2] / hips[2]
        if m is motion:
            ref = uv
    torch.testing.assert_close(uv, ref, atol=3e-4, rtol=0)  # ~0.1 of the hip-to-hip distance: proportions change too


def test_vertices_helper(anny_body) -> None:
    motion = _motion(anny_body, frames=3)
    verts = motion.vertices(anny_body, slice(1, 3))
    assert verts.shape == (2, anny_body.num_vertices, 3)
    assert 25 < float(verts[..., 2].mean()) < 35  # placed in front of the camera
