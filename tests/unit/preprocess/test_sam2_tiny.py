"""Sam2VideoBackend end to end with a tiny, randomly initialised SAM 2 video model (CPU, offline).

The random model's masks mean nothing, so the tests check structure and consistency only.
Size constraints found in transformers 5.24: the memory attention's image cross-attention
takes 64-channel keys (hard-coded), so memory_encoder_output_channels must be 64, and object
pointers are only reshaped correctly when that is smaller than the FPN hidden size, hence 128.
"""

from __future__ import annotations

import numpy as np
import pytest

SIZE = 128  # model input side; feature maps are SIZE/4, SIZE/8, SIZE/16
T, H, W = 4, 64, 96
BOX = [20.0, 10.0, 70.0, 50.0]


@pytest.fixture(scope="module")
def tiny_sam2_dir(tmp_path_factory):
    """A randomly initialised, tiny SAM 2 video model + processor saved in the transformers layout."""
    import torch
    from transformers import (
        Sam2HieraDetConfig,
        Sam2ImageProcessor,
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
        Sam2VisionConfig,
    )

    torch.manual_seed(0)
    backbone = Sam2HieraDetConfig(
        hidden_size=8, image_size=[SIZE, SIZE], blocks_per_stage=[1, 1, 1, 1], embed_dim_per_stage=[8, 16, 32, 64],
        num_attention_heads_per_stage=[1, 1, 1, 1], window_size_per_stage=[8, 4, 4, 4], global_attention_blocks=[],
        window_positional_embedding_background_size=[2, 2],
    )
    vision = Sam2VisionConfig(
        backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=128,
        backbone_feature_sizes=[[SIZE // 4] * 2, [SIZE // 8] * 2, [SIZE // 16] * 2],
    )
    cfg = Sam2VideoConfig(
        vision_config=vision, image_size=SIZE, num_maskmem=2, max_object_pointers_in_encoder=2,
        prompt_encoder_config={"hidden_size": 128, "image_size": SIZE, "patch_size": 16, "mask_input_channels": 8},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        memory_attention_hidden_size=128, memory_attention_num_layers=1, memory_attention_feed_forward_hidden_size=128,
        memory_attention_rope_feat_sizes=[SIZE // 16] * 2, memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64, mask_downsampler_embed_dim=128, memory_fuser_num_layers=1,
        memory_fuser_embed_dim=128, memory_fuser_intermediate_dim=64,
    )
    folder = tmp_path_factory.mktemp("sam2_video_tiny")
    Sam2VideoModel(cfg).save_pretrained(folder)
    Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(
            size={"height": SIZE, "width": SIZE}, mask_size={"height": SIZE // 4, "width": SIZE // 4}
        ),
        video_processor=Sam2VideoVideoProcessor(size={"height": SIZE, "width": SIZE}),
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tracked(tiny_sam2_dir):
    """(track, progress calls) for a box-prompted random clip."""
    from mimo_core.preprocess.sam2_backend import Sam2VideoBackend

    frames = np.random.default_rng(0).random((T, H, W, 3)).astype(np.float32)
    calls: list[tuple[int, int]] = []
    track = Sam2VideoBackend(tiny_sam2_dir).track(frames, box=BOX, progress=lambda d, n: calls.append((d, n)))
    return track, calls


def test_track_returns_consistent_person_track(tracked):
    from mimo_core.preprocess._arrays import mask_box

    track, _ = tracked
    assert track.masks.shape == (T, H, W) and track.masks.dtype == np.float32
    assert track.masks.min() >= 0.0 and track.masks.max() <= 1.0
    assert track.boxes.shape == (T, 4)
    assert all(isinstance(i, int) for i in track.lost_frames)
    assert sorted(set(track.lost_frames)) == track.lost_frames and set(track.lost_frames) <= set(range(T))
    assert np.isnan(track.landmarks).all() and np.isnan(track.world_landmarks).all()
    for i in range(T):
        if i in track.lost_frames:
            assert not track.masks[i].any() and np.isnan(track.boxes[i]).all() and track.scores[i] == 0
        else:
            box = track.boxes[i]
            assert np.isfinite(box).all()
            assert 0 <= box[0] < box[2] <= W and 0 <= box[1] < box[3] <= H
            np.testing.assert_array_equal(box, mask_box(track.masks[i]))


def test_track_reports_progress_per_frame_processed(tracked):
    track, calls = tracked
    assert track.lost_frames  # the random model loses frames: progress must still reach the end
    assert calls == [(i + 1, T) for i in range(T)]


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_backend_loads_with_device_and_dtype(tiny_sam2_dir, dtype_name):
    import torch

    from mimo_core.preprocess.sam2_backend import Sam2VideoBackend

    dtype = getattr(torch, dtype_name)
    backend = Sam2VideoBackend(tiny_sam2_dir, device="cpu", dtype=dtype)
    assert backend.dtype == dtype and not backend.model.training
    assert {p.dtype for p in backend.model.parameters()} == {dtype}
    assert {p.device.type for p in backend.model.parameters()} == {"cpu"}


def test_folder_without_config_json_is_named(tmp_path):
    from mimo_core.preprocess.sam2_backend import Sam2VideoBackend

    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"SAM 2 video .*lacks config\.json$"):
        Sam2VideoBackend(tmp_path)


def test_a_prompt_after_the_first_frame_is_propagated_both_ways(tiny_sam2_dir):
    """Prompted on frame 2: SAM 2 goes to the end, then back to frame 0; every frame is
    processed once (the prompted frame is not redone going backwards)."""
    from mimo_core.preprocess.sam2_backend import Sam2VideoBackend

    frames = np.random.default_rng(1).random((T, H, W, 3)).astype(np.float32)
    calls: list[tuple[int, int]] = []
    backend = Sam2VideoBackend(tiny_sam2_dir)
    track = backend.track(frames, box=BOX, box_frame=2, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(i + 1, T) for i in range(T)]
    assert sorted(set(track.lost_frames)) == track.lost_frames and set(track.lost_frames) <= set(range(T))
    with pytest.raises(ValueError, match="box_frame"):
        backend.track(frames, box=BOX, box_frame=T)
