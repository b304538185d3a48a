"""The training loop: overfitting, export, exact kill-and-resume, DDP equivalence, stage 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import default_collate

from mimo_core.checkpoints.pack_format import load_model
from mimo_core.models import PoseGuider, ReferenceNet, VideoUNet
from trainer.checkpointing import checkpoint_dir, list_checkpoints
from trainer.config import config_from_dict
from trainer.losses import make_noise_scheduler
from trainer.train import build_frozen_encoders, build_model, compute_loss, make_dataset, train

REPO = Path(__file__).resolve().parents[3]
STEPS = 6


def run_config(clip_dir: Path, output_dir: Path, **changes) -> dict:
    """The shared tiny run: global batch 2, every option of the objective switched on.

    ``adam_epsilon`` is 1e-3 rather than 1e-8: with a single cross-attention token some weights (e.g.
    ``attn2.to_k``) get gradients that are pure rounding noise, which a tiny epsilon would blow up to full
    Adam steps, so runs that add gradients in another order (DDP) could not be compared at 1e-5.
    """
    base = dict(
        data_dir=str(clip_dir), output_dir=str(output_dir), resolution=32, batch_size=2, steps=STEPS,
        learning_rate=1e-3, adam_epsilon=1e-3, identity_dropout=0.3, snr_gamma=5.0, noise_offset=0.05,
        ema_decay=0.9, checkpoint_every=2, keep_checkpoints=10, seed=3,
    )
    return {**base, **changes}


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("RANK", None)
    return env


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def reference_run(clip_dir, tmp_path_factory) -> Path:
    """An uninterrupted single-process stage-1 run (the baseline of the resume and DDP tests)."""
    out = tmp_path_factory.mktemp("reference")
    train(config_from_dict(run_config(clip_dir, out)))
    return out


def test_stage1_overfits_a_fixed_batch(clip_dir, tmp_path):
    config = config_from_dict(run_config(clip_dir, tmp_path, identity_dropout=0.0, noise_offset=0.0))
    model, encoders = build_model(config), build_frozen_encoders(config)
    scheduler = make_noise_scheduler(config.prediction_type, config.zero_snr)
    dataset = make_dataset(config)
    batch = default_collate([dataset[p] for p in (0, 1)])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(20):
        loss = compute_loss(model, encoders, scheduler, batch, config, torch.device("cpu"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_export_loads_back_in_the_pack_format(reference_run):
    export = reference_run / "export"
    unet = load_model(export / "denoising_unet.safetensors")
    assert isinstance(unet, VideoUNet) and unet.conv_in.in_channels == 12 and unet.motion_config is None
    assert isinstance(load_model(export / "reference_net.safetensors"), ReferenceNet)
    assert isinstance(load_model(export / "pose_guider.safetensors"), PoseGuider)
    load_model(export / "vae.safetensors")
    from transformers import CLIPVisionModelWithProjection

    CLIPVisionModelWithProjection.from_pretrained(export / "image_encoder")
    card = json.loads((export / "mimo_model.json").read_text())
    assert card["step"] == STEPS and card["in_channels"] == 12 and card["ema"] is True
    # the export holds the EMA weights of the last checkpoint
    ema = load_file(str(checkpoint_dir(reference_run, STEPS) / "ema.safetensors"))
    exported = unet.state_dict()
    assert all(torch.equal(exported[k[len("unet."):]], v) for k, v in ema.items() if k.startswith("unet."))
    # training moved the weights, and TensorBoard got the scalars
    raw = load_file(str(checkpoint_dir(reference_run, STEPS) / "model.safetensors"))
    first = load_file(str(checkpoint_dir(reference_run, 2) / "model.safetensors"))
    assert max_diff(raw, first) > 1e-3
    assert list((reference_run / "logs").rglob("events.out.tfevents.*"))


def test_kill_and_resume_continues_exactly(reference_run, clip_dir, tmp_path):
    out = tmp_path / "run"
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps(run_config(clip_dir, out, steps=1000)))  # never finishes on its own
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer", "train", "--config", str(cfg), "--resume", "auto"],
        cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    try:
        while not list_checkpoints(out):
            if proc.poll() is not None:
                pytest.fail(f"training exited early ({proc.returncode}): {proc.stderr.read().decode()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint written within 300 s")
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(list_checkpoints(out)[-1].name.split("-")[1])
    assert 2 <= killed_at < STEPS
    # the subprocess's checkpoint matches the in-process run's at the same step (rounding aside: a
    # wrong data order or lost optimizer state would differ by Adam steps of ~1e-3)
    same_step = load_file(str(checkpoint_dir(out, 2) / "model.safetensors"))
    assert max_diff(same_step, load_file(str(checkpoint_dir(reference_run, 2) / "model.safetensors"))) < 1e-6
    # a save torn by the kill is ignored
    (out / "checkpoints" / f".tmp-step-{STEPS - 1:08d}").mkdir()

    train(config_from_dict(run_config(clip_dir, out)), resume="auto")
    for name in ("model.safetensors", "ema.safetensors"):
        resumed = load_file(str(checkpoint_dir(out, STEPS) / name))
        baseline = load_file(str(checkpoint_dir(reference_run, STEPS) / name))
        assert max_diff(resumed, baseline) < 1e-6, name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_one_process(reference_run, clip_dir, tmp_path):
    out = tmp_path / "ddp"
    cfg = tmp_path / "ddp.json"
    cfg.write_text(json.dumps(run_config(clip_dir, out, batch_size=1, steps=4)))
    env = dict(subprocess_env(), ACCELERATE_USE_CPU="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(_free_port()), "-m", "trainer", "train", "--config", str(cfg)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    state = json.loads((checkpoint_dir(out, 4) / "trainer_state.json").read_text())
    assert state["processes"] == 2
    for name in ("model.safetensors", "ema.safetensors"):
        ddp = load_file(str(checkpoint_dir(out, 4) / name))
        single = load_file(str(checkpoint_dir(reference_run, 4) / name))
        assert max_diff(ddp, single) < 1e-5, name


def test_stage2_trains_only_the_motion_modules(reference_run, clip_dir, tmp_path):
    out = tmp_path / "stage2"
    config = config_from_dict(run_config(
        clip_dir, out, stage=2, init_from=str(reference_run / "export"), frames=4, frame_stride=2,
        batch_size=1, steps=2, ema_decay=0.0,
    ))
    train(config)
    before = load_model(reference_run / "export" / "denoising_unet.safetensors").state_dict()
    video = load_model(out / "export" / "denoising_unet.safetensors")
    assert isinstance(video, VideoUNet) and video.motion_config is not None
    spatial, motion = video.spatial_state_dict(), video.motion_state_dict()
    assert max_diff(spatial, before) == 0
    proj_out = [v for k, v in motion.items() if k.endswith("proj_out.weight")]
    assert proj_out and all(v.abs().max() > 0 for v in proj_out)  # zero-initialised, now trained
    for name in ("reference_net.safetensors", "pose_guider.safetensors"):
        a = load_model(out / "export" / name).state_dict()
        b = load_model(reference_run / "export" / name).state_dict()
        assert max_diff(a, b) == 0, name
    assert json.loads((out / "export" / "mimo_model.json").read_text())["frames"] == 4


@pytest.mark.parametrize("stage", [1, 2])
def test_person_weighted_loss_reads_the_person_mask(reference_run, clip_dir, tmp_path, stage):
    """``person_loss_weight`` changes the objective only through the batch's person mask."""
    extra = dict(stage=2, init_from=str(reference_run / "export"), frames=3, frame_stride=1) if stage == 2 else {}
    base = run_config(clip_dir, tmp_path, identity_dropout=0.0, **extra)
    config, weighted = config_from_dict(base), config_from_dict({**base, "person_loss_weight": 8.0})
    torch.manual_seed(0)
    model, encoders = build_model(config), build_frozen_encoders(config)
    scheduler = make_noise_scheduler(config.prediction_type, config.zero_snr)
    batch = default_collate([make_dataset(config)[p] for p in (0, 1)])
    assert batch["person"].shape[1] == 1 and float(batch["person"].max()) > 0
    cpu = torch.device("cpu")
    with torch.no_grad():
        plain = compute_loss(model, encoders, scheduler, batch, config, cpu)
        focus = compute_loss(model, encoders, scheduler, batch, weighted, cpu)
        empty = compute_loss(model, encoders, scheduler, dict(batch, person=torch.zeros_like(batch["person"])),
                             weighted, cpu)
    assert torch.isfinite(focus) and not torch.isclose(plain, focus)
    assert torch.isclose(plain, empty)  # no person: every cell has weight 1


def test_paper_3d_conv_in_trains_through_both_stages(clip_dir, tmp_path):
    """``conv_in_kind: 3d`` (the paper's fusion conv): stage 1 and stage 2 keep it, and a 2D stage 2 refuses it."""
    first = tmp_path / "s1"
    train(config_from_dict(run_config(clip_dir, first, steps=2, conv_in_kind="3d")))
    image_unet = load_model(first / "export" / "denoising_unet.safetensors")
    assert image_unet.conv_in_kind == "3d" and image_unet.state_dict()["conv_in.weight"].ndim == 5
    second = tmp_path / "s2"
    train(config_from_dict(run_config(clip_dir, second, stage=2, init_from=str(first / "export"), frames=3,
                                      frame_stride=1, batch_size=1, steps=1, ema_decay=0.0, conv_in_kind="3d")))
    video = load_model(second / "export" / "denoising_unet.safetensors")
    assert video.conv_in_kind == "3d" and torch.equal(video.state_dict()["conv_in.weight"],
                                                      image_unet.state_dict()["conv_in.weight"])
    with pytest.raises(ValueError, match="conv_in_kind"):
        train(config_from_dict(run_config(clip_dir, tmp_path / "bad", stage=2, init_from=str(first / "export"),
                                          frames=3, frame_stride=1, batch_size=1, steps=1, ema_decay=0.0)))
