"""MimoPipeline.generate with per-window person crops (CropOptions) on tiny random pipelines."""

from __future__ import annotations

import pytest
import torch
from conftest import smooth_video

from mimo_core.pipeline import (
    CropBox,
    CropOptions,
    SamplingCancelled,
    WindowConfig,
    WindowPaster,
    mask_boxes,
    paste_windows,
    window_crop_boxes,
)

T, H, W = 6, 32, 48  # two windows of 4 frames sharing 2; the tiny pipeline's size multiple is 16
ARGS = dict(steps=2, guidance=3.5, seed=0, window=4, overlap=2)


def person_mask(frames: int = T, height: int = H, width: int = W) -> torch.Tensor:
    """A 12x16 person walking right by 1 px per frame, in the left part of the frame."""
    mask = torch.zeros(frames, height, width)
    for f in range(frames):
        mask[f, 6:22, 3 + f:15 + f] = 1.0
    return mask


@pytest.fixture(scope="module")
def inputs():
    mask = person_mask()
    colours = smooth_video(T, H, W, seed=11)
    return {
        "reference": smooth_video(1, 40, 32, seed=10)[0],
        "pose": colours * 0.8 * mask[..., None] + 0.1 * mask[..., None],  # body colours on black
        "scene": smooth_video(T, H, W, seed=12),
        "mask": mask,
    }


def run(pipeline, inputs, crop=None, **kwargs):
    args = {**ARGS, **kwargs}
    scene = args.pop("scene", inputs["scene"])
    pose = args.pop("pose", inputs["pose"])
    return pipeline.generate(inputs["reference"], pose, scene, crop=crop, **args)


def crop_boxes(mask: torch.Tensor, window: int = 4, overlap: int = 2) -> tuple[list[list[int]], list[CropBox]]:
    windows = WindowConfig(window, overlap).windows(mask.shape[0])
    return windows, window_crop_boxes(mask_boxes(mask), windows, tuple(mask.shape[1:3]))


def outside_every_box(frames: int, windows, boxes) -> torch.Tensor:
    """``[T,H,W]`` True where no window's crop box (of a window holding that frame) reaches."""
    outside = torch.ones(frames, H, W, dtype=torch.bool)
    for win, box in zip(windows, boxes, strict=True):
        x0, y0, x1, y1 = box.in_frame(H, W)
        outside[win, y0:y1, x0:x1] = False
    return outside


def test_output_is_full_frame_with_the_scene_untouched_outside_the_crops(tiny8, inputs):
    out = run(tiny8, inputs, CropOptions(size=32, person_mask=inputs["mask"]))
    assert out.shape == (T, H, W, 3) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    windows, boxes = crop_boxes(inputs["mask"])
    assert len(windows) == 2
    outside = outside_every_box(T, windows, boxes)
    assert outside.sum() > T * H * 8, "the test needs pixels no crop reaches"
    assert torch.equal(out[outside], inputs["scene"][outside])
    person = inputs["mask"].bool()
    assert (out[person] - inputs["scene"][person]).abs().max() > 1e-2, "nothing was generated over the person"


def test_pose_video_gives_the_person_boxes_when_no_mask_is_given(tiny8, inputs):
    from_pose = run(tiny8, inputs, CropOptions(size=32))
    from_mask = run(tiny8, inputs, CropOptions(size=32, person_mask=inputs["mask"]))
    torch.testing.assert_close(from_pose, from_mask, rtol=0, atol=0)
    boxes = mask_boxes(inputs["mask"])
    from_boxes = run(tiny8, inputs, CropOptions(size=32, person_boxes=boxes))
    torch.testing.assert_close(from_boxes, from_mask, rtol=0, atol=0)
    # a different person region moves the crops and so changes the output
    moved = run(tiny8, inputs, CropOptions(size=32, person_mask=inputs["mask"].flip(-1)))
    assert (moved - from_mask).abs().max() > 1e-2


def test_deterministic_by_seed(tiny8, inputs):
    crop = CropOptions(size=32, person_mask=inputs["mask"])
    out = run(tiny8, inputs, crop)
    torch.testing.assert_close(run(tiny8, inputs, crop), out, rtol=0, atol=0)
    assert (run(tiny8, inputs, crop, seed=1) - out).abs().max() > 1e-3


def test_generation_size_changes_the_result_but_not_the_frame(tiny8, inputs):
    small = run(tiny8, inputs, CropOptions(size=32, person_mask=inputs["mask"]))
    large = run(tiny8, inputs, CropOptions(size=48, person_mask=inputs["mask"]))
    assert large.shape == small.shape == (T, H, W, 3)
    assert (large - small).abs().max() > 1e-3


def test_whole_frame_crop_at_frame_size_equals_uncropped_generation(tiny8):
    frames, side = 4, 32  # one window, square frame, the crop box is exactly the frame
    reference = smooth_video(1, 40, 32, seed=20)[0]
    pose, scene = smooth_video(frames, side, side, seed=21), smooth_video(frames, side, side, seed=22)
    args = dict(steps=2, guidance=3.5, seed=5, window=4, overlap=2)
    plain = tiny8.generate(reference, pose, scene, **args)
    crop = CropOptions(size=side, person_mask=torch.ones(frames, side, side), margin=(0.0, 0.0))
    cropped = tiny8.generate(reference, pose, scene, crop=crop, **args)
    torch.testing.assert_close(cropped, plain, rtol=0, atol=1e-4)
    # and a crop at another size is a real resize: not the same video
    upscaled = tiny8.generate(reference, pose, scene, crop=CropOptions(size=48, person_mask=crop.person_mask,
                                                                       margin=(0.0, 0.0)), **args)
    assert (upscaled - plain).abs().max() > 1e-3


def test_progress_counts_every_window_and_cancel_stops(tiny8, inputs):
    seen = []
    run(tiny8, inputs, CropOptions(size=32), callback=lambda step, total, x0: seen.append((step, total, tuple(x0.shape))))
    # 2 windows x 2 steps; each preview covers the window's 4 frames at the crop's latent size
    assert seen == [(s, 4, (1, 4, 4, 4, 4)) for s in (1, 2, 3, 4)]
    with pytest.raises(SamplingCancelled):
        run(tiny8, inputs, CropOptions(size=32), cancel_check=lambda: True)
    calls = []

    def stop_in_second_window():
        calls.append(1)
        return len(calls) > 2  # one check per window per step: the 3rd is the second window's first step

    with pytest.raises(SamplingCancelled, match="step 1 of 2"):
        run(tiny8, inputs, CropOptions(size=32), cancel_check=stop_in_second_window)


def test_four_channel_pipeline_pastes_onto_a_base_video(tiny4, inputs):
    base = smooth_video(T, H, W, seed=30)
    with pytest.raises(ValueError, match="base_video"):
        tiny4.generate(inputs["reference"], inputs["pose"], crop=CropOptions(size=32), **ARGS)
    out = tiny4.generate(inputs["reference"], inputs["pose"], crop=CropOptions(size=32, base_video=base), **ARGS)
    windows, boxes = crop_boxes(inputs["mask"])
    outside = outside_every_box(T, windows, boxes)
    assert out.shape == (T, H, W, 3) and torch.equal(out[outside], base[outside])


def test_twelve_channel_occluders_go_back_on_top(tiny12, inputs):
    occlusion = smooth_video(T, H, W, seed=40)
    occ_mask = torch.zeros(T, H, W)
    occ_mask[:, 10:16, 5:12] = 1.0  # in front of the person, inside the crops
    crop = CropOptions(size=32, person_mask=inputs["mask"])
    out = run(tiny12, inputs, crop, occlusion_video=occlusion, occlusion_mask=occ_mask)
    covered = occ_mask.bool()
    torch.testing.assert_close(out[covered], occlusion[covered])
    without = run(tiny12, inputs, crop)
    assert (out[~covered] - without[~covered]).abs().max() > 1e-3, "the 12-channel UNet sees the occluders"


def test_bad_crop_options_name_what_is_wrong(tiny8, inputs):
    with pytest.raises(ValueError, match=r"CropOptions\.size.*multiple of 16"):
        run(tiny8, inputs, CropOptions(size=40))
    with pytest.raises(ValueError, match=r"CropOptions\.size"):
        run(tiny8, inputs, CropOptions(size=0))
    with pytest.raises(ValueError, match=r"CropOptions\.size"):
        run(tiny8, inputs, CropOptions(size=32.0))
    with pytest.raises(ValueError, match=r"person_mask is empty"):
        run(tiny8, inputs, CropOptions(size=32, person_mask=torch.zeros(T, H, W)))
    with pytest.raises(ValueError, match=r"CropOptions\.person_mask must be"):
        run(tiny8, inputs, CropOptions(size=32, person_mask=torch.ones(T, H, W - 1)))
    with pytest.raises(ValueError, match=r"CropOptions\.person_boxes must be"):
        run(tiny8, inputs, CropOptions(size=32, person_boxes=torch.zeros(T - 1, 4)))
    with pytest.raises(ValueError, match=r"person_boxes has no box"):
        run(tiny8, inputs, CropOptions(size=32, person_boxes=torch.zeros(T, 4)))
    with pytest.raises(ValueError, match="not both"):
        run(tiny8, inputs, CropOptions(size=32, person_mask=inputs["mask"], person_boxes=mask_boxes(inputs["mask"])))
    with pytest.raises(ValueError, match=r"CropOptions\.base_video must be"):
        run(tiny8, inputs, CropOptions(size=32, base_video=torch.zeros(T - 1, H, W, 3)))
    with pytest.raises(ValueError, match=r"CropOptions\.feather"):
        run(tiny8, inputs, CropOptions(size=32, feather=-1))
    with pytest.raises(ValueError, match=r"CropOptions\.blend"):
        run(tiny8, inputs, CropOptions(size=32, blend="sideways"))


def test_mask_boxes_are_exclusive_and_nan_where_empty():
    mask = torch.zeros(3, 10, 12)
    mask[0, 2:5, 3:9] = 1.0
    mask[2, 9, 11] = 0.9
    mask[1, 4, 4] = 0.4  # below the threshold
    boxes = mask_boxes(mask, chunk_size=2)
    assert boxes[0].tolist() == [3.0, 2.0, 9.0, 5.0]
    assert bool(boxes[1].isnan().all())
    assert boxes[2].tolist() == [11.0, 9.0, 12.0, 10.0]
    colour = torch.zeros(3, 10, 12, 3)
    colour[..., 1] = mask  # [T,H,W,C]: any channel counts
    torch.testing.assert_close(mask_boxes(colour), boxes, equal_nan=True)


def test_window_paster_matches_paste_windows_in_any_order():
    base = smooth_video(6, H, W, seed=50)
    windows = [[0, 1, 2, 3], [2, 3, 4, 5]]
    boxes = [CropBox(4, 0, 32), CropBox(6, -8, 40)]
    crops = [smooth_video(4, 16, 16, seed=51), smooth_video(4, 24, 24, seed=52)]
    expected = paste_windows(base, crops, windows, boxes, feather=4)
    paster = WindowPaster(base, windows, boxes, feather=4)
    paster.add(1, crops[1])
    with pytest.raises(ValueError, match="not pasted yet"):
        paster.result()
    paster.add(0, crops[0])
    torch.testing.assert_close(paster.result(), expected, rtol=0, atol=1e-6)
    assert torch.equal(expected[:, :, 46:], base[:, :, 46:])  # beyond both boxes: the base, bit for bit
    with pytest.raises(ValueError, match="already pasted"):
        paster.add(0, crops[0])
