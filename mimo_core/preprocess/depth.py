"""Monocular depth with Depth Anything (V1/V2) through transformers, from a local folder.

The folder is a transformers checkpoint: ``config.json`` (model type
``depth_anything``), ``model.safetensors`` (or ``pytorch_model.bin``) and
``preprocessor_config.json`` (e.g. ``depth-anything/Depth-Anything-V2-Small-hf``).
Nothing is downloaded.

Output convention: Depth Anything predicts *relative inverse depth*
(disparity); :func:`estimate_depth` keeps that and normalises each frame to
0..1, so **1 = nearest, 0 = farthest** (what
:func:`~mimo_core.preprocess.layers.split_layers` expects by default).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import as_frames

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def check_model_dir(model_dir: str | os.PathLike[str], what: str, weight_files: tuple[str, ...] = WEIGHT_FILES) -> Path:
    """Return ``model_dir`` as a Path after checking it holds config.json and weights."""
    p = Path(model_dir)
    if not p.is_dir():
        raise FileNotFoundError(
            f"{what} model folder not found: {str(p)!r} (expected a transformers folder with config.json, "
            f"one of {list(weight_files)} and its processor's preprocessor_config.json or processor_config.json)"
        )
    missing = [] if (p / "config.json").is_file() else ["config.json"]
    if not any((p / f).is_file() for f in weight_files) and not list(p.glob("model-*.safetensors")):
        missing.append(" or ".join(weight_files))
    if missing:
        raise FileNotFoundError(f"{what} model folder {str(p)!r} lacks {', '.join(missing)}")
    return p


class DepthEstimator:
    """Depth Anything model + image processor loaded once from ``model_dir``.

    Args:
        model_dir: local transformers folder (see module doc).
        device: torch device string, e.g. ``"cpu"`` or ``"cuda"``.
        dtype: torch dtype for the model (default float32).
    """

    def __init__(self, model_dir: str | os.PathLike[str], device: str = "cpu", dtype: Any = None) -> None:
        import torch
        from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

        path = check_model_dir(model_dir, "Depth Anything")
        self.device = torch.device(device)
        self.dtype = dtype or torch.float32
        self.model = DepthAnythingForDepthEstimation.from_pretrained(str(path), dtype=self.dtype)
        self.model.to(self.device).eval()
        self.processor = AutoImageProcessor.from_pretrained(str(path))

    def __call__(
        self, frames: Any, batch_size: int = 4, progress: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """frames: [T,H,W,3] float 0..1 -> [T,H,W] float32 in 0..1 (1 = nearest, per frame)."""
        import torch
        import torch.nn.functional as F

        clip = as_frames(frames)
        t, h, w = clip.shape[:3]
        out = np.empty((t, h, w), np.float32)
        for s in range(0, t, batch_size):
            batch = list(clip[s : s + batch_size])
            inputs = self.processor(images=batch, return_tensors="pt", do_rescale=False)
            pixels = inputs["pixel_values"].to(self.device, self.dtype)
            with torch.inference_mode():
                pred = self.model(pixel_values=pixels).predicted_depth  # [B,h',w']
            pred = F.interpolate(pred[:, None].float(), size=(h, w), mode="bicubic", align_corners=False)[:, 0]
            pred = pred.cpu().numpy()
            lo = pred.reshape(len(pred), -1).min(1)[:, None, None]
            hi = pred.reshape(len(pred), -1).max(1)[:, None, None]
            out[s : s + len(pred)] = (pred - lo) / np.maximum(hi - lo, 1e-8)
            if progress is not None:
                progress(min(s + batch_size, t), t)
        return out


def estimate_depth(
    frames: Any, model_dir: str | os.PathLike[str], batch_size: int = 4, device: str = "cpu"
) -> np.ndarray:
    """One-shot depth: [T,H,W,3] float 0..1 -> [T,H,W] float32, 1 = nearest, per-frame 0..1.

    Loads the model each call; keep a :class:`DepthEstimator` to reuse it.
    """
    return DepthEstimator(model_dir, device=device)(frames, batch_size=batch_size)
