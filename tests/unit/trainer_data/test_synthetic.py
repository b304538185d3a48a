from __future__ import annotations

import numpy as np
import pytest
import torch

from mimo_core.pose_condition import render_pose_video
from trainer.data.clips import read_clip, read_manifest
from trainer.synthetic import canonical_pose_colours, generate_dataset, synthesize_clip

SIZE = (48, 48)


@pytest.fixture(scope="module")
def sample(anny):
    # a walk with two occluders passing, so every layer is non-trivial
    return synthesize_clip(3, SIZE, 6, anny, motion_kind="walk", occluder_count=2)


def test_clip_fields_are_valid(sample):
    clip = sample.clip
    clip.validate()
    assert clip.frames.shape == (6, 48, 48, 3)
    assert clip.vertices is not None and clip.vertices.shape[:2] == (6, 13718)
    assert clip.camera is not None and clip.camera.shape == (6, 4)
    assert set(np.unique(clip.person_mask)) <= {0, 255} and set(np.unique(clip.occlusion_mask)) <= {0, 255}
    assert (clip.person_mask > 0).mean() > 0.03  # the person is there
    assert (clip.reference_mask > 0).mean() > 0.05
    # reference on white
    assert np.all(clip.reference[clip.reference_mask == 0] == 255)


def test_person_mask_is_visible_unoccluded_body(sample):
    clip = sample.clip
    expected = sample.body_mask & ~sample.occluder_mask
    np.testing.assert_array_equal(clip.person_mask > 0, expected)
    np.testing.assert_array_equal(clip.occlusion_mask > 0, sample.occluder_mask)
    assert not np.any((clip.person_mask > 0) & (clip.occlusion_mask > 0))


def test_each_occluder_mask_is_given(sample):
    each = sample.occluder_masks
    assert each is not None and each.shape == (sample.clip.extra["occluders"], *sample.occluder_mask.shape)
    np.testing.assert_array_equal(each.any(0) if len(each) else np.zeros_like(sample.occluder_mask),
                                  sample.occluder_mask)


def test_layers_composite_back_to_the_frames(sample):
    clip = sample.clip
    pm = (clip.person_mask > 0)[..., None]
    om = (clip.occlusion_mask > 0)[..., None]
    comp = np.where(om, sample.occluder_rgb, np.where(pm, sample.person_rgb, clip.scene))
    assert np.abs(comp.astype(int) - clip.frames.astype(int)).max() <= 1
    # outside person and occluders the frame IS the scene
    bg = ~(pm | om)[..., 0]
    np.testing.assert_array_equal(clip.frames[bg], clip.scene[bg])


def test_pose_render_matches_render_pose_video(sample, anny):
    clip = sample.clip
    cam = clip.camera[0]
    from mimo_core.raster import PerspectiveCamera

    camera = PerspectiveCamera(fx=float(cam[0]), fy=float(cam[1]), cx=float(cam[2]), cy=float(cam[3]),
                               width=SIZE[1], height=SIZE[0])  # fmt: skip
    verts = torch.from_numpy(clip.vertices.astype(np.float32))
    frames, mask = render_pose_video(verts, anny.faces, canonical_pose_colours(anny), camera)
    ours = clip.pose.astype(np.float32) / 255
    # vertices were stored as float16, so allow a few boundary pixels to differ
    agree = np.abs(ours - frames.numpy()).max(-1) < 0.03
    assert agree.mean() > 0.97
    assert ((mask.numpy() > 0) == sample.body_mask).mean() > 0.99
    assert np.all(ours[~(sample.body_mask)] == 0)


def test_deterministic_by_seed_and_seeds_differ(sample, anny):
    again = synthesize_clip(3, SIZE, 6, anny, motion_kind="walk", occluder_count=2).clip
    for name in ("frames", "person_mask", "occlusion_mask", "scene", "pose", "reference"):
        np.testing.assert_array_equal(getattr(again, name), getattr(sample.clip, name))
    other = synthesize_clip(4, SIZE, 6, anny).clip
    assert not np.array_equal(other.frames, sample.clip.frames)
    assert not np.array_equal(other.reference, sample.clip.reference)


def test_rejects_bad_sizes(anny):
    with pytest.raises(ValueError, match="size must be"):
        synthesize_clip(0, (8, 8), 2, anny)
    with pytest.raises(ValueError, match="frames must be"):
        synthesize_clip(0, SIZE, 0, anny)


def test_dataset_is_resumable(tmp_path, anny):
    first = generate_dataset(tmp_path, 2, seed=5, size=(32, 32), frames=2, split_fractions=(0.5, 0.25, 0.25),
                             body_model=anny)  # fmt: skip
    assert first["written"] == 2
    entries = read_manifest(tmp_path)
    assert len(entries) == 2 and {e["source"] for e in entries} == {"synthetic"}
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.npz")}
    second = generate_dataset(tmp_path, 2, seed=5, size=(32, 32), frames=2, split_fractions=(0.5, 0.25, 0.25),
                              body_model=anny)  # fmt: skip
    assert second["written"] == 0 and second["skipped"] == 2
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.npz")} == mtimes
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 2
    clip = read_clip(tmp_path / entries[0]["clip"])
    assert clip.frames.shape == (2, 32, 32, 3)
    # a clip whose manifest line was lost is listed again, not regenerated
    (tmp_path / "manifest.jsonl").write_text("")
    third = generate_dataset(tmp_path, 3, seed=5, size=(32, 32), frames=2, body_model=anny)
    assert third == {**third, "written": 1, "skipped": 2}
    assert len(read_manifest(tmp_path)) == 3
