"""``pose_input: vertex_codes``: the paper's structured motion code in the trainer.

Datasets carry the posed mesh with a camera adjusted to the resized / cropped frames; stage 1 trains the
per-vertex codes and their PaperPoseEncoder with the image model, stage 2 keeps them frozen; the export holds
them in the pack format and its pipeline generates from codes rasterised on a mesh sequence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from mimo_core.checkpoints.pack_format import load_model
from mimo_core.models import PaperPoseEncoder, VideoUNet
from mimo_core.models.vertex_codes import StructuredMotionEncoder, VertexCodes
from mimo_core.raster import PerspectiveCamera, rasterize_mesh
from trainer.config import config_from_dict
from trainer.datasets import ClipDataset, FramePairDataset, crop_camera, resize_center_crop
from trainer.losses import make_noise_scheduler
from trainer.train import (
    body_model_faces,
    build_frozen_encoders,
    build_model,
    compute_loss,
    load_motion_encoder,
    make_dataset,
    train,
)

REPO = Path(__file__).resolve().parents[3]
CODE_DIM = 4


def vertex_config(clip_dir: Path, output_dir: Path, **changes) -> dict:
    base = dict(
        data_dir=str(clip_dir), output_dir=str(output_dir), resolution=32, batch_size=2, steps=2,
        learning_rate=1e-3, adam_epsilon=1e-3, identity_dropout=0.0, pose_input="vertex_codes",
        code_dim=CODE_DIM, checkpoint_every=2, keep_checkpoints=1, seed=3,
    )
    return {**base, **changes}


def silhouette(vertices: torch.Tensor, camera: torch.Tensor, size: int) -> torch.Tensor:
    """``[H, W]`` bool: where the mesh covers the ``size x size`` frame seen by ``camera`` (fx, fy, cx, cy)."""
    fx, fy, cx, cy = camera.tolist()
    cam = PerspectiveCamera(fx, fy, cx, cy, width=size, height=size)
    return rasterize_mesh(vertices[None], body_model_faces("anny"), cam).face_id[0] >= 0


# ---- data ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(48, 80), (20, 26), (40, 32)])
def test_crop_camera_keeps_a_point_on_its_content_pixel(shape):
    """A blob drawn where a 3D point projects stays where the adjusted camera projects it after the resize and
    the centre crop (down-scaling, up-scaling, crop only)."""
    height, width = shape
    camera = np.array([1.1 * width, 0.9 * width, 0.47 * width, 0.53 * height], np.float32)
    size = 32
    adjusted = crop_camera(camera, height, width, size)
    scale = size / min(height, width)
    for point in ([0.05, -0.08, 2.0], [-0.1, 0.06, 2.5]):
        x, y, z = point
        u, v = camera[0] * x / z + camera[2], camera[1] * y / z + camera[3]
        yy, xx = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
        sigma = 2.5 / scale  # about 2.5 pixels after the resize
        blob = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * sigma**2))
        image = np.round(255 * blob).astype(np.uint8)
        out = resize_center_crop(image, size).astype(np.float64)
        oy, ox = np.mgrid[0:size, 0:size] + 0.5
        centre = np.array([(out * ox).sum(), (out * oy).sum()]) / out.sum()
        expected = np.array([adjusted[0] * x / z + adjusted[2], adjusted[1] * y / z + adjusted[3]])
        assert np.abs(centre - expected).max() < 0.25, (shape, point, centre, expected)
    # per-frame cameras [T, 4] are adjusted row by row
    stacked = crop_camera(np.stack([camera, camera * 2]), height, width, size)
    np.testing.assert_allclose(stacked[1], crop_camera(camera * 2, height, width, size), rtol=1e-6)


def test_items_carry_the_mesh_with_a_camera_matching_the_cropped_frames(vertex_clip_dir):
    pair = FramePairDataset(vertex_clip_dir, 32, vertex_codes=True)
    item = pair[1]
    assert item["vertices"].dtype == torch.float32 and item["vertices"].shape == (13718, 3)
    assert item["camera"].shape == (4,)
    # the clips are 40x32: the 32x32 crop drops 4 rows on top; the pose render lines up with the mesh
    covered = silhouette(item["vertices"], item["camera"], 32)
    rendered = item["pose"].sum(0) > 0
    assert covered.sum() > 20
    assert (covered & rendered).sum() / (covered | rendered).sum() > 0.95
    assert "person" in item and "vertices" not in FramePairDataset(vertex_clip_dir, 32)[1]

    video = ClipDataset(vertex_clip_dir, 32, frames=3, stride=1, vertex_codes=True)[0]
    assert video["vertices"].shape == (3, 13718, 3) and video["camera"].shape == (3, 4)
    for k in range(3):
        covered = silhouette(video["vertices"][k], video["camera"][k], 32)
        rendered = video["pose"][:, k].sum(0) > 0
        assert (covered & rendered).sum() / (covered | rendered).sum() > 0.95


def test_clips_without_vertices_are_refused_by_name(clip_dir, tmp_path):
    with pytest.raises(ValueError, match=r"clip_00\d\.npz has no vertices"):
        FramePairDataset(clip_dir, 32, vertex_codes=True)[0]
    with pytest.raises(ValueError, match=r"clip_00\d\.npz has no vertices"):
        ClipDataset(clip_dir, 32, frames=2, vertex_codes=True)[0]
    with pytest.raises(ValueError, match=r"clip_000\.npz has no vertices"):
        build_model(config_from_dict(vertex_config(clip_dir, tmp_path)))


# ---- training -----------------------------------------------------------------------------------------------
def test_stage1_vertex_codes_overfit_a_fixed_batch_and_the_codes_learn(vertex_clip_dir, tmp_path):
    config = config_from_dict(vertex_config(vertex_clip_dir, tmp_path))
    model, encoders = build_model(config), build_frozen_encoders(config)
    assert isinstance(model.motion_encoder, StructuredMotionEncoder) and not hasattr(model, "pose_guider")
    assert model.motion_encoder.codes.codes.shape == (13718, CODE_DIM)
    assert "faces" not in model.state_dict()  # the body model's, not a trained or saved tensor
    trained = {k for k, p in model.named_parameters() if p.requires_grad}
    assert "motion_encoder.codes.codes" in trained and "motion_encoder.encoder.final_proj.weight" in trained
    scheduler = make_noise_scheduler(config.prediction_type, config.zero_snr)
    batch = default_collate([make_dataset(config)[p] for p in (0, 1)])
    assert batch["vertices"].shape == (2, 13718, 3) and batch["camera"].shape == (2, 4)
    codes = model.motion_encoder.codes.codes
    start = codes.detach().clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(20):
        loss = compute_loss(model, encoders, scheduler, batch, config, torch.device("cpu"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
    # the codes get gradients through the rasteriser (once the zero-initialised projection has moved) ...
    per_vertex = codes.grad.abs().sum(1)
    assert torch.isfinite(codes.grad).all() and 0 < torch.count_nonzero(per_vertex) < codes.shape[0]
    # ... and moved where the meshes are seen
    assert (codes.detach() - start)[per_vertex > 0].abs().max() > 1e-4


def test_each_sample_and_frame_is_rasterised_with_its_own_camera(vertex_clip_dir, tmp_path):
    model = build_model(config_from_dict(vertex_config(vertex_clip_dir, tmp_path)))
    torch.nn.init.normal_(model.motion_encoder.encoder.final_proj.weight, std=0.1)  # as after training
    clip = ClipDataset(vertex_clip_dir, 32, frames=2, stride=1, vertex_codes=True)
    items = [clip[0], clip[1]]
    vertices = torch.stack([it["vertices"] for it in items])  # [2, 2, V, 3]
    camera = torch.stack([it["camera"] for it in items])
    camera[1, 1] *= torch.tensor([1.3, 1.3, 1.0, 1.0])  # zoom into the second sample's second frame
    with torch.no_grad():
        together = model.vertex_code_features(vertices, camera, (32, 32))
        for b in range(2):
            for k in range(2):
                alone = model.vertex_code_features(vertices[b:b + 1, k], camera[b:b + 1, k], (32, 32))
                torch.testing.assert_close(together[b:b + 1, :, k:k + 1], alone)
    assert (together[1, :, 1] - together[1, :, 0]).abs().max() > 0


@pytest.fixture(scope="module")
def vertex_run(vertex_clip_dir, tmp_path_factory) -> Path:
    """Two stage-1 steps through :func:`train` (EMA on), then one stage-2 step on top."""
    out = tmp_path_factory.mktemp("vertex_run")
    train(config_from_dict(vertex_config(vertex_clip_dir, out / "stage1", ema_decay=0.5)))
    train(config_from_dict(vertex_config(
        vertex_clip_dir, out / "stage2", stage=2, init_from=str(out / "stage1" / "export"), frames=2,
        frame_stride=1, batch_size=1, steps=1,
    )))
    return out


def test_export_holds_the_motion_encoder_in_the_pack_format(vertex_run):
    export = vertex_run / "stage1" / "export"
    assert not (export / "pose_guider.safetensors").exists()
    codes, encoder = load_model(export / "vertex_codes.safetensors"), load_model(export / "pose_encoder.safetensors")
    assert isinstance(codes, VertexCodes) and codes.codes.shape == (13718, CODE_DIM)
    assert isinstance(encoder, PaperPoseEncoder) and encoder.conditioning_channels == CODE_DIM
    assert encoder.final_proj.weight.abs().max() > 0  # trained away from its zero init
    card = json.loads((export / "mimo_model.json").read_text())
    assert card["pose_input"] == "vertex_codes" and card["body_model"] == "anny"
    assert card["num_vertices"] == 13718 and card["code_dim"] == CODE_DIM
    motion = load_motion_encoder(export)
    assert torch.equal(motion.codes.codes, codes.codes)

    # stage 2 trained the motion modules only: codes and encoder are the stage-1 ones
    second = vertex_run / "stage2" / "export"
    for name in ("vertex_codes.safetensors", "pose_encoder.safetensors"):
        a, b = load_model(second / name).state_dict(), load_model(export / name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    unet = load_model(second / "denoising_unet.safetensors")
    assert isinstance(unet, VideoUNet) and unet.motion_config is not None


def test_exported_pipeline_generates_from_a_mesh_sequence(vertex_run, vertex_clip_dir, tmp_path):
    from mimo_core.pipeline.mimo_io import load_pipeline_any
    from trainer.export_pipeline import export_pipeline, vertex_code_pose_video

    folder = export_pipeline(vertex_run / "stage2" / "export", tmp_path / "pipeline")
    pipeline = load_pipeline_any(folder)
    assert isinstance(pipeline.pose_encoder, PaperPoseEncoder)
    item = ClipDataset(vertex_clip_dir, 32, frames=2, stride=1, vertex_codes=True)[0]
    pose = vertex_code_pose_video(folder, item["vertices"], item["camera"], 32, 32)
    assert pose.shape == (2, 32, 32, CODE_DIM)
    covered = silhouette(item["vertices"][0], item["camera"][0], 32)
    assert torch.equal(pose[0].abs().sum(-1) > 0, covered)  # codes on the body, zero elsewhere
    scene = item["scene"].permute(1, 2, 3, 0)
    video = pipeline.generate(item["reference"].permute(1, 2, 0), pose, scene, steps=2, window=2)
    assert video.shape == (2, 32, 32, 3) and torch.isfinite(video).all()
    # the trained encoder turns the rasterised codes into the UNet's pose features
    with torch.no_grad():
        features = pipeline.pose_encoder(pose.permute(3, 0, 1, 2)[None])
        empty = pipeline.pose_encoder(torch.zeros_like(pose).permute(3, 0, 1, 2)[None])
    assert features.shape == (1, 32, 2, 4, 4) and (features - empty).abs().max() > 0


def test_cli_smoke_run_of_the_example_config(vertex_clip_dir, tmp_path):
    """``python -m trainer train --config trainer/configs/tiny_vertex_codes.yaml`` for two steps."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("RANK", None)
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--config", str(REPO / "trainer/configs/tiny_vertex_codes.yaml"),
         "--set", f"data_dir={vertex_clip_dir}", "--set", f"output_dir={tmp_path}", "--set", "steps=2",
         "--set", "batch_size=1", "--set", "checkpoint_every=2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "export" / "vertex_codes.safetensors").is_file()
