"""Time the default (MediaPipe, CPU) person tracker on the sample clip.

Usage: python bench/bench_preprocess.py [--max-side 640] [--frames N] [--select largest]
Prints ms/frame and the fraction of frames in which the tracked person was found.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mimo_core.preprocess.tracking import PersonTracker  # noqa: E402
from mimo_core.video_io import iter_video_frames, probe_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_clip = Path(os.environ.get("MIMO_MEDIA_DIR", REPO / ".cache" / "media")) / "demo.mp4"
    parser.add_argument("--video", type=Path, default=default_clip)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--select", default="largest")
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"sample clip not found: {args.video} (run scripts/setup.sh or set MIMO_MEDIA_DIR)")
    select = int(args.select) if args.select.isdigit() else args.select
    info = probe_video(args.video)
    n = found = 0
    decode_s = track_s = 0.0
    with PersonTracker(select=select) as tracker:
        t0 = time.perf_counter()
        for chunk in iter_video_frames(args.video, 16, args.max_side, args.start, 1, args.frames):
            t1 = time.perf_counter()
            decode_s += t1 - t0
            for frame in chunk:
                found += tracker.update((frame * 255 + 0.5).astype("uint8")) is not None
                n += 1
            t0 = time.perf_counter()
            track_s += t0 - t1
    print(f"clip {args.video.name}: {info.width}x{info.height} @ {info.fps:g} fps, {n} frames, max side {args.max_side}")
    print(f"decode+resize: {1000 * decode_s / max(n, 1):.1f} ms/frame")
    print(f"tracking:      {1000 * track_s / max(n, 1):.1f} ms/frame")
    print(f"person found in {found}/{n} frames ({found / max(n, 1):.1%})")


if __name__ == "__main__":
    main()
