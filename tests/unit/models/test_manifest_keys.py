"""Key compatibility proof: full-size modules built on the meta device have exactly the official
checkpoints' tensor names and shapes (manifests in ../shared/checkpoint_manifests)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from mimo_core.models.pose_encoders import ChampGuidanceEncoder, PoseGuider
from mimo_core.models.reference import ReferenceNet
from mimo_core.models.temporal import MotionModuleConfig
from mimo_core.models.video_unet import SD15_UNET_CONFIG, VideoUNet


def _manifest(directory: Path, name: str) -> dict[str, list[int]]:
    keys = json.loads((directory / name).read_text())["keys"]
    return {k: list(v["shape"]) for k, v in keys.items()}


def _shapes(module: torch.nn.Module, keep=lambda k: True) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items() if keep(k)}


def _assert_same(actual: dict[str, list[int]], expected: dict[str, list[int]]) -> None:
    assert sorted(set(expected) - set(actual)) == [], "keys in the checkpoint missing from the module"
    assert sorted(set(actual) - set(expected)) == [], "module keys absent from the checkpoint"
    wrong = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
    assert wrong == {}


@pytest.fixture(scope="module")
def full_unets() -> dict[int, VideoUNet]:
    with torch.device("meta"):
        return {c: VideoUNet(dict(SD15_UNET_CONFIG, in_channels=c), MotionModuleConfig()) for c in (4, 8)}


@pytest.mark.parametrize(
    ("manifest", "in_channels"),
    [
        ("mimo_denoising_unet_full_model_manifest.json", 8),
        ("moore_animateanyone_denoising_unet_full_model_manifest.json", 4),
        ("champ_denoising_unet_full_model_manifest.json", 4),
    ],
)
def test_video_unet_matches_full_denoising_unet(manifest_dir, full_unets, manifest, in_channels):
    _assert_same(_shapes(full_unets[in_channels]), _manifest(manifest_dir, manifest))


@pytest.mark.parametrize(
    ("manifest", "in_channels"),
    [
        ("mimo_denoising_unet_manifest.json", 8),
        ("moore_animateanyone_denoising_unet_manifest.json", 4),
        ("champ_denoising_unet_manifest.json", 4),
    ],
)
def test_spatial_part_matches_denoising_unet_pth(manifest_dir, full_unets, manifest, in_channels):
    _assert_same(
        _shapes(full_unets[in_channels], lambda k: "motion_modules." not in k),
        _manifest(manifest_dir, manifest),
    )


@pytest.mark.parametrize(
    "manifest",
    [
        "mimo_motion_module_manifest.json",
        "moore_animateanyone_motion_module_manifest.json",
        "champ_motion_module_manifest.json",
        "animatediff_mm_sd_v15_v2_manifest.json",
    ],
)
def test_motion_modules_match_motion_module_files(manifest_dir, full_unets, manifest):
    expected = _manifest(manifest_dir, manifest)
    assert len(expected) == 588
    _assert_same(_shapes(full_unets[8], lambda k: "motion_modules." in k), expected)


@pytest.mark.parametrize(
    "manifest",
    [
        "mimo_reference_unet_manifest.json",
        "moore_animateanyone_reference_unet_manifest.json",
        "champ_reference_unet_manifest.json",
    ],
)
def test_reference_net_matches_reference_unet_pth(manifest_dir, manifest):
    with torch.device("meta"):
        net = ReferenceNet(**SD15_UNET_CONFIG)
    _assert_same(_shapes(net), _manifest(manifest_dir, manifest))


@pytest.mark.parametrize(
    "manifest", ["mimo_pose_guider_manifest.json", "moore_animateanyone_pose_guider_manifest.json"]
)
def test_pose_guider_matches(manifest_dir, manifest):
    with torch.device("meta"):
        guider = PoseGuider(320, conditioning_channels=3, block_out_channels=(16, 32, 96, 256))
    _assert_same(_shapes(guider), _manifest(manifest_dir, manifest))


@pytest.mark.parametrize("kind", ["depth", "normal", "semantic_map", "dwpose"])
def test_champ_guidance_encoder_matches(manifest_dir, kind):
    with torch.device("meta"):
        encoder = ChampGuidanceEncoder(320, conditioning_channels=3, block_out_channels=(16, 32, 96, 256))
    _assert_same(_shapes(encoder), _manifest(manifest_dir, f"champ_guidance_encoder_{kind}_manifest.json"))


def test_position_table_is_the_sinusoidal_one():
    """pe[0, pos, 2i] = sin(pos / 10000^(2i/C)), pe[0, pos, 2i+1] = cos(same), as in AnimateDiff."""
    from mimo_core.models.temporal import PositionalEncoding

    pe = PositionalEncoding(dim=320, max_len=32).pe
    assert pe.shape == (1, 32, 320)
    for position, channel in [(0, 0), (5, 10), (31, 318)]:
        angle = position / 10000 ** (channel / 320)
        assert pe[0, position, channel].item() == pytest.approx(math.sin(angle), abs=1e-5)
        assert pe[0, position, channel + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
