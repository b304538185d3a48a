"""Pretrain the small ``AutoencoderKL`` of the default model on clip frames (``python -m trainer.vae_pretrain``).

A randomly initialised VAE cannot reconstruct images, so a diffusion model trained in its latent space
cannot produce good frames. This module trains a narrow VAE (by default widths (16, 32, 64): 4x
downsampling, 4 latent channels, so 64x64 frames become 16x16 latents) with an MSE + L1 reconstruction
loss of the latent means and a very small KL term on the frames, scene layers and reference images of a clip dataset, then sets
``scaling_factor`` to one over the standard deviation of the latent means (unit-variance latents, as the
diffusion schedule assumes) and writes it as a pack-format ``vae.safetensors`` file that the trainer
reads through the ``vae_path`` config field.

Deterministic for a given dataset, seed and thread count; stops after ``steps`` or ``max_seconds``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mimo_core.checkpoints.pack_format import save_model
from trainer.data.clips import read_clip, read_manifest
from trainer.datasets import pad_to_square, resize_center_crop

logger = logging.getLogger(__name__)

#: the default model's VAE: 3 levels (4x downsampling), 4 latent channels
DEFAULT_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [16, 32, 64],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 8,
    "sample_size": 64,
    "scaling_factor": 1.0,
}


def load_images(data_dir: str | Path, resolution: int, split: str | None = "train",
                max_clips: int | None = None) -> torch.Tensor:
    """Every frame, scene frame and reference of the clips of ``split`` as ``[N, 3, R, R]`` floats in -1..1."""
    images: list[np.ndarray] = []
    entries = read_manifest(data_dir, split)
    if max_clips is not None:
        entries = entries[:max_clips]
    for entry in entries:
        clip = read_clip(Path(data_dir) / entry["clip"])
        for array in (clip.frames, clip.scene):
            images.extend(resize_center_crop(a, resolution) for a in array)
        images.append(resize_center_crop(pad_to_square(clip.reference), resolution))
    if not images:
        raise ValueError(f"no clips in {data_dir} (split={split!r}) to pretrain the VAE on")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x.contiguous()


def build_vae(config: dict[str, Any] | None = None, seed: int = 0) -> torch.nn.Module:
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderKL(**(config or DEFAULT_VAE_CONFIG))


def vae_losses(vae: torch.nn.Module, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(reconstruction, kl)`` of a batch ``x`` in -1..1.

    Reconstruction: MSE + 0.5 L1 of decoding the latent *mean* (the pipeline encodes with the mean), with a
    little Gaussian noise (std 0.05 of the latents' scale) for a decoder robust to small latent errors.
    """
    dist = vae.encode(x).latent_dist
    eps = torch.randn(dist.mean.shape, generator=generator)
    z = dist.mean + 0.05 * dist.mean.detach().std() * eps
    recon = vae.decode(z).sample
    rec = F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x)
    kl = dist.kl().mean() / float(np.prod(dist.mean.shape[1:]))
    return rec, kl


@torch.no_grad()
def reconstruction_mse(vae: torch.nn.Module, x: torch.Tensor, batch: int = 64) -> float:
    """Mean squared error (images in 0..1) of decoding the latent means of ``x`` (-1..1)."""
    total, count = 0.0, 0
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        recon = vae.decode(vae.encode(chunk).latent_dist.mean).sample.clamp(-1, 1)
        total += float(((recon - chunk) / 2).pow(2).mean()) * len(chunk)
        count += len(chunk)
    return total / max(count, 1)


@torch.no_grad()
def latent_scaling_factor(vae: torch.nn.Module, x: torch.Tensor, batch: int = 64) -> float:
    """``1 / std`` of the latent means of ``x`` (so scaled latents have unit variance)."""
    latents = torch.cat([vae.encode(x[s:s + batch]).latent_dist.mean for s in range(0, len(x), batch)])
    return float(1.0 / latents.std().clamp_min(1e-6))


def pretrain_vae(
    images: torch.Tensor,
    steps: int = 1000,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    kl_weight: float = 1e-6,
    seed: int = 0,
    max_seconds: float | None = None,
    config: dict[str, Any] | None = None,
    vae: torch.nn.Module | None = None,
    log_every: int = 50,
    crop: int | None = 32,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train a VAE on ``images`` (``[N, 3, H, W]`` in -1..1); returns ``(vae, stats)``.

    ``crop``: train on random ``crop`` x ``crop`` patches (the VAE is convolutional; 4x fewer pixels per
    step at 64 px), ``None`` = whole images. ``stats``: steps done, seconds, reconstruction MSE (0..1 images) before / after on up to 256 images,
    the scaling factor set in ``vae.config``.
    """
    vae = vae if vae is not None else build_vae(config, seed)
    vae.train().requires_grad_(True)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    probe = images[torch.from_numpy(rng.permutation(len(images))[:256])]
    before = reconstruction_mse(vae.eval(), probe)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
    start = time.perf_counter()
    done = 0
    for step in range(steps):
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
        lr = learning_rate * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        idx = torch.from_numpy(rng.integers(0, len(images), batch_size))
        x = images[idx]
        if crop is not None and crop < min(x.shape[-2:]):
            top = int(rng.integers(0, x.shape[-2] - crop + 1))
            left = int(rng.integers(0, x.shape[-1] - crop + 1))
            x = x[..., top:top + crop, left:left + crop]
        if rng.random() < 0.5:
            x = x.flip(-1)
        rec, kl = vae_losses(vae, x, generator)
        loss = rec + kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        done = step + 1
        if log_every and done % log_every == 0:
            logger.info("vae step %d: reconstruction %.5f kl %.3f", done, rec.item(), kl.item())
    vae.eval().requires_grad_(False)
    after = reconstruction_mse(vae, probe)
    scale = latent_scaling_factor(vae, probe)
    vae.register_to_config(scaling_factor=scale)
    stats = {"steps": done, "seconds": round(time.perf_counter() - start, 1), "mse_before": before,
             "mse_after": after, "psnr_after": float(10 * np.log10(1.0 / max(after, 1e-12))),
             "scaling_factor": scale}
    return vae, stats


def finetune_decoder(
    vae: torch.nn.Module,
    images: torch.Tensor,
    steps: int = 1000,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    seed: int = 0,
    max_seconds: float | None = None,
    crop_latent: int | None = 8,
    log_every: int = 50,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train only the decoder (and ``post_quant_conv``) of ``vae`` on ``images`` (-1..1).

    The encoder and ``quant_conv`` stay frozen, so latents - and any diffusion model trained on them - keep
    their meaning; only decoding gets sharper. ``crop_latent``: train on random ``crop_latent`` x
    ``crop_latent`` latent patches (decoded to the matching pixel patch). Returns ``(vae, stats)``.
    """
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    rng = np.random.default_rng(seed + 1)
    probe = images[torch.from_numpy(rng.permutation(len(images))[:256])]
    vae.eval().requires_grad_(False)
    before = reconstruction_mse(vae, probe)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for p in params:
        p.requires_grad_(True)
    vae.decoder.train()
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    start = time.perf_counter()
    done = 0
    for step in range(steps):
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
        x = images[torch.from_numpy(rng.integers(0, len(images), batch_size))]
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
        if crop_latent is not None and crop_latent < z.shape[-1]:
            top = int(rng.integers(0, z.shape[-2] - crop_latent + 1))
            left = int(rng.integers(0, z.shape[-1] - crop_latent + 1))
            z = z[..., top:top + crop_latent, left:left + crop_latent]
            x = x[..., top * factor:(top + crop_latent) * factor, left * factor:(left + crop_latent) * factor]
        recon = vae.decode(z).sample
        loss = F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        done = step + 1
        if log_every and done % log_every == 0:
            logger.info("decoder step %d: reconstruction %.5f", done, loss.item())
    vae.eval().requires_grad_(False)
    after = reconstruction_mse(vae, probe)
    stats = {"steps": done, "seconds": round(time.perf_counter() - start, 1), "mse_before": before,
             "mse_after": after, "psnr_after": float(10 * np.log10(1.0 / max(after, 1e-12)))}
    return vae, stats


def vae_config_of(vae: torch.nn.Module) -> dict[str, Any]:
    """The constructor arguments of a diffusers ``AutoencoderKL`` (scaling factor included)."""
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    keys = set(AutoencoderKL.extract_init_dict(dict(vae.config))[0])
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(vae.config).items() if k in keys}


def save_vae(vae: torch.nn.Module, path: str | Path) -> Path:
    """Write ``vae`` as a pack-format ``.safetensors`` file (kind ``vae``)."""
    path = Path(path)
    save_model(vae, path, "vae", vae_config_of(vae))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.vae_pretrain", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="clip dataset folder (manifest.jsonl)")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-seconds", type=float, default=None)
    p.add_argument("--crop", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    images = load_images(args.data, args.resolution)
    vae, stats = pretrain_vae(images, args.steps, args.batch_size, args.lr, seed=args.seed,
                              max_seconds=args.max_seconds, crop=args.crop)
    save_vae(vae, args.out)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
