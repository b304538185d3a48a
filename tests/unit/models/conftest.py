"""Fixtures for the model / checkpoint tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _mimo_tiny import MANIFEST_DIR


@pytest.fixture(autouse=True)
def _deterministic_single_thread():
    """Seeded, and one intra-op thread: these tiny models are overhead-bound and CI has two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def manifest_dir() -> Path:
    if not MANIFEST_DIR.is_dir():
        pytest.skip(
            f"checkpoint manifests not found at {MANIFEST_DIR} (../shared is not beside the repository)"
        )
    return MANIFEST_DIR
