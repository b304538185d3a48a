"""The pack loads in a real ComfyUI server, documents its nodes, and runs a graph."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.server


def pack_nodes(comfy) -> dict[str, dict]:
    info = comfy.object_info()
    return {name: spec for name, spec in info.items() if "comfyui-mimo" in str(spec.get("python_module", ""))}


def test_server_log_shows_pack_loaded_without_error(comfy):
    log = comfy.log_text()
    assert "custom_nodes/comfyui-mimo" in log, "the pack is not in ComfyUI's custom-node import list"
    assert "IMPORT FAILED" not in log.split("custom_nodes/comfyui-mimo")[0].splitlines()[-1]
    assert comfy.pack_import_failures() == []


def test_every_pack_node_has_category_description_and_tooltips(comfy):
    nodes = pack_nodes(comfy)
    assert "MimoCompositeLayer" in nodes
    for name, spec in nodes.items():
        assert spec["category"].startswith("MIMO"), name
        assert len(spec["description"]) > 20, f"{name} has no description"
        assert spec["display_name"].startswith("MIMO"), name
        for section in ("required", "optional"):
            for input_name, input_spec in spec["input"].get(section, {}).items():
                options = input_spec[1] if len(input_spec) > 1 else {}
                assert options.get("tooltip"), f"{name}.{input_name} has no tooltip"


def composite_prompt(mask_size: int = 8) -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0xFF0000}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0x0000FF}},
        "3": {"class_type": "SolidMask", "inputs": {"value": 0.25, "width": mask_size, "height": mask_size}},
        "4": {"class_type": "MimoCompositeLayer", "inputs": {"frames": ["1", 0], "layer": ["2", 0], "mask": ["3", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "mimo_composite"}},
    }


def test_composite_graph_returns_expected_pixels(comfy):
    result = comfy.run(composite_prompt())
    assert result.status == "success", result.describe()
    images = result.outputs["5"]["images"]
    assert len(images) == 2
    pixels = np.asarray(Image.open(io.BytesIO(comfy.fetch_output(images[0]))).convert("RGB")).astype(int)
    # 0.25 * blue over 0.75 * red
    assert np.all(np.abs(pixels[..., 0] - 191) <= 1)
    assert np.all(pixels[..., 1] == 0)
    assert np.all(np.abs(pixels[..., 2] - 64) <= 1)


def test_bad_input_gives_clear_error_and_server_stays_healthy(comfy):
    result = comfy.run(composite_prompt(mask_size=4))
    assert result.status == "error"
    message = result.error["exception_message"]
    assert "mask" in message and "(4, 4)" in message and "(8, 8)" in message
    # the server keeps working after the failed job
    again = comfy.run(composite_prompt())
    assert again.status == "success"
