"""render_sdc follows the release's conventions: camera, gain, culling, MSAA, hidden hands, 8-bit output."""

from __future__ import annotations

import pytest
import torch

from mimo_core.raster import render_attributes
from mimo_core.sdc import SDC_GAIN, quantize_table, render_sdc, sdc_camera
from mimo_core.sdc.synthetic import ellipsoid, figure_mesh, smooth_table, turning_sequence

SIZE = (96, 80)  # (W, H)


@pytest.fixture(scope="module")
def blob():
    verts, faces = ellipsoid((0.0, 0.0, 0.0), (0.3, 0.5, 0.25), 10, 16)
    verts_cam = turning_sequence(verts, 2, SIZE, fill=0.7)
    table = torch.rand(verts.shape[0], 3, generator=torch.Generator().manual_seed(0))
    return verts_cam, faces, table


def test_camera_is_the_hmr2_full_frame_camera():
    cam = sdc_camera(SIZE)
    assert cam.fx == cam.fy == pytest.approx(5000 / 256 * 96)
    assert (cam.cx, cam.cy) == (48.0, 40.0) and (cam.width, cam.height) == SIZE


def test_output_shape_levels_and_gain(blob):
    verts_cam, faces, table = blob
    out = render_sdc(verts_cam, faces, table, SIZE)
    assert out.shape == (2, 80, 96, 3) and out.dtype == torch.float32
    levels = out * 255
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # 8-bit levels
    assert float(out.max()) <= SDC_GAIN + 0.5 / 255  # pyrender's default material factor 0.3
    assert float(out[:, 0, 0].abs().max()) == 0.0  # black background


def test_interior_matches_interpolated_colours_times_gain(blob):
    verts_cam, faces, table = blob
    out = render_sdc(verts_cam, faces, table, SIZE, samples=1, quantize=False)
    ref, mask = render_attributes(verts_cam, faces, table * SDC_GAIN, sdc_camera(SIZE))
    assert torch.allclose(out, ref, atol=1e-6)
    assert mask.float().mean() > 0.1
    quantized = render_sdc(verts_cam, faces, table, SIZE, samples=1)
    ref_q, _ = render_attributes(verts_cam, faces, quantize_table(table) * SDC_GAIN, sdc_camera(SIZE))
    assert float((quantized - ref_q).abs().max()) <= 0.5 / 255 + 1e-6


def test_back_faces_are_culled(blob):
    verts_cam, faces, table = blob
    near, _ = render_attributes(verts_cam, faces, table * SDC_GAIN, sdc_camera(SIZE), cull="none")
    front = render_sdc(verts_cam, faces, table, SIZE, samples=1, quantize=False)
    assert torch.allclose(front, near, atol=1e-6)  # outward counter-clockwise faces are drawn
    # turned inside out, the visible faces are those of the far side
    inside_out = render_sdc(verts_cam, faces[:, [0, 2, 1]], table, SIZE, samples=1, quantize=False)
    covered = near.amax(-1) > 0
    assert float((inside_out - near)[covered].abs().mean()) > 0.02
    # a single triangle is drawn from one side only
    nearest = int(verts_cam[0][faces].mean(1)[:, 2].argmin())
    one = faces[nearest:nearest + 1]
    drawn = [bool(render_sdc(verts_cam[:1], f, table, SIZE, samples=1).amax() > 0) for f in (one, one[:, [0, 2, 1]])]
    assert drawn == [True, False]


def test_msaa_only_changes_the_silhouette_edge(blob):
    verts_cam, faces, _ = blob
    table = smooth_table(verts_cam[0])
    one = render_sdc(verts_cam, faces, table, SIZE, samples=1, quantize=False)
    four = render_sdc(verts_cam, faces, table, SIZE, samples=4, quantize=False)
    covered1 = one.amax(-1) > 0
    covered4 = four.amax(-1) > 0
    interior = covered1.clone()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        interior &= torch.roll(covered1, (dy, dx), (1, 2))
    assert float((one - four)[interior].abs().max()) < 2.0 / 255  # smooth colours: same inside
    assert bool((covered4 & ~covered1).any())  # partial coverage appears at the edge


def test_focal_default_and_override(blob):
    verts_cam, faces, table = blob
    default = render_sdc(verts_cam, faces, table, SIZE, samples=1)
    explicit = render_sdc(verts_cam, faces, table, SIZE, focal=5000 / 256 * 96, samples=1)
    assert torch.equal(default, explicit)
    wider = render_sdc(verts_cam, faces, table, SIZE, focal=1000.0, samples=1)
    assert (wider.amax(-1) > 0).sum() < (default.amax(-1) > 0).sum()


def test_hidden_vertices_remove_their_faces():
    verts, faces = figure_mesh(8, 12)
    verts_cam = turning_sequence(verts, 2, SIZE, turn=0.0)
    table = torch.full((verts.shape[0], 3), 0.8)
    n_part = verts.shape[0] // 6
    hidden = torch.zeros(2, verts.shape[0], dtype=torch.bool)
    hidden[1, 2 * n_part:3 * n_part] = True  # one arm, second frame only
    out = render_sdc(verts_cam, faces, table, SIZE, samples=1, hidden_vertices=hidden)
    area = (out.amax(-1) > 0).sum((1, 2))
    assert area[1] < area[0]
    with pytest.raises(ValueError, match="hidden_vertices"):
        render_sdc(verts_cam, faces, table, SIZE, hidden_vertices=torch.zeros(3, dtype=torch.bool))


def test_bad_inputs_are_named(blob):
    verts_cam, faces, table = blob
    with pytest.raises(ValueError, match="6,890"):
        render_sdc(verts_cam, faces, table[:-1], SIZE)
    with pytest.raises(ValueError, match=r"\[T,V,3\]"):
        render_sdc(verts_cam[0], faces, table, SIZE)
    with pytest.raises(ValueError, match="samples"):
        render_sdc(verts_cam, faces, table, SIZE, samples=2)
