"""SMPL-H finger poses from hand landmarks: synthetic ground truth, hand assignment, a real MediaPipe run."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from mimo_core.body import SmplBody
from mimo_core.body.hands import (
    _MP_SOURCE,
    MEDIAPIPE_HAND_21,
    SMPLH_FINGERTIP_VERTICES,
    HandFitWeights,
    HandModel,
    HandTrack,
    _Candidate,
    assign_hands,
    fit_hand_poses,
    fit_hands_to_track,
)
from tests.harness.paths import media
from tests.unit.sdc._smplh_tiny import write_tiny_smplh


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    path = tmp_path_factory.mktemp("smplh") / "SMPLH_TINY.npz"
    write_tiny_smplh(path)
    return SmplBody(path, kind="smplh")


@pytest.fixture(scope="module")
def hands(body):
    return HandModel.from_body(body)


def random_pose(rng: np.random.Generator, side: int) -> torch.Tensor:
    """A finger pose inside natural ranges: fingers flex, MCPs spread a little, almost no twist."""
    pose = np.zeros((15, 3))
    for k in range(12):
        first = k % 3 == 0
        pose[k] = (rng.uniform(-0.05, 0.05), rng.uniform(-0.25, 0.25) if first else rng.uniform(-0.05, 0.05),
                   rng.uniform(-1.4, 0.1))  # fmt: skip
    pose[12:] = rng.uniform(-0.4, 0.4, (3, 3))
    if side == 1:  # the mirror image for the right hand
        pose[:, 1:] *= -1
    return torch.tensor(pose, dtype=torch.float32)


def random_similarity(rng: np.random.Generator, points: torch.Tensor) -> torch.Tensor:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                    [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                    [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])  # fmt: skip
    scale, shift = rng.uniform(0.5, 20.0), rng.uniform(-100, 100, 3)
    return points @ torch.tensor(rot.T, dtype=torch.float32) * scale + torch.tensor(shift, dtype=torch.float32)


def hand_size(hands: HandModel) -> torch.Tensor:
    rest = hands(torch.zeros(2, 15, 3), torch.tensor([0, 1]))
    return (rest[:, 9] - rest[:, 0]).norm(dim=-1)


def test_hand_model_matches_the_smplh_mesh(body, hands):
    """The chain reproduces smplx's SMPL-H joints and fingertip vertices exactly (no pose blend shapes here)."""
    torch.manual_seed(0)
    finger = torch.randn(3, 2, 15, 3) * 0.4
    pose = torch.zeros(3, 51, 3)
    pose[:, 21:36], pose[:, 36:] = finger[:, 0], finger[:, 1]
    with torch.no_grad():
        out = body._call(pose, torch.zeros(1, body.num_shape))
    for s, side in enumerate(("left", "right")):
        wrist = out.joints[:, 20 + s : 21 + s]
        pts = torch.cat([out.joints[:, 22 + 15 * s : 37 + 15 * s],
                         out.vertices[:, list(SMPLH_FINGERTIP_VERTICES[side])]], 1)[:, list(_MP_SOURCE)]  # fmt: skip
        expected = torch.cat([wrist, pts], 1) - wrist
        assert torch.allclose(hands(finger[:, s], torch.full((3,), s)), expected, atol=1e-5)
    assert len(MEDIAPIPE_HAND_21) == 21


def test_fit_recovers_random_poses_under_random_similarity(hands):
    rng = np.random.default_rng(1)
    t = 6
    truth = torch.stack([torch.stack([random_pose(rng, 0), random_pose(rng, 1)]) for _ in range(t)])
    with torch.no_grad():
        points = hands(truth.reshape(-1, 15, 3), torch.tensor([0, 1]).repeat(t)).reshape(t, 2, 21, 3)
    observed = torch.stack([torch.stack([random_similarity(rng, points[i, s]) for s in range(2)]) for i in range(t)])
    found = np.ones((t, 2), bool)
    # consecutive frames are unrelated poses here: no temporal terms
    fit = fit_hand_poses(observed.numpy(), found, hands, weights=HandFitWeights(smooth=0.0, accel=0.0))
    with torch.no_grad():
        fitted = hands(fit.pose.reshape(-1, 15, 3), torch.tensor([0, 1]).repeat(t)).reshape(t, 2, 21, 3)
    err = (fitted - points).norm(dim=-1) / hand_size(hands)[None, :, None]
    assert float(err.median()) < 0.02, float(err.median())
    assert float(err.max()) < 0.12, float(err.max())
    assert float(fit.error.max()) < 0.05
    assert bool(fit.found.all()) and fit.pose.shape == (t, 2, 15, 3)
    print(f"synthetic fit: median {float(err.median()):.4f}, max {float(err.max()):.4f} hand sizes; "
          f"{fit.info['seconds'] / t:.3f} s per frame (two hands)")


def test_fit_is_temporally_smooth_under_landmark_noise(hands):
    rng = np.random.default_rng(2)
    t = 16
    a, b = random_pose(rng, 0), random_pose(rng, 0)
    s = torch.tensor([0.5 - 0.5 * math.cos(math.pi * i / (t - 1)) for i in range(t)])[:, None, None]
    truth = (1 - s) * a + s * b  # one hand closing smoothly
    with torch.no_grad():
        points = hands(truth, torch.zeros(t, dtype=torch.long))
    size = float(hand_size(hands)[0])
    noisy = points + torch.randn(points.shape, generator=torch.Generator().manual_seed(0)) * 0.02 * size
    lm = torch.stack([noisy, torch.full_like(noisy, float("nan"))], 1).numpy()
    found = np.stack([np.ones(t, bool), np.zeros(t, bool)], 1)

    def jitter(pose: torch.Tensor) -> float:
        return float((pose[2:] - 2 * pose[1:-1] + pose[:-2]).norm(dim=-1).mean())

    smooth = fit_hand_poses(lm, found, hands)
    rough = fit_hand_poses(lm, found, hands, weights=HandFitWeights(smooth=0.0, accel=0.0))
    assert jitter(smooth.pose[:, 0]) < 0.25 * jitter(rough.pose[:, 0])
    with torch.no_grad():
        fitted = hands(smooth.pose[:, 0], torch.zeros(t, dtype=torch.long))
        fitted_rough = hands(rough.pose[:, 0], torch.zeros(t, dtype=torch.long))
    err = float(((fitted - points).norm(dim=-1) / size).median())
    assert err < 0.02 and err < float(((fitted_rough - points).norm(dim=-1) / size).median())
    # the unseen right hand stays flat and flagged
    assert not bool(smooth.found[:, 1].any()) and float(smooth.pose[:, 1].abs().max()) == 0.0
    assert bool(torch.isnan(smooth.error[:, 1]).all())


def test_unseen_frames_hold_the_last_pose_then_go_flat(hands):
    rng = np.random.default_rng(3)
    pose = random_pose(rng, 1)
    with torch.no_grad():
        pts = hands(pose[None], torch.tensor([1]))[0]
    t = 8
    lm = np.full((t, 2, 21, 3), np.nan, np.float32)
    found = np.zeros((t, 2), bool)
    lm[1, 1], found[1, 1] = pts.numpy(), True
    fit = fit_hand_poses(lm, found, hands, hold_frames=3)
    assert float(fit.pose[0, 1].abs().max()) == 0.0  # before the first sighting: flat
    assert torch.equal(fit.pose[2, 1], fit.pose[1, 1]) and torch.equal(fit.pose[4, 1], fit.pose[1, 1])
    assert float(fit.pose[5, 1].abs().max()) == 0.0  # held for 3 frames only
    assert fit.found[:, 1].tolist() == [False, True] + [False] * 6


def test_pca_fit_stays_in_the_subspace(hands):
    assert hands.has_pca
    rng = np.random.default_rng(4)
    coeffs = torch.tensor(rng.normal(0, 0.3, (1, 12)), dtype=torch.float32)
    truth = hands.pose_from_pca(coeffs, torch.tensor([0]))
    with torch.no_grad():
        pts = hands(truth, torch.tensor([0]))[0]
    lm = np.full((1, 2, 21, 3), np.nan, np.float32)
    lm[0, 0] = random_similarity(rng, pts).numpy()
    fit = fit_hand_poses(lm, np.array([[True, False]]), hands, use_pca=True, num_pca=12,
                         weights=HandFitWeights(limits=0.0))
    with torch.no_grad():
        fitted = hands(fit.pose[:, 0], torch.tensor([0]))[0]
    assert float(((fitted - pts).norm(dim=-1) / hand_size(hands)[0]).median()) < 0.02
    basis = hands.components[0, :12]  # the fitted pose is mean + coefficients @ basis
    offset = (fit.pose[0, 0].reshape(45) - hands.mean[0])[:, None]
    coeffs = torch.linalg.lstsq(basis.T, offset).solution
    assert float((basis.T @ coeffs - offset).abs().max()) < 1e-4


def _cand(wrist_xy, side, score=0.9, size=20.0) -> _Candidate:
    lm = np.zeros((21, 3), np.float32)
    lm[:, :2] = wrist_xy
    lm[9, :2] = (wrist_xy[0] + size, wrist_xy[1])
    return _Candidate(lm, lm.copy(), side, score)


def test_hands_go_to_the_wrist_they_lie_at_whatever_their_handedness():
    body = np.full((33, 2), np.nan, np.float32)
    body[13], body[15] = (300, 100), (300, 200)  # left elbow, wrist
    body[14], body[16] = (100, 100), (100, 200)  # right elbow, wrist
    flipped = assign_hands([_cand((305, 215), side=1), _cand((95, 210), side=1, score=0.8)], body)
    assert flipped[0].landmarks[0, 0] == 305 and flipped[1].landmarks[0, 0] == 95
    far = assign_hands([_cand((600, 600), side=0)], body)  # someone else's hand
    assert far == {}
    duplicate = assign_hands([_cand((302, 212), side=0, score=0.7), _cand((300, 210), side=0, score=0.95)], body)
    assert list(duplicate) == [0] and duplicate[0].score == 0.95
    # without a body: the handedness decides; two claims on one side are shared out
    alone = assign_hands([_cand((10, 10), side=1, score=0.6), _cand((200, 10), side=1, score=0.9)])
    assert alone[1].score == 0.9 and alone[0].score == 0.6


def _demo_frames(indices: list[int]) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(media("demo.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, indices[0])
    frames, i = [], indices[0]
    while len(frames) < len(indices):
        ok, frame = cap.read()
        if not ok:
            break
        if i in indices:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        i += 1
    cap.release()
    return np.stack(frames)


def test_real_mediapipe_hands_on_the_demo_clip(hands):
    """A walker of the demo clip seen from the side, hands about 25 pixels long: each hand is found next to
    its own wrist (MediaPipe names the far one the wrong hand; the wrist decides) and fitted."""
    import mediapipe as mp

    from mimo_core.body.hands import detect_hands

    try:
        frames = _demo_frames([90, 91, 92, 93])
    except FileNotFoundError:
        pytest.skip("demo.mp4 is not in the media cache (tests/harness fetches it)")
    with mp.solutions.pose.Pose(static_image_mode=False) as pose:
        body = []
        for frame in frames:
            res = pose.process(frame)
            assert res.pose_landmarks is not None
            h, w = frame.shape[:2]
            body.append([[p.x * w, p.y * h] for p in res.pose_landmarks.landmark])
    body = np.asarray(body, np.float32)
    start = time.perf_counter()
    track = detect_hands(frames, body)
    seconds = (time.perf_counter() - start) / len(frames)
    assert isinstance(track, HandTrack) and track.landmarks.shape == (4, 2, 21, 3)
    # the near hand in every frame, the far one (half hidden behind the body) in some
    assert track.found.mean() >= 0.6 and track.found.any(0).all(), track.found
    for s, wrist in ((0, 15), (1, 16)):
        near = np.linalg.norm(track.landmarks[:, s, 0, :2] - body[:, wrist], axis=-1)
        forearm = np.linalg.norm(body[:, wrist] - body[:, wrist - 2], axis=-1)
        assert np.all(near[track.found[:, s]] < 0.6 * forearm[track.found[:, s]])
    fit = fit_hands_to_track(track, hands)
    assert np.nanmedian(fit.error.numpy()) < 0.25, fit.error
    print(f"mediapipe hands: {seconds:.3f} s/frame, found {track.found.mean():.2f}, "
          f"fit error median {np.nanmedian(fit.error.numpy()):.3f} hand sizes")
