"""Tiny ProPainter models (published layouts, reduced widths) and manifest access for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mimo_core.preprocess.propainter import (
    InpaintGenerator,
    ProPainterConfig,
    ProPainterModels,
    RaftConfig,
    RaftFlow,
    RecurrentFlowCompleteNet,
)

REPO = Path(__file__).resolve().parents[3]
MANIFEST_DIR = REPO.parent / "shared" / "checkpoint_manifests"

TINY_RAFT = RaftConfig(
    feature_layers=(8, 8, 12, 16, 32), context_layers=(8, 8, 12, 16, 32), corr_levels=2, corr_radius=2,
    corr_layers=(32, 24), flow_layers=(16, 8), motion_out=32, hidden=16, flow_head_hidden=32, mask_hidden=32,
)
TINY_GENERATOR = ProPainterConfig(base_width=8, hidden=32, depths=2, ffn_hidden=98)


def manifest(name: str) -> dict[str, tuple[list[int], str]]:
    """{key: (shape, dtype)} of ``propainter_<name>_manifest.json``; skips when ../shared is absent."""
    path = MANIFEST_DIR / f"propainter_{name}_manifest.json"
    if not path.is_file():
        pytest.skip(f"checkpoint manifest {path} not available (../shared is absent)")
    keys = json.loads(path.read_text())["keys"]
    return {k: (list(v["shape"]), v["dtype"]) for k, v in keys.items()}


def layout(state: dict[str, torch.Tensor]) -> dict[str, tuple[list[int], str]]:
    """{key: (shape, dtype)} of a state dict, dtype spelled as in the manifests."""
    return {k: (list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}


def _randomize(module: torch.nn.Module, seed: int) -> None:
    """Random float parameters/buffers (so zero-initialised offset heads are exercised)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=gen) * 0.1)


def make_tiny_models(seed: int = 0) -> ProPainterModels:
    """Three randomly initialised tiny networks in eval mode."""
    raft = RaftFlow(TINY_RAFT)
    flow = RecurrentFlowCompleteNet(base=8)
    gen = InpaintGenerator(TINY_GENERATOR)
    for i, m in enumerate((raft, flow, gen)):
        _randomize(m, seed + i)
    return ProPainterModels(raft=raft.eval(), flow_complete=flow.eval(), generator=gen.eval())
