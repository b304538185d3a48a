from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_depth_dir(tmp_path_factory):
    """A randomly initialised, tiny Depth Anything saved in the transformers layout."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    torch.manual_seed(0)
    backbone = Dinov2Config(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, patch_size=14,
        image_size=70, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )
    cfg = DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        head_hidden_size=8, reassemble_hidden_size=32, patch_size=14,
    )
    folder = tmp_path_factory.mktemp("depth_anything_tiny")
    DepthAnythingForDepthEstimation(cfg).save_pretrained(folder)
    DPTImageProcessor(
        do_resize=True, size={"height": 70, "width": 70}, keep_aspect_ratio=True, ensure_multiple_of=14,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return folder


def test_estimate_depth_loads_local_folder_and_returns_frame_sized_maps(tiny_depth_dir):
    from mimo_core.preprocess.depth import estimate_depth

    frames = np.random.default_rng(0).random((3, 50, 90, 3)).astype(np.float32)
    depth = estimate_depth(frames, tiny_depth_dir, batch_size=2)
    assert depth.shape == (3, 50, 90) and depth.dtype == np.float32
    flat = depth.reshape(3, -1)
    np.testing.assert_allclose(flat.min(1), 0.0, atol=1e-6)
    np.testing.assert_allclose(flat.max(1), 1.0, atol=1e-6)


def test_depth_missing_folder_is_named(tmp_path):
    from mimo_core.preprocess.depth import estimate_depth

    with pytest.raises(FileNotFoundError, match="no_such_depth"):
        estimate_depth(np.zeros((1, 8, 8, 3), np.float32), tmp_path / "no_such_depth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        estimate_depth(np.zeros((1, 8, 8, 3), np.float32), tmp_path / "empty")


def test_sam2_missing_folder_is_named(tmp_path):
    from mimo_core.preprocess.sam2_backend import Sam2VideoBackend

    with pytest.raises(FileNotFoundError, match="no_sam2_here"):
        Sam2VideoBackend(tmp_path / "no_sam2_here")
