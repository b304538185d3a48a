"""Reports, once per process, which optional accelerated backends are absent."""

from __future__ import annotations

import importlib.util
import logging

log = logging.getLogger("mimo")

# name -> (what it speeds up, the default used instead)
OPTIONAL = {
    "nvdiffrast": ("CUDA mesh rasterisation", "the built-in PyTorch rasteriser"),
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
