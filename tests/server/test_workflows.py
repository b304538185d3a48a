"""Every example workflow is valid for the real server, and runs end to end on the sample media."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.harness.paths import REPO, media

pytestmark = pytest.mark.server

WORKFLOW_DIR = REPO / "workflows"
API_FILES = sorted((WORKFLOW_DIR / "api").glob("*.json"))
UI_FILES = sorted(WORKFLOW_DIR.glob("*.json"))


def test_every_ui_workflow_has_an_api_twin():
    assert UI_FILES, "no workflows in workflows/"
    assert {p.name for p in UI_FILES} == {p.name for p in API_FILES}


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_ui_workflow_uses_only_known_nodes(comfy, path: Path):
    info = comfy.object_info()
    workflow = json.loads(path.read_text())
    missing = sorted({n["type"] for n in workflow["nodes"]} - set(info))
    assert not missing, f"{path.name} uses unknown nodes: {missing}"


def shrink(prompt: dict) -> dict:
    """The same graph on a small, short input, so it runs in seconds on CPU."""
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "MimoLoadVideo":
            inputs.update(max_side=256, max_frames=6)
        if node["class_type"] == "MimoEstimateMotion":
            inputs.update(iterations=30)
        if node["class_type"] == "MimoGenerate" and "steps" in inputs:
            inputs.update(steps=2)
    return prompt


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.stem)
def test_api_workflow_runs_on_the_sample_media(comfy, path: Path):
    for name in ("demo.mp4", "astronaut.png"):
        if not (comfy.input_dir / name).exists():
            shutil.copy(media(name), comfy.input_dir / name)
    prompt = shrink(json.loads(path.read_text()))
    result = comfy.run(prompt, timeout=900)
    assert result.status == "success", result.describe()
    assert result.outputs, "the workflow produced no output"
