"""The shipped default model, the trainer-export -> pipeline conversion and the VAE pretraining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mimo_core.pipeline.mimo_io import load_pipeline_any
from trainer.config import config_from_dict
from trainer.export_pipeline import export_pipeline
from trainer.train import build_frozen_encoders, build_model, export_models
from trainer.vae_pretrain import build_vae, pretrain_vae, reconstruction_mse, save_vae

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "models" / "mimo-default"
SMALL_VAE = {
    "in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3, "block_out_channels": [8, 8, 16], "layers_per_block": 1,
    "latent_channels": 4, "norm_num_groups": 4, "sample_size": 32, "scaling_factor": 1.0,
}


def _inputs(frames: int, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pose = torch.zeros(frames, size, size, 3)
    pose[:, size // 4: 3 * size // 4, 3 * size // 8: 5 * size // 8] = torch.rand(3, generator=g)
    scene = torch.rand(1, 1, 1, 3, generator=g) * torch.linspace(0.3, 1, size).view(1, size, 1, 1)
    return {"reference": torch.rand(size, size, 3, generator=g), "pose_video": pose,
            "scene_video": scene.expand(frames, size, size, 3).contiguous()}


def test_shipped_folder_is_small_and_safetensors_only():
    assert (SHIPPED / "pipeline.json").is_file(), "models/mimo-default must ship with the repository"
    files = [p for p in SHIPPED.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 40 * 2**20
    assert {p.suffix for p in files} <= {".safetensors", ".json"}


def test_shipped_model_generates_frames_at_its_resolution():
    pipeline = load_pipeline_any(SHIPPED)
    card = json.loads((SHIPPED / "mimo_model.json").read_text())
    size = int(card["resolution"])
    assert pipeline.sampler.prediction_type == card["prediction_type"]
    assert pipeline.in_channels == card["in_channels"]
    torch.manual_seed(0)
    out = pipeline.generate(**_inputs(4, size), steps=2, guidance=2.0, seed=0, window=4)
    assert out.shape == (4, size, size, 3)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.01  # not a constant image


def _tiny_export(tmp_path: Path) -> tuple[Path, object, object]:
    vae = build_vae(SMALL_VAE, seed=1)
    vae.register_to_config(scaling_factor=0.5)  # a pretrained VAE's own latent scale travels with it
    vae_file = save_vae(vae, tmp_path / "vae.safetensors")
    config = config_from_dict(dict(
        data_dir=str(tmp_path), output_dir=str(tmp_path / "run"), model="tiny", vae_path=str(vae_file),
        pose_guider_channels=[4, 8, 16], resolution=32, in_channels=12, prediction_type="epsilon",
        zero_snr=False, seed=5,
    ))
    torch.manual_seed(0)
    model = build_model(config)
    with torch.no_grad():  # a trained-looking model: no zero-initialised layer left
        for p in model.parameters():
            p.add_(torch.randn(p.shape) * 0.01)
    encoders = build_frozen_encoders(config)
    folder = tmp_path / "export"
    folder.mkdir()
    export_models(folder, model, encoders, config, None, 2)
    return folder, model, encoders


def test_export_pipeline_round_trip(tmp_path):
    folder, model, encoders = _tiny_export(tmp_path)
    out = export_pipeline(folder, tmp_path / "pipe", {"note": "test"})
    pipeline = load_pipeline_any(out)
    assert pipeline.sampler.prediction_type == "epsilon" and pipeline.sampler.zero_snr is False
    assert pipeline.sampler.name == "ddim" and pipeline.sampler.timestep_spacing == "trailing"
    assert float(pipeline.vae.config.scaling_factor) == 0.5
    assert json.loads((out / "mimo_model.json").read_text())["note"] == "test"
    pairs = [(pipeline.unet, model.unet), (pipeline.reference_net, model.reference_net),
             (pipeline.pose_encoder, model.pose_guider), (pipeline.vae, encoders.vae),
             (pipeline.image_encoder, encoders.image_encoder)]
    for loaded, original in pairs:
        a, b = loaded.state_dict(), original.state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    frames = pipeline.generate(**_inputs(2, 32), steps=2, guidance=1.5, window=2)
    assert frames.shape == (2, 32, 32, 3) and torch.isfinite(frames).all()


def test_export_pipeline_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="denoising_unet.safetensors"):
        export_pipeline(tmp_path, tmp_path / "pipe")


def test_vae_pretraining_reduces_reconstruction_error():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = np.zeros((32, 3, 16, 16), np.float32)
    for img in images:  # flat colour backgrounds with a coloured box
        img[:] = rng.uniform(-1, 1, (3, 1, 1))
        y, x = rng.integers(0, 10, 2)
        img[:, y:y + 6, x:x + 6] = rng.uniform(-1, 1, (3, 1, 1))
    x = torch.from_numpy(images)
    config = dict(SMALL_VAE, down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                  block_out_channels=[8, 16])
    vae = build_vae(config, seed=0)
    before = reconstruction_mse(vae.eval(), x)
    vae, stats = pretrain_vae(x, steps=40, batch_size=8, learning_rate=3e-3, config=config, vae=vae, crop=None,
                              log_every=0)
    assert stats["steps"] == 40 and stats["mse_before"] == pytest.approx(before)
    assert stats["mse_after"] < 0.8 * stats["mse_before"]
    assert reconstruction_mse(vae, x) == pytest.approx(stats["mse_after"])
    assert stats["scaling_factor"] > 0 and float(vae.config.scaling_factor) == stats["scaling_factor"]


def test_pose_mask_paste_keeps_scene_off_the_body_and_occluders_on_top():
    from trainer.data.clips import Clip
    from trainer.default_model import pose_mask_paste

    t, size = 3, 32
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (t, size, size, 3), dtype=np.uint8)
    frames = rng.integers(0, 255, (t, size, size, 3), dtype=np.uint8)
    pose = np.zeros((t, size, size, 3), np.uint8)
    pose[:, 12:20, 14:18] = 200
    occlusion = np.zeros((t, size, size), np.uint8)
    occlusion[:, 14:16, 14:16] = 255
    clip = Clip(frames=frames, person_mask=np.zeros((t, size, size), np.uint8), occlusion_mask=occlusion,
                scene=scene, pose=pose, reference=np.zeros((size, size, 3), np.uint8),
                reference_mask=np.zeros((size, size), np.uint8))
    generated = np.full((t, size, size, 3), 77, np.uint8)
    out = pose_mask_paste(clip, generated, grow=2)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert (out[:, :8] == scene[:, :8]).all() and (out[:, 24:] == scene[:, 24:]).all()  # off the body
    assert (out[:, :, :10] == scene[:, :, :10]).all()
    assert (out[:, 16:19, 14:18] == 77).all()  # on the body, off the occluder
    assert (out[:, 14:16, 14:16] == frames[:, 14:16, 14:16]).all()  # occluders on top
