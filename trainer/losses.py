"""Diffusion training objective: noise schedule, per-sample noise, targets and the (min-SNR weighted) MSE.

The schedule is SD1.5's (``scaled_linear`` betas 0.00085..0.012 over 1000 steps) through diffusers'
``DDPMScheduler``, optionally rescaled to zero terminal SNR (what MIMO's v-prediction sampler expects).
Noise and timesteps of a sample come from a generator seeded by ``(seed, stream position)``, so they do not
depend on how the batch is split over processes or on where a run was resumed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

_NOISE_STREAM = 0x401_5E


def make_noise_scheduler(prediction_type: str = "v_prediction", zero_snr: bool = True) -> DDPMScheduler:
    """The training noise schedule (SD1.5 betas, 1000 steps)."""
    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type=prediction_type,
        rescale_betas_zero_snr=zero_snr,
        clip_sample=False,
        steps_offset=1,
    )


def sample_noise(
    positions: torch.Tensor,
    shape: tuple[int, ...],
    seed: int,
    num_timesteps: int = 1000,
    noise_offset: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample noise ``[B, *shape]`` and timesteps ``[B]`` (int64 in 0..num_timesteps-1), on the CPU.

    ``positions``: ``[B]`` stream positions. ``shape``: one sample's latent shape ``(C, F, h, w)``.
    ``noise_offset`` adds ``offset * N(0, 1)`` per sample and channel, constant over frames and pixels.
    """
    noises, steps = [], []
    for position in positions.tolist():
        gen = torch.Generator().manual_seed((_NOISE_STREAM * 1_000_003 + seed) * 1_000_003 + int(position))
        steps.append(torch.randint(0, num_timesteps, (1,), generator=gen))
        noise = torch.randn(shape, generator=gen)
        if noise_offset:
            offset = torch.randn(shape[0], generator=gen)
            noise = noise + noise_offset * offset.view(-1, *([1] * (len(shape) - 1)))
        noises.append(noise)
    return torch.stack(noises), torch.cat(steps)


def _per_sample(values: torch.Tensor, timesteps: torch.Tensor, ndim: int) -> torch.Tensor:
    out = values.to(timesteps.device)[timesteps].float()
    return out.view(-1, *([1] * (ndim - 1)))


def add_noise(scheduler: DDPMScheduler, latents: torch.Tensor, noise: torch.Tensor,
              timesteps: torch.Tensor) -> torch.Tensor:
    """``sqrt(a_t) * x0 + sqrt(1 - a_t) * noise`` for latents ``[B, ...]`` (any number of trailing dims)."""
    alphas = _per_sample(scheduler.alphas_cumprod, timesteps, latents.ndim)
    return alphas.sqrt() * latents + (1 - alphas).sqrt() * noise


def training_target(scheduler: DDPMScheduler, latents: torch.Tensor, noise: torch.Tensor,
                    timesteps: torch.Tensor) -> torch.Tensor:
    """What the denoiser must predict: ``noise`` (epsilon) or ``v = sqrt(a_t) noise - sqrt(1-a_t) x0``."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        alphas = _per_sample(scheduler.alphas_cumprod, timesteps, latents.ndim)
        return alphas.sqrt() * noise - (1 - alphas).sqrt() * latents
    raise ValueError(f"prediction_type {kind!r} is not trainable here; expected 'epsilon' or 'v_prediction'")


def snr(scheduler: DDPMScheduler, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio ``a_t / (1 - a_t)`` per timestep ``[B]`` (0 at the last step with zero SNR)."""
    alphas = scheduler.alphas_cumprod.to(timesteps.device)[timesteps].double()
    return (alphas / (1 - alphas)).float()


def min_snr_weights(scheduler: DDPMScheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma loss weights ``[B]`` (Hang et al. 2023): ``min(snr, g)/snr`` (epsilon), ``/(snr+1)`` (v).

    At zero SNR the epsilon weight is taken as 1 (its limit is ``min(snr, g)/snr`` -> 1).
    """
    ratio = snr(scheduler, timesteps)
    clipped = torch.clamp(ratio, max=gamma)
    if scheduler.config.prediction_type == "v_prediction":
        return clipped / (ratio + 1)
    return torch.where(ratio > 0, clipped / ratio.clamp(min=1e-12), torch.ones_like(ratio))


def diffusion_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    spatial: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the batch of the per-sample MSE (times ``weights`` ``[B]`` when given); a scalar.

    ``spatial``: optional per-cell weights broadcastable to ``prediction`` (e.g. ``[B, 1, F, h, w]``); the
    per-sample error is then the weighted mean ``sum(w * e) / sum(w)`` over the sample's cells.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    error = F.mse_loss(prediction.float(), target.float(), reduction="none")
    if spatial is None:
        per_sample = error.flatten(1).mean(1)
    else:
        w = spatial.float().expand_as(error)
        per_sample = (w * error).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1e-12)
    if weights is not None:
        per_sample = per_sample * weights.to(per_sample)
    return per_sample.mean()


def person_weights(person: torch.Tensor, latent_size: tuple[int, int], weight: float) -> torch.Tensor:
    """Per-latent-cell loss weights ``1 + weight * covered`` from a person mask ``[B, 1, (F,) H, W]`` (0..1).

    A latent cell counts as covered (0..1) by the largest mask value in its pixel footprint, so thin limbs
    still mark their cells.
    """
    if weight < 0:
        raise ValueError(f"person loss weight must be >= 0, got {weight}")
    video = person.dim() == 5
    x = person.flatten(1, 2) if not video else person.transpose(1, 2).flatten(0, 1)
    covered = F.adaptive_max_pool2d(x.float(), latent_size)
    if video:
        b, f = person.shape[0], person.shape[2]
        covered = covered.reshape(b, f, 1, *latent_size).transpose(1, 2)
    return 1.0 + weight * covered
