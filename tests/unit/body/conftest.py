"""Shared fixtures: one Anny model per test session (its first creation may build Anny's data cache)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anny_body():
    from mimo_core.body import AnnyBody

    return AnnyBody()
