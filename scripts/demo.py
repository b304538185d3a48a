"""`make demo`: runs the pack's main job through a real, headless ComfyUI server on CPU.

Uses only what ships (MediaPipe, the pack's own code) and the real sample clip; the
results are written under output/ and their paths printed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.workflow_specs import preprocess_preview  # noqa: E402
from tests.harness.comfy import ComfyServer  # noqa: E402
from tests.harness.paths import media  # noqa: E402


def main() -> int:
    out_dir = REPO / "output"
    out_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mimo-demo-") as tmp:
        server = ComfyServer(Path(tmp), output_dir=out_dir)
        print("[demo] starting ComfyUI (headless, CPU) ...", flush=True)
        server.start()
        try:
            shutil.copy(media("demo.mp4"), server.input_dir / "demo.mp4")
            prompt = preprocess_preview("demo.mp4", prefix="mimo_demo/preprocess")
            print("[demo] running the preprocessing workflow on the sample clip ...", flush=True)
            start = time.monotonic()
            result = server.run(prompt, timeout=3600)
            if result.status != "success":
                print(f"[demo] failed: {result.error}\n{server.log_tail()}", file=sys.stderr)
                return 1
            print(f"[demo] done in {time.monotonic() - start:.0f} s", flush=True)
        finally:
            server.stop()
    written = sorted(p for p in (out_dir / "mimo_demo").rglob("*") if p.is_file())
    for path in written:
        print(f"[demo] wrote {path}")
    return 0 if written else 1


if __name__ == "__main__":
    raise SystemExit(main())
