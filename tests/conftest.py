"""Shared fixtures: a real ComfyUI server and the real frontend in Chromium."""

from __future__ import annotations

import shutil

import pytest

from tests.harness.comfy import ComfyServer
from tests.harness.paths import ARTIFACTS, CHROMIUM


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    """The real ComfyUI server, started once per test session and stopped by PID at the end."""
    root = tmp_path_factory.mktemp("comfyui")
    server = ComfyServer(root)
    server.start()
    yield server
    server.stop()
    failures = server.pack_import_failures()
    assert not failures, "the pack logged import errors:\n" + "\n".join(failures)


@pytest.fixture(scope="session")
def browser_session():
    if not shutil.which(CHROMIUM) and not __import__("os").path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make setup` (installs Debian chromium)")
    from tests.harness.browser import BrowserSession

    session = BrowserSession()
    yield session
    session.close()


@pytest.fixture
def frontend(comfy, browser_session):
    """A fresh page of the real ComfyUI frontend; console errors are collected."""
    fe = browser_session.new_frontend(comfy.url)
    yield fe
    fe.page.context.close()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
