"""Chunked VAE encode/decode equals one-shot; fit_to_multiple round trips."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL

from mimo_core.pipeline.vae import decode_video, encode_video, fit_to_multiple, restore_size, vae_downscale


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    model = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
        norm_num_groups=4, layers_per_block=1, sample_size=32,
    )
    return model.eval()


@pytest.fixture(scope="module")
def frames():
    return torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(1))


def test_encode_shape_scale_and_chunking(vae, frames):
    assert vae_downscale(vae) == 2
    calls = []
    chunked = encode_video(vae, frames, chunk_size=2, progress=lambda d, n: calls.append((d, n)))
    whole = encode_video(vae, frames, chunk_size=100)
    assert chunked.shape == (1, 4, 5, 16, 16) and chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    with torch.no_grad():
        one = vae.encode(frames[3:4].permute(0, 3, 1, 2) * 2 - 1).latent_dist.mean * vae.config.scaling_factor
    torch.testing.assert_close(chunked[0, :, 3], one[0], atol=1e-5, rtol=1e-5)


def test_decode_chunked_equals_whole_and_range(vae, frames):
    latents = encode_video(vae, frames)
    chunked = decode_video(vae, latents, chunk_size=3)
    whole = decode_video(vae, latents[0], chunk_size=5)
    assert chunked.shape == (5, 32, 32, 3)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    assert float(chunked.min()) >= 0 and float(chunked.max()) <= 1
    with torch.no_grad():
        ref = vae.decode(latents[0, :, 1:2].permute(1, 0, 2, 3) / vae.config.scaling_factor).sample
    torch.testing.assert_close(chunked[1], ((ref[0] + 1) / 2).clamp(0, 1).permute(1, 2, 0), atol=1e-5, rtol=1e-5)


def test_half_precision_vae_returns_float32(vae, frames):
    half = AutoencoderKL.from_config(vae.config).to(torch.bfloat16)
    half.load_state_dict(vae.state_dict())
    lat = encode_video(half, frames[:2])
    assert lat.dtype == torch.float32
    torch.testing.assert_close(lat, encode_video(vae, frames[:2]), atol=0.1, rtol=0.05)
    assert decode_video(half, lat).dtype == torch.float32


def test_bad_inputs_are_named(vae):
    with pytest.raises(ValueError, match="multiple of the VAE factor"):
        encode_video(vae, torch.rand(1, 31, 32, 3))
    with pytest.raises(ValueError, match=r"\[T,H,W,3\]"):
        encode_video(vae, torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="batch 1"):
        decode_video(vae, torch.zeros(2, 4, 1, 16, 16))


def test_fit_pad_round_trip_is_exact():
    x = torch.rand(2, 37, 50, 3)
    fitted, info = fit_to_multiple(x, 8, "pad")
    assert fitted.shape == (2, 40, 56, 3)
    torch.testing.assert_close(fitted[:, 36:, :50], x[:, 36:37].expand(-1, 4, -1, -1))
    assert torch.equal(restore_size(fitted, info), x)


def test_fit_crop_is_centred_and_restores_size():
    x = torch.rand(1, 70, 67, 3)
    fitted, info = fit_to_multiple(x, 64, "crop")
    assert fitted.shape == (1, 64, 64, 3)
    assert torch.equal(fitted, x[:, 3:67, 1:65])
    back = restore_size(fitted, info)
    assert back.shape == x.shape
    assert torch.equal(back[:, 3:67, 1:65], fitted)
    with pytest.raises(ValueError, match="smaller than multiple"):
        fit_to_multiple(torch.rand(1, 30, 80, 3), 64, "crop")


def test_fit_uint8_and_noop():
    x = torch.randint(0, 255, (1, 16, 16, 3), dtype=torch.uint8)
    same, info = fit_to_multiple(x, 8)
    assert same is x and restore_size(same, info).shape == x.shape
    padded, _ = fit_to_multiple(x[:, :15], 8)
    assert padded.dtype == torch.uint8 and padded.shape == (1, 16, 16, 3)
