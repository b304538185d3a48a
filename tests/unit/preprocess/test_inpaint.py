from __future__ import annotations

import cv2
import numpy as np
import pytest

from mimo_core.preprocess.inpaint import inpaint_video

T, H, W = 8, 64, 96


def _textured(seed: int, h: int = H, w: int = W) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((h // 4, w // 4, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _moving_square_clip():
    bg = _textured(0)
    frames = np.repeat(bg[None], T, 0)
    holes = np.zeros((T, H, W), np.float32)
    for i in range(T):
        x = 8 + i * 8
        frames[i, 20:44, x : x + 20] = [1.0, 0.0, 1.0]  # occluding square
        holes[i, 20:44, x : x + 20] = 1
    return bg, frames, holes


def test_static_background_is_recovered_where_seen_elsewhere():
    bg, frames, holes = _moving_square_clip()
    out = inpaint_video(frames, holes)
    seen_elsewhere = (holes == 0).any(0)
    err = np.abs(out - bg[None])[(holes > 0) & seen_elsewhere[None]]
    assert err.max() < 1e-6
    np.testing.assert_array_equal(out[holes == 0], frames[holes == 0])


def test_never_seen_pixels_are_filled_spatially():
    bg = np.full((H, W, 3), 0.4, np.float32)
    bg[:, W // 2 :] = 0.6
    frames = np.repeat(bg[None], 3, 0)
    holes = np.zeros((3, H, W), np.float32)
    holes[:, 28:36, 10:20] = 1  # the same hole in every frame: never seen
    frames[holes > 0] = 1.0
    out = inpaint_video(frames, holes)
    assert np.abs(out[holes > 0] - 0.4).max() < 0.02


def test_homography_alignment_handles_camera_pan():
    big = _textured(3, H, W + 40)
    frames = np.stack([big[:, 5 * i : 5 * i + W] for i in range(T)])  # camera pans right
    truth = frames.copy()
    holes = np.zeros((T, H, W), np.float32)
    holes[:, 20:44, 40:60] = 1  # a hole fixed in the image: content moves under it
    frames[holes > 0] = 0.0
    out = inpaint_video(frames, holes, align="homography")
    err = np.abs(out - truth)[holes > 0]
    assert np.median(err) < 0.02
    static = inpaint_video(frames, holes, align="none")
    assert np.median(np.abs(static - truth)[holes > 0]) > np.median(err)


def test_errors_name_inputs():
    with pytest.raises(ValueError, match="hole_mask"):
        inpaint_video(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="align"):
        inpaint_video(np.zeros((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8)), align="flow")
