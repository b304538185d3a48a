"""Evaluate generated videos against held-out clips (``python -m trainer.evaluate``).

Metrics per clip (frames compared in 0..1): PSNR (mean over frames; ``inf`` for identical frames), SSIM
(Gaussian 11x11, the standard constants; see :func:`ssim`), LPIPS (torchmetrics, AlexNet) only when its backbone
weights are already in the local torch hub cache -- nothing is downloaded; otherwise it is reported as
unavailable -- and FVD over all clips only when an I3D TorchScript file is given (``--i3d``; the common
``i3d_torchscript.pt`` taking ``[B,3,T,224,224]`` in -1..1 and returning 400-d features with
``rescale=False, resize=False, return_features=True``); otherwise "not computed".

Methods are generators (:data:`trainer.baselines.Generator`): the built-in baselines, a folder of
predicted videos (``<clip stem>.npz`` with ``frames`` or ``<clip stem>.mp4``), or any callable passed to
:func:`evaluate` (e.g. a model, or a model trained without pose through
:func:`trainer.baselines.without_pose`). Output: ``report.md`` (markdown table), ``report.json`` and
one ``contact_<method>.png`` per method (rows = clips; columns = reference | ground-truth frames |
predicted frames).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from trainer.baselines import BASELINES, Generator
from trainer.data.clips import Clip, read_clip, read_manifest


def _as_float(frames: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"{name} must be [T,H,W,3], got {a.shape}")
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else np.clip(a.astype(np.float32), 0.0, 1.0)


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over frames of ``10 log10(1 / MSE)`` with frames in 0..1; ``inf`` when every frame is identical.

    Args:
        pred, target: ``[T,H,W,3]`` uint8 or float in 0..1, same shape.
    """
    p, t = _as_float(pred, "pred"), _as_float(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {t.shape} differ in shape")
    mse = ((p - t) ** 2).reshape(p.shape[0], -1).mean(1).astype(np.float64)
    with np.errstate(divide="ignore"):
        values = np.where(mse > 0, 10.0 * np.log10(1.0 / np.maximum(mse, 1e-30)), np.inf)
    return float(values.mean())


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM over frames and channels (Wang et al. 2004: Gaussian 11x11 window, sigma 1.5, K1 0.01,
    K2 0.03, data range 1, over the window positions that fit inside the frame); 1.0 for identical frames.

    Args:
        pred, target: ``[T,H,W,3]`` uint8 or float in 0..1, same shape, ``H, W >= 11``.
    """
    p, t = _as_float(pred, "pred"), _as_float(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {t.shape} differ in shape")
    if min(p.shape[1:3]) < 11:
        raise ValueError(f"SSIM needs frames of at least 11x11 pixels, got {p.shape[1:3]}")
    x = torch.from_numpy(p).double().permute(0, 3, 1, 2).reshape(-1, 1, *p.shape[1:3])
    y = torch.from_numpy(t).double().permute(0, 3, 1, 2).reshape(-1, 1, *p.shape[1:3])
    win = _gaussian_window()
    conv = torch.nn.functional.conv2d
    mx, my = conv(x, win), conv(y, win)
    sxx = conv(x * x, win) - mx**2
    syy = conv(y * y, win) - my**2
    sxy = conv(x * y, win) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(ssim_map.mean())


def lpips_status(net: str = "alex") -> tuple[bool, str]:
    """Whether LPIPS can run offline: its backbone's ImageNet weights must be in the torch hub cache."""
    import torchvision

    weights = {"alex": torchvision.models.AlexNet_Weights, "vgg": torchvision.models.VGG16_Weights,
               "squeeze": torchvision.models.SqueezeNet1_1_Weights}[net].DEFAULT  # fmt: skip
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if not path.is_file():
        return False, f"unavailable: {net} backbone weights not found at {path} (not downloaded)"
    return True, "ok"


class LpipsScorer:
    """LPIPS (torchmetrics) that never touches the network; call :func:`lpips_status` first."""

    def __init__(self, net: str = "alex") -> None:
        ok, why = lpips_status(net)
        if not ok:
            raise RuntimeError(f"LPIPS {why}")
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        self.metric = LearnedPerceptualImagePatchSimilarity(net_type=net, normalize=True)

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        p = torch.from_numpy(_as_float(pred, "pred")).permute(0, 3, 1, 2)
        t = torch.from_numpy(_as_float(target, "target")).permute(0, 3, 1, 2)
        with torch.no_grad():
            return float(self.metric(p, t))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a [N,D]`` and ``b [M,D]`` (N, M >= 2)."""
    from scipy import linalg

    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors per set, got {a.shape[0]} and {b.shape[0]}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


class I3DFeatures:
    """I3D video features from a local TorchScript file (see the module doc); nothing is downloaded."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"I3D TorchScript file not found: {path}")
        self.model = torch.jit.load(str(path), map_location="cpu").eval()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``[T,H,W,3]`` -> ``[400]`` features (frames resized to 224x224, values in -1..1)."""
        f = _as_float(frames, "frames")
        f = np.stack([cv2.resize(x, (224, 224), interpolation=cv2.INTER_AREA) for x in f])
        x = torch.from_numpy(f).permute(3, 0, 1, 2)[None] * 2 - 1
        with torch.no_grad():
            out = self.model(x, rescale=False, resize=False, return_features=True)
        return out[0].numpy()


def predictions_from_folder(folder: str | os.PathLike[str]) -> Callable[[Clip], np.ndarray]:
    """A generator reading ``<folder>/<clip stem>.npz`` (key ``frames``) or ``.mp4`` for each clip.

    The clip's stem is taken from ``clip.extra['name']``, which :func:`evaluate` sets.
    """
    root = Path(folder)

    def run(clip: Clip) -> np.ndarray:
        stem = Path(clip.extra["name"]).stem
        npz, mp4 = root / f"{stem}.npz", root / f"{stem}.mp4"
        if npz.is_file():
            with np.load(npz, allow_pickle=False) as z:
                return z["frames"]
        if mp4.is_file():
            from mimo_core.video_io import read_video

            return read_video(mp4)
        raise FileNotFoundError(f"no prediction for clip {stem}: expected {npz} or {mp4}")

    return run


def contact_sheet(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], frames: int = 4, height: int = 96) -> np.ndarray:
    """``[rows*height, ..., 3]`` uint8: per row the reference, ``frames`` ground-truth and predicted frames."""

    def fit(img: np.ndarray) -> np.ndarray:
        img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8) if img.dtype != np.uint8 else img
        w = max(1, round(img.shape[1] * height / img.shape[0]))
        return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)

    lines = []
    for ref, gt, pred in rows:
        idx = np.linspace(0, len(gt) - 1, min(frames, len(gt))).round().astype(int)
        gap = np.full((height, 4, 3), 255, np.uint8)
        parts = [fit(ref), gap] + [fit(gt[i]) for i in idx] + [gap] + [fit(pred[i]) for i in idx]
        lines.append(np.concatenate(parts, 1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 2), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    return np.concatenate(lines, 0)


def evaluate(
    clips_dir: str | os.PathLike[str],
    methods: dict[str, Generator],
    out_dir: str | os.PathLike[str],
    split: str | None = "test",
    max_clips: int | None = None,
    i3d_path: str | os.PathLike[str] | None = None,
    sheet_frames: int = 4,
) -> dict:
    """Score every method on the held-out clips and write the report (see the module doc).

    Args:
        clips_dir: dataset folder with ``manifest.jsonl``.
        methods: ``{name: generator}``.
        out_dir: where ``report.md``, ``report.json`` and the contact sheets go.
        split: manifest split to use (``None`` = all clips).
        max_clips: use at most this many clips (manifest order).
        i3d_path: I3D TorchScript file for FVD (``None``: FVD not computed).
        sheet_frames: frames per clip shown in the contact sheets.
    Returns:
        the JSON report: ``{"clips": [...], "methods": {name: {"psnr", "ssim", "lpips", "fvd", "per_clip"}}, ...}``.
    """
    entries = read_manifest(clips_dir, split)
    if max_clips is not None:
        entries = entries[:max_clips]
    if not entries:
        raise ValueError(f"no clips in {clips_dir} (split={split!r}): nothing to evaluate")
    lpips_ok, lpips_note = lpips_status()
    lpips = LpipsScorer() if lpips_ok else None
    i3d = I3DFeatures(i3d_path) if i3d_path else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"clips": [e["clip"] for e in entries], "split": split, "lpips": lpips_note,
                    "fvd": "computed" if i3d else "not computed (no I3D weights given)", "methods": {}}  # fmt: skip
    sheets: dict[str, list] = {name: [] for name in methods}
    per: dict[str, list] = {name: [] for name in methods}
    feats: dict[str, list] = {name: [] for name in methods}
    real_feats: list = []
    for entry in entries:
        clip = read_clip(Path(clips_dir) / entry["clip"])
        clip.extra["name"] = entry["clip"]
        if i3d:
            real_feats.append(i3d(clip.frames))
        for name, gen in methods.items():
            pred = np.asarray(gen(clip))
            if pred.shape != clip.frames.shape:
                raise ValueError(f"method {name!r} returned {pred.shape} for clip {entry['clip']}, expected {clip.frames.shape}")
            row = {"clip": entry["clip"], "psnr": psnr(pred, clip.frames), "ssim": ssim(pred, clip.frames)}
            if lpips:
                row["lpips"] = lpips(pred, clip.frames)
            if i3d:
                feats[name].append(i3d(pred))
            per[name].append(row)
            if len(sheets[name]) < 8:
                sheets[name].append((clip.reference, clip.frames, pred))
    for name in methods:
        rows = per[name]
        summary = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "lpips") if k in rows[0]}
        summary.setdefault("lpips", None)
        summary["fvd"] = frechet_distance(np.stack(feats[name]), np.stack(real_feats)) if i3d and len(rows) > 1 else None
        summary["per_clip"] = rows
        report["methods"][name] = summary
        sheet = contact_sheet(sheets[name], sheet_frames)
        cv2.imwrite(str(out / f"contact_{name}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    (out / "report.json").write_text(json.dumps(report, indent=2, default=_json_number), encoding="utf-8")
    (out / "report.md").write_text(markdown_report(report), encoding="utf-8")
    return report


def _json_number(x: object) -> object:
    return str(x)


def _fmt(v: float | None, digits: int) -> str:
    if v is None:
        return "n/a"
    return "inf" if math.isinf(v) else f"{v:.{digits}f}"


def markdown_report(report: dict) -> str:
    """The markdown table of a report from :func:`evaluate`."""
    lines = [f"# Evaluation on {len(report['clips'])} clips (split: {report['split'] or 'all'})", "",
             f"LPIPS: {report['lpips']}. FVD: {report['fvd']}.", "",
             "| method | PSNR ↑ | SSIM ↑ | LPIPS ↓ | FVD ↓ |", "|---|---|---|---|---|"]  # fmt: skip
    for name, m in report["methods"].items():
        lines.append(f"| {name} | {_fmt(m['psnr'], 2)} | {_fmt(m['ssim'], 3)} | {_fmt(m['lpips'], 3)} | {_fmt(m['fvd'], 1)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m trainer evaluate", description="Score predictions on held-out clips.")
    p.add_argument("--clips", required=True, help="dataset folder with manifest.jsonl")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--split", default="test", help="manifest split, or 'all'")
    p.add_argument("--baseline", action="append", default=[], choices=sorted(BASELINES), help="built-in baseline")
    p.add_argument("--predictions", action="append", default=[], metavar="NAME=DIR",
                   help="a folder of predicted videos (<clip stem>.npz with 'frames', or .mp4)")
    p.add_argument("--i3d", default=None, help="I3D TorchScript file for FVD (not computed without it)")
    p.add_argument("--max-clips", type=int, default=None)
    args = p.parse_args(argv)
    methods: dict[str, Generator] = {name: BASELINES[name] for name in args.baseline}
    for item in args.predictions:
        name, sep, folder = item.partition("=")
        if not sep or not name or not Path(folder).is_dir():
            print(f"error: --predictions expects NAME=DIR with an existing folder, got {item!r}", file=sys.stderr)
            return 2
        methods[name] = predictions_from_folder(folder)
    if not methods:
        methods = dict(BASELINES)
    report = evaluate(args.clips, methods, args.out, None if args.split == "all" else args.split, args.max_clips, args.i3d)
    print(markdown_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
