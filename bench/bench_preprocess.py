"""Measure the default (MediaPipe, CPU) preprocessing on the real sample clip.

Usage:
    .venv/bin/python bench/bench_preprocess.py [--max-side 512] [--figures docs/images]
        [--skip-fit] [--skip-memory | --memory-only] [--compare-single-image]

Reads $MIMO_MEDIA_DIR/demo.mp4 (default <repo>/.cache/media). The clip has two people:
a man standing on a box from frame 0 who jumps down behind it (hidden by the box,
then running behind a tree), and a woman who walks in from the right, fully in
view from about frame 80 until she leaves on the left near frame 196. Prints:

1. tracking, one run per person: (a) the woman over her in-view frames
   [--woman-start, --woman-end) -- the "person found" figure; (b) the whole clip
   from frame 0 with ``select="largest"`` (the man), with the lost frame ranges:
   frames of his flip off the box where he is too hidden or blurred to be found,
   and where he leaves past the tree, which the tracker reports as lost instead
   of switching to the woman;
2. throughput of mask + landmarks + tracking (decoded frames in memory, so
   decoding is not counted; the full-frame mask paste is counted) in wall ms and
   process CPU ms per frame, next to MediaPipe's video graph alone on the same
   frames in the same process (the reference for a shared, busy machine);
3. the body fit (``estimate_motion``) of the woman's track: seconds per frame and
   the median 2D error of the fitted body's landmarks (projected with the
   motion's camera) against the detected keypoints, as % of the person's box height;
4. peak memory (ru_maxrss and VmHWM) of ``preprocess_video_stream`` on the first
   30 frames and on the whole clip, each in its own subprocess (measured first).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mimo_core.preprocess.mediapipe_backend import MediaPipePersonDetector, _pose_graph, default_num_threads  # noqa: E402
from mimo_core.preprocess.tracking import (  # noqa: E402
    PersonTracker,
    empty_track,
    fill_track_frame,
    recover_lost_frames,
    refine_masks,
)
from mimo_core.video_io import probe_video, read_video  # noqa: E402


def _ranges(idx: list[int]) -> str:
    """[3,4,5,9] -> '3-5, 9'."""
    out, start = [], None
    for k, i in enumerate(idx):
        if start is None:
            start = i
        if k + 1 == len(idx) or idx[k + 1] != i + 1:
            out.append(f"{start}-{i}" if i > start else f"{i}")
            start = None
    return ", ".join(out) or "none"


def run_tracker(frames: np.ndarray, threads: int | None = None, **kwargs) -> tuple:  # noqa: ANN003
    """Track through uint8 ``frames``; returns (PersonTrack, wall s, cpu s, start-up wall s).

    The times cover every frame after the first and the second look at lost frames
    (:meth:`PersonTracker.search_every_frame` when nobody was found,
    :func:`recover_lost_frames`) and the masks' edge refinement
    (:func:`refine_masks`); the start-up (graphs created, the
    first frame's search for the person over the whole frame and its tiles) is
    returned on its own, as it is paid once per clip.
    """
    t, h, w = frames.shape[:3]
    track = empty_track(t, h, w)
    start = time.perf_counter()
    with (
        MediaPipePersonDetector(num_threads=threads) as detector,
        PersonTracker(detector=detector, **kwargs) as tracker,
    ):
        fill_track_frame(track, 0, tracker.update(frames[0]))
        startup = time.perf_counter() - start
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(1, t):
            fill_track_frame(track, i, tracker.update(frames[i]))
        tracker.search_every_frame(frames, track)
        recover_lost_frames(frames, track, detector, window_scale=tracker.window_scale)
        refine_masks(frames, track)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return track, wall, cpu, startup


def look_separation(frames: np.ndarray, track, every: int = 8) -> dict:  # noqa: ANN001
    """How well clothing colours tell the tracked person from everyone else (re-identification).

    The person's look (:func:`mimo_core.preprocess.appearance.describe`) in the first found
    frame is compared with every person MediaPipe finds over the whole frame, every ``every``
    frames: a candidate whose box overlaps the track's box (IoU > 0.5) is the person, the
    others are someone else.
    """
    from mimo_core.preprocess._arrays import box_iou
    from mimo_core.preprocess.appearance import describe, difference

    lost = set(track.lost_frames)
    found = [i for i in range(len(frames)) if i not in lost]
    ref = None
    same, other = [], []
    with MediaPipePersonDetector() as detector:
        for i in found[::every]:
            box = track.boxes[i]
            if ref is None:
                ref = describe(frames[i], track.masks[i], box)
                continue
            for p in detector.find_people(frames[i]):
                look = describe(frames[i], p.mask, p.box, p.mask_origin)
                if look is not None:
                    (same if box_iou(p.box, box) > 0.5 else other).append(difference(ref, look))
    return {"same": same, "other": other}


def mediapipe_alone(frames: np.ndarray, threads: int) -> tuple[float, float, int]:
    """MediaPipe Pose video graph (segmentation on) on the whole frames: (wall s, cpu s, frames with a person)."""
    import mediapipe as mp

    wall0, cpu0 = time.perf_counter(), time.process_time()  # graph start-up included
    with _pose_graph(
        mp, threads, static_image_mode=False, model_complexity=1, enable_segmentation=True
    ) as pose:
        found = sum(pose.process(f).pose_landmarks is not None for f in frames)
        return time.perf_counter() - wall0, time.process_time() - cpu0, found


def fit_and_reprojection(track, size: tuple[int, int], iterations: int) -> dict:  # noqa: ANN001
    """Fit the body to the track; median landmark error as % of the person's box height."""
    import torch

    from mimo_core.body import AnnyBody
    from mimo_core.body.camera import project_points
    from mimo_core.body.stages import estimate_motion

    body = AnnyBody()
    start = time.perf_counter()
    motion = estimate_motion(track.landmarks, track.world_landmarks, size, body, iterations=iterations)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        lm3 = motion.posed(body, with_vertices=False).landmarks
        proj = project_points(lm3.float(), motion.focal.float(), motion.principal_point.float()).numpy()
    det = track.landmarks[..., :2]
    vis = np.nan_to_num(track.landmarks[..., 3]) >= 0.5
    usable = vis & body.landmark_available.numpy()[None] & motion.observed.numpy()[:, None]
    height = (track.boxes[:, 3] - track.boxes[:, 1])[:, None]
    err = np.linalg.norm(proj - det, axis=-1)
    rel = (err / height)[usable]
    per_frame = [
        float(np.median((err[i] / height[i])[usable[i]])) for i in range(len(err)) if usable[i].any()
    ]
    return {
        "motion": motion,
        "body": body,
        "seconds": seconds,
        "s_per_frame": seconds / motion.num_frames,
        "median_err_pct": 100 * float(np.median(rel)),
        "p90_err_pct": 100 * float(np.percentile(rel, 90)),
        "median_err_px": float(np.median(err[usable])),
        "worst_frame_median_pct": 100 * max(per_frame),
        "points": int(usable.sum()),
        "median_height_px": float(np.nanmedian(height)),
    }


_MEMORY_CHILD = """
import json, resource, sys, tempfile
sys.path.insert(0, {repo!r})
from mimo_core.preprocess.stream import preprocess_video_stream
with tempfile.TemporaryDirectory() as out:
    res = preprocess_video_stream({video!r}, out, chunk_size=32, max_side={max_side}, max_frames={frames})
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print(json.dumps({{"frames": res.frame_count, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "hwm_kb": hwm[0] if hwm else None}}))
"""


def stream_memory(video: Path, max_side: int, frames: int | None) -> dict:
    """Peak memory of one streaming run in a fresh process.

    Both ``ru_maxrss`` and the kernel's ``VmHWM`` are reported: Linux carries
    ``ru_maxrss`` over from the parent at fork, so it is only meaningful while the
    parent is small (this runs before the benchmark loads anything); ``VmHWM``
    belongs to the child's own address space.
    """
    code = _MEMORY_CHILD.format(repo=str(REPO), video=str(video), max_side=max_side, frames=frames)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_figures(out: Path, frames: np.ndarray, track, fit: dict | None, frame: int) -> None:  # noqa: ANN001
    """Mask overlay and (with a fit) body mesh overlay of one frame, as small PNGs."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    # Only the part of the frame around the person (keeps the PNGs small).
    bx0, by0, bx1, by1 = track.boxes[frame]
    half = int(max(by1 - by0, bx1 - bx0))
    cx = int((bx0 + bx1) / 2)
    cx0 = min(max(cx - half, 0), max(frames.shape[2] - 2 * half, 0))
    crop = slice(cx0, cx0 + 2 * half)
    img = frames[frame].astype(np.float32) / 255.0
    m = track.masks[frame][..., None]
    tint = img * (1 - 0.55 * m) + 0.55 * m * np.array([0.1, 0.9, 0.2], np.float32)
    x0, y0, x1, y1 = track.boxes[frame].astype(int)
    vis = (tint * 255).astype(np.uint8).copy()
    cv2.rectangle(vis, (x0, y0), (x1, y1), (255, 255, 0), 1)
    for x, y, _, v in track.landmarks[frame]:
        if v >= 0.5:
            cv2.circle(vis, (int(round(x)), int(round(y))), 2, (255, 0, 0), -1)
    cv2.imwrite(
        str(out / "mask_overlay.png"),
        cv2.cvtColor(vis[:, crop], cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_PNG_COMPRESSION, 9],
    )
    if fit is None:
        return
    from mimo_core.body.stages import render_motion

    motion, body = fit["motion"], fit["body"]
    sub = motion.__class__(**{**motion.__dict__, **{k: getattr(motion, k)[frame : frame + 1] for k in (
        "pose", "global_orient", "transl", "focal", "principal_point", "image_size", "observed")}})  # fmt: skip
    shaded, sil = render_motion(sub, body, mode="normals")
    shaded, sil = shaded[0].numpy(), sil[0].numpy()[..., None]
    mesh = img * (1 - 0.8 * sil) + 0.8 * sil * shaded
    mesh = (np.clip(mesh, 0, 1) * 255).astype(np.uint8)
    cv2.imwrite(
        str(out / "body_overlay.png"),
        cv2.cvtColor(mesh[:, crop], cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_PNG_COMPRESSION, 9],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_clip = Path(os.environ.get("MIMO_MEDIA_DIR", REPO / ".cache" / "media")) / "demo.mp4"
    parser.add_argument("--video", type=Path, default=default_clip)
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--woman-start", type=int, default=80)
    parser.add_argument("--woman-end", type=int, default=196)
    parser.add_argument("--iterations", type=int, default=200, help="body fit iterations")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="MediaPipe inference threads (default: the cores, at most 4)",
    )
    parser.add_argument("--skip-fit", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the peak-memory measurement")
    parser.add_argument(
        "--compare-single-image",
        action="store_true",
        help="also time the tracker without the video graph (video_mode=False)",
    )
    parser.add_argument("--figures", type=Path, default=None, help="write overlay PNGs to this folder")
    parser.add_argument("--figure-frame", type=int, default=130, help="clip frame shown in the figures")
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"sample clip not found: {args.video} (run scripts/setup.sh or set MIMO_MEDIA_DIR)")
    if not args.skip_memory:  # first, while this process is still small (see stream_memory)
        first = stream_memory(args.video, args.max_side, 30)
        whole = stream_memory(args.video, args.max_side, None)
        print(
            f"[memory] preprocess_video_stream, chunk 32, max side {args.max_side}, each in a fresh process: "
            f"first {first['frames']} frames vs whole clip ({whole['frames']} frames): "
            f"ru_maxrss {first['maxrss_kb'] / 1024:.0f} vs {whole['maxrss_kb'] / 1024:.0f} MiB "
            f"({whole['maxrss_kb'] / first['maxrss_kb']:.2f}x), VmHWM {first['hwm_kb'] / 1024:.0f} vs "
            f"{whole['hwm_kb'] / 1024:.0f} MiB ({whole['hwm_kb'] / first['hwm_kb']:.2f}x)\n"
        )
    if args.memory_only:
        return 0
    info = probe_video(args.video)
    clip = read_video(args.video, max_side=args.max_side)
    frames = (clip * 255 + 0.5).astype(np.uint8)
    del clip
    t, h, w = frames.shape[:3]
    print(
        f"clip {args.video.name}: {info.width}x{info.height} @ {info.fps:g} fps, {t} frames, "
        f"processed at {w}x{h}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )

    a, b = args.woman_start, min(args.woman_end, t)
    threads = default_num_threads() if args.threads is None else args.threads
    woman, wall_w, cpu_w, start_w = run_tracker(frames[a:b], threads)
    n_w = b - a
    print(
        f"\n[tracking] woman, frames {a}-{b - 1} (select='largest' at frame {a}): found in "
        f"{n_w - len(woman.lost_frames)}/{n_w} frames ({woman.found_fraction:.1%}); "
        f"lost: {_ranges([a + i for i in woman.lost_frames])}"
    )
    man, wall_m, cpu_m, _ = run_tracker(frames, threads)
    print(
        f"[tracking] whole clip from frame 0 (select='largest' = the man): found in "
        f"{t - len(man.lost_frames)}/{t} frames ({man.found_fraction:.1%}); lost: {_ranges(man.lost_frames)}"
    )

    looks = look_separation(frames[a:b], woman)
    print(
        f"[identity] clothing-colour difference (delta E) from the woman's look at frame {a} (every 8th found "
        f"frame, people found over the whole frame): the woman {min(looks['same']):.1f}-{max(looks['same']):.1f} "
        f"(median {np.median(looks['same']):.1f}, {len(looks['same'])} views), anyone else "
        f"{min(looks['other'], default=np.nan):.1f}-{max(looks['other'], default=np.nan):.1f} "
        f"({len(looks['other'])} views); the tracker takes a person back by their look up to "
        f"{inspect.signature(PersonTracker).parameters['reid_difference'].default:.1f}"
    )

    mp_runs = {n: mediapipe_alone(frames[a:b], n) for n in sorted({1, threads})}
    print(
        f"\n[throughput] mask + landmarks + tracking at {w}x{h}, MediaPipe inference on {threads} thread(s):"
    )
    print(
        f"  woman segment: {1000 * wall_w / (n_w - 1):.1f} ms/frame wall ({(n_w - 1) / wall_w:.1f} frames/s), "
        f"{1000 * cpu_w / (n_w - 1):.1f} ms/frame CPU; start-up (graphs + first search) {start_w:.2f} s once"
    )
    print(
        f"  whole clip:    {1000 * wall_m / (t - 1):.1f} ms/frame wall ({(t - 1) / wall_m:.1f} frames/s), "
        f"{1000 * cpu_m / (t - 1):.1f} ms/frame CPU (includes the loss searches)"
    )
    for n, (mp_wall, mp_cpu, mp_found) in mp_runs.items():
        print(
            f"  MediaPipe video graph alone, whole frame, same frames, {n} thread(s): "
            f"{1000 * mp_wall / n_w:.1f} ms/frame wall ({n_w / mp_wall:.1f} frames/s), "
            f"{1000 * mp_cpu / n_w:.1f} ms/frame CPU ({mp_found}/{n_w} with a person)"
        )
    if args.compare_single_image:
        _, wall_s, cpu_s, _ = run_tracker(frames[a:b], threads, video_mode=False, search_every=3)
        print(
            f"  single-image graph on a crop every frame (video_mode=False): {1000 * wall_s / (n_w - 1):.1f} "
            f"ms/frame wall ({(n_w - 1) / wall_s:.1f} frames/s), {1000 * cpu_s / (n_w - 1):.1f} ms/frame CPU"
        )
    print(f"  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    fit = None
    if not args.skip_fit:
        fit = fit_and_reprojection(woman, (w, h), args.iterations)
        print(
            f"\n[body fit] Anny, {args.iterations} iterations, {n_w} frames: {fit['s_per_frame']:.3f} s/frame "
            f"({fit['seconds']:.1f} s)"
        )
        print(
            f"  2D error of fitted landmarks vs detected keypoints (visibility >= 0.5, {fit['points']} points): "
            f"median {fit['median_err_pct']:.2f}% of person height ({fit['median_err_px']:.2f} px, "
            f"height ~{fit['median_height_px']:.0f} px), p90 {fit['p90_err_pct']:.2f}%, "
            f"worst frame median {fit['worst_frame_median_pct']:.2f}%"
        )

    if args.figures is not None:
        k = min(max(args.figure_frame - a, 0), n_w - 1)
        write_figures(args.figures, frames[a:b], woman, fit, k)
        print(f"\nfigures (clip frame {a + k}) written to {args.figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
