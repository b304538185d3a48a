"""Per-window person crops and feathered, linearly blended paste-back on synthetic frames."""

from __future__ import annotations

import math

import pytest
import torch

from mimo_core.pipeline.context import uniform_windows
from mimo_core.pipeline.crops import CropBox, crop_window, feather_mask, paste_windows, window_crop_boxes

H, W = 96, 128


def smooth_video(t: int) -> torch.Tensor:
    """Low-frequency colour patterns in 0..1, different per frame."""
    y = torch.linspace(0, 1, H).view(1, H, 1, 1)
    x = torch.linspace(0, 1, W).view(1, 1, W, 1)
    k = torch.arange(t, dtype=torch.float32).view(t, 1, 1, 1)
    c = torch.tensor([0.0, 1.0, 2.0]).view(1, 1, 1, 3)
    return 0.5 + 0.4 * torch.sin(2.0 * x + 1.5 * y + 0.3 * k + c)


def moving_boxes(t: int) -> torch.Tensor:
    """A 20x40 person box walking right by 2 px per frame."""
    x0 = 30 + 2 * torch.arange(t, dtype=torch.float32)
    return torch.stack([x0, torch.full_like(x0, 30), x0 + 20, torch.full_like(x0, 70)], dim=1)


def test_boxes_are_square_cover_the_person_and_stay_in_frame():
    t = 12
    boxes = moving_boxes(t)
    wins = uniform_windows(t, 6, 2)
    crops = window_crop_boxes(boxes, wins, (H, W), multiple=16)
    assert len(crops) == len(wins)
    for win, box in zip(wins, crops, strict=True):
        assert box.size % 16 == 0
        assert 0 <= box.x0 and box.x1 <= W and 0 <= box.y0 and box.y1 <= H
        sel = boxes[win]
        assert box.x0 <= sel[:, 0].min() and box.x1 >= sel[:, 2].max()
        assert box.y0 <= sel[:, 1].min() and box.y1 >= sel[:, 3].max()
        union_h = float(sel[:, 3].max() - sel[:, 1].min())
        assert box.size >= union_h * 1.2  # 10 % margin on top and bottom
        assert box.size < union_h * 1.2 + 16


def test_missing_person_gives_whole_frame_and_big_box_is_centred():
    boxes = torch.tensor([[float("nan")] * 4, [5.0, 5.0, 5.0, 9.0]])
    (box,) = window_crop_boxes(boxes, [[0, 1]], (H, W))
    assert box == CropBox((W - 128) // 2, (H - 128) // 2, 128)
    tall = torch.tensor([[60.0, 0.0, 70.0, 96.0]])
    (big,) = window_crop_boxes(tall, [[0]], (H, W))
    assert big.size > H and big.y0 < 0 and big.y1 > H and big.y0 + big.y1 == H  # centred vertically
    assert 0 <= big.x0 and big.x1 <= W
    with pytest.raises(ValueError, match=r"\[T,4\]"):
        window_crop_boxes(torch.zeros(3, 5), [[0]], (H, W))


def test_crop_pads_outside_the_frame_with_fill():
    frames = torch.ones(2, H, W, 3)
    out = crop_window(frames, CropBox(-16, -16, 64), size=64, fill=0.25)
    assert out.shape == (2, 64, 64, 3)
    assert bool((out[:, :16] == 0.25).all()) and bool((out[:, :, :16] == 0.25).all())
    assert bool((out[:, 16:, 16:] == 1).all())


def test_feather_mask_ramps_only_on_inner_edges():
    m = feather_mask(CropBox(0, 16, 64), (H, W), feather=8)
    assert m.shape == (H, W)
    assert float(m[:16].max()) == 0 and float(m[:, 64:].max()) == 0
    assert float(m[40, 0]) == 1.0, "the left edge is the frame border: no feathering there"
    ramp = m[40, 56:64]
    assert bool((ramp[1:] < ramp[:-1]).all()) and float(ramp[-1]) < 0.1
    assert bool((m[24:72, 0:56] == 1).all())


def _band(box: CropBox, feather: int) -> torch.Tensor:
    """Pixels inside the box farther than `feather` from any in-frame edge."""
    keep = torch.zeros(H, W, dtype=torch.bool)
    x0, y0, x1, y1 = box.in_frame(H, W)
    keep[y0 + (feather if box.y0 > 0 else 0):y1 - (feather if box.y1 < H else 0),
         x0 + (feather if box.x0 > 0 else 0):x1 - (feather if box.x1 < W else 0)] = True
    return keep


@pytest.mark.parametrize("size", [None, 784, 32])
def test_identity_generation_round_trip(size):
    t, feather = 10, 6
    video = smooth_video(t)
    wins = uniform_windows(t, 6, 2)
    boxes = window_crop_boxes(moving_boxes(t), wins, (H, W))
    gen_size = {None: boxes[0].size}.get(size, size)
    crops = [crop_window(video[w], b, gen_size) for w, b in zip(wins, boxes, strict=True)]
    base = torch.zeros_like(video)
    out = paste_windows(base, crops, wins, boxes, feather=feather)
    assert out.shape == video.shape
    for k, (win, box) in enumerate(zip(wins, boxes, strict=True)):
        keep = _band(box, feather)
        others = [b for j, b in enumerate(boxes) if j != k and set(wins[j]) & set(win)]
        for other in others:  # shared frames also see the other window's paste: stay inside both
            keep &= _band(other, feather)
        err = (out[win][:, keep] - video[win][:, keep]).abs().max().item()
        assert err <= 1 / 255, f"window {k}: max error {err * 255:.2f}/255 inside the crop"
    outside = torch.ones(H, W, dtype=torch.bool)
    for box in boxes:
        x0, y0, x1, y1 = box.in_frame(H, W)
        outside[y0:y1, x0:x1] = False
    assert bool((out[:, outside] == 0).all()), "outside every crop the base must show unchanged"


def test_windows_blend_linearly_over_shared_frames():
    t, overlap = 10, 2
    wins = uniform_windows(t, 6, overlap)  # [0..5], [4..9]: frames 4 and 5 shared
    assert wins == [list(range(6)), list(range(4, 10))]
    box = CropBox(16, 16, 32)
    crops = [torch.full((6, 32, 32, 3), 0.2), torch.full((6, 32, 32, 3), 0.8)]
    out = paste_windows(torch.zeros(t, H, W, 3), crops, wins, [box, box], feather=0)
    centre = out[:, 30, 30, 0]
    for j, frame in enumerate((4, 5)):
        f = (j + 1) / (overlap + 1)
        assert math.isclose(float(centre[frame]), 0.2 * (1 - f) + 0.8 * f, abs_tol=1e-6)
    assert math.isclose(float(centre[0]), 0.2, abs_tol=1e-6) and math.isclose(float(centre[9]), 0.8, abs_tol=1e-6)


def test_paste_rejects_mismatched_crops():
    with pytest.raises(ValueError, match="does not fit a window"):
        paste_windows(torch.zeros(4, H, W, 3), [torch.zeros(3, 8, 8, 3)], [[0, 1, 2, 3]], [CropBox(0, 0, 8)])
