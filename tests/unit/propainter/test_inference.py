"""``propainter_inpaint`` with tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
from _propainter_tiny import make_tiny_models

from mimo_core.preprocess._arrays import as_frames
from mimo_core.preprocess.propainter import propainter_inpaint
from mimo_core.preprocess.propainter.inference import get_ref_index


def _clip(t: int = 4, h: int = 64, w: int = 64):
    rng = np.random.default_rng(0)
    frames = rng.random((t, h, w, 3)).astype(np.float32)
    holes = np.zeros((t, h, w), np.float32)
    for i in range(t):
        holes[i, 16 + i : 40 + i, 20:44] = 1.0
    return frames, holes


def test_shape_unchanged_outside_holes_and_deterministic(tiny_models):
    frames, holes = _clip()
    calls = []
    out = propainter_inpaint(frames, holes, tiny_models, raft_iters=3, progress=lambda d, n: calls.append((d, n)))
    assert out.shape == frames.shape and out.dtype == np.float32
    keep = holes < 0.5
    assert np.array_equal(out[keep], frames[keep])
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert not np.allclose(out[~keep], frames[~keep])  # the holes were actually filled
    assert calls and calls[-1][0] == calls[-1][1]
    again = propainter_inpaint(frames, holes, make_tiny_models(), raft_iters=3)
    assert np.array_equal(out, again)


def test_size_not_multiple_of_8_and_uint8_input(tiny_models):
    frames, holes = _clip(t=3, h=58, w=61)
    u8 = (frames * 255).astype(np.uint8)
    out = propainter_inpaint(u8, holes, tiny_models, raft_iters=2, mask_dilation=0)
    assert out.shape == (3, 58, 61, 3)
    keep = holes < 0.5
    assert np.array_equal(out[keep], as_frames(u8)[keep])


def test_long_clip_uses_sub_videos_and_references(tiny_models):
    frames, holes = _clip(t=7, h=32, w=32)
    out = propainter_inpaint(frames, holes[:, :32, :32], tiny_models, neighbor_length=4, ref_stride=2,
                             subvideo_length=3, raft_iters=1)
    assert out.shape == frames.shape and np.isfinite(out).all()


def test_single_frame_and_empty_mask(tiny_models):
    frames, holes = _clip(t=1, h=32, w=32)
    out = propainter_inpaint(frames, holes[:, :32, :32], tiny_models, raft_iters=1)
    assert out.shape == frames.shape
    none = propainter_inpaint(frames, np.zeros((1, 32, 32)), tiny_models)
    assert np.array_equal(none, frames)


def test_bad_mask_shape_is_named(tiny_models):
    frames, _ = _clip(t=2, h=32, w=32)
    with pytest.raises(ValueError, match="hole_mask"):
        propainter_inpaint(frames, np.zeros((2, 16, 16)), tiny_models)


def test_reference_index_rule():
    assert get_ref_index(0, [0, 1, 2], 25, ref_stride=10) == [10, 20]
    assert get_ref_index(40, list(range(35, 46)), 100, ref_stride=10, ref_num=4) == [20, 30, 50]


def test_cudnn_autotune_only_with_tf32_off_and_restored():
    import torch

    from mimo_core.preprocess.propainter.inference import _cudnn_autotune

    cudnn = torch.backends.cudnn
    saved = cudnn.allow_tf32, cudnn.benchmark
    try:
        cudnn.allow_tf32, cudnn.benchmark = False, False
        with _cudnn_autotune(torch.device("cuda")):
            assert cudnn.benchmark  # TF32 off: cuDNN times its algorithms (its heuristic is slow for RAFT)
        assert not cudnn.benchmark
        with _cudnn_autotune(torch.device("cpu")):
            assert not cudnn.benchmark
        cudnn.allow_tf32 = True
        with _cudnn_autotune(torch.device("cuda")):
            assert not cudnn.benchmark  # PyTorch's default: left alone
    finally:
        cudnn.allow_tf32, cudnn.benchmark = saved
