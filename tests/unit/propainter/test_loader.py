"""Tiny random models saved in the published file layouts load through ``load_propainter``."""

from __future__ import annotations

import pytest
import torch
from _propainter_tiny import TINY_GENERATOR, TINY_RAFT

from mimo_core.preprocess.propainter import (
    FLOW_COMPLETION_FILE,
    PROPAINTER_FILE,
    RAFT_FILE,
    load_propainter,
    save_propainter,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_models):
    folder = tmp_path_factory.mktemp("propainter")
    save_propainter(tiny_models, folder)
    return folder


def test_files_use_published_wrappers(saved):
    raft = torch.load(saved / RAFT_FILE, weights_only=True)
    assert raft and all(k.startswith("module.") for k in raft)
    assert "module.cnet.layer2.0.norm3.running_mean" in raft
    for name in (PROPAINTER_FILE, FLOW_COMPLETION_FILE):
        state = torch.load(saved / name, weights_only=True)
        assert not any(k.startswith("module.") for k in state)
        assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_loaded_models_give_identical_outputs(saved, tiny_models):
    loaded = load_propainter(saved)
    assert loaded.raft.config == TINY_RAFT
    assert loaded.generator.config == TINY_GENERATOR
    gen = torch.Generator().manual_seed(1)
    frames = torch.rand(1, 3, 3, 64, 64, generator=gen) * 2 - 1
    masks = (torch.rand(1, 3, 1, 64, 64, generator=gen) > 0.7).float()
    with torch.no_grad():
        for a, b in zip(tiny_models.raft(frames, iters=2), loaded.raft(frames, iters=2), strict=True):
            assert torch.equal(a, b)
        flows = tiny_models.raft(frames, iters=2)
        pa = tiny_models.flow_complete.forward_bidirect_flow(flows, masks)
        pb = loaded.flow_complete.forward_bidirect_flow(flows, masks)
        assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
        ga = tiny_models.generator(frames, pa, masks, masks, 3)
        gb = loaded.generator(frames, pb, masks, masks, 3)
        assert torch.equal(ga, gb)


def test_raft_loads_without_module_prefix(tiny_models):
    from mimo_core.preprocess.propainter import RaftFlow

    state = {k.removeprefix("module."): v for k, v in tiny_models.raft.official_state_dict().items()}
    other = RaftFlow(TINY_RAFT)
    other.load_official_state_dict(state)
    for a, b in zip(other.raft.state_dict().values(), tiny_models.raft.raft.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("missing", [PROPAINTER_FILE, FLOW_COMPLETION_FILE, RAFT_FILE])
def test_missing_file_is_named(tmp_path, saved, missing):
    for name in (PROPAINTER_FILE, FLOW_COMPLETION_FILE, RAFT_FILE):
        if name != missing:
            (tmp_path / name).write_bytes((saved / name).read_bytes())
    with pytest.raises(FileNotFoundError) as err:
        load_propainter(tmp_path)
    assert missing in str(err.value) and str(tmp_path) in str(err.value)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_propainter(tmp_path / "nowhere")


def test_wrong_file_is_rejected(tmp_path, saved):
    for name in (PROPAINTER_FILE, FLOW_COMPLETION_FILE):
        (tmp_path / name).write_bytes((saved / name).read_bytes())
    # raft-things.pth replaced by the flow-completion weights
    (tmp_path / RAFT_FILE).write_bytes((saved / FLOW_COMPLETION_FILE).read_bytes())
    with pytest.raises(ValueError, match=RAFT_FILE):
        load_propainter(tmp_path)
