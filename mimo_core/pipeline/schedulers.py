"""Noise schedulers configured the way MIMO / Moore-AnimateAnyone sample.

The released MIMO inference config is DDIM with the SD1.5 beta schedule
(``scaled_linear`` from 0.00085 to 0.012 over 1000 training steps), ``clip_sample``
off, ``steps_offset`` 1, v-prediction, zero-terminal-SNR rescaled betas and
``trailing`` timestep spacing; 25 steps by default. Euler and DPM-Solver++ are
offered as alternatives with the same noise schedule.
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_ancestral": EulerAncestralDiscreteScheduler,
    "dpmpp": DPMSolverMultistepScheduler,
}
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
TIMESTEP_SPACINGS = ("trailing", "leading", "linspace")


def scheduler_config(
    name: str = "ddim",
    *,
    prediction_type: str = "v_prediction",
    zero_snr: bool = True,
    timestep_spacing: str = "trailing",
    beta_schedule: str = "scaled_linear",
    beta_start: float = 0.00085,
    beta_end: float = 0.012,
    num_train_timesteps: int = 1000,
) -> dict[str, Any]:
    """The keyword arguments :func:`make_scheduler` passes to the diffusers class ``SCHEDULERS[name]``."""
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler name {name!r} is unknown; expected one of {sorted(SCHEDULERS)}")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction_type {prediction_type!r} is unknown; expected one of {PREDICTION_TYPES}")
    if timestep_spacing not in TIMESTEP_SPACINGS:
        raise ValueError(f"timestep_spacing {timestep_spacing!r} is unknown; expected one of {TIMESTEP_SPACINGS}")
    config: dict[str, Any] = {
        "num_train_timesteps": num_train_timesteps,
        "beta_start": beta_start,
        "beta_end": beta_end,
        "beta_schedule": beta_schedule,
        "prediction_type": prediction_type,
        "timestep_spacing": timestep_spacing,
        "steps_offset": 1,
        "rescale_betas_zero_snr": zero_snr,
    }
    if name == "ddim":
        config.update(clip_sample=False, set_alpha_to_one=True)
    elif name == "dpmpp":
        config.update(algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero")
    return config


def make_scheduler(
    name: str = "ddim",
    prediction_type: str = "v_prediction",
    zero_snr: bool = True,
    timestep_spacing: str = "trailing",
    steps: int = 25,
    *,
    beta_schedule: str = "scaled_linear",
    beta_start: float = 0.00085,
    beta_end: float = 0.012,
    num_train_timesteps: int = 1000,
    device: torch.device | str | None = None,
) -> SchedulerMixin:
    """A diffusers scheduler with its timesteps already set for ``steps`` sampling steps.

    Args:
        name: ``"ddim"`` (MIMO default), ``"euler"``, ``"euler_ancestral"`` or ``"dpmpp"``
            (DPM-Solver++ 2M).
        prediction_type: what the denoiser predicts: ``"v_prediction"`` (MIMO), ``"epsilon"``
            or ``"sample"``.
        zero_snr: rescale the betas so the last training step has zero signal (needed for
            v-prediction models trained that way, as MIMO is).
        timestep_spacing: ``"trailing"`` (MIMO), ``"leading"`` or ``"linspace"``.
        steps: number of sampling steps, at least 1 and at most ``num_train_timesteps``.
        device: where ``scheduler.timesteps`` live.

    Returns:
        The scheduler; ``scheduler.timesteps`` holds the ``steps`` timesteps, highest first.
    """
    if not 1 <= int(steps) <= num_train_timesteps:
        raise ValueError(f"steps must be in 1..{num_train_timesteps}, got {steps}")
    config = scheduler_config(
        name,
        prediction_type=prediction_type,
        zero_snr=zero_snr,
        timestep_spacing=timestep_spacing,
        beta_schedule=beta_schedule,
        beta_start=beta_start,
        beta_end=beta_end,
        num_train_timesteps=num_train_timesteps,
    )
    scheduler = SCHEDULERS[name](**config)
    scheduler.set_timesteps(int(steps), device=device)
    return scheduler
