"""`make demo`: the main job on the bundled default models and the real sample clip, on CPU.

Runs the pack's preprocessing on the sample clip and writes the results under output/.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    from mimo_core.demo import run_demo

    outputs = run_demo(media_dir=REPO / ".cache" / "media", out_dir=REPO / "output")
    for path in outputs:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
