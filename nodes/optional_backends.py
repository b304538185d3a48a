"""Reports, once per process, which optional accelerated backends are absent."""

from __future__ import annotations

import importlib.util
import logging

log = logging.getLogger("mimo")

# name -> (what it speeds up, the default used instead)
OPTIONAL = {
    "sam2": ("SAM 2 video person tracking (package `sam2`)", "MediaPipe segmentation + tracking, or transformers' SAM 2"),
    "nvdiffrast": ("CUDA mesh rasterisation", "the built-in PyTorch rasteriser"),
    "detectron2": ("Detectron2 person detection", "MediaPipe person detection"),
}
_reported = False


def missing_backends() -> list[str]:
    return [name for name in OPTIONAL if importlib.util.find_spec(name) is None]


def report_once() -> None:
    global _reported
    if _reported:
        return
    _reported = True
    missing = missing_backends()
    if missing:
        details = "; ".join(f"{n} ({OPTIONAL[n][0]}) -> using {OPTIONAL[n][1]}" for n in missing)
        log.info("[MIMO] optional backends not installed: %s", details)
