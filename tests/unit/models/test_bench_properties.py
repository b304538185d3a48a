"""Acceptance properties of the video model and of generation.

* zero-init: a VideoUNet built from SD1.5-layout 2D weights, with ``conv_in`` zero-expanded to 8 or 12
  channels, zero-initialised motion modules and zero pose features, is the plain
  ``UNet2DConditionModel`` applied frame by frame;
* ReferenceNet runs once per generated sample, whatever the number of steps and windows;
* window blending of a video that fits in one window is exactly the single-window result.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from _mimo_tiny import TINY_MOTION, TINY_UNET, randomize_
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

import mimo_core.pipeline.mimo as mimo_module
from mimo_core.checkpoints.importers import video_unet_from_sd15
from mimo_core.models.temporal import MotionModule
from scripts.make_tiny_mimo import build_tiny_pipeline

B, F, H, W = 2, 3, 8, 8


@pytest.fixture(scope="module")
def sd15_folder(tmp_path_factory):
    """A (tiny) SD1.5-layout diffusers UNet folder with random weights."""
    unet2d = randomize_(UNet2DConditionModel(**TINY_UNET), seed=21).eval()
    folder = tmp_path_factory.mktemp("sd15") / "unet"
    unet2d.save_pretrained(str(folder), safe_serialization=True)
    return unet2d, folder


@pytest.mark.parametrize("in_channels", [8, 12])
def test_zero_init_video_unet_equals_the_image_unet_frame_by_frame(sd15_folder, in_channels):
    unet2d, folder = sd15_folder
    motion = replace(TINY_MOTION, zero_initialize=True)
    video = video_unet_from_sd15(folder, in_channels=in_channels, motion_config=motion).eval()
    assert video.conv_in.in_channels == in_channels
    assert any(isinstance(m, MotionModule) for m in video.modules())
    g = torch.Generator().manual_seed(22)
    sample = torch.randn(B, in_channels, F, H, W, generator=g)  # extra (scene/occlusion) channels non-zero
    context = torch.randn(B, 1, TINY_UNET["cross_attention_dim"], generator=g)
    t = torch.tensor([35, 720])
    pose = torch.zeros(B, TINY_UNET["block_out_channels"][0], F, H, W)
    with torch.no_grad():
        actual = video(sample, t, context, pose_features=pose)
        expected = torch.stack(
            [unet2d(sample[:, :4, f], t, context, return_dict=False)[0] for f in range(F)], dim=2
        )
        # not vacuous: the frames differ, and non-zero pose features do change the output
        assert (expected[:, :, 0] - expected[:, :, 1]).abs().max() > 1e-3
        posed = video(sample, t, context, pose_features=torch.ones_like(pose))
    assert actual.shape == (B, 4, F, H, W)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)
    assert (posed - actual).abs().max() > 1e-3


# ---- generation -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    return build_tiny_pipeline(in_channels=8, seed=0)


def _video(frames: int, seed: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(frames, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear").permute(0, 2, 3, 1)


class CallCounter:
    """Counts forward calls of a module (a forward pre-hook)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.count = 0
        self.frames: list[int] = []
        self.handle = module.register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        self.count += 1
        if args and args[0].ndim == 5:
            self.frames.append(int(args[0].shape[2]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize(("steps", "frames", "window", "overlap"), [(1, 4, 4, 1), (3, 4, 4, 1), (2, 11, 4, 1)])
def test_reference_net_runs_once_per_sample(tiny, steps, frames, window, overlap):
    reference = _video(1, seed=1, size=24)[0]
    pose, scene = _video(frames, seed=2), _video(frames, seed=3)
    windows = len(mimo_module.WindowConfig(window, overlap).windows(frames))
    # ReferenceNet.encode calls the UNet2D forward directly; its conv_in runs once per ReferenceNet pass
    with CallCounter(tiny.reference_net.conv_in) as reference_calls, CallCounter(tiny.unet) as unet_calls:
        tiny.generate(reference, pose, scene, steps=steps, window=window, overlap=overlap)
    assert unet_calls.count == steps * windows  # CFG is batched: one UNet call per window and step
    assert reference_calls.count == 1


def test_reference_features_are_reused_across_samples_of_one_identity(tiny):
    identity = tiny.encode_identity(_video(1, seed=4, size=24)[0])
    pose, scene = _video(6, seed=5), _video(6, seed=6)
    with CallCounter(tiny.reference_net.conv_in) as reference_calls:
        tiny.generate(identity, pose, scene, steps=2, window=4, overlap=1)
        tiny.generate(identity, pose, scene, steps=1, window=4, overlap=2, seed=3)
    assert reference_calls.count == 1


def test_window_blending_of_a_video_that_fits_one_window_is_the_single_window_result(tiny, monkeypatch):
    frames = 6
    reference, pose, scene = _video(1, seed=7, size=24)[0], _video(frames, seed=8), _video(frames, seed=9)
    args = dict(steps=2, seed=0)

    real_sample_video = mimo_module.sample_video

    def one_explicit_window(predict, scheduler, **kwargs):
        kwargs["windows"] = [list(range(frames))]  # no WindowConfig, no blending weights
        kwargs["blend"] = None
        return real_sample_video(predict, scheduler, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(mimo_module, "sample_video", one_explicit_window)
        with CallCounter(tiny.unet) as calls:
            single = tiny.generate(reference, pose, scene, window=16, **args)
    assert calls.frames == [frames] * args["steps"]

    for blend in ("average", "linear", "pyramid"):
        for window, overlap in ((frames, 2), (16, 4)):
            blended = tiny.generate(reference, pose, scene, window=window, overlap=overlap, blend=blend, **args)
            torch.testing.assert_close(blended, single, rtol=0, atol=0)
    # the comparison can fail: a window shorter than the video gives another result
    split = tiny.generate(reference, pose, scene, window=4, overlap=2, **args)
    assert (split - single).abs().max() > 1e-4
