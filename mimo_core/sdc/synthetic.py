"""Synthetic sdc scenes with known ground truth (for checks and benchmarks).

A small closed "figure" (head, torso, arms, legs as ellipsoids, outward counter-clockwise
faces, SMPL-like canonical frame: y up, facing +z) that turns in front of the release's camera,
plus random colour tables: per-vertex noise (hardest to recover) or smooth colours over the body
(like a dense-correspondence table, and what survives chroma subsampling in ``sdc.mp4``).
"""

from __future__ import annotations

import math

import torch

FIGURE_PARTS = (
    ((0.0, 0.72, 0.0), (0.11, 0.13, 0.11)),  # head
    ((0.0, 0.25, 0.0), (0.20, 0.33, 0.12)),  # torso
    ((-0.31, 0.27, 0.0), (0.06, 0.31, 0.06)),  # arms
    ((0.31, 0.27, 0.0), (0.06, 0.31, 0.06)),
    ((-0.10, -0.45, 0.0), (0.08, 0.40, 0.08)),  # legs
    ((0.10, -0.45, 0.0), (0.08, 0.40, 0.08)),
)


def ellipsoid(centre: tuple[float, float, float], radii: tuple[float, float, float], n_lat: int, n_lon: int):
    """Closed UV ellipsoid, faces counter-clockwise seen from outside.

    Returns:
        ``(vertices [V,3] float32, faces [F,3] int64)``.
    """
    theta = torch.linspace(0, math.pi, n_lat + 1)[1:-1]
    phi = torch.linspace(0, 2 * math.pi, n_lon + 1)[:-1]
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).reshape(-1, 3)
    unit = torch.cat([torch.tensor([[0.0, 1.0, 0.0]]), ring, torch.tensor([[0.0, -1.0, 0.0]])])
    last = unit.shape[0] - 1
    faces = []
    for j in range(n_lon):
        j1 = (j + 1) % n_lon
        faces.append([0, 1 + j, 1 + j1])
        base = 1 + (n_lat - 2) * n_lon
        faces.append([last, base + j1, base + j])
        for i in range(n_lat - 2):
            a, b = 1 + i * n_lon + j, 1 + i * n_lon + j1
            faces.append([a, a + n_lon, b + n_lon])
            faces.append([a, b + n_lon, b])
    f = torch.tensor(faces, dtype=torch.int64)
    # orient every face outward (normal along the unit-sphere position)
    tri = unit[f]
    normal = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = (normal * tri.mean(1)).sum(-1) < 0
    f[flip] = f[flip][:, [0, 2, 1]]
    return unit * torch.tensor(radii) + torch.tensor(centre), f


def figure_mesh(n_lat: int = 14, n_lon: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """The six-ellipsoid figure (1.7 m tall, canonical: y up, facing +z); ``(verts [V,3], faces [F,3])``."""
    verts, faces, offset = [], [], 0
    for centre, radii in FIGURE_PARTS:
        v, f = ellipsoid(centre, radii, n_lat, n_lon)
        verts.append(v)
        faces.append(f + offset)
        offset += v.shape[0]
    return torch.cat(verts), torch.cat(faces)


def turning_sequence(
    verts: torch.Tensor, n_frames: int, image_size: tuple[int, int], fill: float = 0.85, turn: float = 0.8
) -> torch.Tensor:
    """Place the canonical body in the release's camera, turning about its vertical axis.

    Args:
        verts: ``[V,3]`` canonical vertices (y up, facing +z).
        n_frames: frames ``T``.
        image_size: ``(W, H)``; the body fills ``fill`` of the height with focal ``5000/256*max(W,H)``.
        turn: the body turns from ``-turn`` to ``+turn`` radians over the clip.
    Returns:
        ``[T,V,3]`` camera-frame vertices (OpenCV: y down, z forward, body facing the camera).
    """
    width, height = image_size
    focal = 5000.0 / 256.0 * max(width, height)
    body_h = float(verts[:, 1].max() - verts[:, 1].min())
    z = focal * body_h / (fill * height)
    # canonical (y up, facing +z) -> camera (y down, facing -z towards the camera): rotate pi about x
    to_cam = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    centred = verts - verts.mean(0)
    out = []
    for i in range(n_frames):
        a = -turn + 2 * turn * i / max(n_frames - 1, 1)
        rot = torch.tensor([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
        out.append(centred @ rot.T @ to_cam.T + torch.tensor([0.01 * i, 0.0, z]))
    return torch.stack(out)


def random_table(n_verts: int, seed: int = 0) -> torch.Tensor:
    """``[V,3]`` independent uniform colours on the uint8 grid (0..1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n_verts, 3), generator=g).float() / 255.0


def smooth_table(rest_verts: torch.Tensor, seed: int = 0, waves: int = 3) -> torch.Tensor:
    """``[V,3]`` colours varying smoothly over the body (sums of low-frequency waves), uint8 grid."""
    g = torch.Generator().manual_seed(seed)
    x = rest_verts - rest_verts.mean(0)
    out = torch.full((rest_verts.shape[0], 3), 0.5)
    for _ in range(waves):
        k = torch.randn(3, 3, generator=g) * 2.5  # [channel, xyz] spatial frequency, rad/m
        phase = torch.rand(3, generator=g) * 2 * math.pi
        out = out + 0.15 * torch.sin(x @ k.T + phase)
    return ((out.clamp(0.05, 0.95) * 255).round() / 255).float()
