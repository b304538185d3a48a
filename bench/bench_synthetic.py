"""Synthetic clip generation speed: clips per second at 256x256, 24 frames (after model creation).

Usage: .venv/bin/python bench/bench_synthetic.py [--clips 3] [--size 256] [--frames 24]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    from trainer.synthetic import default_body_model, synthesize_clip

    start = time.perf_counter()
    body = default_body_model()
    print(f"body model created in {time.perf_counter() - start:.1f} s")
    synthesize_clip(0, (32, 32), 2, body)  # warm-up (colour table, first rasterisation)
    start = time.perf_counter()
    for seed in range(args.clips):
        synthesize_clip(1000 + seed, (args.size, args.size), args.frames, body)
    seconds = time.perf_counter() - start
    print(f"{args.clips} clips of {args.size}x{args.size}x{args.frames}: {seconds:.2f} s, "
          f"{args.clips / seconds:.2f} clips/s, {seconds / args.clips:.2f} s/clip")  # fmt: skip


if __name__ == "__main__":
    main()
