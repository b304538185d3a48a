"""Fixtures of the HMR 2.0 tests."""

from __future__ import annotations

import sys
import types

import pytest


@pytest.fixture
def fake_cfgnode_class():
    """A ``yacs.config.CfgNode``-like dict subclass importable only while the fixture runs."""
    mod = types.ModuleType("fake_yacs_config")

    class CfgNode(dict):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.__dict__["frozen"] = False

    CfgNode.__module__ = "fake_yacs_config"
    CfgNode.__qualname__ = "CfgNode"
    mod.CfgNode = CfgNode
    sys.modules["fake_yacs_config"] = mod
    yield CfgNode
    del sys.modules["fake_yacs_config"]
