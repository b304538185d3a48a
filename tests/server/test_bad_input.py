"""Bad input through the real server: each case ends with a clear message naming the input, and the
server stays healthy (a small good prompt runs right after)."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import websocket
from PIL import Image

from mimo_core.video_io import VideoWriter
from scripts.make_tiny_mimo import make_tiny_mimo
from tests.harness.paths import media

pytestmark = pytest.mark.server
MODEL = "tiny_bad_input"


@pytest.fixture(scope="module")
def server(comfy):
    make_tiny_mimo(comfy.models_dir / "mimo" / MODEL)
    inputs = comfy.input_dir
    if not (inputs / "bad_person.mp4").exists():
        shutil.copy(media("demo.mp4"), inputs / "bad_person.mp4")
    with VideoWriter(inputs / "bad_empty_room.mp4", fps=10) as w:  # plain colours, nobody in it
        w.write(np.stack([np.full((96, 128, 3), (0.2 + 0.1 * i, 0.5, 0.7), np.float32) for i in range(4)]))
    with VideoWriter(inputs / "bad_wide.mp4", fps=10) as w:  # longer side above the 4096-pixel limit
        w.write(np.zeros((2, 32, 4800, 3), np.uint8) + 90)
    rgba = np.zeros((96, 64, 4), np.uint8)
    rgba[..., :3] = np.asarray(Image.open(media("astronaut.png")).convert("RGB").resize((64, 96)))
    rgba[20:80, 10:54, 3] = 255
    Image.fromarray(rgba, "RGBA").save(inputs / "bad_rgba.png")
    corrupt = comfy.models_dir / "mimo" / "bad_corrupt"
    corrupt.mkdir(parents=True, exist_ok=True)
    shutil.copytree(comfy.models_dir / "mimo" / MODEL, corrupt, dirs_exist_ok=True)
    (corrupt / "video_unet.safetensors").write_bytes(b"\x00garbage, not a safetensors file" * 10)
    wrong = comfy.models_dir / "mimo" / "bad_wrong_format"
    wrong.mkdir(parents=True, exist_ok=True)
    (wrong / "model.ckpt").write_bytes(b"PK\x03\x04 not a MIMO model")
    return comfy


def load(video: str, max_side: int = 64, frames: int = 4, start: int = 0, node: str = "1") -> dict:
    return {node: {"class_type": "MimoLoadVideo", "inputs": {
        "video": video, "max_side": max_side, "frame_stride": 1, "max_frames": frames, "start_frame": start}}}


def assert_healthy(server) -> None:
    """A small good prompt runs after the failure."""
    prompt = load("bad_person.mp4", frames=2)
    prompt["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    result = server.run(prompt, timeout=120)
    assert result.status == "success", result.describe()


def run_error(server, prompt: dict, node: str, *words: str) -> str:
    result = server.run(prompt, timeout=300)
    assert result.status == "error", f"expected an error, got {result.status}"
    assert result.error["node_id"] == node, result.describe()
    message = result.error["exception_message"]
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    assert_healthy(server)
    return message


def test_video_without_a_person(server):
    prompt = load("bad_empty_room.mp4")
    prompt["2"] = {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}}
    prompt["3"] = {"class_type": "PreviewImage", "inputs": {"images": ["2", 2]}}
    run_error(server, prompt, "2", "frames", "no person was found")


def test_mismatched_lengths_and_sizes(server):
    prompt = {**load("bad_person.mp4", max_side=192, frames=4), **load("bad_person.mp4", max_side=256, frames=3, node="2")}
    prompt["3"] = {"class_type": "MimoTrackPerson", "inputs": {"frames": ["2", 0], "select": "largest", "person_index": 0}}
    prompt["4"] = {"class_type": "MimoSplitLayers", "inputs": {"frames": ["1", 0], "person_mask": ["3", 0], "depth_margin": 0.05}}
    prompt["5"] = {"class_type": "PreviewImage", "inputs": {"images": ["4", 1]}}
    run_error(server, prompt, "4", "person_mask", "3 frames of 256x144", "4 frames of 192x108")

    # Generation: a scene video of another length than the pose video.
    gen = {**load("bad_person.mp4", frames=4), **load("bad_person.mp4", frames=2, node="2")}
    gen.update({
        "3": {"class_type": "MimoLoadPipeline", "inputs": {"model": MODEL}},
        "4": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["3", 0], "reference": ["1", 0]}},
        "5": {"class_type": "MimoGenerate", "inputs": {
            "pipeline": ["3", 0], "identity": ["4", 0], "pose": ["1", 0], "scene": ["2", 0],
            "steps": 2, "cfg": 3.5, "seed": 0, "window": 4, "overlap": 1}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    })
    run_error(server, gen, "5", "scene", "2 frames", "pose is 4 frames")


def test_start_frame_past_the_end(server):
    prompt = load("bad_person.mp4", start=100000)
    prompt["2"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    run_error(server, prompt, "1", "start_frame", "past the end", "bad_person.mp4")


def test_rgba_picture_is_used_as_rgb(server):
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "bad_rgba.png"}},
        "2": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["1", 0], "alpha": ["1", 1]}},  # 4 channels
        "3": {"class_type": "MimoPrepareReference", "inputs": {
            "image": ["2", 0], "width": 64, "height": 96, "margin": 0.1, "background": "white"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    result = server.run(prompt, timeout=120)
    # The alpha is dropped: the reference node cuts the character out itself.
    assert result.status == "success", result.describe()
    assert len(result.outputs["4"]["images"]) == 1
    assert_healthy(server)


def test_huge_video_is_read_scaled_down(server):
    prompt = load("bad_wide.mp4", max_side=0, frames=2)
    prompt["2"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    result = server.run(prompt, timeout=120)
    assert result.status == "success", result.describe()
    assert "scaled down to 4096" in server.log_text()


def test_huge_pose_is_refused_before_sampling(server):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 4096, "height": 1280, "batch_size": 1, "color": 0}},
        "2": {"class_type": "MimoLoadPipeline", "inputs": {"model": MODEL}},
        "3": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["2", 0], "reference": ["1", 0]}},
        "4": {"class_type": "MimoGenerate", "inputs": {
            "pipeline": ["2", 0], "identity": ["3", 0], "pose": ["1", 0], "scene": ["1", 0],
            "steps": 2, "cfg": 3.5, "seed": 0, "window": 4, "overlap": 1}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    run_error(server, prompt, "4", "pose", "4096x1280", "max_side")


@pytest.mark.parametrize("model, words", [
    ("bad_corrupt", ()),
    ("bad_corrupt", ("video_unet.safetensors",)),
    ("bad_wrong_format", ("bad_wrong_format", "pipeline.json", "model.ckpt")),
], ids=["corrupt-fails-cleanly", "corrupt-names-file", "wrong-format"])
def test_corrupt_or_wrong_weights(server, model, words):
    prompt = {
        "1": {"class_type": "MimoLoadPipeline", "inputs": {"model": model}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "bad_rgba.png"}},
        "3": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["1", 0], "reference": ["2", 0]}},
        "4": {"class_type": "MimoGenerate", "inputs": {
            "pipeline": ["1", 0], "identity": ["3", 0], "pose": ["2", 0], "scene": ["2", 0],
            "steps": 2, "cfg": 3.5, "seed": 0, "window": 4, "overlap": 1}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    run_error(server, prompt, "1", *words)


def test_cancel_during_sampling_then_run_again(server):
    prompt = {
        **load("bad_person.mp4", frames=8),
        "2": {"class_type": "MimoLoadPipeline", "inputs": {"model": MODEL}},
        "3": {"class_type": "MimoEncodeIdentity", "inputs": {"pipeline": ["2", 0], "reference": ["1", 0]}},
        "4": {"class_type": "MimoGenerate", "inputs": {
            "pipeline": ["2", 0], "identity": ["3", 0], "pose": ["1", 0], "scene": ["1", 0],
            "steps": 200, "cfg": 3.5, "seed": 11, "window": 4, "overlap": 1}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={server.client_id}", timeout=300)
    try:
        prompt_id = server.queue(prompt)
        interrupted_at, ended = None, None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and ended is None:
            raw = ws.recv()
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            data = msg.get("data", {})
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if msg["type"] == "progress" and data.get("node") == "4" and interrupted_at is None and data["value"] >= 2:
                interrupted_at = data["value"]
                server.interrupt()
            elif msg["type"] in ("execution_interrupted", "execution_success", "execution_error"):
                ended = msg["type"]
    finally:
        ws.close()
    assert interrupted_at is not None, "sampling never reported progress"
    assert ended == "execution_interrupted", ended
    assert interrupted_at < 200
    assert_healthy(server)
