"""Context windows cover every frame; blending weights are a partition of unity."""

from __future__ import annotations

import pytest
import torch

from mimo_core.pipeline.context import BLEND_MODES, blend_windows, uniform_windows, window_weights

LENGTHS = [1, 5, 23, 24, 25, 44, 45, 50, 97, 150]


@pytest.mark.parametrize("closed_loop", [False, True])
@pytest.mark.parametrize("n", LENGTHS)
def test_windows_cover_every_frame_with_full_windows(n, closed_loop):
    wins = uniform_windows(n, 24, 4, closed_loop)
    covered = sorted({f for w in wins for f in w})
    assert covered == list(range(n))
    for w in wins:
        assert len(w) == min(n, 24)
        assert len(set(w)) == len(w)
    if not closed_loop:
        for a, b in zip(wins, wins[1:], strict=False):
            assert len(set(a) & set(b)) >= 4, "consecutive windows must share at least `overlap` frames"
            assert a == list(range(a[0], a[0] + 24))


def test_short_video_is_one_window():
    assert uniform_windows(10, 24, 4) == [list(range(10))]
    assert uniform_windows(24, 24, 4) == [list(range(24))]


def test_exact_tiling_has_exact_overlap():
    wins = uniform_windows(64, 24, 4)
    assert [w[0] for w in wins] == [0, 20, 40]


def test_closed_loop_wraps_to_the_start():
    wins = uniform_windows(50, 24, 4, closed_loop=True)
    assert wins[-1][-1] < wins[-1][0], "the last window should wrap past the end"
    assert set(wins[-1]) & set(wins[0])


@pytest.mark.parametrize("bad", [dict(num_frames=0), dict(window=0), dict(overlap=24), dict(overlap=-1)])
def test_bad_arguments_are_named(bad):
    args = dict(num_frames=30, window=24, overlap=4) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        uniform_windows(**args)


@pytest.mark.parametrize("mode", BLEND_MODES)
@pytest.mark.parametrize("closed_loop", [False, True])
@pytest.mark.parametrize("n", LENGTHS)
def test_weights_sum_to_one_per_frame(n, closed_loop, mode):
    wins = uniform_windows(n, 24, 4, closed_loop)
    weights = window_weights(wins, n, mode)
    total = torch.zeros(n)
    for w, ws in zip(wins, weights, strict=True):
        assert ws.shape == (len(w),)
        assert bool((ws > 0).all())
        total.index_add_(0, torch.tensor(w), ws)
    torch.testing.assert_close(total, torch.ones(n), atol=1e-6, rtol=0)


def test_linear_weights_match_mimo_ramp():
    # 44 frames: windows 0..23 and 20..43 share exactly 4 frames; the newer window fades in as (j+1)/5.
    wins = uniform_windows(44, 24, 4)
    w0, w1 = window_weights(wins, 44, "linear")
    torch.testing.assert_close(w1[:4], torch.tensor([1, 2, 3, 4]) / 5)
    torch.testing.assert_close(w0[-4:], torch.tensor([4, 3, 2, 1]) / 5)
    assert bool((w0[:-4] == 1).all()) and bool((w1[4:] == 1).all())


def test_average_weights_split_evenly():
    wins = uniform_windows(44, 24, 4)
    w0, _ = window_weights(wins, 44, "average")
    torch.testing.assert_close(w0[-4:], torch.full((4,), 0.5))


def test_blend_of_consistent_windows_is_exact():
    n = 50
    full = torch.randn(2, 3, n, 4, 5, generator=torch.Generator().manual_seed(1))
    wins = uniform_windows(n, 24, 4)
    for mode in BLEND_MODES:
        out = blend_windows([full[:, :, w] for w in wins], wins, n, mode)
        torch.testing.assert_close(out, full, atol=1e-6, rtol=0)


def test_blend_mixes_disagreeing_windows_by_weight():
    wins = [[0, 1, 2], [1, 2, 3]]
    out = blend_windows([torch.zeros(1, 1, 3), torch.ones(1, 1, 3)], wins, 4, "average")
    torch.testing.assert_close(out.flatten(), torch.tensor([0.0, 0.5, 0.5, 1.0]))


def test_uncovered_frames_are_rejected():
    with pytest.raises(ValueError, match="uncovered"):
        window_weights([[0, 1], [3, 4]], 5)
    with pytest.raises(ValueError, match="outside"):
        window_weights([[0, 1, 5]], 5)
