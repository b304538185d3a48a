"""The sdc render's hands: SMPL -> SMPL-H motions, fitted fingers written in, undetected hands hidden."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mimo_core.body import MotionSequence, SmplBody
from mimo_core.body.hands import SMPLH_FINGERTIP_VERTICES, HandModel, HandTrack
from mimo_core.sdc import hand_poses
from mimo_core.sdc.hand_poses import arm_landmarks, hand_vertex_mask, motion_for_body, pose_sdc_hands
from tests.unit.sdc._smplh_tiny import write_tiny_smplh

T = 3
SIZE = (160, 120)


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    path = tmp_path_factory.mktemp("smplh") / "SMPLH_TINY.npz"
    write_tiny_smplh(path)
    return SmplBody(path, kind="smplh")


def smpl_motion(t: int = T) -> MotionSequence:
    """An SMPL motion (23 joints) facing the camera 3 m away, arms out."""
    pose = torch.zeros(t, 23, 3)
    pose[:, 22] = 0.3  # SMPL's right hand joint: dropped on SMPL-H
    return MotionSequence(
        body_model="smpl", pose=pose, shape=torch.zeros(10), global_orient=torch.tensor([[math.pi, 0.0, 0.0]] * t),
        transl=torch.tensor([[0.0, 1.0, 3.0]] * t), focal=torch.full((t, 2), 200.0),
        principal_point=torch.tensor([[80.0, 60.0]] * t), image_size=torch.tensor([list(SIZE)] * t), fps=30.0,
    )


def test_smpl_motion_becomes_smplh(body):
    motion = motion_for_body(smpl_motion(), body)
    assert motion.body_model == "smplh" and motion.pose.shape == (T, 51, 3)
    assert float(motion.pose[:, 21:].abs().max()) == 0.0
    assert motion.vertices(body).shape == (T, 6890, 3)


def test_hand_vertices_and_projected_wrists(body):
    mask = hand_vertex_mask(body)
    assert mask.shape == (2, 6890)
    assert bool(mask[0, list(SMPLH_FINGERTIP_VERTICES["left"])].all())
    assert not bool(mask[0, list(SMPLH_FINGERTIP_VERTICES["right"])].any())
    assert not bool((mask[0] & mask[1]).any())
    lm = arm_landmarks(motion_for_body(smpl_motion(), body), body, SIZE)
    assert lm.shape == (T, 33, 2) and np.isfinite(lm[:, 13:17]).all() and np.isnan(lm[:, 0]).all()
    # facing the camera, the person's left wrist is on the right of the image
    assert (lm[:, 15, 0] > lm[:, 16, 0]).all() and (lm[:, 15, 0] > SIZE[0] / 2).all()


def test_hand_sources(body):
    motion = motion_for_body(smpl_motion(), body)
    motion.pose[:, 21:] = 0.2
    flat = pose_sdc_hands(motion, body, "none")
    assert float(flat.motion.pose[:, 21:].abs().max()) == 0.0 and flat.hidden_vertices is None
    own = pose_sdc_hands(motion, body, "from motion")
    assert torch.equal(own.motion.pose, motion.pose)
    with pytest.raises(ValueError, match="source frames"):
        pose_sdc_hands(motion, body, "mediapipe")
    with pytest.raises(ValueError, match="hands must be"):
        pose_sdc_hands(motion, body, "hamer")


def test_fitted_fingers_are_written_in_and_lost_hands_hidden(body, monkeypatch):
    """MediaPipe replaced by a track made from known finger poses: the fit lands in the SMPL-H slots."""
    hands = HandModel.from_body(body)
    truth = torch.zeros(2, 15, 3)
    truth[0, :12, 2] = -0.8  # left fingers curled
    truth[1, :12, 2] = 0.5  # right fingers curled (mirrored sign)
    with torch.no_grad():
        pts = hands(truth, torch.tensor([0, 1])).numpy()
    track = HandTrack.empty(T)
    for i in range(T):
        track.world[i] = pts * 7.0 + 1.0  # any scale and offset
        track.found[i] = True
    track.found[1, 1] = False  # the right hand is lost in frame 1
    track.world[1, 1] = np.nan
    track.info = {"seconds_per_frame": 0.01}
    seen = {}

    def fake_detect(frames, body_landmarks, **kwargs):
        seen["frames"] = list(frames)
        seen["body"] = body_landmarks
        return track

    monkeypatch.setattr(hand_poses, "detect_hands", fake_detect)
    frames = torch.zeros(T, SIZE[1] * 2, SIZE[0] * 2, 3)  # twice the motion's size: wrists are rescaled
    out = pose_sdc_hands(smpl_motion(), body, "mediapipe", frames)
    assert len(seen["frames"]) == T and seen["frames"][0].dtype == np.uint8
    assert seen["body"][0, 15, 0] > SIZE[0]  # projected into the 320-pixel frames
    fitted = out.motion.pose
    assert not fitted.requires_grad
    # twist about a finger's own axis is not seen in landmarks (the prior settles it): angles only roughly,
    # landmark positions exactly
    assert torch.allclose(fitted[0, 21:36], truth[0], atol=0.15)
    assert torch.allclose(fitted[0, 36:51], truth[1], atol=0.15)
    with torch.no_grad():
        again = hands(torch.stack([fitted[0, 21:36], fitted[0, 36:51]]), torch.tensor([0, 1])).numpy()
    size = np.linalg.norm(pts[:, 9] - pts[:, 0], axis=-1)
    assert (np.linalg.norm(again - pts, axis=-1).max(-1) / size).max() < 0.03
    assert torch.equal(fitted[1, 36:51], fitted[0, 36:51])  # held while lost
    mask = hand_vertex_mask(body)
    assert out.hidden_vertices.shape == (T, 6890)
    assert torch.equal(out.hidden_vertices[1], mask[1]) and not bool(out.hidden_vertices[0].any())
    kept = pose_sdc_hands(smpl_motion(), body, "mediapipe", frames, missing="keep")
    assert kept.hidden_vertices is None
    assert "found the left hand in 100%" in out.report
