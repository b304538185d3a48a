from __future__ import annotations

import pytest
import torch

from mimo_core.compositing import composite_over


def test_composite_over_blends_by_mask():
    bg = torch.zeros(3, 4, 5, 3)
    fg = torch.ones(3, 4, 5, 3)
    mask = torch.zeros(3, 4, 5)
    mask[:, :2] = 1.0
    mask[:, 2, 0] = 0.5
    out = composite_over(bg, fg, mask)
    assert out.shape == (3, 4, 5, 3)
    assert torch.all(out[:, :2] == 1) and torch.all(out[:, 3] == 0)
    assert torch.allclose(out[:, 2, 0], torch.full((3, 3), 0.5))


def test_composite_over_broadcasts_a_single_mask_frame():
    bg, fg = torch.zeros(2, 2, 2, 3), torch.ones(2, 2, 2, 3)
    out = composite_over(bg, fg, torch.ones(2, 2))
    assert torch.all(out == 1)


def test_composite_over_names_the_bad_input():
    with pytest.raises(ValueError, match="mask size"):
        composite_over(torch.zeros(1, 4, 4, 3), torch.zeros(1, 4, 4, 3), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="background"):
        composite_over(torch.zeros(4, 4, 3), torch.zeros(1, 4, 4, 3), torch.zeros(1, 4, 4))
