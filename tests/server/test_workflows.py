"""Every example workflow is valid for the real server, and runs end to end on the sample media
(generation with a tiny random MIMO model in place of the shipped one; the workflows of
OWN_RUN_TEST are run by their own test, with tiny weights in the formats they need)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts.make_tiny_mimo import make_tiny_mimo
from scripts.workflow_specs import OWN_RUN_TEST, VALIDATE_ONLY, WORKFLOWS
from tests.harness.paths import REPO, media

pytestmark = pytest.mark.server

WORKFLOW_DIR = REPO / "workflows"
API_FILES = sorted((WORKFLOW_DIR / "api").glob("*.json"))
UI_FILES = sorted(WORKFLOW_DIR.glob("*.json"))
RUNNABLE = [p for p in API_FILES if p.stem not in VALIDATE_ONLY and p.stem not in OWN_RUN_TEST]
FRONTEND_ONLY_NODES = {"Note", "MarkdownNote"}
TINY_MODEL = "tiny_workflows"


def test_every_ui_workflow_has_an_api_twin():
    assert UI_FILES, "no workflows in workflows/"
    assert {p.name for p in UI_FILES} == {p.name for p in API_FILES}
    assert {p.stem for p in API_FILES} == set(WORKFLOWS), "workflows/ is out of date: run scripts/export_workflows.py"


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.stem)
def test_api_workflow_is_what_the_specs_build(path: Path):
    built = json.loads(json.dumps(WORKFLOWS[path.stem][1]()))
    assert json.loads(path.read_text()) == built, f"{path.name} is out of date: run scripts/export_workflows.py"


def test_every_workflow_is_run_or_explained():
    for name, test in OWN_RUN_TEST.items():
        assert name in WORKFLOWS and (REPO / test).is_file(), (name, test)
    assert not set(OWN_RUN_TEST) & VALIDATE_ONLY


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_ui_workflow_uses_only_known_nodes(comfy, path: Path):
    info = comfy.object_info()
    workflow = json.loads(path.read_text())
    missing = sorted({n["type"] for n in workflow["nodes"]} - set(info) - FRONTEND_ONLY_NODES)
    assert not missing, f"{path.name} uses unknown nodes: {missing}"


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.stem)
def test_api_workflow_matches_the_node_definitions(comfy, path: Path):
    """Every node exists, every input is known, required inputs are set, links connect matching types."""
    info = comfy.object_info()
    prompt = json.loads(path.read_text())
    problems = []
    for node_id, node in prompt.items():
        spec = info.get(node["class_type"])
        if spec is None:
            problems.append(f"{node_id}: unknown node {node['class_type']}")
            continue
        required, optional = spec["input"].get("required", {}), spec["input"].get("optional", {})
        problems += [f"{node_id}.{k}: required input missing" for k in required if k not in node["inputs"]]
        for name, value in node["inputs"].items():
            declared = required.get(name) or optional.get(name)
            if declared is None:
                problems.append(f"{node_id}.{name}: not an input of {node['class_type']}")
                continue
            if isinstance(value, list):
                source = prompt.get(value[0])
                if source is None:
                    problems.append(f"{node_id}.{name}: links to missing node {value[0]}")
                    continue
                produced = info[source["class_type"]]["output"][value[1]]
                expected = declared[0]
                if not isinstance(expected, list) and expected != "COMBO" and "*" not in (produced, expected) \
                        and produced != expected:
                    problems.append(f"{node_id}.{name}: {expected} input fed {produced} from {value[0]}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def shrink(prompt: dict) -> dict:
    """The same graph on a small, short input, so it runs in seconds on CPU."""
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "MimoLoadVideo":
            inputs.update(max_side=256, max_frames=6)
        if node["class_type"] == "MimoEstimateMotion":
            inputs.update(iterations=30)
        if node["class_type"] == "MimoGenerate":
            inputs.update(steps=2, window=4, overlap=1)
            if inputs.get("person_crop"):
                inputs.update(crop_size=min(int(inputs.get("crop_size", 64)), 64))
        if node["class_type"] in ("MimoPrepareReference", "MimoAPoseMotion"):
            inputs.update(width=64, height=96)
        if node["class_type"] == "MimoReposeReference":
            inputs.update(steps=2)
        if node["class_type"] == "MimoLoadPipeline":
            inputs.update(model=TINY_MODEL)
    return prompt


@pytest.fixture(scope="module")
def server(comfy):
    """The shared server with the tiny MIMO model and the sample inputs the workflows name."""
    make_tiny_mimo(comfy.models_dir / "mimo" / TINY_MODEL)
    for name in ("demo.mp4", "astronaut.png"):
        if not (comfy.input_dir / name).exists():
            shutil.copy(media(name), comfy.input_dir / name)
    scene = comfy.input_dir / "mimo_scene.png"
    if not scene.exists():  # a real background: the sample clip's last frame
        from mimo_core.video_io import read_video

        frame = read_video(media("demo.mp4"), start=200, max_frames=1)[0]
        frame = np.asarray(frame)
        frame = (frame * 255).round().astype(np.uint8) if frame.dtype != np.uint8 else frame
        Image.fromarray(frame).save(scene)
    return comfy


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.stem)
def test_api_workflow_runs_on_the_sample_media(server, path: Path):
    prompt = shrink(json.loads(path.read_text()))
    result = server.run(prompt, timeout=900)
    assert result.status == "success", result.describe()
    assert result.outputs, "the workflow produced no output"
    videos = [k for k, n in prompt.items() if n["class_type"] == "SaveVideo"]
    for node_id in videos:
        assert node_id in result.outputs, f"SaveVideo {node_id} wrote nothing"
