"""The paper's structured motion code, end to end: per-vertex codes -> rasterised feature maps ->
PaperPoseEncoder -> features added after the video UNet's conv_in; gradients reach the codes."""

from __future__ import annotations

import math

import pytest
import torch
from _mimo_tiny import TINY_MOTION, TINY_UNET, randomize_

from mimo_core.models.vertex_codes import StructuredMotionEncoder
from mimo_core.models.video_unet import VideoUNet
from mimo_core.pose_condition import render_vertex_codes
from mimo_core.raster import PerspectiveCamera, rasterize_mesh, render_attributes

SIZE = 64  # pixels; the encoder downsamples by 8 to the tiny UNet's 8x8 latents
FRAMES = 2
DIM = 4


def ellipsoid(n_lat: int = 8, n_lon: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed UV ellipsoid (metres, y down), outward-facing triangles."""
    theta = torch.linspace(0, math.pi, n_lat + 1)[1:-1]
    phi = torch.linspace(0, 2 * math.pi, n_lon + 1)[:-1]
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).reshape(-1, 3)
    verts = torch.cat([torch.tensor([[0.0, 1.0, 0.0]]), ring, torch.tensor([[0.0, -1.0, 0.0]])])
    verts = verts * torch.tensor([0.25, 0.5, 0.2])
    last, faces = verts.shape[0] - 1, []
    for j in range(n_lon):
        j1 = (j + 1) % n_lon
        faces.append([0, 1 + j1, 1 + j])
        base = 1 + (n_lat - 2) * n_lon
        faces.append([last, base + j, base + j1])
    for i in range(n_lat - 2):
        for j in range(n_lon):
            j1 = (j + 1) % n_lon
            a, b = 1 + i * n_lon + j, 1 + i * n_lon + j1
            faces += [[a, b, b + n_lon], [a, b + n_lon, a + n_lon]]
    return verts, torch.tensor(faces)


@pytest.fixture(scope="module")
def scene():
    verts, faces = ellipsoid()
    camera = PerspectiveCamera(fx=80.0, fy=80.0, cx=SIZE / 2, cy=SIZE / 2, width=SIZE, height=SIZE)
    posed = []
    for k in range(FRAMES):  # the body turns a little and moves right between frames
        a = 0.4 * k
        rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        posed.append(verts @ rot.T + torch.tensor([0.05 * k, 0.0, 2.0]))
    return torch.stack(posed), faces, camera


def test_feature_map_is_the_code_blend_on_the_body_and_zero_off_it(scene):
    vertices, faces, camera = scene
    codes = torch.randn(vertices.shape[1], DIM, generator=torch.Generator().manual_seed(0))
    maps = render_vertex_codes(codes, vertices, faces, camera, chunk_size=1)
    assert maps.shape == (FRAMES, DIM, SIZE, SIZE)
    image, mask = render_attributes(vertices, faces, codes, camera)
    assert 0.05 < mask.float().mean() < 0.8  # the body covers part of the frame
    torch.testing.assert_close(maps, image.permute(0, 3, 1, 2))
    off_body = ~mask.unsqueeze(1).expand_as(maps)
    assert torch.count_nonzero(maps[off_body]) == 0
    assert (maps.abs().sum(1) > 0)[mask].float().mean() > 0.99
    with pytest.raises(ValueError, match="vertices"):
        render_vertex_codes(codes[:-1], vertices, faces, camera)


def test_gradients_reach_the_vertex_codes_through_raster_encoder_and_unet(scene):
    vertices, faces, camera = scene
    motion = StructuredMotionEncoder(num_vertices=vertices.shape[1], dim=DIM,
                                     embedding_channels=TINY_UNET["block_out_channels"][0])
    unet = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=3)
    # untrained, the encoder's zero projection outputs nothing: the UNet starts as its image model
    assert torch.count_nonzero(motion(vertices, faces, camera)) == 0
    randomize_(motion.encoder, seed=4, std=0.2)  # as after some training

    g = torch.Generator().manual_seed(5)
    sample = torch.randn(1, 4, FRAMES, SIZE // 8, SIZE // 8, generator=g)
    context = torch.randn(1, 1, TINY_UNET["cross_attention_dim"], generator=g)
    features = motion(vertices, faces, camera)
    assert features.shape == (1, TINY_UNET["block_out_channels"][0], FRAMES, SIZE // 8, SIZE // 8)
    out = unet(sample, torch.tensor(400), context, pose_features=features)
    out.square().mean().backward()

    grad = motion.codes.codes.grad
    assert grad is not None and torch.isfinite(grad).all()
    rast = rasterize_mesh(vertices, faces, camera)
    visible = torch.zeros(vertices.shape[1], dtype=torch.bool)
    visible[faces[rast.face_id[rast.face_id >= 0].unique()].flatten()] = True
    assert 0 < visible.sum() < vertices.shape[1]  # the back of the body is hidden
    per_vertex = grad.abs().sum(1)
    assert torch.count_nonzero(per_vertex[~visible]) == 0  # hidden vertices get no gradient
    assert (per_vertex[visible] > 0).float().mean() > 0.9
    # and the codes matter: changing them changes the UNet output
    with torch.no_grad():
        motion.codes.codes.add_(torch.randn(motion.codes.codes.shape, generator=g))
        moved = unet(sample, torch.tensor(400), context, pose_features=motion(vertices, faces, camera))
    assert (moved - out.detach()).abs().max() > 1e-4
