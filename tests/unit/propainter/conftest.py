"""Fixtures for the ProPainter tests."""

from __future__ import annotations

import pytest
import torch
from _propainter_tiny import make_tiny_models

from mimo_core.preprocess.propainter import ProPainterModels


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the suite is small and shares the machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_models() -> ProPainterModels:
    return make_tiny_models()
