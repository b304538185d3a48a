"""VideoUNet behaviour on a tiny config: per-frame equivalence, temporal mixing, conv_in expansion
(2D, and the paper's 3D fusion conv), pose residual, gradient checkpointing, reduced precision, input
validation."""

from __future__ import annotations

import pytest
import torch
from _mimo_tiny import TINY_MOTION, TINY_UNET, randomize_
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

from mimo_core.models.temporal import MotionModule, MotionModuleConfig
from mimo_core.models.video_unet import VideoUNet, expand_conv_in, split_motion_state_dict

B, F, H, W = 2, 3, 8, 8


def _inputs(in_channels: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(B, in_channels, F, H, W, generator=g)
    context = torch.randn(B, 1, TINY_UNET["cross_attention_dim"], generator=g)
    return sample, torch.tensor([10, 500]), context


def _per_frame_2d(unet2d, sample, timestep, context):
    outs = []
    for f in range(sample.shape[2]):
        outs.append(unet2d(sample[:, :, f], timestep, context, return_dict=False)[0])
    return torch.stack(outs, dim=2)


@pytest.fixture(scope="module")
def unet2d() -> UNet2DConditionModel:
    return randomize_(UNet2DConditionModel(**TINY_UNET), seed=3).eval()


def test_zero_initialised_motion_modules_keep_the_image_model(unet2d):
    video = VideoUNet(TINY_UNET, TINY_MOTION).eval()
    video.load_unet2d_state_dict(unet2d.state_dict())
    sample, t, ctx = _inputs()
    with torch.no_grad():
        expected = _per_frame_2d(unet2d, sample, t, ctx)
        actual = video(sample, t, ctx)
    assert actual.shape == (B, 4, F, H, W)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_motion_modules_mix_frames_only_when_enabled():
    video = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=4).eval()
    sample, t, ctx = _inputs()
    changed = sample.clone()
    changed[:, :, 2] += 1.0
    with torch.no_grad():
        base, moved = video(sample, t, ctx), video(changed, t, ctx)
        base_2d, moved_2d = (video(x, t, ctx, use_motion_modules=False) for x in (sample, changed))
    assert (moved[:, :, 0] - base[:, :, 0]).abs().max() > 1e-4
    torch.testing.assert_close(moved_2d[:, :, 0], base_2d[:, :, 0])
    assert (moved_2d[:, :, 2] - base_2d[:, :, 2]).abs().max() > 1e-4


def test_expanded_conv_in_ignores_extra_channels_until_trained(unet2d):
    video4 = VideoUNet(TINY_UNET, TINY_MOTION).eval()
    video4.load_unet2d_state_dict(unet2d.state_dict())
    video12 = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION).eval()
    video12.load_unet2d_state_dict(unet2d.state_dict())
    assert video12.conv_in.weight.shape[1] == 12
    assert torch.count_nonzero(video12.conv_in.weight[:, 4:]) == 0
    sample, t, ctx = _inputs(in_channels=12)
    with torch.no_grad():
        torch.testing.assert_close(video12(sample, t, ctx), video4(sample[:, :4], t, ctx))


def test_zero_initialised_3d_conv_in_keeps_the_image_model(unet2d):
    """SD1.5 weights in a 12-channel 3D conv_in, zero scene/occlusion latents: the 2D UNet frame by frame."""
    video = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION, conv_in_kind="3d").eval()
    video.load_unet2d_state_dict(unet2d.state_dict())
    sample, t, ctx = _inputs()
    padded = torch.cat([sample, torch.zeros(B, 8, F, H, W)], dim=1)
    with torch.no_grad():
        expected = _per_frame_2d(unet2d, sample, t, ctx)
        actual = video(padded, t, ctx)
    assert (expected[:, :, 0] - expected[:, :, 1]).abs().max() > 1e-3  # frames differ: not vacuous
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_expanded_3d_conv_in_ignores_extra_channels_and_neighbours_until_trained(unet2d):
    video4 = VideoUNet(TINY_UNET, TINY_MOTION).eval()
    video4.load_unet2d_state_dict(unet2d.state_dict())
    video12 = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION, conv_in_kind="3d").eval()
    video12.load_unet2d_state_dict(unet2d.state_dict())
    weight = video12.conv_in.weight
    assert weight.shape == (TINY_UNET["block_out_channels"][0], 12, 3, 3, 3)
    assert torch.equal(weight[:, :4, 1], unet2d.conv_in.weight)
    assert torch.count_nonzero(weight[:, 4:]) == 0
    assert torch.count_nonzero(weight[:, :, 0]) == 0 and torch.count_nonzero(weight[:, :, 2]) == 0
    assert torch.equal(video12.conv_in.bias, unet2d.conv_in.bias)
    sample, t, ctx = _inputs(in_channels=12)
    with torch.no_grad():
        torch.testing.assert_close(video12(sample, t, ctx), video4(sample[:, :4], t, ctx))


def test_3d_conv_in_pose_features_are_added_after_conv_in(unet2d):
    video2d = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION).eval()
    video2d.load_unet2d_state_dict(unet2d.state_dict())
    video3d = VideoUNet(dict(TINY_UNET, in_channels=12), TINY_MOTION, conv_in_kind="3d").eval()
    video3d.load_unet2d_state_dict(unet2d.state_dict())
    sample, t, ctx = _inputs(in_channels=12)
    pose = torch.randn(B, TINY_UNET["block_out_channels"][0], F, H, W)
    with torch.no_grad():
        posed = video3d(sample, t, ctx, pose_features=pose)
        torch.testing.assert_close(posed, video2d(sample, t, ctx, pose_features=pose), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(
            video3d(sample, t, ctx, pose_features=torch.zeros_like(pose)), video3d(sample, t, ctx)
        )
    assert (posed - video3d(sample, t, ctx)).abs().max() > 1e-3


def test_expand_conv_in_validates():
    weight = torch.randn(8, 4, 3, 3)
    assert expand_conv_in(weight, 4) is weight
    grown = expand_conv_in(weight, 8)
    assert torch.equal(grown[:, :4], weight) and torch.count_nonzero(grown[:, 4:]) == 0
    with pytest.raises(ValueError, match="cannot shrink"):
        expand_conv_in(weight, 3)
    with pytest.raises(ValueError, match=r"\[O, I, k, k\]"):
        expand_conv_in(torch.randn(8, 4), 8)


def test_pose_features_are_added_after_conv_in(unet2d):
    video = VideoUNet(TINY_UNET, TINY_MOTION).eval()
    video.load_unet2d_state_dict(unet2d.state_dict())
    sample, t, ctx = _inputs()
    pose = torch.randn(B, TINY_UNET["block_out_channels"][0], F, H, W)
    captured = {}
    handle = unet2d.conv_in.register_forward_hook(lambda m, a, out: out + captured["pose"])
    try:
        outs = []
        for f in range(F):
            captured["pose"] = pose[:, :, f]
            outs.append(unet2d(sample[:, :, f], t, ctx, return_dict=False)[0])
    finally:
        handle.remove()
    with torch.no_grad():
        actual = video(sample, t, ctx, pose_features=pose)
        zero_pose = video(sample, t, ctx, pose_features=torch.zeros_like(pose))
        no_pose = video(sample, t, ctx)
    torch.testing.assert_close(actual, torch.stack(outs, 2).detach(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(zero_pose, no_pose)
    with pytest.raises(ValueError, match="pose_features"):
        video(sample, t, ctx, pose_features=pose[:, :, :2])


def test_gradient_checkpointing_gives_the_same_gradients():
    sample, t, ctx = _inputs()
    grads = []
    for checkpointing in (False, True):
        video = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=5)
        if checkpointing:
            video.enable_gradient_checkpointing()
            assert all(m.gradient_checkpointing for m in video.modules() if isinstance(m, MotionModule))
        video(sample, t, ctx).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in video.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert any("motion_modules" in n for n in grads[0])
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_runs(dtype):
    video = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=6).eval()
    sample, t, ctx = _inputs()
    with torch.no_grad():
        reference = video(sample, t, ctx)
        low = video.to(dtype)(sample.to(dtype), t, ctx.to(dtype))
    assert low.dtype == dtype
    assert torch.isfinite(low.float()).all()
    assert (low.float() - reference).abs().max() < 0.1 * reference.abs().max() + 0.05


def test_input_validation():
    video = VideoUNet(TINY_UNET, TINY_MOTION).eval()
    sample, t, ctx = _inputs()
    with pytest.raises(ValueError, match=r"\[B, C, F, H, W\]"):
        video(sample[:, :, 0], t, ctx)
    with pytest.raises(ValueError, match="input channels"):
        video(torch.randn(B, 8, F, H, W), t, ctx)
    with pytest.raises(ValueError, match="context windows"):
        video(torch.randn(1, 4, TINY_MOTION.max_frames + 1, 8, 8), 1, ctx[:1])
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        video(sample, t, ctx[:1])


def test_image_model_without_motion_modules_and_split():
    video = VideoUNet(TINY_UNET, None)
    assert not any("motion_modules" in k for k in video.state_dict())
    full = VideoUNet(TINY_UNET, TINY_MOTION)
    spatial, motion = split_motion_state_dict(full.state_dict())
    assert set(spatial) == set(video.state_dict())
    assert set(motion) == set(full.motion_state_dict()) and motion
    assert set(full.spatial_state_dict()) == set(spatial)


def test_motion_config_round_trip():
    config = MotionModuleConfig(num_attention_heads=4, resolutions=(1, 2), mid_block=False)
    assert MotionModuleConfig.from_dict(config.to_dict()) == config
    with pytest.raises(TypeError, match="unknown keys"):
        MotionModuleConfig.from_dict({"heads": 3})
    restricted = VideoUNet(
        TINY_UNET,
        MotionModuleConfig(num_attention_heads=2, norm_num_groups=8, resolutions=(2,), mid_block=False),
    )
    keys = restricted.motion_state_dict()
    assert keys and all(k.startswith(("down_blocks.1.", "up_blocks.0.")) for k in keys)


def test_deepcopy_gets_its_own_hooks_and_state():
    import copy

    video = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=12).eval()
    twin = copy.deepcopy(video)
    assert twin.run_state is not video.run_state
    with torch.no_grad():
        for name, param in twin.named_parameters():
            if "motion_modules" in name and "proj_out" in name:
                param.zero_()
    sample, t, ctx = _inputs()
    with torch.no_grad():
        original = video(sample, t, ctx)
        per_frame = twin(sample, t, ctx)
        twin_2d = twin(sample, t, ctx, use_motion_modules=False)
        again = video(sample, t, ctx)
    torch.testing.assert_close(per_frame, twin_2d)
    torch.testing.assert_close(again, original)
    assert (original - per_frame).abs().max() > 1e-4
