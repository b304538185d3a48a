"""Saving / loading whole pipelines: the pack's folder format and the official release layout."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import smooth_video

from mimo_core.pipeline import load_official_pipeline, load_pipeline, load_pipeline_any, save_pipeline
from scripts.make_tiny_mimo import TINY_MOTION, TINY_UNET


def generate(pipeline):
    return pipeline.generate(smooth_video(1, 32, 32, 1)[0], smooth_video(3, 32, 32, 2), smooth_video(3, 32, 32, 3),
                             steps=2, window=3, seed=5)


@pytest.fixture(scope="module")
def expected(tiny8):
    return generate(tiny8)


# Weights loaded from a file may sit at other memory alignments than freshly built ones, and
# some CPUs' kernels then round differently: the same weights give frames that differ by a few
# 1e-6. Loading is checked exactly on the weights, and the frames within this tolerance.
FRAME_TOLERANCE = 2e-5


def assert_same_weights(a, b):
    for name in ("vae", "image_encoder", "reference_net", "unet", "pose_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert sa.keys() == sb.keys(), name
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{name}.{key}"


def test_pack_format_round_trip_gives_the_same_weights_and_frames(tiny8, expected, tmp_path):
    folder = save_pipeline(tiny8, tmp_path / "tiny")
    description = json.loads((folder / "pipeline.json").read_text())
    assert description["format"] == "mimo-pipeline" and description["in_channels"] == 8
    assert sorted(p.name for p in folder.iterdir()) == [
        "image_encoder", "pipeline.json", "pose_encoder.safetensors", "reference_net.safetensors",
        "vae.safetensors", "video_unet.safetensors"]
    loaded = load_pipeline_any(folder)
    assert loaded.in_channels == 8 and loaded.sampler == tiny8.sampler
    assert_same_weights(loaded, tiny8)
    torch.testing.assert_close(generate(loaded), expected, rtol=0, atol=FRAME_TOLERANCE)


def test_missing_component_is_named(tiny8, tmp_path):
    folder = save_pipeline(tiny8, tmp_path / "tiny")
    (folder / "pose_encoder.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="pose_encoder.safetensors"):
        load_pipeline(folder)
    with pytest.raises(FileNotFoundError, match=r"pipeline\.json.*denoising_unet\.pth"):
        load_pipeline_any(tmp_path)


def write_official_layout(pipeline, root):
    """The release's files: .pth state dicts + diffusers VAE + transformers image encoder + unet config."""
    weights = root / "pretrained_weights" / "mimo"
    weights.mkdir(parents=True)
    torch.save(pipeline.unet.spatial_state_dict(), weights / "denoising_unet.pth")
    torch.save(pipeline.unet.motion_state_dict(), weights / "motion_module.pth")
    torch.save(pipeline.reference_net.state_dict(), weights / "reference_unet.pth")
    torch.save(pipeline.pose_encoder.state_dict(), weights / "pose_guider.pth")
    pipeline.vae.save_pretrained(str(root / "pretrained_weights" / "sd-vae-ft-mse"))
    pipeline.image_encoder.save_pretrained(str(root / "pretrained_weights" / "image_encoder"))
    unet_dir = root / "pretrained_weights" / "stable-diffusion-v1-5" / "unet"
    unet_dir.mkdir(parents=True)
    (unet_dir / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel", **TINY_UNET}))
    return weights


def test_official_layout_loads_and_generates_the_same(tiny8, expected, tmp_path):
    weights = write_official_layout(tiny8, tmp_path)
    loaded = load_official_pipeline(weights, motion_config=TINY_MOTION)
    assert loaded.in_channels == 8
    assert_same_weights(loaded, tiny8)
    torch.testing.assert_close(generate(loaded), expected, rtol=0, atol=FRAME_TOLERANCE)
    # and then it can be kept in the pack's own format
    again = load_pipeline(save_pipeline(loaded, tmp_path / "converted"))
    assert_same_weights(again, tiny8)
    torch.testing.assert_close(generate(again), expected, rtol=0, atol=FRAME_TOLERANCE)


def test_official_layout_without_vae_names_where_it_looked(tiny8, tmp_path):
    weights = write_official_layout(tiny8, tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "pretrained_weights" / "sd-vae-ft-mse")
    with pytest.raises(FileNotFoundError, match="sd-vae-ft-mse"):
        load_official_pipeline(weights, motion_config=TINY_MOTION)
    (weights / "pose_guider.pth").unlink()
    with pytest.raises(FileNotFoundError, match="pose_guider.pth"):
        load_official_pipeline(weights, motion_config=TINY_MOTION)
