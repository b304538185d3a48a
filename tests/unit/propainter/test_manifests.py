"""Full-size networks built on the meta device have exactly the published keys, shapes and dtypes."""

from __future__ import annotations

import torch
from _propainter_tiny import layout, manifest

from mimo_core.preprocess.propainter import InpaintGenerator, RaftFlow, RecurrentFlowCompleteNet
from mimo_core.preprocess.propainter.generator import ProPainterConfig
from mimo_core.preprocess.propainter.loader import (
    flow_completion_widths,
    generator_config_from_state,
    raft_config_from_state,
)
from mimo_core.preprocess.propainter.raft import RaftConfig


def test_generator_matches_propainter_manifest():
    expected = manifest("ProPainter")
    with torch.device("meta"):
        net = InpaintGenerator()
    got = layout(net.state_dict())
    assert got == expected
    assert list(got) == list(expected)  # same order too


def test_flow_completion_matches_manifest():
    expected = manifest("recurrent_flow_completion")
    with torch.device("meta"):
        net = RecurrentFlowCompleteNet()
    got = layout(net.state_dict())
    assert got == expected
    assert list(got) == list(expected)


def test_raft_matches_raft_things_manifest():
    expected = manifest("raft-things")
    with torch.device("meta"):
        net = RaftFlow()
    got = layout(net.official_state_dict())
    assert got == expected
    assert all(k.startswith("module.") for k in got)


def test_valid_ind_rolled_values_are_real_indices():
    # The index buffer is stored in the checkpoint; ours must hold the same values, not just the shape.
    with torch.device("meta"):
        net = InpaintGenerator()
    idx = net.transformers.transformer[0].attention.valid_ind_rolled
    assert idx.device.type == "cpu" and idx.dtype == torch.int64 and idx.numel() == 148
    assert idx.unique().numel() == 148 and int(idx.min()) >= 0 and int(idx.max()) < 4 * 45


def test_configs_inferred_from_full_size_shapes():
    gen = {k: torch.empty(s, device="meta") for k, (s, _) in manifest("ProPainter").items()}
    assert generator_config_from_state(gen) == ProPainterConfig()
    flow = {k: torch.empty(s, device="meta") for k, (s, _) in manifest("recurrent_flow_completion").items()}
    assert flow_completion_widths(flow) == (32, 16)
    raft = {k: torch.empty(s, device="meta") for k, (s, _) in manifest("raft-things").items()}
    assert raft_config_from_state(raft) == RaftConfig()
