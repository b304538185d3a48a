"""Scheduler factory matches the released MIMO inference config."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

from mimo_core.pipeline.schedulers import make_scheduler


def test_default_is_mimo_ddim():
    s = make_scheduler()
    assert isinstance(s, DDIMScheduler)
    c = s.config
    assert (c.beta_schedule, c.beta_start, c.beta_end, c.num_train_timesteps) == ("scaled_linear", 0.00085, 0.012, 1000)
    assert c.prediction_type == "v_prediction" and c.rescale_betas_zero_snr and c.timestep_spacing == "trailing"
    assert c.clip_sample is False and c.steps_offset == 1
    assert s.timesteps.tolist() == list(range(999, 0, -40))  # 25 trailing steps: 999, 959, ..., 39
    assert float(s.alphas_cumprod[-1]) == 0.0, "zero terminal SNR"


def test_zero_snr_off_keeps_signal_at_the_last_step():
    s = make_scheduler(zero_snr=False, prediction_type="epsilon", steps=30)
    assert float(s.alphas_cumprod[-1]) > 0 and len(s.timesteps) == 30


@pytest.mark.parametrize("name,cls", [("euler", EulerDiscreteScheduler), ("dpmpp", DPMSolverMultistepScheduler)])
def test_alternatives_share_the_noise_schedule(name, cls):
    s = make_scheduler(name, steps=10)
    assert isinstance(s, cls) and len(s.timesteps) == 10
    ddim = make_scheduler("ddim", steps=10)
    assert torch.allclose(s.alphas_cumprod[:-1], ddim.alphas_cumprod[:-1])


@pytest.mark.parametrize("kwargs,word", [
    (dict(name="pndm"), "scheduler name"),
    (dict(prediction_type="x0"), "prediction_type"),
    (dict(timestep_spacing="middle"), "timestep_spacing"),
    (dict(steps=0), "steps"),
])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_scheduler(**kwargs)
