"""Reference attention: ReferenceNet writes, the video UNet reads (Moore semantics, CFG masking)."""

from __future__ import annotations

import pytest
import torch
from _mimo_tiny import TINY_MOTION, TINY_UNET, randomize_
from diffusers.models.attention_processor import Attention

from mimo_core.models.reference import (
    ReferenceFeatures,
    ReferenceNet,
    ReferenceReadProcessor,
    cfg_reference_mask,
    self_attention_paths,
)
from mimo_core.models.run_state import VideoRunState
from mimo_core.models.video_unet import VideoUNet

B, F, H, W = 2, 2, 8, 8


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    video = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=7).eval()
    reference = randomize_(ReferenceNet(**TINY_UNET), seed=8).eval()
    return video, reference


def _inputs(seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, 4, F, H, W, generator=g),
        torch.tensor(300),
        torch.randn(B, 1, TINY_UNET["cross_attention_dim"], generator=g),
        torch.randn(B, 4, H, W, generator=g),
    )


def test_reference_net_records_every_self_attention_input(nets):
    video, reference = nets
    _, _, ctx, ref_latents = _inputs()
    with torch.no_grad():
        features = reference.encode(ref_latents, ctx)
    assert (
        sorted(features.features)
        == sorted(self_attention_paths(video))
        == sorted(self_attention_paths(reference))
    )
    first = features.features["down_blocks.0.attentions.0.transformer_blocks.0.attn1"]
    assert first.shape == (B, H * W, TINY_UNET["block_out_channels"][0])
    assert features.batch_size == B
    assert not any(k.startswith(("conv_out.", "conv_norm_out.")) for k in reference.state_dict())


def test_read_processor_attends_over_own_and_reference_tokens():
    attn = Attention(query_dim=8, heads=2, dim_head=4, bias=False)
    state = VideoRunState(num_frames=3)
    hidden = torch.randn(2 * 3, 5, 8)
    ref = torch.randn(2, 4, 8)
    state.reference = ReferenceFeatures({"blk.attn1": ref})
    attn.set_processor(ReferenceReadProcessor("blk.attn1", state))
    actual = attn(hidden)

    def manual(tokens: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        kv = torch.cat([tokens, extra], dim=0)
        q, k, v = attn.to_q(tokens), attn.to_k(kv), attn.to_v(kv)
        q, k, v = (x.view(x.shape[0], 2, 4).transpose(0, 1) for x in (q, k, v))
        weights = torch.softmax(q @ k.transpose(1, 2) / 2.0, dim=-1)
        return attn.to_out[0]((weights @ v).transpose(0, 1).reshape(tokens.shape[0], 8))

    expected = torch.stack([manual(hidden[i], ref[i // 3]) for i in range(6)])
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)


def test_reference_changes_output_and_mask_drops_it(nets):
    video, reference = nets
    sample, t, ctx, ref_latents = _inputs()
    with torch.no_grad():
        features = reference.encode(ref_latents, ctx)
        plain = video(sample, t, ctx)
        with_ref = video(sample, t, ctx, reference=features)
        masked = video(sample, t, ctx, reference=features, reference_mask=torch.tensor([False, True]))
    assert (with_ref - plain).abs().amax(dim=(1, 2, 3, 4)).min() > 1e-4
    torch.testing.assert_close(masked[0], plain[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(masked[1], with_ref[1], atol=1e-5, rtol=1e-4)


def test_cfg_batch_matches_separate_moore_style_calls(nets):
    """[uncond; cond] in one call = uncond (zero CLIP, no reference) and cond (CLIP + reference) apart."""
    video, reference = nets
    sample, t, ctx, ref_latents = _inputs()
    sample, ctx, ref_latents = sample[:1], ctx[:1], ref_latents[:1]
    with torch.no_grad():
        features = reference.encode(ref_latents, ctx)
        uncond = video(sample, t, torch.zeros_like(ctx))
        cond = video(sample, t, ctx, reference=features)
        both = video(
            sample.repeat(2, 1, 1, 1, 1),
            t,
            torch.cat([torch.zeros_like(ctx), ctx]),
            reference=features,
            reference_mask=cfg_reference_mask(1),
        )
    torch.testing.assert_close(both[:1], uncond, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(both[1:], cond, atol=1e-5, rtol=1e-4)


def test_single_reference_broadcasts_and_bad_batch_fails(nets):
    video, reference = nets
    sample, t, ctx, ref_latents = _inputs()
    with torch.no_grad():
        one = reference.encode(ref_latents[:1], ctx[:1])
        broadcast = video(sample, t, ctx, reference=one)
        tiled = video(sample, t, ctx, reference=one.repeat(2))
        torch.testing.assert_close(broadcast, tiled)
        three = one.repeat(3)
        with pytest.raises(ValueError, match="reference features hold 3 images"):
            video(sample, t, ctx, reference=three)


def test_reference_gradients_reach_reference_net_with_checkpointing():
    video = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=9)
    reference = randomize_(ReferenceNet(**TINY_UNET), seed=10)
    video.enable_gradient_checkpointing()
    reference.enable_gradient_checkpointing()
    sample, t, ctx, ref_latents = _inputs()
    features = reference.encode(ref_latents, ctx)
    video(sample, t, ctx, reference=features).square().mean().backward()
    grad = reference.down_blocks[0].attentions[0].transformer_blocks[0].norm1.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_reference_net_loads_sd15_state_dict_without_head(nets):
    _, reference = nets
    full = dict(reference.state_dict())
    full["conv_out.weight"] = torch.zeros(4, 32, 3, 3)
    full["conv_norm_out.weight"] = torch.ones(32)
    other = ReferenceNet(**TINY_UNET)
    other.load_state_dict(full)
    assert torch.equal(other.conv_in.weight, reference.conv_in.weight)
