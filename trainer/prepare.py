"""Raw videos -> training clips (``python -m trainer.prepare VIDEO... --out DIR``).

Per video: frames are decoded in chunks (:func:`mimo_core.video_io.iter_video_frames`, memory bounded
by one window), centre-cropped to a square and resized to ``--size`` (768 by default, the MIMO
setting), sampled every ``--stride`` source frames (4) and cut into windows of ``--frames`` (24)
sampled frames, a new window every ``--hop`` sampled frames (default: ``--frames``, no overlap).

Per window, with the pack's own preprocessing:

1. the person is tracked (:func:`~mimo_core.preprocess.track_person`, MediaPipe);
2. Anny is fitted to the tracked landmarks (:func:`~mimo_core.body.fit_motion`) and the posed body is
   rendered with the canonical pose colour table (:func:`~mimo_core.pose_condition.render_pose_video`,
   the table of :func:`trainer.synthetic.canonical_pose_colours`);
3. layers: :func:`~mimo_core.preprocess.split_layers` without depth, with the rendered body silhouette
   as evidence of occlusion (hidden body parts covered by something = occluder). Without a body
   silhouette there is no evidence and the occlusion mask is empty;
4. the scene is inpainted where the person and occluders were (:func:`~mimo_core.preprocess.inpaint_video`,
   holes dilated by ``--hole-dilate`` of the size);
5. reference: the frame where the person is largest, cut out on white
   (:func:`~mimo_core.preprocess.prepare_reference`).

Windows are rejected (and counted by reason): ``too short`` (the video's tail), ``no person`` (found in
fewer than ``--min-found`` of the frames), ``person too small`` (median box height below
``--min-person-height`` of the frame), ``static clip`` (mean landmark motion per frame below
``--min-motion`` of the person's height), ``body fit failed`` / ``bad body fit`` (reprojection error
above ``--max-fit-error`` of the person's height) and ``no reference``.

Resumable and idempotent: clip names are deterministic (video stem, a digest of the settings, start
frame); a window whose clip file exists, or that is listed in ``rejected.jsonl``, is skipped. Clips
are written atomically (:func:`trainer.data.clips.write_clip`), so a killed run leaves no partial
clip under a final name. A summary goes to ``prepare_report.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from trainer.data.clips import Clip, append_manifest, read_manifest, write_clip

REJECTED = "rejected.jsonl"
REPORT = "prepare_report.json"


@dataclass
class PrepareConfig:
    """Settings of :func:`prepare_videos` (see the module doc)."""

    size: int = 768
    frames: int = 24
    stride: int = 4
    hop: int | None = None  # sampled frames between window starts; None = ``frames``
    start: int = 0  # first source frame used
    max_windows: int | None = None  # per video
    reference_size: int | None = None  # None = ``size``
    min_found: float = 0.8
    min_person_height: float = 0.2
    min_motion: float = 0.002
    fit_iterations: int = 150
    max_fit_error: float = 0.1
    hole_dilate: float = 0.01
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    chunk_size: int = 16

    def __post_init__(self) -> None:
        if self.size < 16 or self.frames < 1 or self.stride < 1:
            raise ValueError(f"need size >= 16, frames >= 1, stride >= 1; got {self.size}, {self.frames}, {self.stride}")
        if self.hop is not None and self.hop < 1:
            raise ValueError(f"hop must be >= 1 sampled frames, got {self.hop}")

    @property
    def window_hop(self) -> int:
        return self.hop or self.frames

    def digest(self) -> str:
        """8 hex digits identifying the settings that change a clip's content."""
        ignored = ("max_windows", "chunk_size", "val_fraction", "test_fraction", "start")
        key = {k: v for k, v in asdict(self).items() if k not in ignored}
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def clip_name(video: Path, start: int, config: PrepareConfig) -> str:
    """Deterministic clip file name of the window starting at source frame ``start``."""
    return f"{video.stem}_{config.digest()}_{start:06d}.npz"


def video_split(video: Path, config: PrepareConfig) -> str:
    """Split of every clip of ``video`` (by video, so no scene leaks between splits)."""
    u = int(hashlib.sha1(video.name.encode()).hexdigest()[:8], 16) / 2**32
    if u < config.test_fraction:
        return "test"
    return "val" if u < config.test_fraction + config.val_fraction else "train"


def centre_square(frames: np.ndarray, size: int) -> np.ndarray:
    """``[T,H,W,3]`` float -> ``[T,size,size,3]`` float32: centre crop to a square, then resize."""
    t, h, w = frames.shape[:3]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = frames[:, y0:y0 + side, x0:x0 + side]
    if side == size:
        return np.ascontiguousarray(crop, np.float32)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return np.stack([np.clip(cv2.resize(f, (size, size), interpolation=interp), 0, 1) for f in crop]).astype(np.float32)


def iter_windows(video: Path, config: PrepareConfig) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start source frame, frames [T,S,S,3] float32 0..1)``; the tail may be shorter than ``frames``."""
    from mimo_core.video_io import iter_video_frames, probe_video

    info = probe_video(video)
    short, long = min(info.width, info.height), max(info.width, info.height)
    max_side = math.ceil(config.size * long / short) if short > config.size else None
    buffer: list[np.ndarray] = []
    first = 0  # sampled index of buffer[0], counted from ``config.start``
    emitted = 0
    for chunk in iter_video_frames(
        video, chunk_size=config.chunk_size, max_side=max_side, start=config.start, stride=config.stride
    ):
        buffer.extend(centre_square(chunk, config.size))
        while len(buffer) >= config.frames:
            yield config.start + first * config.stride, np.stack(buffer[: config.frames])
            emitted += 1
            if config.max_windows is not None and emitted >= config.max_windows:
                return
            drop = min(config.window_hop, len(buffer))
            buffer = buffer[drop:]
            first += drop
    if buffer:
        yield config.start + first * config.stride, np.stack(buffer)


def _motion_score(landmarks: np.ndarray, heights: np.ndarray) -> float:
    """Mean landmark displacement per frame divided by the person's median height (NaN-safe)."""
    xy = landmarks[..., :2]
    vis = landmarks[..., 3] > 0.5
    d = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    ok = vis[1:] & vis[:-1] & np.isfinite(d)
    if not ok.any():
        return 0.0
    return float(d[ok].mean() / max(float(np.nanmedian(heights)), 1.0))


class WindowRejected(Exception):
    """A window that does not become a clip; ``reason`` is one of the counted reasons."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def prepare_window(frames: np.ndarray, fps: float, config: PrepareConfig, detector, body_model) -> Clip:  # noqa: ANN001
    """One window -> :class:`Clip`, or :class:`WindowRejected`.

    Args:
        frames: ``[T,S,S,3]`` float32 0..1 (``T == config.frames``).
        fps: frame rate of the sampled frames.
        detector: a reusable :class:`~mimo_core.preprocess.MediaPipePersonDetector`.
        body_model: the Anny body model.
    """
    import torch

    from mimo_core.body import fit_motion
    from mimo_core.pose_condition import render_pose_video
    from mimo_core.preprocess import inpaint_video, prepare_reference, split_layers, track_person
    from mimo_core.raster import full_frame_camera
    from trainer.synthetic import canonical_pose_colours

    t, s = frames.shape[0], frames.shape[1]
    if t < config.frames:
        raise WindowRejected("too short", f"{t} < {config.frames} frames")
    track = track_person(frames, detector=detector)
    if track.found_fraction < config.min_found:
        raise WindowRejected("no person", f"found in {track.found_fraction:.0%} of the frames")
    heights = track.boxes[:, 3] - track.boxes[:, 1]
    if float(np.nanmedian(heights)) < config.min_person_height * s:
        raise WindowRejected("person too small", f"median height {np.nanmedian(heights):.0f} px")
    motion_score = _motion_score(track.landmarks, heights)
    if motion_score < config.min_motion:
        raise WindowRejected("static clip", f"motion {motion_score:.4f}")
    try:
        motion = fit_motion(track.landmarks[..., [0, 1, 3]], track.world_landmarks, (s, s), body_model,
                            iterations=config.fit_iterations, fps=fps)  # fmt: skip
    except (ValueError, RuntimeError) as exc:
        raise WindowRejected("body fit failed", str(exc)) from exc
    error = float(motion.info.get("reprojection_error_px", "nan"))
    if not error <= config.max_fit_error * float(np.nanmedian(heights)):
        raise WindowRejected("bad body fit", f"reprojection error {error:.1f} px, person {np.nanmedian(heights):.0f} px")
    with torch.no_grad():
        verts = motion.vertices(body_model)
    camera = full_frame_camera(s, s)
    pose, silhouette = render_pose_video(verts, body_model.faces, canonical_pose_colours(body_model), camera)
    layers = split_layers(frames, track.masks, body_silhouette=silhouette.numpy())
    holes = (layers.scene_mask < 0.5).astype(np.uint8)
    k = max(1, int(round(config.hole_dilate * s)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    holes = np.stack([cv2.dilate(h, kernel) for h in holes]).astype(np.float32)
    scene = inpaint_video(frames, holes)
    best = int(np.argmax(track.masks.reshape(t, -1).sum(1)))
    ref_size = config.reference_size or s
    try:
        ref, ref_mask = prepare_reference(frames[best], size=(ref_size, ref_size), detector=detector)
    except ValueError as exc:
        raise WindowRejected("no reference", str(exc)) from exc
    u8 = _to_u8
    cam = np.tile(np.array([[camera.fx, camera.fy, camera.cx, camera.cy]], np.float32), (t, 1))
    return Clip(
        frames=u8(frames), person_mask=u8(layers.person_mask), occlusion_mask=u8(layers.occlusion_mask),
        scene=u8(scene), pose=u8(pose.numpy()), reference=u8(ref), reference_mask=u8(ref_mask), fps=float(fps),
        body_model=body_model.name, vertices=verts.numpy().astype(np.float16), camera=cam,
        extra={"fit_error_px": round(error, 3), "motion_score": round(motion_score, 5),
               "reference_frame": best, "found_fraction": round(track.found_fraction, 3)},
    )  # fmt: skip


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _read_rejected(root: Path) -> dict[str, str]:
    path = root / REJECTED
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                out[entry["clip"]] = entry["reason"]
            except (json.JSONDecodeError, KeyError):
                continue
    return out


def _append_jsonl(path: Path, entry: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def prepare_videos(
    videos: list[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: PrepareConfig | None = None,
    body_model=None,  # noqa: ANN001
    log=None,  # noqa: ANN001
) -> dict:
    """Turn ``videos`` into clips in ``out_dir`` (see the module doc).

    Returns:
        the report: ``{"written": n, "skipped": n, "rejected": {reason: n}, "seconds": s, ...}``, also written
        to ``out_dir/prepare_report.json``.
    """
    from mimo_core.preprocess import MediaPipePersonDetector
    from mimo_core.video_io import probe_video

    cfg = config or PrepareConfig()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    listed = {e["clip"] for e in read_manifest(root)}
    rejected_before = _read_rejected(root)
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    start_time = time.perf_counter()
    detector = None
    body = body_model
    try:
        for video in (Path(v) for v in videos):
            fps = probe_video(video).fps / cfg.stride
            split = video_split(video, cfg)
            for start, window in iter_windows(video, cfg):
                name = clip_name(video, start, cfg)
                if (root / name).exists() or name in rejected_before:
                    counts["skipped"] += 1
                    if name in rejected_before:
                        reasons[rejected_before[name]] += 1
                    elif name not in listed:  # file written but manifest line lost: restore it
                        append_manifest(root, _entry(name, window, video, split, start, cfg, {}))
                    continue
                if detector is None:
                    detector = MediaPipePersonDetector()
                if body is None:
                    from trainer.synthetic import default_body_model

                    body = default_body_model()
                try:
                    clip = prepare_window(window, fps, cfg, detector, body)
                except WindowRejected as exc:
                    reasons[exc.reason] += 1
                    counts["rejected"] += 1
                    _append_jsonl(root / REJECTED, {"clip": name, "reason": exc.reason, "detail": str(exc)})
                    if log:
                        log(f"{name}: rejected ({exc})")
                    continue
                write_clip(clip, root / name)
                append_manifest(root, _entry(name, window, video, split, start, cfg, clip.extra))
                counts["written"] += 1
                if log:
                    log(f"{name}: written")
    finally:
        if detector is not None:
            detector.close()
    report = {
        "written": counts["written"], "skipped": counts["skipped"], "rejected_now": counts["rejected"],
        "rejected": dict(sorted(reasons.items())), "seconds": round(time.perf_counter() - start_time, 2),
        "config": asdict(cfg), "clips_in_manifest": len(read_manifest(root)),
    }  # fmt: skip
    (root / REPORT).write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    return report


def _entry(name: str, window: np.ndarray, video: Path, split: str, start: int, cfg: PrepareConfig, extra: dict) -> dict:
    return {"clip": name, "frames": int(window.shape[0]), "height": int(window.shape[1]),
            "width": int(window.shape[2]), "source": video.name, "split": split, "start_frame": start,
            "stride": cfg.stride, **extra}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer prepare", description="Raw videos -> MIMO training clips.")
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("--out", required=True, help="dataset folder (clips, manifest.jsonl, reports)")
    d = PrepareConfig()
    p.add_argument("--size", type=int, default=d.size, help="square clip size in pixels")
    p.add_argument("--frames", type=int, default=d.frames, help="frames per clip")
    p.add_argument("--stride", type=int, default=d.stride, help="keep every N-th source frame")
    p.add_argument("--hop", type=int, default=None, help="sampled frames between window starts (default: --frames)")
    p.add_argument("--start", type=int, default=0, help="first source frame to use")
    p.add_argument("--max-windows", type=int, default=None, help="at most this many windows per video")
    p.add_argument("--reference-size", type=int, default=None, help="reference image size (default: --size)")
    p.add_argument("--min-found", type=float, default=d.min_found)
    p.add_argument("--min-person-height", type=float, default=d.min_person_height)
    p.add_argument("--min-motion", type=float, default=d.min_motion)
    p.add_argument("--fit-iterations", type=int, default=d.fit_iterations)
    p.add_argument("--max-fit-error", type=float, default=d.max_fit_error)
    p.add_argument("--hole-dilate", type=float, default=d.hole_dilate)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--test-fraction", type=float, default=d.test_fraction)
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    missing = [v for v in args.videos if not Path(v).is_file()]
    if missing:
        print(f"error: video file(s) not found: {missing}", file=sys.stderr)
        return 2
    cfg = PrepareConfig(
        size=args.size, frames=args.frames, stride=args.stride, hop=args.hop, start=args.start, max_windows=args.max_windows,
        reference_size=args.reference_size, min_found=args.min_found, min_person_height=args.min_person_height,
        min_motion=args.min_motion, fit_iterations=args.fit_iterations, max_fit_error=args.max_fit_error,
        hole_dilate=args.hole_dilate, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
    )  # fmt: skip
    report = prepare_videos(args.videos, args.out, cfg, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
