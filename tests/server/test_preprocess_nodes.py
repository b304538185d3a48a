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
    assert result.status == "success", result.error
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
