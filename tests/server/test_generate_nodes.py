"""MIMO generation nodes through the real ComfyUI server, with a tiny random pipeline in models/mimo."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from scripts.make_tiny_mimo import make_tiny_mimo
from tests.harness.paths import media

pytestmark = pytest.mark.server
MODEL = "tiny_test"


@pytest.fixture(scope="module")
def server(comfy):
    """The shared real server, with the tiny pipeline written into its 'mimo' model folder."""
    make_tiny_mimo(comfy.models_dir / "mimo" / MODEL)
    return comfy


def generate_prompt(video: str, frames: int, model: str = MODEL) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
        "2": {"class_type": "MimoPrepareReference", "inputs": {
            "image": ["1", 0], "width": 64, "height": 64, "margin": 0.1, "background": "white"}},
        "3": {"class_type": "MimoLoadPipeline", "inputs": {"model": model}},
        "4": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["3", 0], "reference": ["2", 0]}},
        "5": {"class_type": "MimoLoadVideo", "inputs": {
            "video": video, "max_side": 64, "frame_stride": 2, "max_frames": frames, "start_frame": 0}},
        "6": {"class_type": "MimoGenerate", "inputs": {
            "pipeline": ["3", 0], "identity": ["4", 0], "pose": ["5", 0], "scene": ["5", 0],
            "steps": 2, "cfg": 3.5, "seed": 7, "window": 4, "overlap": 1}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "mimo_generated"}},
    }


@pytest.fixture(scope="module")
def inputs(server) -> str:
    shutil.copy(media("astronaut.png"), server.input_dir / "astronaut.png")
    shutil.copy(media("demo.mp4"), server.input_dir / "mimo_generate.mp4")
    return "mimo_generate.mp4"


def test_the_tiny_pipeline_is_offered(server):
    options = server.object_info("MimoLoadPipeline")["MimoLoadPipeline"]["input"]["required"]["model"]
    assert MODEL in str(options)


def test_generate_video_with_progress(server, inputs):
    result = server.run(generate_prompt(inputs, frames=6), timeout=600)
    assert result.status == "success", result.describe()
    frames = [np.asarray(Image.open(io.BytesIO(server.fetch_output(item))).convert("RGB"))
              for item in result.outputs["7"]["images"]]
    assert len(frames) == 6
    assert frames[0].shape == (36, 64, 3)  # the pose video's size (1768x994 scaled to 64 wide)
    assert np.std(np.stack(frames)) > 1
    steps = [p for p in result.progress if p.get("node") == "6"]
    assert steps and steps[-1]["value"] == steps[-1]["max"] == 2, result.progress


def test_generate_with_person_crops(server, inputs):
    """person_crop on: windows generated at crop_size, pasted back into full frames; progress over all windows."""
    prompt = generate_prompt(inputs, frames=6)
    prompt["6"]["inputs"].update(person_crop=True, crop_size=32)
    prompt["7"]["inputs"]["filename_prefix"] = "mimo_generated_crop"
    result = server.run(prompt, timeout=600)
    assert result.status == "success", result.describe()
    frames = [np.asarray(Image.open(io.BytesIO(server.fetch_output(item))).convert("RGB"))
              for item in result.outputs["7"]["images"]]
    assert len(frames) == 6 and frames[0].shape == (36, 64, 3)  # full frames, not crops
    steps = [p for p in result.progress if p.get("node") == "6"]
    # 6 frames in windows of 4 sharing 1: 2 windows, sampled one after another, 2 steps each
    assert steps and steps[-1]["value"] == steps[-1]["max"] == 4, result.progress


def test_missing_model_is_rejected_with_its_name(server, inputs):
    from tests.harness.comfy import PromptRejected

    with pytest.raises(PromptRejected) as err:
        server.queue(generate_prompt(inputs, frames=2, model="no_such_model"))
    assert "no_such_model" in str(err.value)


def test_reference_redrawn_in_the_a_pose(server, inputs):
    """MIMO A-Pose Motion -> MIMO Render Pose -> MIMO Repose Reference: one picture at the pose's size,
    with progress, that MIMO Encode Identity takes back."""
    prompt = generate_prompt(inputs, frames=2)
    for key in ("5", "6", "7"):
        del prompt[key]
    prompt.update({
        "10": {"class_type": "MimoAPoseMotion", "inputs": {
            "body_model": "anny", "width": 48, "height": 64, "arm_angle": 45.0, "fill": 0.85}},
        "11": {"class_type": "MimoRenderPose", "inputs": {"motion": ["10", 0], "mode": "parts", "width": 0,
                                                          "height": 0}},
        "12": {"class_type": "MimoReposeReference", "inputs": {
            "pipeline": ["3", 0], "identity": ["4", 0], "pose": ["11", 0], "background": "white", "steps": 2,
            "cfg": 3.5, "seed": 1}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "mimo_a_pose"}},
        "14": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "mimo_a_pose_render"}},
        "15": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["3", 0], "reference": ["12", 0]}},
    })
    result = server.run(prompt, timeout=600)
    assert result.status == "success", result.describe()
    (picture,) = [np.asarray(Image.open(io.BytesIO(server.fetch_output(i))).convert("RGB"))
                  for i in result.outputs["13"]["images"]]
    (render,) = [np.asarray(Image.open(io.BytesIO(server.fetch_output(i))).convert("RGB"))
                 for i in result.outputs["14"]["images"]]
    assert picture.shape == render.shape == (64, 48, 3)
    # the render is the A-pose: a body in the middle, arms out to both sides of the torso
    body = render.max(-1) > 0
    rows = np.nonzero(body.any(1))[0]
    assert 0.8 * 64 <= rows.max() - rows.min() + 1 <= 0.9 * 64
    shoulder_row = body[rows.min() + int(0.35 * (rows.max() - rows.min()))]
    assert np.count_nonzero(np.diff(shoulder_row.astype(np.int8)) != 0) >= 4  # arm, torso, arm
    assert np.std(picture) > 1
    steps = [p for p in result.progress if p.get("node") == "12"]
    assert steps and steps[-1]["value"] == steps[-1]["max"] == 2, result.progress
