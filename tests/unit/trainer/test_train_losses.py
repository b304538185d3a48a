"""Diffusion objective: targets, min-SNR weights, per-sample noise."""

from __future__ import annotations

import torch

from trainer.losses import (
    add_noise,
    diffusion_loss,
    make_noise_scheduler,
    min_snr_weights,
    sample_noise,
    snr,
    training_target,
)


def test_v_target_recovers_the_clean_latents():
    scheduler = make_noise_scheduler("v_prediction", zero_snr=True)
    x0, noise = torch.randn(3, 4, 2, 4, 4), torch.randn(3, 4, 2, 4, 4)
    t = torch.tensor([0, 500, 999])
    xt, v = add_noise(scheduler, x0, noise, t), training_target(scheduler, x0, noise, t)
    a = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1, 1)
    assert torch.allclose(a.sqrt() * xt - (1 - a).sqrt() * v, x0, atol=1e-5)
    assert torch.allclose(xt[2], noise[2], atol=1e-6)  # zero terminal SNR: pure noise at t=999
    assert torch.equal(training_target(make_noise_scheduler("epsilon"), x0, noise, t), noise)


def test_min_snr_weights():
    t = torch.tensor([0, 300, 999])
    eps = make_noise_scheduler("epsilon", zero_snr=True)
    v = make_noise_scheduler("v_prediction", zero_snr=True)
    ratio = snr(eps, t)
    assert ratio[0] > 5 > ratio[1] and ratio[2] == 0
    w_eps, w_v = min_snr_weights(eps, t, 5.0), min_snr_weights(v, t, 5.0)
    assert torch.allclose(w_eps, torch.tensor([5.0 / ratio[0], 1.0, 1.0]))
    assert torch.allclose(w_v, torch.stack([5.0 / (ratio[0] + 1), ratio[1] / (ratio[1] + 1), torch.tensor(0.0)]))


def test_noise_is_per_position_and_offset_is_constant_over_pixels():
    a_noise, a_t = sample_noise(torch.tensor([4, 5]), (4, 2, 3, 3), seed=1)
    b_noise, b_t = sample_noise(torch.tensor([5]), (4, 2, 3, 3), seed=1)
    assert torch.equal(a_noise[1], b_noise[0]) and a_t[1] == b_t[0]
    c_noise, _ = sample_noise(torch.tensor([5]), (4, 2, 3, 3), seed=2)
    assert not torch.equal(b_noise, c_noise)
    off_noise, _ = sample_noise(torch.tensor([5]), (4, 2, 3, 3), seed=1, noise_offset=0.5)
    shift = off_noise - b_noise
    assert torch.allclose(shift, shift[:, :, :1, :1, :1].expand_as(shift)) and shift.abs().max() > 0


def test_weighted_loss():
    pred, target = torch.zeros(2, 4, 1, 2, 2), torch.ones(2, 4, 1, 2, 2)
    target[1] *= 2
    assert diffusion_loss(pred, target).item() == 2.5
    assert diffusion_loss(pred, target, torch.tensor([1.0, 0.0])).item() == 0.5


def test_spatial_weights_focus_the_loss_on_the_person():
    from trainer.losses import person_weights

    pred, target = torch.zeros(2, 4, 1, 8, 8), torch.zeros(2, 4, 1, 8, 8)
    pred[:, :, :, :4] = 1.0  # error only in the top half
    person = torch.zeros(2, 1, 1, 32, 32)
    person[0, :, :, 2:3, 5:6] = 1.0  # one pixel: marks the latent cell (0, 1) through the max pool
    person[1, :, :, 20:24] = 1.0  # bottom half, where there is no error
    w = person_weights(person, (8, 8), 9.0)
    assert w.shape == (2, 1, 1, 8, 8) and w[0, 0, 0, 0, 1] == 10.0 and w[0].sum() == 64 + 9
    plain = diffusion_loss(pred, target)
    weighted = diffusion_loss(pred, target, spatial=w)
    assert torch.isclose(plain, torch.tensor(0.5))
    # sample 0: the weighted cell has error 1 -> (32 + 9) / 73; sample 1: the person rows have none
    expected = ((32 + 9) / 73 + 32 / (64 + 9 * 8)) / 2
    assert torch.isclose(weighted, torch.tensor(expected, dtype=torch.float32))
    assert torch.equal(diffusion_loss(pred, target, spatial=person_weights(person, (8, 8), 0.0)), plain)
