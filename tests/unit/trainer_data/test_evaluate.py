from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trainer.baselines import paste_reference, without_pose
from trainer.data.clips import Clip, append_manifest, write_clip
from trainer.evaluate import evaluate, frechet_distance, lpips_status, main, psnr, ssim


def _clip(seed: int, t: int = 3, size: int = 32) -> Clip:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (t, size, size, 3), dtype=np.uint8)
    person = np.zeros((t, size, size), np.uint8)
    person[:, 8:24, 10 + seed:18 + seed] = 255
    occ = np.zeros_like(person)
    occ[:, 20:28, 0:6] = 255
    ref = np.full((24, 16, 3), 255, np.uint8)
    ref_mask = np.zeros((24, 16), np.uint8)
    ref[4:20, 4:12] = (200, 30, 30)
    ref_mask[4:20, 4:12] = 255
    return Clip(frames=frames, person_mask=person, occlusion_mask=occ, scene=np.zeros_like(frames),
                pose=frames.copy(), reference=ref, reference_mask=ref_mask)  # fmt: skip


def test_psnr_and_ssim_on_known_inputs():
    a = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32) * 0.5 + 0.25
    assert math.isinf(psnr(a, a))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    b = a + 0.1  # constant error: MSE = 0.01 -> PSNR = 20 dB
    assert psnr(b, a) == pytest.approx(20.0, abs=1e-3)
    noise = np.random.default_rng(1).choice([-0.05, 0.05], a.shape).astype(np.float32)  # MSE = 0.0025 -> 26.02 dB
    assert psnr(a + noise, a) == pytest.approx(10 * math.log10(400), abs=1e-3)
    assert ssim(a + noise, a) < 0.99
    u8 = (a * 255).round().astype(np.uint8)
    assert math.isinf(psnr(u8, u8))
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:1])


def test_frechet_distance_of_shifted_gaussians():
    x = np.random.default_rng(0).normal(size=(500, 3))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(x + 2.0, x) == pytest.approx(12.0, rel=1e-6)  # |mu diff|^2 = 3 * 4


def test_lpips_is_reported_unavailable_without_local_weights(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    ok, why = lpips_status()
    assert not ok and "not found" in why


def test_paste_reference_fills_the_person_box_and_keeps_occluders():
    clip = _clip(0)
    out = paste_reference(clip)
    assert out.shape == clip.frames.shape and out.dtype == np.uint8
    # inside the person's box: the reference's red crop, scaled
    assert np.all(out[:, 8:24, 10:18] == (200, 30, 30))
    assert np.all(out[:, :5, :5] == 0)  # scene elsewhere
    np.testing.assert_array_equal(out[:, 20:28, 0:6], clip.frames[:, 20:28, 0:6])  # occluder kept


def test_without_pose_blanks_the_pose_input():
    seen = []
    gen = without_pose(lambda c: (seen.append(c.pose.max()), c.frames)[1])
    gen(_clip(0))
    assert seen == [0]


def test_evaluate_writes_report_and_contact_sheet(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    for i in range(2):
        write_clip(_clip(i), data / f"c{i}.npz")
        append_manifest(data, {"clip": f"c{i}.npz", "frames": 3, "height": 32, "width": 32, "source": "t", "split": "test"})
    report = evaluate(data, {"oracle": lambda c: c.frames, "paste_reference": paste_reference}, out, split="test")
    assert math.isinf(report["methods"]["oracle"]["psnr"]) and report["methods"]["oracle"]["ssim"] == pytest.approx(1.0)
    assert report["methods"]["paste_reference"]["psnr"] < 15
    assert report["methods"]["oracle"]["fvd"] is None and "not computed" in report["fvd"]
    assert json.loads((out / "report.json").read_text())["clips"] == ["c0.npz", "c1.npz"]
    md = (out / "report.md").read_text()
    assert "| oracle | inf | 1.000 |" in md and "paste_reference" in md
    import cv2

    sheet = cv2.imread(str(out / "contact_paste_reference.png"))
    assert sheet is not None and sheet.shape[0] >= 2 * 96  # one row per clip
    # the command line: a folder of predictions
    preds = tmp_path / "preds"
    preds.mkdir()
    for i in range(2):
        np.savez(preds / f"c{i}.npz", frames=_clip(i).frames)
    assert main(["--clips", str(data), "--out", str(out / "cli"), "--predictions", f"mine={preds}"]) == 0
    assert "| mine | inf | 1.000 |" in (out / "cli" / "report.md").read_text()
