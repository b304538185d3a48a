"""Where the test harness finds the repo, the ComfyUI install, the venv and the sample media."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMFY_DIR = Path(os.environ.get("MIMO_COMFYUI_DIR", REPO / ".comfyui"))
MEDIA_DIR = Path(os.environ.get("MIMO_MEDIA_DIR", REPO / ".cache" / "media"))
ARTIFACTS = Path(os.environ.get("MIMO_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = os.environ.get("MIMO_CHROMIUM", "/usr/bin/chromium")


def media(name: str) -> Path:
    """Path of a sample media file fetched by ``scripts/setup.sh``; fails loudly if absent."""
    path = MEDIA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"sample media {path} is missing: run `make setup` (scripts/setup.sh) first")
    return path
