"""MimoPipeline.generate on tiny random pipelines: shapes, determinism, windows, channel modes, CFG, cancel."""

from __future__ import annotations

import pytest
import torch
from conftest import smooth_video

from mimo_core.pipeline import SamplingCancelled

T, H, W = 5, 40, 32  # 40 is not a multiple of the tiny pipeline's 16 px: padding is exercised


@pytest.fixture(scope="module")
def inputs():
    return {
        "reference": smooth_video(1, 48, 36, seed=10)[0],
        "pose": smooth_video(T, H, W, seed=11),
        "scene": smooth_video(T, H, W, seed=12),
    }


def run(pipeline, inputs, **kwargs):
    args = dict(steps=2, guidance=3.5, seed=0, window=4, overlap=2)
    args.update(kwargs)
    scene = args.pop("scene", inputs["scene"])
    pose = args.pop("pose", inputs["pose"])
    reference = args.pop("reference", inputs["reference"])
    return pipeline.generate(reference, pose, scene, **args)


class UNetCalls:
    """Counts denoising-UNet calls and records their batch sizes and frame counts."""

    def __init__(self, unet):
        self.calls: list[tuple[int, int]] = []
        self.handle = unet.register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        self.calls.append((args[0].shape[0], args[0].shape[2]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_output_shape_range_and_determinism(tiny8, inputs):
    out = run(tiny8, inputs)
    assert out.shape == (T, H, W, 3) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.01  # not a constant image
    torch.testing.assert_close(run(tiny8, inputs), out, rtol=0, atol=0)
    assert (run(tiny8, inputs, seed=1) - out).abs().max() > 1e-3


def test_every_condition_reaches_the_output(tiny8, inputs):
    base = run(tiny8, inputs)
    for change in ("pose", "scene", "reference"):
        other = {**inputs, change: inputs[change].flip(-2)}
        assert (run(tiny8, other) - base).abs().max() > 1e-3, f"{change} does not change the output"


def test_long_video_is_sampled_in_windows(tiny8, inputs):
    frames = 11
    pose, scene = smooth_video(frames, 32, 32, seed=1), smooth_video(frames, 32, 32, seed=2)
    steps_seen = []
    with UNetCalls(tiny8.unet) as calls:
        out = tiny8.generate(inputs["reference"], pose, scene, steps=2, window=4, overlap=1,
                             callback=lambda step, total, x0: steps_seen.append((step, total, tuple(x0.shape))))
    assert out.shape == (frames, 32, 32, 3)
    # windows of 4 frames with overlap 1 over 11 frames: 0-3, 3-6, 6-9, 8-11 (last one shifted back)
    windows_per_step = len(calls.calls) // 2
    assert len(calls.calls) == 2 * windows_per_step and windows_per_step >= 4
    assert {c for c in calls.calls} == {(2, 4)}  # CFG: uncond + cond batched, 4 frames each
    assert steps_seen == [(1, 2, (1, 4, frames, 4, 4)), (2, 2, (1, 4, frames, 4, 4))]


def test_guidance_one_skips_the_unconditional_pass(tiny8, inputs):
    with UNetCalls(tiny8.unet) as calls:
        out = run(tiny8, inputs, guidance=1.0)
    assert {c[0] for c in calls.calls} == {1}
    assert out.shape == (T, H, W, 3)
    assert (run(tiny8, inputs, guidance=3.5) - out).abs().max() > 1e-3


def test_cancel_stops_sampling(tiny8, inputs):
    with pytest.raises(SamplingCancelled):
        run(tiny8, inputs, cancel_check=lambda: True)

    class Stop(RuntimeError):
        pass

    def interrupt():
        raise Stop("user interrupted")

    with pytest.raises(Stop):
        run(tiny8, inputs, cancel_check=interrupt)


def test_four_channel_pipeline_takes_no_scene(tiny4, inputs):
    out = tiny4.generate(inputs["reference"], inputs["pose"], steps=2, window=4, overlap=2)
    assert tiny4.in_channels == 4 and out.shape == (T, H, W, 3)
    with pytest.raises(ValueError, match="4 input channels"):
        run(tiny4, inputs)


def test_eight_channel_pipeline_needs_a_scene(tiny8, inputs):
    with pytest.raises(ValueError, match="scene_video is required"):
        tiny8.generate(inputs["reference"], inputs["pose"], steps=1)


def test_twelve_channel_pipeline_uses_occlusion_and_pastes_it_back(tiny12, inputs):
    occlusion = smooth_video(T, H, W, seed=20)
    mask = torch.zeros(T, H, W)
    mask[:, :10] = 1.0
    out = run(tiny12, inputs, occlusion_video=occlusion, occlusion_mask=mask)
    assert out.shape == (T, H, W, 3)
    torch.testing.assert_close(out[:, :10], occlusion[:, :10])
    # the occlusion latents are an input of the 12-channel UNet: they change the unmasked part too
    moved = torch.zeros_like(mask)
    moved[:, -10:] = 1.0
    other = run(tiny12, inputs, occlusion_video=occlusion, occlusion_mask=moved)
    assert (other[:, 12:-12] - out[:, 12:-12]).abs().max() > 1e-3


def test_bad_inputs_name_what_is_wrong(tiny8, inputs):
    with pytest.raises(ValueError, match="scene_video must be"):
        run(tiny8, inputs, scene=inputs["scene"][:3])
    with pytest.raises(ValueError, match="without occlusion_video"):
        run(tiny8, inputs, occlusion_mask=torch.zeros(T, H, W))
    with pytest.raises(ValueError, match="motion modules"):
        run(tiny8, inputs, window=64)
