"""MimoPipeline.repose: one frame of the reference in another pose, over a plain background."""

from __future__ import annotations

import pytest
import torch
from conftest import smooth_video

H, W = 48, 32


@pytest.fixture(scope="module")
def inputs():
    return {"reference": smooth_video(1, 48, 36, seed=20)[0], "pose": smooth_video(1, H, W, seed=21)[0]}


def test_one_frame_at_the_pose_size(tiny8, inputs):
    out = tiny8.repose(inputs["reference"], inputs["pose"], steps=2, seed=3)
    assert out.shape == (H, W, 3) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(tiny8.repose(inputs["reference"], inputs["pose"][None], steps=2, seed=3), out,
                               rtol=0, atol=0)


def test_it_is_generate_on_one_frame_over_the_background(tiny8, inputs):
    out = tiny8.repose(inputs["reference"], inputs["pose"], background=(0.2, 0.4, 0.6), steps=2, seed=1)
    scene = torch.tensor([0.2, 0.4, 0.6]).expand(1, H, W, 3)
    same = tiny8.generate(inputs["reference"], inputs["pose"][None], scene, steps=2, seed=1, window=1)
    torch.testing.assert_close(out, same[0], rtol=0, atol=1e-5)  # memory layout of the scene only


def test_pose_background_and_reference_change_the_picture(tiny8, inputs):
    base = tiny8.repose(inputs["reference"], inputs["pose"], steps=2)
    assert (tiny8.repose(inputs["reference"], inputs["pose"].flip(0), steps=2) - base).abs().max() > 1e-3
    assert (tiny8.repose(inputs["reference"], inputs["pose"], background=(0, 0, 0), steps=2) - base).abs().max() > 1e-3
    assert (tiny8.repose(inputs["reference"].flip(0), inputs["pose"], steps=2) - base).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["tiny4", "tiny12"])
def test_every_channel_mode(name, inputs, request):
    pipeline = request.getfixturevalue(name)
    out = pipeline.repose(inputs["reference"], inputs["pose"], steps=1)
    assert out.shape == (H, W, 3) and torch.isfinite(out).all()


def test_bad_inputs_are_named(tiny8, inputs):
    with pytest.raises(ValueError, match="pose must be one pose render"):
        tiny8.repose(inputs["reference"], smooth_video(2, H, W, seed=1), steps=1)
    with pytest.raises(ValueError, match="background"):
        tiny8.repose(inputs["reference"], inputs["pose"], background=(1.0, 2.0, 0.0), steps=1)
