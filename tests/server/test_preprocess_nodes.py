"""Preprocessing nodes on the real sample clip, through the real ComfyUI server."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.harness.paths import media

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def sample_clip(comfy) -> str:
    target = comfy.input_dir / "mimo_sample.mp4"
    if not target.exists():
        shutil.copy(media("demo.mp4"), target)
    return target.name


def load_video_node(name: str, max_frames: int = 12) -> dict:
    return {"class_type": "MimoLoadVideo", "inputs": {
        "video": name, "max_side": 384, "frame_stride": 3, "max_frames": max_frames, "start_frame": 0}}


def test_load_and_track_person_on_real_footage(comfy, sample_clip):
    prompt = {
        "1": load_video_node(sample_clip),
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "mimo_mask"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["2", 2]}},
    }
    result = comfy.run(prompt, timeout=600)
    assert result.status == "success", result.describe()
    masks = [
        np.asarray(Image.open(io.BytesIO(comfy.fetch_output(item))).convert("L"), dtype=np.float32) / 255.0
        for item in result.outputs["4"]["images"]
    ]
    assert len(masks) == 12
    assert masks[0].shape == (216, 384)
    coverage = np.array([(m > 0.5).mean() for m in masks])
    # one person, full body, walking: a few percent of the frame in nearly every frame
    assert (coverage > 0.01).sum() >= 10, coverage
    assert coverage.max() < 0.4, coverage
    # the tracker drove the progress bar
    assert any(p.get("node") == "2" for p in result.progress)
    assert len(result.outputs["5"]["images"]) == 12


def test_missing_video_is_rejected_with_its_name(comfy):
    from tests.harness.comfy import PromptRejected

    with pytest.raises(PromptRejected) as err:
        comfy.queue({"1": load_video_node("no_such_clip.mp4"),
                     "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}})
    assert "no_such_clip.mp4" in str(err.value)


def test_layers_and_inpainting_reproduce_the_input(comfy, sample_clip):
    """Person + scene layers composite back to the input; the inpainted scene has no person."""
    prompt = {
        "1": load_video_node(sample_clip, max_frames=8),
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MimoSplitLayers", "inputs": {"frames": ["1", 0], "person_mask": ["2", 0], "depth_margin": 0.05}},
        "4": {"class_type": "MimoCompositeLayer", "inputs": {"frames": ["3", 5], "layer": ["3", 1], "mask": ["3", 2]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "mimo_recomposed"}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "mimo_input"}},
        "7": {"class_type": "MimoInpaintScene", "inputs": {"frames": ["3", 5], "holes": ["3", 6], "camera": "static", "dilate": 4}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "mimo_scene"}},
        "9": {"class_type": "MaskToImage", "inputs": {"mask": ["3", 6]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "mimo_holes"}},
    }
    result = comfy.run(prompt, timeout=600)
    assert result.status == "success", result.describe()

    def frames(node):
        return [np.asarray(Image.open(io.BytesIO(comfy.fetch_output(i))).convert("RGB"), dtype=np.float32) / 255
                for i in result.outputs[node]["images"]]

    inputs, recomposed, scene, holes = frames("6"), frames("5"), frames("8"), frames("10")
    assert len(inputs) == len(recomposed) == len(scene) == 8
    for x, y in zip(inputs, recomposed, strict=True):
        assert np.abs(x - y).max() <= 2 / 255
    # the scene is the input away from the (4 px dilated) holes, and filled (not black) inside them
    from scipy.ndimage import maximum_filter

    for x, s, m in zip(inputs, scene, holes, strict=True):
        hole = m[..., 0] > 0.5
        grown = maximum_filter(m[..., 0] > 0.4, size=9)  # 0.4: margin for 8-bit rounding of the mask
        assert hole.mean() > 0.005
        assert np.abs(x[~grown] - s[~grown]).max() <= 2 / 255
        assert s[hole].mean() > 0.15


def test_prepare_reference_on_the_astronaut(comfy):
    shutil.copy(media("astronaut.png"), comfy.input_dir / "astronaut.png")
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
        "2": {"class_type": "MimoPrepareReference", "inputs": {
            "image": ["1", 0], "width": 256, "height": 384, "margin": 0.1, "background": "white"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "mimo_ref"}},
    }
    result = comfy.run(prompt, timeout=300)
    assert result.status == "success", result.describe()
    (item,) = result.outputs["3"]["images"]
    ref = np.asarray(Image.open(io.BytesIO(comfy.fetch_output(item))).convert("RGB"), dtype=np.float32) / 255
    assert ref.shape == (384, 256, 3)
    # the corners are background (white), the centre is the astronaut (not white)
    assert ref[:8, :8].min() > 0.95
    assert ref[150:250, 100:156].mean() < 0.9
