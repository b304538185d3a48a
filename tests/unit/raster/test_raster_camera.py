"""Camera projection, the HMR 2.0 conventions and the crop-to-full conversion."""

import pytest
import torch

from mimo_core.raster import PerspectiveCamera, cam_crop_to_full, full_frame_camera, hmr2_full_focal


def test_full_frame_camera_follows_hmr2_convention():
    cam = full_frame_camera(1920, 1080)
    assert cam.fx == cam.fy == pytest.approx(5000.0 / 256.0 * 1920)
    assert (cam.cx, cam.cy) == (960.0, 540.0)
    assert cam.size == (1080, 1920)
    assert hmr2_full_focal(512, 768) == pytest.approx(15000.0)
    assert full_frame_camera(64, 32, focal=100.0).fx == 100.0


def test_optical_axis_hits_the_image_centre():
    cam = full_frame_camera(640, 480)
    xy, z = cam.project(torch.tensor([[0.0, 0.0, 3.0]]))
    assert torch.allclose(xy, torch.tensor([[320.0, 240.0]]))
    assert float(z[0]) == 3.0


def test_projection_round_trip_with_extrinsics():
    gen = torch.Generator().manual_seed(0)
    angle = torch.tensor(0.4)
    R = torch.tensor(
        [[angle.cos(), 0.0, angle.sin()], [0.0, 1.0, 0.0], [-angle.sin(), 0.0, angle.cos()]]
    )
    t = torch.tensor([0.1, -0.2, 5.0])
    cam = PerspectiveCamera(fx=500.0, fy=520.0, cx=300.0, cy=200.0, width=600, height=400, R=R, t=t)
    world = torch.randn(2, 50, 3, generator=gen)
    xy, z = cam.project(world)
    assert xy.shape == (2, 50, 2) and z.shape == (2, 50)
    cam_pts = cam.unproject(xy, z)
    assert torch.allclose(cam_pts, world @ R.T + t, atol=1e-4)
    # The pinhole formula, checked by hand for one point.
    p = world[0, 0] @ R.T + t
    assert torch.allclose(xy[0, 0], torch.stack([500 * p[0] / p[2] + 300, 520 * p[1] / p[2] + 200]), atol=1e-4)
    screen = cam.to_screen(world)
    assert torch.allclose(screen[..., :2], xy) and torch.allclose(screen[..., 2], z)


def test_cam_crop_to_full_reproduces_the_crop_projection():
    # A weak-perspective crop camera maps a point X at depth ~tz to crop pixels
    # via s * (X + t) (crop normalised to [-1, 1] over box_size); the full-image
    # perspective camera with the converted translation must land on the same
    # full-image pixel for a point at the body centre.
    cam_crop = torch.tensor([[0.8, 0.05, -0.1]])
    box_center = torch.tensor([[700.0, 400.0]])
    box_size = torch.tensor([300.0])
    W, H = 1280, 720
    full_t = cam_crop_to_full(cam_crop, box_center, box_size, (W, H))
    f = hmr2_full_focal(W, H)
    assert float(full_t[0, 2]) == pytest.approx(2 * f / (0.8 * 300.0))
    cam = full_frame_camera(W, H)
    point = torch.tensor([[[0.1, 0.2, 0.0]]])
    xy, _ = cam.project(point + full_t[:, None])
    s, tx, ty = cam_crop[0]
    crop_xy = s * (point[0, 0, :2] + torch.stack([tx, ty]))  # in [-1, 1] crop units
    expected = box_center[0] + crop_xy * box_size[0] / 2
    # Exact for points at the model origin's depth (z = 0 in model space).
    assert torch.allclose(xy[0, 0], expected, atol=1e-3)


def test_cam_crop_to_full_accepts_explicit_focal_and_per_row_sizes():
    cam_crop = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.1, 0.2]])
    centres = torch.tensor([[50.0, 50.0], [10.0, 20.0]])
    sizes = torch.tensor([100.0, 40.0])
    out = cam_crop_to_full(cam_crop, centres, sizes, torch.tensor([[100.0, 100.0], [40.0, 60.0]]), focal=1000.0)
    assert torch.allclose(out[0], torch.tensor([0.0, 0.0, 20.0]))
    bs = 0.5 * 40.0
    assert torch.allclose(out[1], torch.tensor([2 * (10 - 20) / bs + 0.1, 2 * (20 - 30) / bs + 0.2, 2000.0 / bs]))


def test_camera_rejects_bad_inputs():
    with pytest.raises(ValueError, match="focal"):
        PerspectiveCamera(fx=0.0, fy=1.0, cx=0.0, cy=0.0, width=4, height=4)
    with pytest.raises(ValueError, match="size"):
        full_frame_camera(0, 10)
    cam = full_frame_camera(8, 8)
    with pytest.raises(ValueError, match=r"\[B,V,3\]"):
        cam.project(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="cam_crop"):
        cam_crop_to_full(torch.zeros(2, 2), torch.zeros(2, 2), torch.ones(2), (8, 8))
