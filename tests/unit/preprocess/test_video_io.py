from __future__ import annotations

import numpy as np
import pytest

from mimo_core.video_io import VideoWriter, iter_video_frames, probe_video, read_video, scaled_size


def test_probe_demo(demo_path):
    info = probe_video(demo_path)
    assert (info.width, info.height, info.frame_count) == (1768, 994, 230)
    assert info.fps == pytest.approx(30.0)


def test_iter_chunks_shapes_and_range(demo_path):
    chunks = list(iter_video_frames(demo_path, chunk_size=5, max_side=384, start=10, stride=3, max_frames=12))
    assert [len(c) for c in chunks] == [5, 5, 2]
    for c in chunks:
        assert c.dtype == np.float32 and c.shape[1:] == (216, 384, 3)
        assert 0.0 <= c.min() and c.max() <= 1.0


def test_stride_selects_the_right_frames(demo_path):
    every = read_video(demo_path, max_side=128, max_frames=10)
    strided = read_video(demo_path, max_side=128, start=1, stride=4, max_frames=2)
    np.testing.assert_array_equal(strided, every[[1, 5]])


def test_as_torch(demo_path):
    import torch

    clip = read_video(demo_path, max_side=64, max_frames=3, as_torch=True)
    assert isinstance(clip, torch.Tensor) and tuple(clip.shape) == (3, 36, 64, 3)


def test_scaled_size_even_and_never_enlarges():
    assert scaled_size(1768, 994, 384) == (384, 216)
    assert scaled_size(100, 50, 512) == (100, 50)
    w, h = scaled_size(1001, 333, 101)
    assert w % 2 == 0 and h % 2 == 0 and max(w, h) <= 102


def test_writer_roundtrip_with_odd_size(tmp_path):
    rng = np.random.default_rng(0)
    base = cv2_blur(rng.random((9, 47, 63, 3)).astype(np.float32))
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=24, crf=10) as w:
        w.write(base[:4])
        w.write(base[4])  # single [H,W,3] frame
        w.write((base[5:] * 255).astype(np.uint8))
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 9)
    assert info.fps == pytest.approx(24.0)
    back = read_video(path)[:, :47, :63]
    assert np.abs(back - base).mean() < 0.03


def cv2_blur(x: np.ndarray) -> np.ndarray:
    import cv2

    return np.stack([cv2.GaussianBlur(f, (0, 0), 3) for f in x])


def test_writer_rejects_size_change(tmp_path):
    with VideoWriter(tmp_path / "a.mp4", fps=10) as w:
        w.write(np.zeros((2, 16, 16, 3), np.float32))
        with pytest.raises(ValueError, match="frame size changed"):
            w.write(np.zeros((1, 18, 16, 3), np.float32))


def test_missing_and_invalid_files_are_named(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        probe_video(missing)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        next(iter_video_frames(missing))
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(ValueError, match="bad.mp4"):
        read_video(bad)
