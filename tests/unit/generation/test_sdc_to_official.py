"""The sdc condition video drives a model loaded from the official release layout, end to end."""

from __future__ import annotations

import numpy as np
import torch
from conftest import smooth_video
from test_pipeline_io import write_official_layout

from mimo_core.pipeline import load_official_pipeline
from mimo_core.sdc.colour_table import load_colour_table, save_colour_table
from mimo_core.sdc.renderer import render_sdc
from mimo_core.sdc.synthetic import figure_mesh, random_table, turning_sequence
from scripts.make_tiny_mimo import TINY_MOTION


def test_sdc_render_feeds_the_official_layout_pipeline(tiny8, tmp_path):
    verts, faces = figure_mesh(8, 12)
    table_file = save_colour_table(tmp_path / "table.npy", random_table(verts.shape[0], seed=3))
    table = torch.as_tensor(load_colour_table(table_file))
    posed = turning_sequence(verts, 4, (32, 32))
    sdc = render_sdc(posed, faces, table, (32, 32))
    assert sdc.shape == (4, 32, 32, 3)
    body = sdc.amax(-1) > 0
    assert 0.05 < body.float().mean() < 0.9  # the body is drawn, on black
    assert float(sdc.max()) <= 0.3 + 1 / 255  # pyrender's default material: 0.3 x the table colour

    pipeline = load_official_pipeline(write_official_layout(tiny8, tmp_path), motion_config=TINY_MOTION)
    reference = smooth_video(1, 32, 32, 1)[0]
    scene = smooth_video(4, 32, 32, 2)
    out = pipeline.generate(reference, sdc, scene, steps=2, window=4, seed=0)
    assert out.shape == (4, 32, 32, 3) and 0 <= float(out.min()) and float(out.max()) <= 1
    # the condition matters: another pose video gives another result
    other = pipeline.generate(reference, torch.roll(sdc, 6, dims=2), scene, steps=2, window=4, seed=0)
    assert not np.allclose(out.numpy(), other.numpy())
