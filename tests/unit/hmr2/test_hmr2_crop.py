"""Crop geometry and the crop-camera -> full-frame translation."""

from __future__ import annotations

import torch

from mimo_core.body.hmr2 import crop_people, crop_to_image_points, square_boxes
from mimo_core.body.hmr2.model import IMAGE_MEAN, IMAGE_STD
from mimo_core.raster.camera import cam_crop_to_full, full_frame_camera


def test_square_boxes_expand_to_network_aspect():
    boxes = torch.tensor([[10.0, 20.0, 40.0, 120.0], [0.0, 0.0, 300.0, 100.0]])  # tall, wide
    center, size = square_boxes(boxes, rescale=1.0)
    assert torch.allclose(center, torch.tensor([[25.0, 70.0], [150.0, 50.0]]))
    assert torch.allclose(size, torch.tensor([100.0, 400.0]))  # max(h, w * 256 / 192)
    assert torch.allclose(square_boxes(boxes, rescale=1.2)[1], size * 1.2)


def test_crop_samples_the_right_frame_points():
    h, w = 90, 120
    xs = torch.arange(w) + 0.5
    ys = torch.arange(h) + 0.5
    # Linear ramps are reproduced exactly by bilinear sampling: channel 0 = x / w, channel 1 = y / h.
    frame = torch.stack(
        [(xs / w)[None].expand(h, w), (ys / h)[:, None].expand(h, w), torch.full((h, w), 0.5)]
    )
    center = torch.tensor([[61.0, 44.0]])
    size = torch.tensor([64.0])  # upsampling: no blur
    crop = crop_people(frame[None], center, size)
    rgb = crop * torch.tensor(IMAGE_STD).view(1, 3, 1, 1) + torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    cols, rows = torch.tensor([0, 50, 191]), torch.tensor([0, 128, 255])
    # crop column j of the 192-wide input is column j + 32 of the 256 square.
    pts = torch.stack(torch.meshgrid(cols + 32 + 0.5, rows + 0.5, indexing="xy"), -1).reshape(1, -1, 2)
    frame_pts = crop_to_image_points(pts, center, size)[0]
    got = rgb[0, :2][:, rows][:, :, cols]  # [2, rows, cols]
    expected_x = (frame_pts[:, 0] / w).reshape(3, 3)
    expected_y = (frame_pts[:, 1] / h).reshape(3, 3)
    assert torch.allclose(got[0], expected_x, atol=1e-5)
    assert torch.allclose(got[1], expected_y, atol=1e-5)


def test_crop_outside_frame_is_black_and_large_boxes_are_blurred():
    frame = torch.ones(1, 3, 40, 40)
    crop = crop_people(frame, torch.tensor([[0.0, 0.0]]), torch.tensor([40.0]))
    rgb = crop * torch.tensor(IMAGE_STD).view(1, 3, 1, 1) + torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(rgb[0, :, 10, 10], torch.zeros(3), atol=1e-5)  # top-left quarter is outside
    assert torch.allclose(rgb[0, :, 200, 150], torch.ones(3), atol=1e-5)
    checker = ((torch.arange(1200)[:, None] + torch.arange(1200)[None]) % 2).float().expand(3, -1, -1)
    big = crop_people(checker[None], torch.tensor([[600.0, 600.0]]), torch.tensor([1200.0]))
    sharp = crop_people(
        checker[None], torch.tensor([[600.0, 600.0]]), torch.tensor([1200.0]), antialias=False
    )
    assert big.std() < 0.5 * sharp.std()


def _project_crop(points, cam, focal_crop=5000.0, side=256.0):
    """Pixel positions in the ``side`` square crop under HMR 2.0's crop camera."""
    s, tx, ty = cam
    t = torch.tensor([tx, ty, 2 * focal_crop / (side * s)])
    p = points + t
    return focal_crop * p[:, :2] / p[:, 2:] + side / 2.0


def test_crop_camera_maps_to_full_frame_translation():
    width, height = 640, 360
    center, size = torch.tensor([[420.0, 150.0]]), torch.tensor([180.0])
    cam = torch.tensor([[0.8, 0.05, -0.12]])
    cam_t = cam_crop_to_full(cam, center, size, (width, height))[0]
    camera = full_frame_camera(width, height)
    # Points in the body's depth plane (z = 0) project to identical pixels in both models.
    flat = torch.tensor([[0.0, 0.0, 0.0], [0.3, -0.5, 0.0], [-0.2, 0.8, 0.0]])
    via_crop = crop_to_image_points(_project_crop(flat, cam[0].tolist())[None], center, size)[0]
    full, _ = camera.project(flat + cam_t)
    assert torch.allclose(full, via_crop, atol=1e-3)
    # A body-sized depth range differs by the weak-perspective approximation only (a pixel or two).
    deep = torch.tensor([[0.3, -0.5, 0.2], [-0.2, 0.8, -0.15]])
    via_crop = crop_to_image_points(_project_crop(deep, cam[0].tolist())[None], center, size)[0]
    full, _ = camera.project(deep + cam_t)
    assert (full - via_crop).abs().max() < 2.0
    assert abs(float(cam_t[2]) - 2 * camera.fx / (0.8 * 180.0)) < 1e-3
