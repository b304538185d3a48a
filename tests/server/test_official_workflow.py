"""The official-weights workflow (workflows/api/mimo_official_sdc.json) runs end to end on the sample
media through the real server, with tiny random weights written in the official formats under the
server's model folders: the MIMO release layout (8-channel denoising UNet, motion module, ReferenceNet,
pose guider, VAE, CLIP image encoder, SD1.5-style unet config), an HMR 2.0 Lightning checkpoint, an
SMPL and an SMPL-H model file, the release's pickled sdc_info.npy colour table and the three
ProPainter files. Every node of the graph runs; only the file names are the tiny ones."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from mimo_core.preprocess.propainter import save_propainter
from scripts.make_tiny_mimo import build_tiny_pipeline
from scripts.workflow_specs import (
    HMR2_CHECKPOINT,
    OFFICIAL_MODEL,
    PROPAINTER,
    SDC_TABLE,
    SMPL_FILE,
    SMPLH_FILE,
)
from tests.harness.paths import REPO, media
from tests.server.test_backend_nodes import write_fake_smpl, write_tiny_hmr2
from tests.server.test_workflows import shrink
from tests.unit.generation._official_tiny import write_official_weights, write_release_colour_table
from tests.unit.propainter._propainter_tiny import make_tiny_models
from tests.unit.sdc._smplh_tiny import write_tiny_smplh

pytestmark = pytest.mark.server

WORKFLOW = REPO / "workflows" / "api" / "mimo_official_sdc.json"
# the workflow's file names -> the tiny stand-ins this test writes (other tests check that the real
# names are reported missing, so the stand-ins get names of their own)
TINY_NAMES = {
    OFFICIAL_MODEL: "tiny_official_mimo",
    HMR2_CHECKPOINT: "tiny_official_hmr2",
    SMPL_FILE: "SMPL_TINY_OFFICIAL.npz",
    SMPLH_FILE: "SMPLH_TINY_OFFICIAL.npz",
    SDC_TABLE: "sdc_info_tiny_official.npy",
    PROPAINTER: "tiny_official_propainter",
}
NODES = ("MimoLoadVideo", "MimoTrackPerson", "MimoEstimateMotionHmr2", "MimoRenderSdc", "MimoSplitLayers",
         "MimoInpaintSceneProPainter", "MimoPrepareReference", "MimoLoadPipeline", "MimoEncodeIdentity",
         "MimoGenerate", "MimoCompositeLayer", "MimoSideBySide", "CreateVideo", "SaveVideo")


@pytest.fixture(scope="module")
def server(comfy):
    models = comfy.models_dir
    write_official_weights(build_tiny_pipeline(in_channels=8, seed=0), models / "mimo" / TINY_NAMES[OFFICIAL_MODEL])
    write_tiny_hmr2(models / "hmr2" / TINY_NAMES[HMR2_CHECKPOINT])
    (models / "body_models").mkdir(parents=True, exist_ok=True)
    write_fake_smpl(models / "body_models" / TINY_NAMES[SMPL_FILE])
    write_tiny_smplh(models / "body_models" / TINY_NAMES[SMPLH_FILE])
    write_release_colour_table(models / "body_models" / TINY_NAMES[SDC_TABLE])
    save_propainter(make_tiny_models(), models / "propainter" / TINY_NAMES[PROPAINTER])
    for name in ("demo.mp4", "astronaut.png"):
        if not (comfy.input_dir / name).exists():
            shutil.copy(media(name), comfy.input_dir / name)
    return comfy


def tiny_prompt() -> dict:
    """The shipped graph, shrunk like the other workflows' runs, with the tiny files' names."""
    prompt = json.loads(WORKFLOW.read_text())
    found = set()
    for node in prompt.values():
        for key, value in node["inputs"].items():
            if isinstance(value, str) and value in TINY_NAMES:
                node["inputs"][key] = TINY_NAMES[value]
                found.add(value)
    assert found == set(TINY_NAMES), f"the workflow no longer names {sorted(set(TINY_NAMES) - found)}"
    prompt = shrink(prompt)
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "MimoLoadPipeline":  # shrink() picks the pack-format tiny model
            inputs["model"] = TINY_NAMES[OFFICIAL_MODEL]
        if node["class_type"] == "MimoEstimateMotionHmr2":
            inputs.update(batch_size=4)
        if node["class_type"] == "MimoInpaintSceneProPainter":
            inputs.update(dilate=2, neighbor_length=4, ref_stride=2, subvideo_length=8, raft_iters=2)
    return prompt


def test_the_workflow_is_the_official_chain():
    prompt = json.loads(WORKFLOW.read_text())
    by_type = {n["class_type"]: n["inputs"] for n in prompt.values()}
    assert set(NODES) <= set(by_type), sorted(set(NODES) - set(by_type))
    assert by_type["MimoRenderSdc"]["hands"] == "mediapipe" and "smplh" in by_type["MimoRenderSdc"][
        "body_model_file"].lower()
    generate = by_type["MimoGenerate"]
    assert generate["person_crop"] is True and generate["crop_size"] == 768
    assert "scene" in generate  # the 8-channel UNet conditions on the scene
    sdc_id = next(k for k, n in prompt.items() if n["class_type"] == "MimoRenderSdc")
    assert generate["pose"] == [sdc_id, 0]


def test_official_workflow_runs_with_tiny_official_weights(server):
    info = server.object_info("MimoLoadPipeline")["MimoLoadPipeline"]
    assert TINY_NAMES[OFFICIAL_MODEL] in str(info["input"]["required"]["model"])
    prompt = tiny_prompt()
    result = server.run(prompt, timeout=900)
    assert result.status == "success", result.describe()
    executed = {prompt[n]["class_type"] for n in result.executed_nodes if n in prompt}
    assert set(NODES) <= executed, sorted(set(NODES) - executed)
    frames = {}
    for node_id, node in prompt.items():
        if node["class_type"] != "SaveVideo":
            continue
        assert node_id in result.outputs, f"SaveVideo {node_id} wrote nothing"
        item = next(i for v in result.outputs[node_id].values() if isinstance(v, list)
                    for i in v if isinstance(i, dict) and "filename" in i)
        path = server.output_dir / item.get("subfolder", "") / item["filename"]
        capture = cv2.VideoCapture(str(path))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, frame = capture.read()
        capture.release()
        assert ok and count == 6, (path, count)
        frames[node["inputs"]["filename_prefix"]] = frame
    result_frame = frames["mimo/official_result"]
    assert result_frame.shape[1] == 256 and result_frame.std() > 5  # the video's own size, a real picture
    assert np.isfinite(result_frame).all()
