"""The sdc condition video drives a model loaded from the official release layout, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _official_tiny import write_official_weights, write_release_colour_table
from conftest import smooth_video

from mimo_core.pipeline import load_official_pipeline, load_pipeline_any
from mimo_core.sdc.colour_table import load_colour_table
from mimo_core.sdc.renderer import render_sdc
from mimo_core.sdc.synthetic import figure_mesh, turning_sequence
from scripts.make_tiny_mimo import TINY_MOTION


@pytest.mark.parametrize("base_models", ["beside", "inside"])
def test_sdc_render_feeds_the_official_layout_pipeline(tiny8, tmp_path, base_models):
    verts, faces = figure_mesh(8, 12)
    # the release's format: a pickled {"smpl": [V, 3]} dict, read without unpickling arbitrary code
    table_file = write_release_colour_table(tmp_path / "sdc_info.npy", vertices=verts.shape[0])
    table = torch.as_tensor(load_colour_table(table_file, key="smpl"))
    posed = turning_sequence(verts, 4, (32, 32))
    sdc = render_sdc(posed, faces, table, (32, 32))
    assert sdc.shape == (4, 32, 32, 3)
    body = sdc.amax(-1) > 0
    assert 0.05 < body.float().mean() < 0.9  # the body is drawn, on black
    assert float(sdc.max()) <= 0.3 + 1 / 255  # pyrender's default material: 0.3 x the table colour

    weights = write_official_weights(tiny8, tmp_path / "pretrained_weights" / "mimo", base_models=base_models)
    pipeline = load_official_pipeline(weights, motion_config=TINY_MOTION)
    assert pipeline.in_channels == 8
    reference = smooth_video(1, 32, 32, 1)[0]
    scene = smooth_video(4, 32, 32, 2)
    out = pipeline.generate(reference, sdc, scene, steps=2, window=4, seed=0)
    assert out.shape == (4, 32, 32, 3) and 0 <= float(out.min()) and float(out.max()) <= 1
    # the condition matters: another pose video gives another result
    other = pipeline.generate(reference, torch.roll(sdc, 6, dims=2), scene, steps=2, window=4, seed=0)
    assert not np.allclose(out.numpy(), other.numpy())


def test_official_folder_loads_as_the_load_pipeline_node_reads_it(tiny8, tmp_path):
    """MIMO Load Pipeline reads a folder with no motion config given: heads and norm groups are the
    release's defaults, the rest (frame table, blocks) comes from the files; the tiny weights fit."""
    weights = write_official_weights(tiny8, tmp_path / "mimo_official")
    pipeline = load_pipeline_any(weights)
    assert pipeline.in_channels == 8
    out = pipeline.generate(smooth_video(1, 32, 32, 1)[0], smooth_video(2, 32, 32, 3), smooth_video(2, 32, 32, 2),
                            steps=1, window=2, seed=0)
    assert out.shape == (2, 32, 32, 3)
