"""Full-backend and sdc nodes through the real ComfyUI server, with tiny random weights written in the
official file formats: an HMR 2.0 Lightning checkpoint, the three ProPainter files, an SMPL-like
model file (.npz) and a random per-vertex colour table."""

from __future__ import annotations

import io
import shutil
import uuid

import numpy as np
import pytest
import torch
from PIL import Image

from mimo_core.body import MotionSequence
from mimo_core.preprocess.propainter import save_propainter
from mimo_core.sdc.synthetic import figure_mesh
from tests.harness.comfy import PromptRejected
from tests.harness.paths import media
from tests.unit.hmr2._hmr2_tiny import TINY, lightning_checkpoint, tiny_model
from tests.unit.propainter._propainter_tiny import make_tiny_models

pytestmark = pytest.mark.server

HMR2 = "tiny_hmr2"
PROPAINTER = "tiny_propainter"
SMPL = "SMPL_TINY_TEST.npz"
TABLE = "sdc_tiny_test.npy"
SMPL_VERTICES = 6890  # smplx reads landmark joints by their SMPL vertex index


def write_fake_smpl(path) -> None:
    """An SMPL-layout model file: a six-ellipsoid figure (y up, facing +z) padded to 6,890 vertices,
    every vertex bound to the pelvis, shape directions small and random."""
    verts, faces = figure_mesh(10, 16)
    rng = np.random.default_rng(0)
    template = np.repeat(verts.numpy().mean(0, keepdims=True), SMPL_VERTICES, 0)
    template[: len(verts)] = verts.numpy()
    weights = np.zeros((SMPL_VERTICES, 24))
    weights[:, 0] = 1.0
    regressor = np.zeros((24, SMPL_VERTICES))
    regressor[:, : len(verts)] = 1.0 / len(verts)
    parents = np.r_[4294967295, np.arange(23) // 2]
    np.savez(path, v_template=template, shapedirs=rng.standard_normal((SMPL_VERTICES, 3, 10)) * 1e-3,
             posedirs=np.zeros((SMPL_VERTICES, 3, 207)), J_regressor=regressor, weights=weights,
             kintree_table=np.stack([parents, np.arange(24)]).astype(np.int64), f=faces.numpy().astype(np.uint32))


def write_tiny_hmr2(folder) -> None:
    """A random tiny HMR 2.0 in the released Lightning layout (+ hmr2_config.json for its size).
    The camera head is zeroed so the body lands on the person box instead of a random place."""
    model = tiny_model()
    with torch.no_grad():
        model.smpl_head.deccam.weight.zero_()
        model.smpl_head.deccam.bias.zero_()
        model.smpl_head.init_cam[:] = torch.tensor([0.9, 0.0, 0.0])
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(lightning_checkpoint(model), folder / "epoch=35-step=1000000.ckpt")
    fields = {k: getattr(TINY, k) for k in TINY.__dataclass_fields__}
    (folder / "hmr2_config.json").write_text(__import__("json").dumps(fields))


@pytest.fixture(scope="module")
def server(comfy):
    models = comfy.models_dir
    write_tiny_hmr2(models / "hmr2" / HMR2)
    save_propainter(make_tiny_models(), models / "propainter" / PROPAINTER)
    (models / "body_models").mkdir(parents=True, exist_ok=True)
    write_fake_smpl(models / "body_models" / SMPL)
    # bright enough that every drawn pixel (colour x 0.3) stands out from the black background
    table = np.random.default_rng(3).integers(64, 256, (SMPL_VERTICES, 3)).astype(np.uint8)
    np.save(models / "body_models" / TABLE, table)
    (models / "sam2" / "empty_sam2").mkdir(parents=True, exist_ok=True)
    if not (comfy.input_dir / "backend_clip.mp4").exists():
        shutil.copy(media("demo.mp4"), comfy.input_dir / "backend_clip.mp4")
    return comfy


def _images(server, result, node: str) -> np.ndarray:
    return np.stack([np.asarray(Image.open(io.BytesIO(server.fetch_output(item))).convert("RGB"))
                     for item in result.outputs[node]["images"]])


def backend_prompt(table_file: str) -> dict:
    return {
        "1": {"class_type": "MimoLoadVideo", "inputs": {
            "video": "backend_clip.mp4", "max_side": 256, "frame_stride": 1, "max_frames": 4, "start_frame": 0}},
        "2": {"class_type": "MimoTrackPerson", "inputs": {"frames": ["1", 0], "select": "largest", "person_index": 0}},
        "3": {"class_type": "MimoEstimateMotionHmr2", "inputs": {
            "frames": ["1", 0], "track": ["2", 1], "checkpoint": HMR2, "smpl_model": SMPL,
            "batch_size": 4, "box_margin": 1.2, "fps": ["1", 1]}},
        "4": {"class_type": "MimoRenderSdc", "inputs": {
            "motion": ["3", 0], "colour_table": TABLE, "body_model_file": "(from motion)", "table_key": "smpl",
            "width": 0, "height": 0}},
        "5": {"class_type": "MimoRecoverSdcTable", "inputs": {
            "sdc_frames": ["4", 0], "motion": ["3", 0], "body_model_file": "(from motion)",
            "filename": table_file, "overwrite": True, "min_iou": 0.0}},
        "6": {"class_type": "MimoSplitLayers", "inputs": {
            "frames": ["1", 0], "person_mask": ["2", 0], "depth_margin": 0.05}},
        "7": {"class_type": "MimoInpaintSceneProPainter", "inputs": {
            "frames": ["6", 5], "holes": ["6", 6], "model": PROPAINTER, "dilate": 2, "neighbor_length": 4,
            "ref_stride": 2, "subvideo_length": 8, "raft_iters": 2}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "backend_propainter"}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "backend_sdc"}},
        "10": {"class_type": "MimoSaveMotion", "inputs": {"motion": ["3", 0], "filename_prefix": "backend/hmr2"}},
    }


def test_new_nodes_are_registered(server):
    info = server.object_info()
    for node in ("MimoTrackPersonSam2", "MimoEstimateMotionHmr2", "MimoInpaintSceneProPainter",
                 "MimoRenderSdc", "MimoRecoverSdcTable"):
        assert node in info, node
        assert info[node]["category"].startswith("MIMO/")
    assert HMR2 in str(info["MimoEstimateMotionHmr2"]["input"]["required"]["checkpoint"])
    assert PROPAINTER in str(info["MimoInpaintSceneProPainter"]["input"]["required"]["model"])


def test_hmr2_sdc_and_propainter_run_end_to_end(server):
    table_file = f"recovered_{uuid.uuid4().hex[:8]}.npy"
    result = server.run(backend_prompt(table_file), timeout=600)
    assert result.status == "success", result.describe()

    # HMR 2.0: an SMPL motion of the 4 frames, every frame observed (the person is found in each).
    motion_file = result.outputs["10"]["motion"][0]
    motion = MotionSequence.load(server.output_dir / motion_file["subfolder"] / motion_file["filename"])
    assert motion.body_model == "smpl" and motion.num_frames == 4
    assert bool(motion.observed.all()) and torch.isfinite(motion.transl).all()

    # sdc: the body is drawn, and only with table colours x 0.3 (the release's shading gain).
    sdc = _images(server, result, "9")
    assert sdc.shape == (4, 144, 256, 3)
    body = sdc.max(-1) > 0
    assert body.mean() > 0.002, "the posed body is not in the frame"

    # Recovery from our own render: the silhouettes match and the table file exists.
    report = result.outputs["5"]["text"][0]
    assert "silhouette IoU: mean" in report
    mean_iou = float(report.split("silhouette IoU: mean ")[1].split(",")[0])
    assert mean_iou > 0.9, report
    recovered = np.load(server.models_dir / "body_models" / table_file)
    assert recovered.shape == (SMPL_VERTICES, 3)

    # ProPainter: same size and length; pixels outside the holes keep the input.
    scene = _images(server, result, "8")
    assert scene.shape == (4, 144, 256, 3)
    assert scene.std() > 1


def test_sam2_missing_model_names_the_folder(server):
    prompt = {
        "1": {"class_type": "MimoLoadVideo", "inputs": {
            "video": "backend_clip.mp4", "max_side": 64, "frame_stride": 1, "max_frames": 2, "start_frame": 0}},
        "2": {"class_type": "MimoTrackPersonSam2", "inputs": {
            "frames": ["1", 0], "model": "sam2.1-hiera-small", "select": "largest", "person_index": 0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 2]}},
    }
    with pytest.raises(PromptRejected) as err:
        server.queue(prompt)
    assert "sam2.1-hiera-small" in str(err.value) and "models/sam2" in str(err.value)

    prompt["2"]["inputs"]["model"] = "empty_sam2"
    result = server.run(prompt, timeout=120)
    assert result.status == "error"
    message = result.error["exception_message"]
    assert "empty_sam2" in message and "config.json" in message, message


def test_missing_hmr2_and_propainter_weights_are_named(server):
    prompt = backend_prompt("unused.npy")
    prompt["3"]["inputs"]["checkpoint"] = "epoch=35-step=1000000.ckpt"
    prompt["7"]["inputs"]["model"] = "ProPainter.pth"
    with pytest.raises(PromptRejected) as err:
        server.queue(prompt)
    text = str(err.value)
    assert "models/hmr2" in text and "models/propainter" in text, text
