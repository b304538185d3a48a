"""CLIP preprocessing / embedding and the ReferenceNet feature cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_video

from mimo_core.identity import (
    Identity,
    clip_image_embeds,
    clip_preprocess,
    encode_identity,
    load_image_encoder,
)


def test_clip_preprocess_matches_the_transformers_processor():
    from transformers import CLIPImageProcessor

    image = smooth_video(1, 200, 300, seed=3)[0]
    u8 = (image * 255).round().to(torch.uint8).numpy()
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    expected = torch.from_numpy(processor(images=u8, return_tensors="np")["pixel_values"])
    ours = clip_preprocess(torch.from_numpy(u8).float()[None] / 255)
    assert ours.shape == expected.shape == (1, 3, 224, 224)
    # PIL and torch bicubic differ by a fraction of a grey level
    assert (ours - expected).abs().mean() < 0.01
    assert (ours - expected).abs().max() < 0.05


def test_clip_preprocess_rejects_channels_first():
    with pytest.raises(ValueError, match=r"\[B,H,W,3\]"):
        clip_preprocess(torch.rand(1, 3, 32, 32))


def test_image_embeds_are_one_projected_token(tiny8):
    embeds = clip_image_embeds(tiny8.image_encoder, torch.rand(2, 40, 30, 3))
    assert embeds.shape == (2, 1, tiny8.unet.config.cross_attention_dim)
    assert torch.isfinite(embeds).all()


def test_identity_caches_reference_features_per_size(tiny8):
    identity = encode_identity(tiny8.image_encoder, torch.rand(1, 40, 30, 3))
    assert identity.image.shape == (40, 30, 3) and identity.clip_embeds.shape == (1, 1, 32)
    first = identity.reference_features(tiny8.vae, tiny8.reference_net, 32, 16)
    assert identity.reference_features(tiny8.vae, tiny8.reference_net, 32, 16) is first
    # one [1, L, C] entry per self-attention layer, L = tokens at its resolution: latent 4x2, mid block 2x1
    assert first.batch_size == 1
    assert {v.shape[1] for v in first.features.values()} == {4 * 2, 2 * 1}
    other = identity.reference_features(tiny8.vae, tiny8.reference_net, 48, 32)
    assert {v.shape[1] for v in other.features.values()} == {6 * 4, 3 * 2}


def test_identity_rejects_bad_shapes():
    with pytest.raises(ValueError, match="clip_embeds"):
        Identity(image=torch.rand(8, 8, 3), clip_embeds=torch.rand(1, 32))


def test_image_encoder_folder_round_trip(tiny8, tmp_path):
    tiny8.image_encoder.save_pretrained(str(tmp_path / "image_encoder"), safe_serialization=True)
    loaded = load_image_encoder(tmp_path)  # the root holding image_encoder/ works too
    image = torch.rand(1, 32, 32, 3)
    np.testing.assert_array_equal(clip_image_embeds(loaded, image), clip_image_embeds(tiny8.image_encoder, image))
    with pytest.raises(FileNotFoundError, match="CLIPVisionModelWithProjection"):
        load_image_encoder(tmp_path / "nothing")
