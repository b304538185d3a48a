"""Check the sdc renderer and colour-table recovery: template | our re-render | difference x4.

Usage:
    # synthetic ground truth (known random table, optional mp4 round trip)
    .venv/bin/python bench/bench_sdc.py [OUT_DIR] [--size 256] [--frames 6] [--crf 18] [--anny] [--smooth]

    # an official template folder (vid.mp4 + sdc.mp4) and a body fit of its vid.mp4
    .venv/bin/python bench/bench_sdc.py [OUT_DIR] --template DIR --motion FILE [--faces FILE]
        [--body-model-file SMPLH_NEUTRAL.npz] [--hidden FILE]

``--motion`` is either posed camera-frame vertices (``.npy`` ``[T,V,3]``, or ``.npz`` with
``vertices`` and optionally ``faces``) or a saved ``MotionSequence`` (``.safetensors``; SMPL / SMPL-H
motions need ``--body-model-file``). ``--hidden`` is an optional ``[T,V]`` / ``[V]`` bool ``.npy`` of
vertices the template does not draw (undetected hands).

Writes into OUT_DIR (default ``output/sdc_check``): ``check.png`` (middle frame), ``check.mp4``,
``table.npy`` (recovered table, plain array) and ``report.json`` (errors, PSNR, IoU, timings).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mimo_core.sdc import psnr, recover_colour_table, render_sdc, save_colour_table, to_uint8  # noqa: E402
from mimo_core.sdc.synthetic import figure_mesh, random_table, smooth_table, turning_sequence  # noqa: E402
from mimo_core.video_io import VideoWriter, read_video  # noqa: E402


def side_by_side(template: torch.Tensor, ours: torch.Tensor) -> np.ndarray:
    """``[T,H,3W,3]`` uint8: template | re-render | |difference| x 4."""
    diff = ((template - ours).abs() * 4).clamp(0, 1)
    return to_uint8(torch.cat([template, ours, diff], dim=2))


def load_motion(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed vertices ``[T,V,3]`` and faces ``[F,3]`` from ``--motion`` / ``--faces``."""
    path = Path(args.motion)
    faces = None
    if path.suffix == ".safetensors":
        from mimo_core.sdc import vertices_from_motion

        return vertices_from_motion(path, args.body_model_file)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            verts = data["vertices"]
            faces = data["faces"] if "faces" in data else None
    else:
        verts = np.load(path, allow_pickle=False)
    if args.faces is not None:
        faces = np.load(args.faces, allow_pickle=False)
    if faces is None:
        raise SystemExit("--motion holds vertices only: give the mesh faces with --faces FILE.npy")
    return torch.as_tensor(verts, dtype=torch.float32), torch.as_tensor(faces, dtype=torch.long)


def synthetic(args: argparse.Namespace) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render a known table, optionally through mp4; returns report, template, verts, faces, truth."""
    if args.anny:
        from bench_raster import anny_mesh  # y down, facing the camera

        verts, faces = anny_mesh()
        verts = verts * torch.tensor([1.0, -1.0, -1.0])  # back to canonical: y up, facing +z
    else:
        verts, faces = figure_mesh()
    size = (args.size, args.size)
    verts_cam = turning_sequence(verts, args.frames, size)
    if args.smooth:
        truth = smooth_table(verts, seed=args.seed)
    else:
        truth = random_table(verts.shape[0], seed=args.seed)
    t0 = time.perf_counter()
    template = render_sdc(verts_cam, faces, truth, size)
    report = {"case": ("anny topology" if args.anny else "figure") + (", smooth table" if args.smooth else ", random table"), "vertices": int(verts.shape[0]),
              "size": list(size), "frames": args.frames, "render_s": round(time.perf_counter() - t0, 2)}
    if args.crf is not None:
        path = Path(args.out) / "synthetic_sdc.mp4"
        with VideoWriter(path, fps=30, crf=args.crf) as writer:
            writer.write(template)
        decoded = torch.from_numpy(read_video(path))
        report["crf"] = args.crf
        report["codec_psnr_db"] = round(psnr(decoded, template), 2)
        template = decoded
    return report, template, verts_cam, faces, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="output/sdc_check")
    parser.add_argument("--template", type=Path, default=None, help="official template folder (sdc.mp4)")
    parser.add_argument("--motion", type=Path, default=None, help="posed vertices / MotionSequence of the template")
    parser.add_argument("--faces", type=Path, default=None)
    parser.add_argument("--hidden", type=Path, default=None)
    parser.add_argument("--body-model-file", type=Path, default=None)
    parser.add_argument("--focal", type=float, default=None)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--crf", type=int, default=None, help="synthetic case: round-trip through mp4")
    parser.add_argument("--anny", action="store_true", help="synthetic case: Anny body topology")
    parser.add_argument("--smooth", action="store_true", help="synthetic case: smooth table (default: per-vertex noise)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    truth = None
    hidden = None
    if args.template is not None:
        if args.motion is None:
            raise SystemExit("--template needs --motion (a body fit of the template's vid.mp4)")
        verts_cam, faces = load_motion(args)
        template = torch.from_numpy(read_video(args.template / "sdc.mp4", max_frames=int(verts_cam.shape[0])))
        verts_cam = verts_cam[: template.shape[0]]
        if args.hidden is not None:
            hidden = torch.as_tensor(np.load(args.hidden, allow_pickle=False), dtype=torch.bool)
            hidden = hidden if hidden.ndim == 1 else hidden[: template.shape[0]]
        report = {"case": str(args.template), "vertices": int(verts_cam.shape[1]), "frames": int(template.shape[0])}
    else:
        report, template, verts_cam, faces, truth = synthetic(args)
    size = (int(template.shape[2]), int(template.shape[1]))

    t0 = time.perf_counter()
    rec = recover_colour_table(verts_cam, faces, template, args.focal, hidden_vertices=hidden)
    report["recover_s"] = round(time.perf_counter() - t0, 2)
    rerender = render_sdc(verts_cam, faces, rec.table, size, args.focal, hidden_vertices=hidden)
    report.update({
        "rerender_psnr_db": round(psnr(rerender, template), 2),
        "share_seen": round(rec.share_seen, 4),
        "iou_per_frame": [round(float(x), 4) for x in rec.silhouette_iou],
        **{k: v for k, v in rec.info.items() if k not in ("share_seen",)},
    })
    if truth is not None:
        err = np.abs(rec.table - truth.numpy()).max(1) * 255.0
        well = rec.frames_seen >= 3
        report["vertices_seen_3_frames"] = int(well.sum())
        report["median_table_error_255"] = round(float(np.median(err[well])), 3)
        report["p90_table_error_255"] = round(float(np.percentile(err[well], 90)), 3)

    save_colour_table(out / "table.npy", rec.table)
    frames = side_by_side(template.float(), rerender)
    from PIL import Image

    Image.fromarray(frames[len(frames) // 2]).save(out / "check.png")
    with VideoWriter(out / "check.mp4", fps=30, crf=12) as writer:
        writer.write(frames)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
