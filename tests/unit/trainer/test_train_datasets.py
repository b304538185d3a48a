"""Training datasets: item layout, determinism from (seed, position), resumable process-split order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.datasets import ClipDataset, FramePairDataset, StreamBatchSampler, resize_center_crop


def test_frame_pair_item_layout(clip_dir):
    item = FramePairDataset(clip_dir, 16, seed=0)[3]
    for key in ("target", "pose", "scene", "occlusion", "reference"):
        assert item[key].shape == (3, 16, 16) and item[key].dtype == torch.float32, key
        assert 0 <= float(item[key].min()) and float(item[key].max()) <= 1, key
    assert int(item["position"]) == 3 and isinstance(item["drop_identity"], bool)
    # the occlusion layer is the frame inside the occluder and black elsewhere
    assert float(item["occlusion"][:, :8, :8].abs().max()) == 0
    assert torch.allclose(item["occlusion"][:, -2:, -2:], item["target"][:, -2:, -2:])
    assert item["person"].shape == (1, 16, 16) and 0 <= float(item["person"].min()) <= float(item["person"].max()) <= 1


def test_items_are_a_function_of_seed_and_position(clip_dir):
    a, b = FramePairDataset(clip_dir, 32, seed=5), FramePairDataset(clip_dir, 32, seed=5)
    for pos in (0, 7, 13):
        x, y = a[pos], b[pos]
        assert all(torch.equal(x[k], y[k]) for k in ("target", "pose", "reference"))
    other = FramePairDataset(clip_dir, 32, seed=6)
    assert any(not torch.equal(a[p]["target"], other[p]["target"]) for p in range(6))


def test_each_epoch_visits_every_clip_once_in_a_seeded_order(clip_dir):
    data = FramePairDataset(clip_dir, 32, seed=1)
    epoch0 = [data.locate(p)[0]["clip"] for p in range(6)]
    epoch1 = [data.locate(p)[0]["clip"] for p in range(6, 12)]
    assert sorted(epoch0) == sorted(epoch1) == sorted(e["clip"] for e in data.entries)
    assert epoch0 != epoch1  # reshuffled (fixed for seed 1)
    assert list(data.permutation(0)) == list(FramePairDataset(clip_dir, 32, seed=1).permutation(0))


def test_identity_dropout_rate_and_independence_from_frame_choice(clip_dir):
    never = FramePairDataset(clip_dir, 16, seed=2, identity_dropout=0.0)
    often = FramePairDataset(clip_dir, 16, seed=2, identity_dropout=0.5)
    drops = [often[p]["drop_identity"] for p in range(200)]
    assert 60 < sum(drops) < 140
    assert not any(never[p]["drop_identity"] for p in range(50))
    assert all(torch.equal(never[p]["target"], often[p]["target"]) for p in range(10))


def test_clip_dataset_samples_strided_frames(clip_dir):
    data = ClipDataset(clip_dir, 16, frames=3, stride=2, seed=0)
    item = data[4]
    assert item["target"].shape == (3, 3, 16, 16) and item["pose"].shape == (3, 3, 16, 16)
    assert item["person"].shape == (1, 3, 16, 16)
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = data.frame_indices(8, rng)
        assert np.diff(idx).tolist() == [2, 2] and 0 <= idx[0] and idx[-1] < 8
    long = ClipDataset(clip_dir, 16, frames=4, stride=4, seed=0)  # needs 13 frames: stride shrinks to 2
    assert np.diff(long.frame_indices(8, rng)).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="at least 9 frames"):
        ClipDataset(clip_dir, 16, frames=9)


def test_sampler_splits_global_batches_over_processes_and_resumes():
    single = StreamBatchSampler(4)
    ranks = [StreamBatchSampler(2, num_processes=2, process_index=r) for r in range(2)]
    for step in range(3):
        assert single.positions(step) == ranks[0].positions(step) + ranks[1].positions(step)
    resumed = iter(StreamBatchSampler(4, start_micro_step=2))
    assert next(resumed) == single.positions(2)
    with pytest.raises(ValueError, match="process_index"):
        StreamBatchSampler(2, num_processes=2, process_index=2)


def test_resize_center_crop_keeps_the_centre():
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 10:30] = 255
    out = resize_center_crop(image, 10)
    assert out.shape == (10, 10, 3) and out.min() == 255


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.jsonl"):
        FramePairDataset(tmp_path, 32)
