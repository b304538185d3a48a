"""3D body motion nodes on the real sample clip, through the real ComfyUI server."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.harness.paths import media

pytestmark = pytest.mark.server


def images(comfy, result, node):
    return [np.asarray(Image.open(io.BytesIO(comfy.fetch_output(i))).convert("RGB"), dtype=np.float32) / 255
            for i in result.outputs[node]["images"]]


def test_motion_fit_renders_over_the_tracked_person(comfy):
    target = comfy.input_dir / "mimo_walk.mp4"
    if not target.exists():
        shutil.copy(media("demo.mp4"), target)
    prompt = {
        # the walking woman, side-on, frames 120.. of the clip
        "1": {"class_type": "MimoLoadVideo", "inputs": {
            "video": target.name, "max_side": 384, "frame_stride": 2, "max_frames": 8, "start_frame": 120}},
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MimoEstimateMotion", "inputs": {
            "frames": ["1", 0], "track": ["2", 1], "body_model": "anny", "iterations": 60, "fit_shape": False,
            "fps": 15.0}},
        "4": {"class_type": "MimoRenderPose", "inputs": {"motion": ["3", 0], "mode": "parts", "width": 0, "height": 0}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "mimo_pose"}},
        "6": {"class_type": "MaskToImage", "inputs": {"mask": ["4", 1]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "mimo_sil"}},
        "8": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "mimo_person"}},
        "10": {"class_type": "MimoSaveMotion", "inputs": {"motion": ["3", 0], "filename_prefix": "mimo/motion"}},
    }
    result = comfy.run(prompt, timeout=900)
    assert result.status == "success", result.describe()
    pose, sil, person = images(comfy, result, "5"), images(comfy, result, "7"), images(comfy, result, "9")
    assert len(pose) == len(sil) == len(person) == 8
    assert pose[0].shape == (216, 384, 3)
    ious = []
    for s, p in zip(sil, person, strict=True):
        a, b = s[..., 0] > 0.5, p[..., 0] > 0.5
        if b.sum() > 0:
            ious.append((a & b).sum() / max((a | b).sum(), 1))
    # the fitted body lies over the person (a loose bound: a 60-step fit of a generic body)
    assert np.median(ious) > 0.3, ious
    # the pose render is coloured (distinct body parts), not a flat silhouette
    body = pose[0][sil[0][..., 0] > 0.5]
    assert body.std(0).mean() > 0.05
    assert any(p.get("node") == "3" for p in result.progress)
    (saved,) = result.outputs["10"]["motion"]
    path = comfy.output_dir / saved["subfolder"] / saved["filename"]
    assert path.is_file(), f"motion file {path} not written"

    # the saved motion loads back through MIMO Load Motion and renders the same silhouette
    shutil.copy(path, comfy.input_dir / "walk.motion.safetensors")
    again = comfy.run({
        "1": {"class_type": "MimoLoadMotion", "inputs": {"file": "walk.motion.safetensors"}},
        "2": {"class_type": "MimoRenderPose", "inputs": {"motion": ["1", 0], "mode": "silhouette", "width": 0, "height": 0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "mimo_sil_loaded"}},
    }, timeout=300)
    assert again.status == "success", again.describe()
    reloaded = images(comfy, again, "3")
    assert np.abs(reloaded[0] - sil[0]).max() < 1e-6
