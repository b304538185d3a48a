"""The paper's condition fusion: a temporal 3D ``conv_in`` over [noise, scene, occlusion] latents.

Covers the conv itself, its SD1.5 initialisation (2D kernel in the centre frame, zeros elsewhere), loading
2D / 3D weights from every source the 2D UNet loads from, and the pack format round trip.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from _mimo_tiny import TINY_MOTION, TINY_UNET, randomize_
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

from mimo_core.checkpoints import build_video_unet, load_model, read_header, save_model, video_unet_from_sd15
from mimo_core.models import (
    INPUT_LAYOUTS,
    ReferenceNet,
    TemporalConvIn,
    VideoUNet,
    collapse_conv_in,
    fit_conv_in,
    inflate_conv_in,
    input_layout,
)
from mimo_core.models.run_state import VideoRunState

B, F, H, W = 2, 3, 8, 8
C0 = TINY_UNET["block_out_channels"][0]


def _inputs(in_channels: int, seed: int = 1, batch: int = B, frames: int = F):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, in_channels, frames, H, W, generator=g)
    context = torch.randn(batch, 1, TINY_UNET["cross_attention_dim"], generator=g)
    return sample, torch.tensor([10, 500][:batch]), context


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].shape == sb[key].shape and torch.equal(sa[key], sb[key]), key


def _video3d(seed: int = 5, in_channels: int = 12, motion=TINY_MOTION) -> VideoUNet:
    return randomize_(
        VideoUNet(dict(TINY_UNET, in_channels=in_channels), motion, conv_in_kind="3d"), seed
    ).eval()


@pytest.fixture(scope="module")
def unet2d() -> UNet2DConditionModel:
    return randomize_(UNet2DConditionModel(**TINY_UNET), seed=3).eval()


# ---- the conv ----------------------------------------------------------------------------------------------
def test_temporal_conv_in_is_a_3d_conv_over_the_frames_of_each_video():
    state = VideoRunState(num_frames=F)
    conv = randomize_(TemporalConvIn(12, C0, 3, state), seed=1)
    assert conv.weight.shape == (C0, 12, 3, 3, 3) and conv.padding == (1, 1, 1)
    video = torch.randn(B, 12, F, H, W)
    expected = torch.nn.functional.conv3d(video, conv.weight, conv.bias, padding=1)
    folded = video.transpose(1, 2).reshape(B * F, 12, H, W)
    with torch.no_grad():
        out = conv(folded)
        torch.testing.assert_close(conv(video), expected)
    torch.testing.assert_close(out.reshape(B, F, C0, H, W).transpose(1, 2), expected)
    with pytest.raises(ValueError, match="F=3"):
        conv(folded[:4])


def test_trained_3d_conv_in_mixes_neighbouring_frames_only():
    video = _video3d()
    sample, t, ctx = _inputs(12)
    changed = sample.clone()
    changed[:, 8:, 2] += 1.0  # occlusion latents of the last frame
    with torch.no_grad():
        base = video(sample, t, ctx, use_motion_modules=False)
        moved = video(changed, t, ctx, use_motion_modules=False)
    torch.testing.assert_close(moved[:, :, 0], base[:, :, 0])  # two frames away: untouched
    assert (moved[:, :, 1] - base[:, :, 1]).abs().max() > 1e-4  # neighbour: fused by the 3D conv
    assert (moved[:, :, 2] - base[:, :, 2]).abs().max() > 1e-4


def test_3d_conv_in_learns_across_frames_from_its_zero_init(unet2d):
    video = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION, conv_in_kind="3d")
    video.load_unet2d_state_dict(unet2d.state_dict())
    video.enable_gradient_checkpointing()
    sample, t, ctx = _inputs(12)
    video(sample, t, ctx).square().mean().backward()
    grad = video.conv_in.weight.grad
    assert grad is not None and grad[:, :, 0].abs().max() > 0 and grad[:, 8:].abs().max() > 0


def test_new_3d_unet_starts_as_its_2d_twin():
    torch.manual_seed(7)
    video2d = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION).eval()
    torch.manual_seed(7)
    video3d = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION, conv_in_kind="3d").eval()
    assert torch.equal(video3d.conv_in.weight[:, :, 1], video2d.conv_in.weight)
    sample, t, ctx = _inputs(12)
    with torch.no_grad():
        torch.testing.assert_close(video3d(sample, t, ctx), video2d(sample, t, ctx), atol=1e-5, rtol=1e-4)


def test_deepcopy_and_reduced_precision_keep_the_frame_count():
    video = _video3d(seed=8)
    twin = copy.deepcopy(video)
    assert twin.conv_in.run_state is twin.run_state and twin.run_state is not video.run_state
    sample, t, ctx = _inputs(12)
    with torch.no_grad():
        expected = video(sample, t, ctx)
        twin(sample[:1, :, :2], t[:1], ctx[:1])  # a different frame count on the copy
        torch.testing.assert_close(video(sample, t, ctx), expected)
        low = twin.to(torch.bfloat16)(sample.bfloat16(), t, ctx.bfloat16())
    assert low.dtype == torch.bfloat16 and torch.isfinite(low.float()).all()


# ---- weight fitting ---------------------------------------------------------------------------------------
def test_fit_inflate_and_collapse_conv_in():
    weight = torch.randn(8, 4, 3, 3)
    inflated = inflate_conv_in(weight, 12)
    assert inflated.shape == (8, 12, 3, 3, 3)
    assert torch.equal(inflated[:, :4, 1], weight) and torch.count_nonzero(inflated) == torch.count_nonzero(
        weight
    )
    assert torch.equal(inflate_conv_in(inflated, 12), inflated)
    assert torch.equal(collapse_conv_in(inflated)[:, :4], weight)
    assert torch.equal(fit_conv_in(inflated, 12, "2d")[:, :4], weight)
    assert torch.equal(fit_conv_in(weight, 12, "3d"), inflated)
    trained = inflated.clone()
    trained[0, 0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="conv_in_kind='3d'"):
        fit_conv_in(trained, 12, "2d")
    with pytest.raises(ValueError, match="temporal size"):
        inflate_conv_in(torch.randn(8, 4, 5, 3, 3), 12)
    with pytest.raises(ValueError, match="conv_in_kind"):
        fit_conv_in(weight, 12, "4d")
    with pytest.raises(ValueError, match="conv_in_kind"):
        VideoUNet(TINY_UNET, None, conv_in_kind="temporal")


def test_input_layouts():
    assert input_layout("paper") == {"in_channels": 12, "conv_in_kind": "3d"}
    assert input_layout("mimo_release") == {"in_channels": 8, "conv_in_kind": "2d"}
    assert INPUT_LAYOUTS["moore"]["conv_in_kind"] == "2d"
    with pytest.raises(ValueError, match="paper"):
        input_layout("nonsense")


def test_2d_pack_weights_load_into_the_3d_conv(unet2d):
    """A 2D VideoUNet's state dict (4-D conv_in, 8 channels) loads into a 12-channel 3D one, same outputs."""
    video2d = randomize_(VideoUNet(dict(TINY_UNET, in_channels=8), TINY_MOTION), seed=9).eval()
    video3d = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION, conv_in_kind="3d").eval()
    video3d.load_unet2d_state_dict(video2d.state_dict())
    built = build_video_unet(
        video2d.state_dict(),
        unet_config=TINY_UNET,
        in_channels=12,
        conv_in_kind="3d",
        motion_config=TINY_MOTION,
    ).eval()
    assert built.conv_in_kind == "3d" and isinstance(built.conv_in, TemporalConvIn)
    _same_state(video3d, built)
    sample, t, ctx = _inputs(12)
    with torch.no_grad():
        expected = video2d(sample[:, :8], t, ctx)
        torch.testing.assert_close(video3d(sample, t, ctx), expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(built(sample, t, ctx), expected, atol=1e-5, rtol=1e-4)


def test_build_video_unet_keeps_a_3d_file_3d_and_refuses_it_in_2d():
    video = _video3d(seed=10)
    rebuilt = build_video_unet(video.state_dict(), unet_config=TINY_UNET, motion_config=TINY_MOTION).eval()
    assert rebuilt.conv_in_kind == "3d"
    _same_state(video, rebuilt)
    with pytest.raises(ValueError, match="conv_in_kind='3d'"):
        build_video_unet(video.state_dict(), unet_config=TINY_UNET, conv_in_kind="2d")
    with pytest.raises(ValueError, match="conv_in_kind='3d'"):
        VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION).load_unet2d_state_dict(video.state_dict())


# ---- SD1.5 start point (zero-init property) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sd15_folder(tmp_path_factory, unet2d):
    folder = tmp_path_factory.mktemp("sd15") / "unet"
    unet2d.save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.mark.parametrize("with_motion_file", [False, True], ids=["motion_config", "motion_file"])
def test_3d_video_unet_from_sd15_equals_the_image_unet_frame_by_frame(
    tmp_path, unet2d, sd15_folder, with_motion_file
):
    motion = replace(TINY_MOTION, zero_initialize=True)
    motion_file = None
    if with_motion_file:
        donor = VideoUNet(TINY_UNET, motion)  # zero-initialised motion modules, as AnimateDiff's start
        motion_file = tmp_path / "mm.ckpt"
        torch.save({"state_dict": donor.motion_state_dict()}, motion_file)
    video = video_unet_from_sd15(
        sd15_folder, motion_file, motion_config=motion, **input_layout("paper")
    ).eval()
    assert isinstance(video.conv_in, TemporalConvIn) and video.conv_in.in_channels == 12
    sample, t, ctx = _inputs(12, seed=22)
    sample[:, 4:] = 0  # zero scene / occlusion latents
    pose = torch.zeros(B, C0, F, H, W)
    with torch.no_grad():
        actual = video(sample, t, ctx, pose_features=pose)
        expected = torch.stack(
            [unet2d(sample[:, :4, f], t, ctx, return_dict=False)[0] for f in range(F)], dim=2
        )
        posed = video(sample, t, ctx, pose_features=torch.ones_like(pose))
    assert (expected[:, :, 0] - expected[:, :, 1]).abs().max() > 1e-3
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)
    assert (posed - actual).abs().max() > 1e-3


# ---- pack format ----------------------------------------------------------------------------------------------
def test_pack_round_trip_3d_video_unet(tmp_path):
    video = _video3d(seed=11)
    path = tmp_path / "unet3d.safetensors"
    save_model(video, path, "video_unet", video.video_config())
    kind, config = read_header(path)
    assert kind == "video_unet" and config["conv_in_kind"] == "3d" and config["unet"]["in_channels"] == 12
    assert "conv_in_kind" not in config["unet"]  # the 2D UNet config stays a plain diffusers config
    loaded = load_model(path)
    assert isinstance(loaded, VideoUNet) and isinstance(loaded.conv_in, TemporalConvIn)
    assert not any(p.is_meta for p in loaded.parameters())
    _same_state(video, loaded)
    reference = randomize_(ReferenceNet(**TINY_UNET), seed=2).eval()
    g = torch.Generator().manual_seed(4)
    sample = torch.randn(1, 12, F, H, W, generator=g)
    ctx = torch.randn(1, 1, TINY_UNET["cross_attention_dim"], generator=g)
    pose = torch.randn(1, C0, F, H, W, generator=g)
    with torch.no_grad():
        features = reference.encode(torch.randn(1, 4, H, W, generator=g), ctx)
        torch.testing.assert_close(
            loaded(sample, 100, ctx, pose_features=pose, reference=features),
            video(sample, 100, ctx, pose_features=pose, reference=features),
        )


def test_configs_without_conv_in_kind_stay_2d():
    video = VideoUNet(dict(TINY_UNET, in_channels=8), None)
    config = video.video_config()
    assert config["conv_in_kind"] == "2d"
    del config["conv_in_kind"]  # files written before the option existed
    rebuilt = VideoUNet.from_video_config(config)
    assert rebuilt.conv_in_kind == "2d" and type(rebuilt.conv_in) is torch.nn.Conv2d


# ---- whole pipeline -------------------------------------------------------------------------------------------
def _smooth_video(frames: int, seed: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(frames, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear").permute(0, 2, 3, 1)


def test_pipeline_runs_and_saves_a_3d_conv_in(tmp_path):
    """A 12-channel pipeline with the 3D fusion conv: same frames as its 2D twin until trained, saved as 3D."""
    from mimo_core.pipeline import load_pipeline, save_pipeline
    from scripts.make_tiny_mimo import build_tiny_pipeline

    pipeline = build_tiny_pipeline(in_channels=12, seed=0)
    unet3d = VideoUNet(pipeline.unet.unet_config, pipeline.unet.motion_config, conv_in_kind="3d").eval()
    unet3d.load_unet2d_state_dict(pipeline.unet.state_dict())
    inputs = (_smooth_video(1, 1)[0], _smooth_video(4, 2), _smooth_video(4, 3), _smooth_video(4, 4))
    options = dict(occlusion_mask=_smooth_video(4, 5)[..., 0] > 0.5, steps=2, window=3, overlap=1, seed=5)
    frames2d = pipeline.generate(*inputs, **options)
    pipeline.unet = unet3d
    torch.testing.assert_close(pipeline.generate(*inputs, **options), frames2d, rtol=0, atol=1e-6)
    with torch.no_grad():
        unet3d.conv_in.weight[:, 4:, 0] += (
            0.05  # a trained fusion conv: scene/occlusion of the previous frame
        )
    trained = pipeline.generate(*inputs, **options)
    assert (trained - frames2d).abs().max() > 1e-3
    loaded = load_pipeline(save_pipeline(pipeline, tmp_path / "paper3d"))
    assert isinstance(loaded.unet.conv_in, TemporalConvIn) and loaded.unet.conv_in_kind == "3d"
    saved, restored = pipeline.unet.state_dict(), loaded.unet.state_dict()
    assert saved.keys() == restored.keys() and all(torch.equal(saved[k], restored[k]) for k in saved)
    # Loaded weights may sit at other memory alignments, and some CPUs' kernels then round
    # differently (a few 1e-6): the weights are compared exactly, the frames within 2e-5.
    torch.testing.assert_close(loaded.generate(*inputs, **options), trained, rtol=0, atol=2e-5)
