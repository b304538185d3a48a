"""`make demo`: replaces the person in the sample clip with the astronaut, through a real, headless
ComfyUI server on CPU.

Uses only what ships: MediaPipe, the Anny body model, the pack's own code and the pack's default
MIMO model (``models/mimo-default``, made by `make default-model`). Runs the character-replacement
workflow (scripts/workflow_specs.py) on 48 frames: the clip is analysed at 512 pixels, the character
is generated on a square crop around the person at the model's resolution in each context window and
pasted back at 512 pixels. Writes the result video and a side-by-side video (input | person layer |
pose | result) under output/mimo_demo/.

Environment overrides: MIMO_DEMO_FRAMES (48), MIMO_DEMO_STEPS (the model's default or 25).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.workflow_specs import DEFAULT_MODEL, character_replacement  # noqa: E402
from tests.harness.comfy import ComfyServer  # noqa: E402
from tests.harness.paths import media  # noqa: E402

MODELS = REPO / "models"
CARD_FILES = ("mimo_model.json", "pipeline.json")


def model_settings(folder: Path) -> dict:
    """Resolution, window and steps from the model's card (with defaults for what it does not say)."""
    settings = {"resolution": 256, "window": 24, "steps": 25}
    for name in reversed(CARD_FILES):
        path = folder / name
        if path.is_file():
            card = json.loads(path.read_text())
            if card.get("resolution"):
                settings["resolution"] = int(card["resolution"])
            if card.get("frames", 1) > 1:
                settings["window"] = min(24, int(card["frames"]))
            steps = card.get("sampler", {}).get("steps") if isinstance(card.get("sampler"), dict) else None
            if steps:
                settings["steps"] = int(steps)
    unet = folder / "video_unet.safetensors"
    if unet.is_file():  # the motion modules' frame table bounds the context window
        from safetensors import safe_open

        with safe_open(str(unet), "pt") as f:
            config = json.loads((f.metadata() or {}).get("config", "{}"))
        max_frames = config.get("motion", {}).get("max_frames")
        if max_frames:
            settings["window"] = min(settings["window"], int(max_frames))
    settings["steps"] = int(os.environ.get("MIMO_DEMO_STEPS", settings["steps"]))
    return settings


# people are found, fitted and composited at this size; the person crops are generated at the model's
# own resolution
ANALYSIS_SIDE = 512


def main() -> int:
    model_dir = MODELS / DEFAULT_MODEL
    if not (model_dir / "pipeline.json").is_file():
        print(f"[demo] the default MIMO model is missing: {model_dir / 'pipeline.json'} does not exist.\n"
              "[demo] build it first with `make default-model`, then run `make demo` again.", file=sys.stderr)
        return 2
    settings = model_settings(model_dir)
    frames = int(os.environ.get("MIMO_DEMO_FRAMES", 48))
    out_dir = REPO / "output"
    out_dir.mkdir(exist_ok=True)
    prompt = character_replacement(
        "demo.mp4", "astronaut.png", model=DEFAULT_MODEL, prefix="mimo_demo/replace",
        max_side=ANALYSIS_SIDE, frame_stride=2, max_frames=frames, steps=settings["steps"],
        ref_size=(settings["resolution"], settings["resolution"]), crop_size=settings["resolution"],
    )
    for node in prompt.values():
        if node["class_type"] == "MimoGenerate":
            node["inputs"].update(window=settings["window"], overlap=min(4, settings["window"] - 1))
    print(f"[demo] {frames} frames, longest side {ANALYSIS_SIDE} px, person crops {settings['resolution']} px, "
          f"{settings['steps']} steps, window {settings['window']}", flush=True)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="mimo-demo-") as tmp:
        server = ComfyServer(Path(tmp), output_dir=out_dir,
                             extra_model_paths={"mimo": ["mimo", str(MODELS)]})
        print("[demo] starting ComfyUI (headless, CPU) ...", flush=True)
        server.start()
        try:
            for name in ("demo.mp4", "astronaut.png"):
                shutil.copy(media(name), server.input_dir / name)
            print("[demo] replacing the person in the sample clip with the astronaut ...", flush=True)
            start = time.monotonic()
            result = server.run(prompt, timeout=3600)
            if result.status != "success":
                print(f"[demo] failed: {result.describe()}\n{server.log_tail()}", file=sys.stderr)
                return 1
            print(f"[demo] done in {time.monotonic() - start:.0f} s", flush=True)
        finally:
            server.stop()
    written = sorted(p for p in (out_dir / "mimo_demo").rglob("*.mp4") if p.stat().st_mtime >= started - 1)
    for path in written:
        print(f"[demo] wrote {path}")
    return 0 if len(written) >= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
