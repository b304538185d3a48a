"""Coverage, depth order, culling and chunking of the PyTorch rasteriser."""

import math

import pytest
import torch

from mimo_core.raster import rasterize
from mimo_core.raster.torch_backend import rasterize_torch

FACE = torch.tensor([[0, 1, 2]])


def covered_set(face_id: torch.Tensor) -> set[tuple[int, int]]:
    rows, cols = (face_id >= 0).nonzero(as_tuple=True)
    return {(int(c), int(r)) for r, c in zip(rows, cols, strict=True)}


def test_right_triangle_exact_pixel_set():
    # Legs of 4 pixels from the image corner: centres (c+.5, r+.5) strictly inside
    # satisfy c + r < 3; the 4 centres on the hypotenuse (a bottom-right edge) are out.
    verts = torch.tensor([[0.0, 0.0, 1.0], [4.0, 0.0, 1.0], [0.0, 4.0, 1.0]])
    rast = rasterize_torch(verts, FACE, 8, 8)
    expected = {(c, r) for c in range(8) for r in range(8) if c + r < 3}
    assert covered_set(rast.face_id[0]) == expected


def test_top_left_rule_on_pixel_centre_edges():
    # Triangle whose left edge (x = 1.5) and top edge (y = 1.5) pass through pixel
    # centres: those count, the centres on the hypotenuse x + y = 6 do not.
    verts = torch.tensor([[1.5, 1.5, 1.0], [4.5, 1.5, 1.0], [1.5, 4.5, 1.0]])
    rast = rasterize_torch(verts, FACE, 8, 8)
    expected = {(c, r) for c in range(1, 8) for r in range(1, 8) if (c + 0.5) + (r + 0.5) < 6}
    assert covered_set(rast.face_id[0]) == expected
    # Reversed winding covers the same pixels (both sides are drawn by default).
    rev = rasterize_torch(verts[[0, 2, 1]], FACE, 8, 8)
    assert covered_set(rev.face_id[0]) == expected


def test_shared_edge_is_drawn_exactly_once():
    # A square split along its diagonal through pixel centres: each covered pixel
    # belongs to exactly one triangle and the union is the full square.
    verts = torch.tensor([[1.5, 1.5, 1.0], [9.5, 1.5, 1.0], [9.5, 9.5, 1.0], [1.5, 9.5, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    single = [covered_set(rasterize_torch(verts, faces[i : i + 1], 12, 12).face_id[0]) for i in range(2)]
    assert not (single[0] & single[1])
    both = rasterize_torch(verts, faces, 12, 12)
    assert covered_set(both.face_id[0]) == single[0] | single[1]
    assert len(single[0] | single[1]) == 8 * 8


@pytest.mark.parametrize("angle", [0.1, 0.7, 2.0])
def test_pixel_count_matches_area(angle):
    # An irrational-ish rotated triangle: coverage of pixel centres approximates
    # the area to within its perimeter (in pixels).
    c, s = math.cos(angle), math.sin(angle)
    base = torch.tensor([[0.0, 0.0], [70.0, 5.0], [20.0, 60.0]])
    rot = base @ torch.tensor([[c, s], [-s, c]]) + torch.tensor([64.3, 64.7])
    verts = torch.cat([rot, torch.ones(3, 1)], dim=1)
    area = 0.5 * abs(70.0 * 60.0 - 5.0 * 20.0)
    perimeter = sum(float((base[i] - base[(i + 1) % 3]).norm()) for i in range(3))
    count = int((rasterize_torch(verts, FACE, 160, 160).face_id >= 0).sum())
    assert abs(count - area) < perimeter / 2


def test_nearer_triangle_wins_in_both_draw_orders():
    near = torch.tensor([[2.0, 2.0, 1.0], [14.0, 2.0, 1.0], [2.0, 14.0, 1.0]])
    far = torch.tensor([[1.0, 1.0, 3.0], [15.0, 1.0, 3.0], [1.0, 15.0, 3.0]])
    verts = torch.cat([near, far])
    for faces, near_id in ((torch.tensor([[0, 1, 2], [3, 4, 5]]), 0), (torch.tensor([[3, 4, 5], [0, 1, 2]]), 1)):
        rast = rasterize_torch(verts, faces, 16, 16)
        assert int(rast.face_id[0, 5, 5]) == near_id
        assert float(rast.depth[0, 5, 5]) == pytest.approx(1.0)
        assert int(rast.face_id[0, 1, 1]) == 1 - near_id  # only the far one covers (1.5, 1.5)
        assert float(rast.depth[0, 1, 1]) == pytest.approx(3.0)
        assert int(rast.face_id[0, 15, 15]) == -1
        assert float(rast.depth[0, 15, 15]) == 0.0


def test_interpenetrating_triangles_split_by_depth():
    # Two triangles crossing at x = 8: the left half of A is nearer, the right half of B.
    a = torch.tensor([[0.0, 0.0, 1.0], [16.0, 0.0, 3.0], [0.0, 16.0, 1.0]])
    b = torch.tensor([[0.0, 0.0, 3.0], [16.0, 0.0, 1.0], [0.0, 16.0, 3.0]])
    rast = rasterize_torch(torch.cat([a, b]), torch.tensor([[0, 1, 2], [3, 4, 5]]), 16, 16)
    assert int(rast.face_id[0, 2, 3]) == 0
    assert int(rast.face_id[0, 2, 12]) == 1


def test_backface_culling_modes():
    ccw_on_screen = torch.tensor([[2.0, 2.0, 1.0], [2.0, 12.0, 1.0], [12.0, 2.0, 1.0]])  # front-facing
    cw_on_screen = ccw_on_screen[[0, 2, 1]]
    for verts, front in ((ccw_on_screen, True), (cw_on_screen, False)):
        assert (rasterize_torch(verts, FACE, 16, 16, cull="none").face_id >= 0).any()
        back_culled = (rasterize_torch(verts, FACE, 16, 16, cull="back").face_id >= 0).any()
        front_culled = (rasterize_torch(verts, FACE, 16, 16, cull="front").face_id >= 0).any()
        assert bool(back_culled) == front
        assert bool(front_culled) == (not front)


def test_triangles_behind_camera_and_degenerate_are_dropped():
    behind = torch.tensor([[2.0, 2.0, -1.0], [12.0, 2.0, 1.0], [2.0, 12.0, 1.0]])
    assert not (rasterize_torch(behind, FACE, 16, 16).face_id >= 0).any()
    line = torch.tensor([[2.0, 2.0, 1.0], [12.0, 12.0, 1.0], [7.0, 7.0, 1.0]])
    assert not (rasterize_torch(line, FACE, 16, 16).face_id >= 0).any()
    offscreen = torch.tensor([[-20.0, -20.0, 1.0], [-10.0, -20.0, 1.0], [-20.0, -10.0, 1.0]])
    assert not (rasterize_torch(offscreen, FACE, 16, 16).face_id >= 0).any()


def random_mesh(n_frames: int, n_faces: int, size: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(n_frames, n_faces, 1, 2, generator=gen) * (size + 20) - 10
    offsets = (torch.rand(n_frames, n_faces, 3, 2, generator=gen) - 0.5) * 12
    depth = 1.0 + 4.0 * torch.rand(n_frames, n_faces, 3, 1, generator=gen)
    verts = torch.cat([centres + offsets, depth], dim=-1).reshape(n_frames, n_faces * 3, 3)
    faces = torch.arange(n_faces * 3).reshape(n_faces, 3)
    return verts, faces


def test_chunk_size_does_not_change_the_result():
    verts, faces = random_mesh(2, 300, 48, seed=0)
    ref = rasterize_torch(verts, faces, 48, 48)
    assert (ref.face_id >= 0).float().mean() > 0.3
    for chunk in (97, 1000, 4096):
        out = rasterize_torch(verts, faces, 48, 48, chunk_elements=chunk)
        assert torch.equal(out.face_id, ref.face_id)
        assert torch.equal(out.depth, ref.depth)
        assert torch.equal(out.bary, ref.bary)


def test_random_mesh_depth_is_the_minimum_over_covering_triangles():
    verts, faces = random_mesh(1, 60, 32, seed=1)
    rast = rasterize_torch(verts, faces, 32, 32)
    singles = [rasterize_torch(verts, faces[i : i + 1], 32, 32) for i in range(faces.shape[0])]
    depth = torch.stack([torch.where(s.face_id >= 0, s.depth, torch.inf) for s in singles])  # [F,1,H,W]
    best, arg = depth.min(0)
    covered = torch.isfinite(best)
    assert torch.equal(covered, rast.face_id >= 0)
    assert torch.allclose(rast.depth[covered], best[covered])
    assert torch.equal(rast.face_id[covered], arg[covered])


def test_batched_frames_equal_single_frames():
    verts, faces = random_mesh(3, 80, 40, seed=2)
    batched = rasterize_torch(verts, faces, 40, 40)
    for b in range(3):
        single = rasterize_torch(verts[b], faces, 40, 40)
        assert torch.equal(batched.face_id[b], single.face_id[0])
        assert torch.equal(batched.bary[b], single.bary[0])
        assert torch.equal(batched.depth[b], single.depth[0])


def test_rasterize_dispatch_on_cpu_uses_torch_and_validates_inputs():
    verts = torch.tensor([[0.0, 0.0, 1.0], [4.0, 0.0, 1.0], [0.0, 4.0, 1.0]])
    rast = rasterize(verts, FACE, 8, 8)
    assert rast.face_id.shape == (1, 8, 8)
    with pytest.raises(ValueError, match="faces index vertices"):
        rasterize(verts, torch.tensor([[0, 1, 3]]), 8, 8)
    with pytest.raises(ValueError, match="verts_px must be"):
        rasterize(verts[:, :2], FACE, 8, 8)
    with pytest.raises(ValueError, match="cull must be"):
        rasterize(verts, FACE, 8, 8, cull="sideways")
    with pytest.raises(ValueError, match="unknown raster backend"):
        rasterize(verts, FACE, 8, 8, backend="opengl")
