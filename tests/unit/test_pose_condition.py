from __future__ import annotations

import pytest
import torch

from mimo_core.pose_condition import render_pose_video, rest_pose_colours
from mimo_core.raster import full_frame_camera


def _quad(z: float) -> tuple[torch.Tensor, torch.Tensor]:
    verts = torch.tensor([[-0.2, -0.2, z], [0.2, -0.2, z], [0.2, 0.2, z], [-0.2, 0.2, z]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    return verts, faces


def test_rest_pose_colours_span_the_unit_cube_inside_the_margin():
    verts = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.5, 1.0, 1.5]])
    colours = rest_pose_colours(verts, margin=0.1)
    assert torch.allclose(colours[0], torch.full((3,), 0.1))
    assert torch.allclose(colours[1], torch.full((3,), 0.9))
    assert torch.allclose(colours[2], torch.full((3,), 0.5))


def test_render_pose_video_draws_vertex_colours_in_chunks():
    verts, faces = _quad(2.0)
    video = torch.stack([verts, verts + torch.tensor([0.05, 0.0, 0.0])] * 3)  # 6 frames
    colours = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]])
    cam = full_frame_camera(64, 64, focal=100.0)
    calls = []
    frames, mask = render_pose_video(video, faces, colours, cam, chunk_size=4, progress=lambda d, t: calls.append(d))
    assert frames.shape == (6, 64, 64, 3) and mask.shape == (6, 64, 64)
    assert calls == [4, 6]
    # a 0.4 m square at 2 m with f=100 covers about 20x20 pixels around the centre
    assert 350 <= mask[0].sum() <= 450
    assert torch.allclose(frames[0][mask[0] > 0], torch.tensor([1.0, 0, 0]).expand(int(mask[0].sum()), 3), atol=1e-5)
    assert torch.all(frames[0][mask[0] == 0] == 0)
    # the second frame is shifted right by 0.05 m * 100 / 2 = 2.5 px
    cols0 = mask[0].sum(0).nonzero().flatten()
    cols1 = mask[1].sum(0).nonzero().flatten()
    assert 2 <= int(cols1.min() - cols0.min()) <= 3


def test_render_pose_video_rejects_a_table_of_another_body():
    verts, faces = _quad(2.0)
    with pytest.raises(ValueError, match="colour table has 3 vertices"):
        render_pose_video(verts[None], faces, torch.zeros(3, 3), full_frame_camera(8, 8))
