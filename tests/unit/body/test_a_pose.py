"""The canonical A-pose target: arm angles, framing, any body model and shape, clear errors."""

from __future__ import annotations

import pytest
import torch

from mimo_core.body import MotionSequence, SmplBody
from mimo_core.body.a_pose import a_pose, a_pose_motion, arm_angles
from mimo_core.body.stages import render_motion
from tests.unit.sdc._smplh_tiny import write_tiny_smplh


@pytest.fixture(scope="module")
def smplh_body(tmp_path_factory):
    path = tmp_path_factory.mktemp("smplh") / "SMPLH_TINY.npz"
    write_tiny_smplh(path)
    return SmplBody(path, kind="smplh")


def _angles(body, pose, shape=None):
    shape = body.default_shape() if shape is None else shape
    with torch.no_grad():
        _, _, landmarks = body.canonical(pose[None], shape[None], with_vertices=False)
    return arm_angles(landmarks)[0]


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 80.0])
def test_anny_arms_end_at_the_asked_angle(anny_body, angle):
    pose = a_pose(anny_body, arm_angle=angle)
    torch.testing.assert_close(_angles(anny_body, pose), torch.full((2,), angle), atol=0.5, rtol=0)
    # only the two upper-arm joints move
    moved = {anny_body.pose_joint_names[i] for i in torch.nonzero(pose.abs().sum(-1) > 0).flatten().tolist()}
    assert moved <= {"upperarm01.L", "upperarm01.R"}


def test_anny_rest_pose_is_already_an_a_pose(anny_body):
    # Anny stands with the arms about 48 degrees down: the 45-degree A-pose is a small turn from it.
    rest = _angles(anny_body, torch.zeros(anny_body.num_pose_joints, 3))
    assert ((rest > 35) & (rest < 60)).all(), rest
    assert a_pose(anny_body, arm_angle=45.0).abs().max() < 0.2


def test_smplh_t_pose_is_lowered(smplh_body):
    rest = _angles(smplh_body, torch.zeros(smplh_body.num_pose_joints, 3))
    assert rest.abs().max() < 1.0  # SMPL's rest pose is a T-pose
    pose = a_pose(smplh_body, arm_angle=45.0)
    torch.testing.assert_close(_angles(smplh_body, pose), torch.full((2,), 45.0), atol=0.5, rtol=0)
    left, right = (smplh_body.pose_joint_names.index(n) for n in ("left_shoulder", "right_shoulder"))
    assert pose[left, 2] < 0 < pose[right, 2]  # lowering the left arm (at +X) turns it negatively about +Z


def test_the_body_is_centred_upright_and_fills_the_picture(anny_body):
    motion = a_pose_motion(anny_body, image_size=(96, 128), fill=0.8)
    assert motion.num_frames == 1 and motion.body_model == "anny"
    _, mask = render_motion(motion, anny_body, mode="silhouette")
    ys, xs = torch.nonzero(mask[0] > 0.5, as_tuple=True)
    height, width = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
    # the side that binds spans 80 % of the picture, the other less
    assert max(height / 128, width / 96) == pytest.approx(0.8, abs=0.03)
    assert (xs.min() + xs.max()) / 2 == pytest.approx(48, abs=1.5)
    assert (ys.min() + ys.max()) / 2 == pytest.approx(64, abs=1.5)
    # upright and facing the camera: head at the top, the body's left (landmark x) on the picture's right
    out = motion.posed(anny_body, with_vertices=False)
    nose, l_ankle = out.landmarks[0, 0], out.landmarks[0, 27]
    l_shoulder, r_shoulder = out.landmarks[0, 11], out.landmarks[0, 12]
    assert nose[1] < l_ankle[1] and l_shoulder[0] > r_shoulder[0]
    assert (out.landmarks[0, :, 2] > 0).all()


def test_shape_is_kept_and_the_motion_saves(anny_body, tmp_path):
    shape = anny_body.default_shape().clone()
    shape[0] = 0.9  # another phenotype value
    motion = a_pose_motion(anny_body, image_size=(64, 64), shape=shape)
    torch.testing.assert_close(motion.shape, shape)
    back = MotionSequence.load(motion.save(tmp_path / "a_pose.safetensors"))
    torch.testing.assert_close(back.transl, motion.transl)
    assert back.info["source"] == "a_pose"


def test_bad_arguments_are_named(anny_body):
    with pytest.raises(ValueError, match="arm_angle"):
        a_pose(anny_body, arm_angle=120.0)
    with pytest.raises(ValueError, match="fill"):
        a_pose_motion(anny_body, fill=0.0)
    with pytest.raises(ValueError, match="image_size"):
        a_pose_motion(anny_body, image_size=(4, 4))
    with pytest.raises(ValueError, match=r"shape must be \["):
        a_pose_motion(anny_body, shape=torch.zeros(3))


def test_smplh_a_pose_draws_as_the_official_sdc_condition(smplh_body):
    """The A-pose of an SMPL-H body renders through the release's sdc renderer; its vertices are
    centred in the picture."""
    from mimo_core.body.camera import project_points
    from mimo_core.sdc import render_sdc

    motion = a_pose_motion(smplh_body, image_size=(64, 96), fill=0.8)
    vertices = motion.vertices(smplh_body)
    pixels = project_points(vertices, motion.focal.float(), motion.principal_point.float())[0]
    torch.testing.assert_close((pixels.amin(0) + pixels.amax(0)) / 2, torch.tensor([32.0, 48.0]), atol=0.5, rtol=0)
    table = torch.rand(smplh_body.num_vertices, 3, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.2
    sdc = render_sdc(vertices, smplh_body.faces, table, (64, 96), float(motion.focal[0, 0]))[0].amax(-1) > 0
    _, own = render_motion(motion, smplh_body, mode="silhouette")
    # The test body is a stick figure whose faces nearly all collapse onto the pelvis: a few pixels,
    # drawn by both renderers in the middle of the picture.
    for drawn in (sdc, own[0] > 0.5):
        ys, xs = torch.nonzero(drawn, as_tuple=True)
        assert len(ys) > 0 and abs(float(xs.float().mean()) - 32) < 3 and abs(float(ys.float().mean()) - 48) < 8
