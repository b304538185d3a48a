"""``python -m trainer.synthetic --out DIR --count N [--size 256] [--frames 24] [--seed 0]``."""

from __future__ import annotations

import argparse
import json
import sys

from .dataset import generate_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.synthetic", description="Generate synthetic training clips.")
    parser.add_argument("--out", required=True, help="dataset folder (clips + manifest.jsonl)")
    parser.add_argument("--count", type=int, required=True, help="number of clips")
    parser.add_argument("--seed", type=int, default=0, help="base seed of the dataset")
    parser.add_argument("--size", type=int, default=256, help="square frame size in pixels")
    parser.add_argument("--frames", type=int, default=24, help="frames per clip")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--split", type=float, nargs=3, default=(0.9, 0.05, 0.05), metavar=("TRAIN", "VAL", "TEST"))
    args = parser.parse_args(argv)
    result = generate_dataset(args.out, args.count, args.seed, (args.size, args.size), args.frames,
                              tuple(args.split), fps=args.fps,
                              progress=lambda d, n: print(f"\r{d}/{n}", end="", file=sys.stderr))  # fmt: skip
    print(file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
