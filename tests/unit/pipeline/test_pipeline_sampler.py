"""The window sampler: convergence on an analytic denoiser, exact window blending, CFG, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mimo_core.pipeline import (
    SamplingCancelled,
    WindowConfig,
    make_predict,
    make_scheduler,
    sample_video,
    uniform_windows,
)

SHAPE = (1, 4, 30, 4, 4)  # B, C, T, h, w


def known_x0(shape=SHAPE) -> torch.Tensor:
    """A different clean latent per frame, so frame bookkeeping errors show up."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(123))


class OracleDenoiser:
    """The exact optimal prediction when the data distribution is a point mass at ``x0``.

    For ``x = sqrt(a) x0 + sqrt(1 - a) eps`` (the scaled model input), the true targets are
    ``eps = (x - sqrt(a) x0) / sqrt(1 - a)`` and ``v = (sqrt(a) x - x0) / sqrt(1 - a)``.
    """

    def __init__(self, scheduler, x0: torch.Tensor, kind: str) -> None:
        self.alphas = scheduler.alphas_cumprod.double()
        self.x0 = x0.double()
        self.kind = kind
        self.calls = 0
        self.uncond_calls = 0
        self.frames_seen: list[list[int]] = []

    def __call__(self, x, t, frames, *, need_uncond):
        self.calls += 1
        self.frames_seen.append(list(frames))
        a = self.alphas[int(round(float(t)))]
        x0 = self.x0[:, :, frames]
        xd = x.double()
        if self.kind == "v_prediction":
            pred = (a.sqrt() * xd - x0) / (1 - a).sqrt()
        else:
            pred = (xd - a.sqrt() * x0) / (1 - a).sqrt()
        uncond = None
        if need_uncond:
            self.uncond_calls += 1
            uncond = pred.float()
        return pred.float(), uncond


@pytest.mark.parametrize(
    "name,kind,zero_snr",
    [("ddim", "v_prediction", True), ("ddim", "epsilon", False), ("euler", "v_prediction", True),
     ("dpmpp", "v_prediction", True)],
)
def test_sampler_converges_to_known_x0(name, kind, zero_snr):
    sched = make_scheduler(name, prediction_type=kind, zero_snr=zero_snr, steps=10)
    x0 = known_x0()
    oracle = OracleDenoiser(sched, x0, kind)
    out = sample_video(oracle, sched, shape=SHAPE, windows=WindowConfig(12, 4), guidance_scale=1.0, seed=0)
    assert out.shape == SHAPE
    err = (out - x0).abs().max().item()
    assert err < 1e-3, f"{name}/{kind}: max error {err}"


@pytest.mark.parametrize("name", ["ddim", "dpmpp"])  # dpmpp has no x0 in its step output: estimated
def test_zero_snr_first_step_ignores_the_noise(name):
    """With zero terminal SNR the first x0 estimate of the oracle is already exact: a scheduler check."""
    sched = make_scheduler(name, steps=5)
    x0 = known_x0()
    previews = []
    sample_video(OracleDenoiser(sched, x0, "v_prediction"), sched, shape=SHAPE, guidance_scale=1.0, seed=3,
                 callback=lambda step, total, x: previews.append((step, total, x)))
    assert [(s, n) for s, n, _ in previews] == [(i, 5) for i in range(1, 6)]
    torch.testing.assert_close(previews[0][2], x0, atol=1e-4, rtol=0)


class PerFrameNet(nn.Module):
    """A random per-frame denoiser (2-D convs with a timestep bias): frames never interact."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.body = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.SiLU(), nn.Conv2d(8, 4, 3, padding=1))

    def forward(self, x, t):
        b, c, f, h, w = x.shape
        y = self.body(x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)) + 1e-3 * float(t)
        return y.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


def net_predict(net, counter=None):
    def predict(x, t, frames, *, need_uncond):
        if counter is not None:
            counter["cond"] += 1
            counter["uncond"] += int(need_uncond)
        with torch.no_grad():
            cond = net(x, t)
            return cond, (0.5 * cond if need_uncond else None)

    return predict


@pytest.mark.parametrize("blend", ["average", "linear", "pyramid"])
def test_windowed_equals_unwindowed_for_per_frame_denoiser(blend):
    net = PerFrameNet()
    common = dict(shape=SHAPE, guidance_scale=3.5, seed=11)
    full = sample_video(net_predict(net), make_scheduler(steps=6), windows=[list(range(SHAPE[2]))], **common)
    windowed = sample_video(net_predict(net), make_scheduler(steps=6), windows=WindowConfig(8, 3, blend=blend),
                            **common)
    looped = sample_video(net_predict(net), make_scheduler(steps=6),
                          windows=WindowConfig(8, 3, closed_loop=True, blend=blend), **common)
    torch.testing.assert_close(windowed, full, atol=1e-5, rtol=0)
    torch.testing.assert_close(looped, full, atol=1e-5, rtol=0)


def test_windows_do_change_a_temporal_denoiser():
    """Counter-check: a denoiser that mixes frames gives a different answer when windowed."""

    def temporal(x, t, frames, *, need_uncond):
        return x.mean(dim=2, keepdim=True).expand_as(x).clone(), None

    common = dict(shape=SHAPE, guidance_scale=1.0, seed=11)
    full = sample_video(temporal, make_scheduler(steps=4), windows=[list(range(SHAPE[2]))], **common)
    windowed = sample_video(temporal, make_scheduler(steps=4), windows=WindowConfig(8, 3), **common)
    assert (full - windowed).abs().max() > 1e-3


def test_cfg_scale_one_skips_uncond_and_counts_calls():
    net = PerFrameNet()
    steps, n_win = 4, len(uniform_windows(SHAPE[2], 8, 3))
    for scale, uncond_calls in [(1.0, 0), (3.5, steps * n_win)]:
        counter = {"cond": 0, "uncond": 0}
        sample_video(net_predict(net, counter), make_scheduler(steps=steps), shape=SHAPE,
                     windows=WindowConfig(8, 3), guidance_scale=scale, seed=0)
        assert counter == {"cond": steps * n_win, "uncond": uncond_calls}


def test_cfg_combination_is_uncond_plus_scaled_difference():
    net = PerFrameNet()
    s = 3.5

    def pre_guided(x, t, frames, *, need_uncond):
        cond, uncond = net_predict(net)(x, t, frames, need_uncond=True)
        return uncond + s * (cond - uncond), None

    a = sample_video(net_predict(net), make_scheduler(steps=3), shape=SHAPE, guidance_scale=s, seed=2)
    b = sample_video(pre_guided, make_scheduler(steps=3), shape=SHAPE, guidance_scale=1.0, seed=2)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_missing_uncond_is_an_error():
    with pytest.raises(ValueError, match="unconditional"):
        sample_video(lambda x, t, f, need_uncond: (x, None), make_scheduler(steps=2), shape=SHAPE,
                     guidance_scale=2.0)


def test_same_seed_same_result_and_different_seed_differs():
    net = PerFrameNet()
    runs = [sample_video(net_predict(net), make_scheduler(steps=3), shape=SHAPE, seed=s) for s in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    gen = torch.Generator().manual_seed(5)
    via_gen = sample_video(net_predict(net), make_scheduler(steps=3), shape=SHAPE, generator=gen)
    assert torch.equal(via_gen, runs[0])


def test_stochastic_scheduler_is_deterministic_under_seed():
    net = PerFrameNet()
    runs = [sample_video(net_predict(net), make_scheduler("euler_ancestral", steps=3), shape=SHAPE, seed=9)
            for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_cancel_check_stops_early():
    net = PerFrameNet()
    calls = {"n": 0}

    def predict(x, t, frames, *, need_uncond):
        calls["n"] += 1
        return net_predict(net)(x, t, frames, need_uncond=need_uncond)

    with pytest.raises(SamplingCancelled):
        sample_video(predict, make_scheduler(steps=10), shape=SHAPE, seed=0, cancel_check=lambda: calls["n"] >= 3)
    assert calls["n"] == 3

    class Interrupted(Exception):
        pass

    def raising():
        raise Interrupted

    with pytest.raises(Interrupted):
        sample_video(predict, make_scheduler(steps=10), shape=SHAPE, seed=0, cancel_check=raising)


def test_wrong_prediction_shape_is_named():
    with pytest.raises(ValueError, match="predict returned shape"):
        sample_video(lambda x, t, f, need_uncond: (x[:, :2], None), make_scheduler(steps=2), shape=SHAPE,
                     guidance_scale=1.0)


def test_make_predict_concatenates_window_slices():
    noisy_c, bg_c = 4, 4
    bg = torch.arange(SHAPE[2], dtype=torch.float32).view(1, 1, -1, 1, 1).expand(1, bg_c, -1, *SHAPE[3:])
    pose = 10 * bg[:, :1]
    seen = []

    def model_fn(model_input, t, frames, conditional, feats):
        seen.append((model_input.shape[1], conditional))
        # channel 4 is the scene latent: equals the frame number in this test
        assert torch.equal(model_input[0, noisy_c, :, 0, 0], torch.tensor(frames, dtype=torch.float32))
        assert torch.equal(feats["pose"][0, 0, :, 0, 0], 10 * torch.tensor(frames, dtype=torch.float32))
        return model_input[:, :noisy_c] * (1.0 if conditional is not False else 0.0)

    predict = make_predict(model_fn, bg, frame_features={"pose": pose})
    cond, uncond = predict(torch.ones(1, 4, 3, *SHAPE[3:]), torch.tensor(999), [4, 5, 6], need_uncond=True)
    assert seen == [(8, True), (8, False)]
    assert torch.equal(cond, torch.ones_like(cond)) and torch.equal(uncond, torch.zeros_like(uncond))
    _, none = predict(torch.ones(1, 4, 3, *SHAPE[3:]), torch.tensor(999), [0, 1, 2], need_uncond=False)
    assert none is None

    batched = make_predict(model_fn, bg, frame_features={"pose": pose}, batch_cfg=True)
    cond_b, uncond_b = batched(torch.ones(1, 4, 3, *SHAPE[3:]), torch.tensor(9), [7, 8, 9], need_uncond=True)
    assert seen[-1] == (8, None)
    assert cond_b.shape == (1, 4, 3, *SHAPE[3:]) and uncond_b.shape == cond_b.shape


def test_make_predict_drives_the_sampler():
    net = PerFrameNet()
    bg = torch.zeros(1, 4, SHAPE[2], *SHAPE[3:])

    def model_fn(model_input, t, frames, conditional, feats):
        assert model_input.shape[1] == 8
        with torch.no_grad():
            return net(model_input[:, :4], t)

    out = sample_video(make_predict(model_fn, bg), make_scheduler(steps=2), shape=SHAPE, guidance_scale=1.0, seed=1)
    ref = sample_video(net_predict(net), make_scheduler(steps=2), shape=SHAPE, guidance_scale=1.0, seed=1)
    torch.testing.assert_close(out, ref, atol=0, rtol=0)
