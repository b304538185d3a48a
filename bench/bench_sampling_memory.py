"""Peak memory of sampling long videos with context windows (tiny random MIMO pipeline, CPU).

Each video length runs in a fresh subprocess: build the tiny pipeline (motion table of 32
frames so that 24-frame windows fit), make smooth pose / scene videos, run one short warm-up
generation (so one-time allocations are not charged to the measured run), then reset the
kernel's peak-RSS counter (``/proc/self/clear_refs``) and run ``MimoPipeline.generate`` with
windows of 24 frames. Reported per length:

* ``setup``: resident memory before the measured run (interpreter, libraries, networks, inputs);
* ``peak``: the highest resident memory during the run (``VmHWM``; ``ru_maxrss`` of the whole
  process where the counter cannot be reset);
* ``growth``: ``peak - setup``, the memory the run itself needs;
* the same peak per stage (VAE encode of the scene, sampling, VAE decode, the final size
  restore), each stage's counter reset just before it, to show where memory grows.

The target is the absolute peak at 192 frames <= 1.5x the peak at 24 frames.

Usage:
    .venv/bin/python bench/bench_sampling_memory.py [--lengths 24,48,96,192] [--size 64]
        [--steps 2] [--window 24] [--overlap 4]
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    return (kb or 0) * 1024


def peak_bytes() -> int:
    kb = _status_kb("VmHWM")
    if kb is None:  # no /proc: the whole-process maximum
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1024


def child(frames: int, size: int, steps: int, window: int, overlap: int) -> dict:
    """Run one measured generation in this process and return the figures."""
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(1)
    import mimo_core.pipeline.mimo as mimo_module
    import scripts.make_tiny_mimo as tiny

    tiny.TINY_MOTION = replace(tiny.TINY_MOTION, max_frames=max(32, window))
    pipeline = tiny.build_tiny_pipeline(in_channels=8, seed=0)

    def video(seed: int, count: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        coarse = torch.rand(count, 3, 4, 4, generator=g)
        return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear").permute(0, 2, 3, 1)

    reference = video(1, 1)[0]
    pose, scene = video(2, frames), video(3, frames)
    identity = pipeline.encode_identity(reference)
    run = functools.partial(pipeline.generate, identity, steps=steps, window=window, overlap=overlap,
                            guidance=3.5, seed=0)
    run(video(4, 4), video(5, 4))  # warm-up: lazy initialisation, reference features, allocator pools

    stages: dict[str, int] = {}
    resettable = reset_peak()
    overall = [0]  # absolute peak of the measured run, folded in before every counter reset

    def staged(name: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            overall[0] = max(overall[0], peak_bytes())
            before = rss_bytes()
            reset_peak()
            try:
                return fn(*args, **kwargs)
            finally:
                peak = peak_bytes()
                overall[0] = max(overall[0], peak)
                stages[name] = max(stages.get(name, 0), peak - before)

        return wrapper

    names = ("encode_video", "sample_video", "decode_video", "restore_size")
    originals = {name: getattr(mimo_module, name) for name in names}
    if resettable:
        for name, fn in originals.items():
            setattr(mimo_module, name, staged(name, fn))
    try:
        setup = rss_bytes()
        reset_peak()
        out = run(pose, scene)
        overall[0] = max(overall[0], peak_bytes())
    finally:
        for name, fn in originals.items():
            setattr(mimo_module, name, fn)
    assert out.shape == (frames, size, size, 3)
    return {
        "frames": frames,
        "setup_mb": setup / MB,
        "peak_mb": overall[0] / MB,
        "growth_mb": (overall[0] - setup) / MB,
        "stage_growth_mb": {k: stages[k] / MB for k in names if k in stages},
        "peak_resettable": resettable,
        "inputs_mb": (pose.numel() + scene.numel()) * 4 / MB,
        "output_mb": out.numel() * out.element_size() / MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="24,48,96,192")
    parser.add_argument("--size", type=int, default=64, help="frame height = width in pixels")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--overlap", type=int, default=4)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.size, args.steps, args.window, args.overlap)))
        return
    rows = []
    for frames in (int(x) for x in args.lengths.split(",")):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(frames), "--size", str(args.size),
               "--steps", str(args.steps), "--window", str(args.window), "--overlap", str(args.overlap)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        if done.returncode:
            raise SystemExit(f"{frames} frames failed:\n{done.stderr[-4000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"tiny pipeline, {args.size}x{args.size} px, {args.steps} steps, CFG, windows of {args.window} "
          f"(overlap {args.overlap}), 1 thread; one fresh process per length")
    if not rows[0]["peak_resettable"]:
        print("note: the peak counter could not be reset; peaks are whole-process maxima")
    first = rows[0]
    stage_names = list(first["stage_growth_mb"])
    header = f"{'frames':>6} {'setup MB':>9} {'peak MB':>8} {'peak/peak24':>11} {'growth MB':>9} {'out MB':>7}"
    print(header + "".join(f" {n + ' +MB':>17}" for n in stage_names))
    for row in rows:
        line = (f"{row['frames']:>6} {row['setup_mb']:>9.1f} {row['peak_mb']:>8.1f} "
                f"{row['peak_mb'] / first['peak_mb']:>11.3f} {row['growth_mb']:>9.1f} {row['output_mb']:>7.1f}")
        print(line + "".join(f" {row['stage_growth_mb'].get(n, float('nan')):>17.1f}" for n in stage_names))
    last = rows[-1]
    ratio = last["peak_mb"] / first["peak_mb"]
    verdict = "meets" if ratio <= 1.5 else "misses"
    print(f"peak at {last['frames']} frames = {ratio:.3f}x the peak at {first['frames']} frames "
          f"({verdict} the <= 1.5x target); run growth {last['growth_mb'] / max(first['growth_mb'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
