"""Attribute interpolation, gradients and the render_* helpers."""

import pytest
import torch

from mimo_core.raster import (
    PerspectiveCamera,
    interpolate,
    rasterize,
    render_attributes,
    render_depth,
    render_normals,
    vertex_normals,
)

FACE = torch.tensor([[0, 1, 2]])


def test_attributes_at_vertices_and_barycentric_points_constant_depth():
    # Vertices on pixel centres: (2,2), (12,2), (2,12) -> centres at +0.5.
    verts = torch.tensor([[2.5, 2.5, 2.0], [12.5, 2.5, 2.0], [2.5, 12.5, 2.0]])
    colours = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rast = rasterize(verts, FACE, 16, 16)
    img = interpolate(colours, rast)
    assert img.shape == (1, 16, 16, 3)
    # Pixel (2,2) is exactly vertex 0 (left and top edges are included).
    assert torch.allclose(img[0, 2, 2], colours[0], atol=1e-6)
    # Pixel (5, 4): centre (5.5, 4.5) -> weights (1 - 0.3 - 0.2, 0.3, 0.2).
    assert torch.allclose(img[0, 4, 5], torch.tensor([0.5, 0.3, 0.2]), atol=1e-6)
    assert torch.allclose(rast.bary[0, 4, 5], torch.tensor([0.5, 0.3, 0.2]), atol=1e-6)
    assert float(rast.depth[0, 4, 5]) == pytest.approx(2.0)
    assert torch.all(img[0, 14, 14] == 0)


def test_perspective_correct_interpolation():
    # Camera-space triangle with different depths, projected with a camera; the
    # attribute "camera x" must interpolate to the true x of the unprojected pixel.
    cam = PerspectiveCamera(fx=20.0, fy=20.0, cx=16.0, cy=16.0, width=32, height=32)
    verts = torch.tensor([[-1.0, -1.0, 2.0], [3.0, -1.0, 6.0], [-1.0, 3.0, 3.0]])
    rast = rasterize(cam.to_screen(verts), FACE, 32, 32)
    xyz = interpolate(verts, rast)[0]
    mask = rast.mask[0]
    assert int(mask.sum()) > 20
    rows, cols = mask.nonzero(as_tuple=True)
    centres = torch.stack([cols + 0.5, rows + 0.5], -1).float()
    unproj = cam.unproject(centres, rast.depth[0][mask])
    # Vertices are snapped to 1/256 pixel (~1e-3 here); screen-space (affine)
    # interpolation would be off by far more.
    assert torch.allclose(xyz[mask], unproj, atol=2e-3)
    # The interpolated point lies on the triangle's plane.
    normal = torch.linalg.cross(verts[1] - verts[0], verts[2] - verts[0])
    assert torch.allclose((xyz[mask] - verts[0]) @ normal, torch.zeros(mask.sum()), atol=1e-3)


def test_gradients_flow_to_vertex_attributes():
    verts = torch.tensor([[1.0, 1.0, 1.0], [9.0, 1.0, 1.0], [1.0, 9.0, 2.0]])
    rast = rasterize(verts, FACE, 12, 12)
    attrs = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: interpolate(a, rast), (attrs,))
    codes = torch.zeros(3, 2, requires_grad=True)
    interpolate(codes, rast).sum().backward()
    # d(sum)/d(code_v) = sum of that vertex's barycentric weights over covered pixels.
    weights = torch.zeros(3).index_add(0, FACE[0], rast.bary[0][rast.mask[0]].sum(0))
    assert torch.allclose(codes.grad, weights.unsqueeze(-1).expand(3, 2))


def test_per_frame_attributes_and_batch_broadcast():
    verts = torch.tensor([[1.0, 1.0, 1.0], [9.0, 1.0, 1.0], [1.0, 9.0, 1.0]]).expand(2, 3, 3)
    rast = rasterize(verts, FACE, 10, 10)
    attrs = torch.stack([torch.ones(3, 1), 2 * torch.ones(3, 1)])
    out = interpolate(attrs, rast)
    m = rast.mask
    assert torch.allclose(out[0][m[0]], torch.ones(1)) and torch.allclose(out[1][m[1]], torch.full((1,), 2.0))
    with pytest.raises(ValueError, match="frames"):
        interpolate(torch.ones(3, 3, 1), rast)
    with pytest.raises(ValueError, match="vertices"):
        interpolate(torch.ones(2, 1), rast)


def quad_mesh(z: float = 4.0):
    verts = torch.tensor([[-1.0, -1.0, z], [1.0, -1.0, z], [1.0, 1.0, z], [-1.0, 1.0, z]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])  # counter-clockwise seen from the camera
    return verts, faces


def test_render_attributes_background_and_mask():
    verts, faces = quad_mesh()
    cam = PerspectiveCamera(fx=8.0, fy=8.0, cx=8.0, cy=8.0, width=16, height=16)
    img, mask = render_attributes(verts, faces, torch.ones(4, 3) * 0.5, cam, background=(0.0, 1.0, 0.0))
    assert img.shape == (1, 16, 16, 3) and mask.shape == (1, 16, 16)
    # The quad spans u in [6, 10): 4x4 pixels.
    assert int(mask.sum()) == 16
    assert torch.allclose(img[0, 8, 8], torch.full((3,), 0.5))
    assert torch.allclose(img[0, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="background"):
        render_attributes(verts, faces, torch.ones(4, 3), cam, background=(0.0, 1.0))


def test_render_depth_and_normals():
    verts, faces = quad_mesh(z=4.0)
    cam = PerspectiveCamera(fx=8.0, fy=8.0, cx=8.0, cy=8.0, width=16, height=16)
    depth, mask = render_depth(verts, faces, cam, background=-1.0)
    assert torch.allclose(depth[mask], torch.full((16,), 4.0))
    assert float(depth[0, 0, 0]) == -1.0
    normals, nmask = render_normals(verts, faces, cam)
    assert torch.equal(mask, nmask)
    assert torch.allclose(normals[nmask], torch.tensor([0.0, 0.0, -1.0]).expand(16, 3), atol=1e-6)
    shaded, _ = render_normals(verts, faces, cam, light_dir=(0.0, 0.0, 1.0), ambient=0.2)
    assert torch.allclose(shaded[nmask], torch.ones(16, 3))
    assert float(shaded[0, 0, 0, 0]) == 0.0
    side, _ = render_normals(verts, faces, cam, light_dir=(1.0, 0.0, 0.0), ambient=0.2)
    assert torch.allclose(side[nmask], torch.full((16, 3), 0.2))


def test_vertex_normals_of_a_tetrahedron_point_outwards():
    verts = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    n = vertex_normals(verts, faces)
    centre = verts.mean(0)
    assert torch.all(((verts - centre) * n).sum(-1) > 0)
    assert torch.allclose(n.norm(dim=-1), torch.ones(4))
