"""Recovering the colour table from a synthetic template with known ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimo_core.sdc import SDC_GAIN, fill_unseen, psnr, recover_colour_table, render_sdc
from mimo_core.sdc.synthetic import figure_mesh, random_table, smooth_table, turning_sequence
from mimo_core.video_io import VideoWriter, read_video

SIZE = (224, 224)
FRAMES = 5


@pytest.fixture(scope="module")
def scene():
    torch.manual_seed(0)
    verts, faces = figure_mesh()
    return verts, faces, turning_sequence(verts, FRAMES, SIZE)


@pytest.fixture(scope="module")
def lossless(scene):
    verts, faces, verts_cam = scene
    table = random_table(verts.shape[0], seed=1)
    sdc = render_sdc(verts_cam, faces, table, SIZE)
    return table, sdc, recover_colour_table(verts_cam, faces, sdc)


def _errors(rec, table) -> tuple[np.ndarray, np.ndarray]:
    err = np.abs(rec.table - table.numpy()).max(1) * 255.0
    return err, rec.frames_seen >= 3


def test_lossless_recovery_error_and_rerender(scene, lossless):
    verts, faces, verts_cam = scene
    table, sdc, rec = lossless
    err, well_seen = _errors(rec, table)
    median = float(np.median(err[well_seen]))
    print(f"lossless: median {median:.2f}/255 over {well_seen.sum()} vertices seen in >=3 frames, "
          f"share seen {rec.share_seen:.3f}")
    assert well_seen.sum() > 0.4 * len(err)
    assert median <= 2.0
    rerender = render_sdc(verts_cam, faces, rec.table, SIZE)
    value = psnr(rerender, sdc)
    print(f"lossless: re-render PSNR {value:.1f} dB")
    assert value >= 35.0


def test_recovery_report(lossless):
    table, _, rec = lossless
    v = table.shape[0]
    assert rec.table.shape == rec.rendered.shape == (v, 3) and rec.table.dtype == np.float32
    assert 0.0 <= rec.table.min() and rec.table.max() <= 1.0
    assert np.array_equal(rec.filled, ~rec.seen)
    assert 0.5 < rec.share_seen < 1.0  # the figure's inner faces (arm against torso...) stay unseen
    assert rec.silhouette_iou.shape == (FRAMES,) and rec.silhouette_iou.min() > 0.9
    assert (rec.pixel_weight[rec.seen] >= 0.5).all() and (rec.frames_seen <= FRAMES).all()
    assert np.isfinite(rec.residual).all() and np.median(rec.residual[rec.seen]) < 4 / 255
    assert rec.info["max_template_value"] <= SDC_GAIN + 1e-6 and rec.info["clipped_vertices"] < 0.01 * v


def test_compressed_template(scene, tmp_path):
    verts, faces, verts_cam = scene
    table = smooth_table(verts, seed=2)
    sdc = render_sdc(verts_cam, faces, table, SIZE)
    path = tmp_path / "sdc.mp4"
    with VideoWriter(path, fps=30, crf=18) as writer:
        writer.write(sdc)
    decoded = read_video(path)
    rec = recover_colour_table(verts_cam, faces, decoded)
    err, well_seen = _errors(rec, table)
    rendered_err = np.abs(rec.rendered - table.numpy() * SDC_GAIN).max(1) * 255.0
    print(f"crf 18: median table error {np.median(err[well_seen]):.2f}/255, rendered-colour error "
          f"{np.median(rendered_err[well_seen]):.2f}/255, IoU min {rec.silhouette_iou.min():.3f}, "
          f"codec PSNR {psnr(decoded, sdc):.1f} dB")
    assert np.median(rendered_err[well_seen]) <= 4.0
    assert rec.silhouette_iou.min() > 0.85


def test_misaligned_frame_is_reported_and_downweighted():
    verts, faces = figure_mesh(8, 12)
    size = (96, 96)
    verts_cam = turning_sequence(verts, 3, size)
    table = smooth_table(verts, seed=3)
    sdc = render_sdc(verts_cam, faces, table, size, samples=1)
    shifted = verts_cam.clone()
    shifted[1, :, 0] += 0.3  # the fit of frame 1 is off by 30 cm
    rec = recover_colour_table(shifted, faces, sdc, samples=1)
    assert rec.silhouette_iou[1] < 0.6 < min(rec.silhouette_iou[0], rec.silhouette_iou[2])
    assert rec.info["frames_excluded"] == [1]
    err = np.abs(rec.rendered - table.numpy() * SDC_GAIN).max(1) * 255.0
    assert np.median(err[rec.frames_seen >= 2]) < 1.0


def test_fill_unseen_uses_nearest_neighbours():
    faces = np.array([[0, 1, 2], [1, 3, 2], [3, 4, 2]])
    values = np.array([[1.0], [1.0], [0.0], [0.0], [0.0]])
    seen = np.array([True, True, False, False, False])
    out = fill_unseen(values, seen, faces)
    assert np.allclose(out[:, 0], 1.0)
    values[1] = 3.0
    out = fill_unseen(values, seen, faces)
    assert out[2, 0] == pytest.approx(2.0) and out[3, 0] == pytest.approx(3.0)  # ring 1 then ring 2
    assert out[4, 0] == pytest.approx(2.5)


def test_frame_count_mismatch_is_refused(scene):
    _, faces, verts_cam = scene
    with pytest.raises(ValueError, match="one body per template frame"):
        recover_colour_table(verts_cam, faces, np.zeros((FRAMES - 1, 8, 8, 3), np.uint8))


def test_recover_from_template_folder(tmp_path):
    from mimo_core.sdc import recover_from_template

    verts, faces = figure_mesh(8, 12)
    size = (64, 64)
    verts_cam = turning_sequence(verts, 2, size)
    sdc = render_sdc(verts_cam, faces, smooth_table(verts), size, samples=1)
    with VideoWriter(tmp_path / "sdc.mp4", fps=30, crf=10) as writer:
        writer.write(torch.cat([sdc, sdc[:1]]))  # one frame more than posed: only the first T are used
    rec = recover_from_template(tmp_path, verts_cam, faces, samples=1)
    assert rec.silhouette_iou.shape == (2,) and rec.silhouette_iou.min() > 0.8
    with pytest.raises(FileNotFoundError, match="sdc.mp4"):
        recover_from_template(tmp_path / "missing", verts_cam, faces)
