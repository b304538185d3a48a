"""Shared fixtures: the real sample clip and photo (fetched by scripts/setup.sh)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]


def media_dir() -> Path:
    return Path(os.environ.get("MIMO_MEDIA_DIR", REPO / ".cache" / "media"))


def media_file(name: str) -> Path:
    path = media_dir() / name
    if not path.is_file():
        pytest.fail(
            f"sample media {str(path)!r} is missing: run scripts/setup.sh (it fetches demo.mp4 and "
            "astronaut.png) or point MIMO_MEDIA_DIR at a folder holding them"
        )
    return path


@pytest.fixture(scope="session")
def demo_path() -> Path:
    return media_file("demo.mp4")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import cv2

    img = cv2.imread(str(media_file("astronaut.png")), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


@pytest.fixture(scope="session")
def walking_clip(demo_path: Path) -> np.ndarray:
    """12 frames (every 4th from frame 80) at 512 px wide: the walking woman (largest)
    and, in the first frames, a person standing on the box."""
    from mimo_core.video_io import read_video

    return read_video(demo_path, max_side=512, start=80, stride=4, max_frames=12)


@pytest.fixture(scope="session")
def walking_track(walking_clip: np.ndarray):
    from mimo_core.preprocess.tracking import track_person

    return track_person(walking_clip, select="largest")
