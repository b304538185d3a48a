"""Model-agnostic video sampler: context windows, classifier-free guidance, one scheduler.

The sampler never sees a network. The caller passes ``predict``, a closure that owns the
conditioning (background latents to concatenate, pose features to slice, cached
reference features, CLIP embeddings) and answers for one window of frames::

    predict(x_window, t, frame_indices, *, need_uncond) -> (cond_pred, uncond_pred | None)

* ``x_window``: ``[B, C, t, h, w]`` noisy latents of the window's frames, already passed
  through ``scheduler.scale_model_input``;
* ``t``: the scheduler's timestep (0-d tensor);
* ``frame_indices``: the window's frame numbers in the full video (``list[int]``);
* ``need_uncond``: whether the unconditional prediction is wanted (False when
  ``guidance_scale == 1``, so the closure can skip that pass); if False it may return None.

Each step runs ``predict`` on every window, combines guidance
``uncond + s * (cond - uncond)``, blends the windows into one full-length prediction with
per-frame weights summing to 1, and takes one scheduler step on the full latent. Memory
is one window's activations plus a few full-length latents.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from .context import BLEND_MODES, WindowAccumulator, check_windows, uniform_windows, window_weights


class PredictFn(Protocol):
    """One window's denoiser answer; see the module docstring."""

    def __call__(
        self, x: torch.Tensor, t: torch.Tensor, frame_indices: list[int], *, need_uncond: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]: ...


ProgressFn = Callable[[int, int, torch.Tensor], None]


class SamplingCancelled(RuntimeError):
    """Raised when ``cancel_check`` asks the sampler to stop."""


@dataclass(frozen=True)
class WindowConfig:
    """How to cut the video into context windows (MIMO: 24 frames, overlap 4)."""

    window: int = 24
    overlap: int = 4
    closed_loop: bool = False
    blend: str = "average"

    def windows(self, num_frames: int) -> list[list[int]]:
        """Frame indices per window for a video of ``num_frames`` frames."""
        return uniform_windows(num_frames, self.window, self.overlap, self.closed_loop)


def initial_noise(
    shape: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise ``shape``, drawn on the CPU so a seed gives the same noise on any device.

    Uses ``generator`` if given, else a CPU generator seeded with ``seed`` (0 when both are None).
    """
    if generator is None:
        generator = torch.Generator("cpu").manual_seed(0 if seed is None else int(seed))
    noise = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(device=device, dtype=dtype)


def guided(cond: torch.Tensor, uncond: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Classifier-free guidance ``uncond + scale * (cond - uncond)``; ``cond`` when ``uncond`` is None."""
    if uncond is None:
        return cond
    if uncond.shape != cond.shape:
        raise ValueError(f"uncond prediction shape {tuple(uncond.shape)} differs from cond {tuple(cond.shape)}")
    return uncond + scale * (cond - uncond)


def estimate_x0(scheduler: SchedulerMixin, model_output: torch.Tensor, sample: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor | None:
    """Clean-latent estimate from a model output, for schedulers whose step does not return one.

    Valid for schedulers whose samples are ``sqrt(a) * x0 + sqrt(1 - a) * noise`` with
    ``a = alphas_cumprod[t]`` (DDIM, DPM-Solver); None when it cannot be computed.
    """
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        return None
    a = alphas.to(sample.device)[int(t)].to(torch.float32)
    sa, sb = a.sqrt(), (1 - a).sqrt()
    kind = scheduler.config.prediction_type
    out, x = model_output.float(), sample.float()
    if kind == "v_prediction":
        return sa * x - sb * out
    if kind == "epsilon":
        return (x - sb * out) / sa.clamp_min(1e-4)
    if kind == "sample":
        return out
    return None


def _step_kwargs(scheduler: SchedulerMixin, generator: torch.Generator | None, eta: float) -> dict:
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict = {}
    if "eta" in accepted:
        kwargs["eta"] = eta
    if "generator" in accepted and generator is not None:
        kwargs["generator"] = generator
    return kwargs


def sample_video(
    predict: PredictFn,
    scheduler: SchedulerMixin,
    *,
    shape: Sequence[int] | None = None,
    noise: torch.Tensor | None = None,
    windows: WindowConfig | Sequence[Sequence[int]] | None = None,
    blend: str | None = None,
    guidance_scale: float = 3.5,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    eta: float = 0.0,
    callback: ProgressFn | None = None,
    cancel_check: Callable[[], object] | None = None,
) -> torch.Tensor:
    """Sample video latents with context windows and classifier-free guidance.

    Args:
        predict: the window denoiser closure (see the module docstring).
        scheduler: a diffusers scheduler with ``set_timesteps`` already called (e.g. from
            :func:`~mimo_core.pipeline.schedulers.make_scheduler`); it is used once, in order.
        shape: latent shape ``[B, C, T, h, w]`` when ``noise`` is not given.
        noise: initial standard normal noise ``[B, C, T, h, w]``; scaled here by
            ``scheduler.init_noise_sigma``. Drawn from ``generator`` / ``seed`` when None.
        windows: a :class:`WindowConfig` (default: 24 frames, overlap 4) or explicit frame
            index lists covering every frame.
        blend: window blending mode (``"average"``, ``"linear"``, ``"pyramid"``); overrides
            the config's. Default ``"average"``.
        guidance_scale: CFG scale ``s``; at exactly 1 the unconditional pass is skipped.
        generator, seed: randomness for the initial noise, then for stochastic scheduler
            steps (one stream); ``seed`` seeds a CPU generator when ``generator`` is None
            (default seed 0), so results do not depend on the device.
        device, dtype: where and in what precision latents live (predictions are cast to it).
        eta: DDIM eta (0 = deterministic DDIM).
        callback: ``callback(step, total, x0)`` after each step, ``step`` in 1..total and
            ``x0`` ``[B, C, T, h, w]`` the scheduler's current clean-latent estimate (for
            latent previews; no decoding).
        cancel_check: called before every window; raising stops sampling with that error,
            returning a truthy value raises :class:`SamplingCancelled`.

    Returns:
        The denoised latents ``[B, C, T, h, w]`` (``dtype``, on ``device``), in the
        scheduler's sample space (SD latents: multiply-by-scaling-factor space).
    """
    if generator is None:
        # one stream for the initial noise and then any stochastic scheduler steps
        generator = torch.Generator("cpu").manual_seed(0 if seed is None else int(seed))
    if noise is None:
        if shape is None:
            raise ValueError("sample_video needs either shape=[B,C,T,h,w] or noise")
        noise = initial_noise(shape, generator=generator, device=device, dtype=dtype)
    if noise.dim() != 5:
        raise ValueError(f"latents must be [B,C,T,h,w] (5-D), got shape {tuple(noise.shape)}")
    device = noise.device if device is None else torch.device(device)
    num_frames = noise.shape[2]
    config = windows if isinstance(windows, WindowConfig) else WindowConfig()
    frame_windows = config.windows(num_frames) if windows is None or isinstance(windows, WindowConfig) else [
        [int(f) for f in w] for w in windows
    ]
    check_windows(frame_windows, num_frames)
    mode = blend or config.blend
    if mode not in BLEND_MODES:
        raise ValueError(f"blend mode {mode!r} is unknown; expected one of {BLEND_MODES}")
    weights = window_weights(frame_windows, num_frames, mode)
    timesteps = scheduler.timesteps
    if timesteps is None or len(timesteps) == 0:
        raise ValueError("scheduler has no timesteps: call scheduler.set_timesteps(steps) first")
    need_uncond = float(guidance_scale) != 1.0
    step_kwargs = _step_kwargs(scheduler, generator, eta)

    latents = noise.to(device=device, dtype=dtype) * scheduler.init_noise_sigma
    total = len(timesteps)
    for i, t in enumerate(timesteps):
        model_input = scheduler.scale_model_input(latents, t)
        acc = WindowAccumulator(latents.shape, 2, dtype=dtype, device=device)
        for frames, weight in zip(frame_windows, weights, strict=True):
            if cancel_check is not None and cancel_check():
                raise SamplingCancelled(f"sampling cancelled at step {i + 1} of {total}")
            cond, uncond = predict(model_input[:, :, frames], t, frames, need_uncond=need_uncond)
            if need_uncond and uncond is None:
                raise ValueError(
                    f"predict returned no unconditional prediction but guidance_scale={guidance_scale} needs one"
                )
            pred = guided(cond, uncond if need_uncond else None, float(guidance_scale))
            expected = (latents.shape[0], latents.shape[1], len(frames), *latents.shape[3:])
            if tuple(pred.shape) != expected:
                raise ValueError(
                    f"predict returned shape {tuple(pred.shape)} for a window of {len(frames)} frames; "
                    f"expected {expected}"
                )
            acc.add(pred, frames, weight)
            del cond, uncond, pred
        model_output = acc.result()
        out = scheduler.step(model_output, t, latents, **step_kwargs)
        if callback is not None:
            x0 = getattr(out, "pred_original_sample", None)
            if x0 is None:
                x0 = estimate_x0(scheduler, model_output, latents, t)
            callback(i + 1, total, (x0 if x0 is not None else out.prev_sample).to(dtype))
        latents = out.prev_sample.to(dtype)
    return latents
