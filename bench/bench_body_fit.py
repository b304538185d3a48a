"""Fit Anny to MediaPipe Pose landmarks on a few frames of the real sample clip; print px error and s/frame.

Usage: .venv/bin/python bench/bench_body_fit.py [--frames 24] [--iterations 200]
Reads $MIMO_MEDIA_DIR/demo.mp4 (default <repo>/.cache/media).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def mediapipe_landmarks(video: Path, frames: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``[T,33,3]`` (x px, y px, visibility) and ``[T,33,3]`` world landmarks (NaN where no person)."""
    import cv2
    import mediapipe as mp

    cap = cv2.VideoCapture(str(video))
    lm2d, lm3d, size = [], [], (0, 0)
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        while len(lm2d) < frames:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            size = (w, h)
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None or res.pose_world_landmarks is None:
                lm2d.append(np.full((33, 3), np.nan))
                lm3d.append(np.full((33, 3), np.nan))
                continue
            lm2d.append([[p.x * w, p.y * h, p.visibility] for p in res.pose_landmarks.landmark])
            lm3d.append([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark])
    cap.release()
    return np.asarray(lm2d, dtype=np.float64), np.asarray(lm3d, dtype=np.float64), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    media = Path(os.environ.get("MIMO_MEDIA_DIR", REPO / ".cache" / "media"))
    video = media / "demo.mp4"
    if not video.is_file():
        print(f"sample clip not found: {video}")
        return 1
    from mimo_core.body import AnnyBody, fit_motion

    lm2d, lm3d, size = mediapipe_landmarks(video, args.frames)
    body = AnnyBody()
    start = time.perf_counter()
    motion = fit_motion(lm2d, lm3d, size, body, iterations=args.iterations, fps=30.0)
    seconds = time.perf_counter() - start
    print(f"frames={motion.num_frames} image={size} missing={motion.info['missing_frames']}")
    print(f"reprojection error: {float(motion.info['reprojection_error_px']):.2f} px (image {max(size)} px wide)")
    print(f"fit time: {seconds / motion.num_frames:.3f} s/frame ({seconds:.1f} s total)")
    print(f"shape: {dict(zip(body.shape_names, [round(float(v), 3) for v in motion.shape], strict=True))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
