"""Fixtures for the generation tests: tiny random MIMO pipelines, built once per module."""

from __future__ import annotations

import pytest
import torch

from scripts.make_tiny_mimo import build_tiny_pipeline


@pytest.fixture(scope="session", autouse=True)
def _single_thread():
    """One intra-op thread: the tiny models are overhead-bound and CI has two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny8():
    return build_tiny_pipeline(in_channels=8, seed=0)


@pytest.fixture(scope="session")
def tiny4():
    return build_tiny_pipeline(in_channels=4, seed=1)


@pytest.fixture(scope="session")
def tiny12():
    return build_tiny_pipeline(in_channels=12, seed=2)


def smooth_video(frames: int, height: int, width: int, seed: int) -> torch.Tensor:
    """``[T,H,W,3]`` smooth random video in 0..1 (deterministic)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(frames, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear").permute(0, 2, 3, 1)
