"""Command line: ``python -m trainer {prepare,train,evaluate} ...``.

``train`` runs here; ``prepare`` and ``evaluate`` are imported only when called
(``trainer.prepare:main(args)``, ``trainer.evaluate:main(args)``), so each sub-command works on its own.
Multi-GPU / multi-node: ``accelerate launch -m trainer train --config run.yaml``. Several CPU processes
(gloo): ``ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m trainer train --config run.yaml``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

DELEGATED = {
    "prepare": "turn videos (or synthetic scenes) into training clips",
    "evaluate": "sample a trained model on held-out clips and report PSNR / SSIM / LPIPS / FVD",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="MIMO dataset preparation, "
                                     "two-stage training and evaluation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{prepare,train,evaluate}")
    sub.add_parser("prepare", help=DELEGATED["prepare"], add_help=False)
    train = sub.add_parser("train", help="train stage 1 (images) or stage 2 (temporal modules)")
    train.add_argument("--config", required=True, help="YAML or JSON config (see trainer/configs/)")
    train.add_argument("--resume", default=None,
                       help="'auto' = newest checkpoint in output_dir if any, or a checkpoint folder")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field (repeatable), e.g. --set steps=10")
    sub.add_parser("evaluate", help=DELEGATED["evaluate"], add_help=False)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from .config import load_config, parse_override
    from .train import train

    overrides = dict(parse_override(text) for text in args.overrides)
    config = load_config(args.config, overrides)
    export = train(config, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":
        print(f"export: {export}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(f"trainer.{argv[0]}")
        return int(module.main(argv[1:]) or 0)
    args = parser.parse_args(argv)
    return run_train(args)
