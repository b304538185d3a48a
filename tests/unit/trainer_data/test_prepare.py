from __future__ import annotations

import json

import numpy as np
import pytest

from tests.harness.paths import media
from trainer.data.clips import read_clip, read_manifest
from trainer.prepare import REJECTED, PrepareConfig, centre_square, iter_windows, prepare_videos

# two windows of 8 frames (every 2nd source frame) where the walking woman is in the centre crop
CONFIG = PrepareConfig(size=128, frames=8, stride=2, start=100, max_windows=2, fit_iterations=15, max_fit_error=1.0)


def test_centre_square_crops_the_middle_and_resizes():
    frames = np.zeros((2, 40, 80, 3), np.float32)
    frames[:, :, 20:60] = 1.0  # the central 40x40 square is white
    out = centre_square(frames, 20)
    assert out.shape == (2, 20, 20, 3)
    assert np.allclose(out, 1.0)


def test_iter_windows_samples_with_stride_and_bounds_windows():
    windows = list(iter_windows(media("demo.mp4"), CONFIG))
    assert [w[0] for w in windows] == [100, 116]
    assert all(w[1].shape == (8, 128, 128, 3) for w in windows)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, anny):
    root = tmp_path_factory.mktemp("prepared")
    report = prepare_videos([media("demo.mp4")], root, CONFIG, body_model=anny)
    return root, report


def test_prepare_writes_valid_clips_and_manifest(prepared):
    root, report = prepared
    assert report["written"] == 2, report
    entries = read_manifest(root)
    assert sorted(e["start_frame"] for e in entries) == [100, 116]
    for e in entries:
        clip = read_clip(root / e["clip"])
        clip.validate()
        assert clip.frames.shape == (8, 128, 128, 3)
        assert (clip.person_mask > 127).mean() > 0.01  # the woman is tracked
        assert (clip.pose.max(-1) > 0).mean() > 0.01  # the fitted body is drawn
        assert clip.vertices is not None and clip.vertices.shape[:2] == (8, 13718)
        assert clip.reference.shape == (128, 128, 3) and (clip.reference_mask > 127).any()
        # the inpainted scene differs from the frame where the person was, and equals it far away
        person = clip.person_mask > 127
        assert np.abs(clip.scene[person].astype(int) - clip.frames[person].astype(int)).mean() > 3
        assert np.abs(clip.scene[:, :8, :8].astype(int) - clip.frames[:, :8, :8].astype(int)).max() <= 1
    assert json.loads((root / "prepare_report.json").read_text())["written"] == 2


def test_prepare_rerun_skips_finished_clips(prepared, anny):
    root, _ = prepared
    before = {p.name: p.stat().st_mtime_ns for p in root.glob("*.npz")}
    again = prepare_videos([media("demo.mp4")], root, CONFIG, body_model=anny)
    assert again["written"] == 0 and again["skipped"] == 2
    assert {p.name: p.stat().st_mtime_ns for p in root.glob("*.npz")} == before
    assert len(read_manifest(root)) == 2


def test_prepare_counts_rejections_and_remembers_them(tmp_path, anny):
    # the video's first window has no person in the centre crop for most frames; the tail is too short
    cfg = PrepareConfig(size=64, frames=8, stride=16, start=0, fit_iterations=5, max_fit_error=1.0, min_found=0.99)
    report = prepare_videos([media("demo.mp4")], tmp_path, cfg, body_model=anny)
    assert report["rejected"].get("too short", 0) == 1
    assert sum(report["rejected"].values()) + report["written"] == 2
    lines = (tmp_path / REJECTED).read_text().splitlines()
    again = prepare_videos([media("demo.mp4")], tmp_path, cfg, body_model=anny)
    assert again["rejected_now"] == 0 and again["written"] == 0 and again["skipped"] == 2
    assert again["rejected"] == report["rejected"]
    assert (tmp_path / REJECTED).read_text().splitlines() == lines
