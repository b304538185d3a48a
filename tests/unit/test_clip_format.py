from __future__ import annotations

import numpy as np
import pytest

from trainer.data.clips import Clip, append_manifest, read_clip, read_manifest, write_clip


def make_clip(t: int = 3, h: int = 8, w: int = 6) -> Clip:
    rng = np.random.default_rng(0)
    u8 = lambda *s: rng.integers(0, 256, s, dtype=np.uint8)  # noqa: E731
    return Clip(frames=u8(t, h, w, 3), person_mask=u8(t, h, w), occlusion_mask=u8(t, h, w), scene=u8(t, h, w, 3),
                pose=u8(t, h, w, 3), reference=u8(10, 5, 3), reference_mask=u8(10, 5), fps=12.0,
                vertices=rng.normal(size=(t, 7, 3)).astype(np.float16), camera=np.ones((t, 4), np.float32))


def test_clip_round_trip_and_frame_slice(tmp_path):
    clip = make_clip()
    write_clip(clip, tmp_path / "a.npz")
    back = read_clip(tmp_path / "a.npz")
    for name in ("frames", "person_mask", "occlusion_mask", "scene", "pose", "reference", "reference_mask",
                 "vertices", "camera"):
        assert np.array_equal(getattr(back, name), getattr(clip, name)), name
    assert back.fps == 12.0 and back.body_model == "anny"
    part = read_clip(tmp_path / "a.npz", frames=slice(1, 3))
    assert part.num_frames == 2 and np.array_equal(part.frames, clip.frames[1:3])
    assert not list(tmp_path.glob("*.part"))


def test_invalid_clip_is_rejected_by_field_name(tmp_path):
    clip = make_clip()
    clip.pose = clip.pose[:, :4]
    with pytest.raises(ValueError, match="pose"):
        write_clip(clip, tmp_path / "bad.npz")
    assert not list(tmp_path.iterdir())


def test_manifest_skips_missing_clips_and_torn_lines(tmp_path):
    write_clip(make_clip(), tmp_path / "a.npz")
    append_manifest(tmp_path, {"clip": "a.npz", "frames": 3, "split": "train"})
    append_manifest(tmp_path, {"clip": "gone.npz", "frames": 3, "split": "train"})
    with open(tmp_path / "manifest.jsonl", "a") as f:
        f.write('{"clip": "b.np')
    assert [e["clip"] for e in read_manifest(tmp_path)] == ["a.npz"]
    assert read_manifest(tmp_path, split="val") == []
