"""The shipped default model, end to end (``python -m trainer.default_model --out models/mimo-default``).

One command, CPU only, within ``--minutes`` (wall clock, 2 threads):

1. **data** - synthetic clips (:func:`trainer.synthetic.generate_dataset`, 64x64, 8 frames; every clip has
   its own seed, so the test split holds characters, clothing, motions, backgrounds and occluders never
   seen in training) plus clips of the real sample video (:func:`trainer.prepare.prepare_videos` at 256 px,
   resized to 64 px, training split only);
2. **VAE** - :mod:`trainer.vae_pretrain` (4x downsampling, 4 latent channels; 16x16 latents);
3. **stage 1** - :func:`trainer.train.train` with ``trainer/configs/default_stage1.yaml`` (ReferenceNet,
   UNet, PoseGuider on frame pairs), in chunks of ``checkpoint_every`` steps resumed from the last
   checkpoint until its time share is spent (resuming is exact, so the chunks equal one run);
4. **no-pose control** - the same network and config trained on a copy of the training clips whose pose
   videos are blank (the "trained without pose input" baseline), with its own time share;
5. **stage 2** - motion modules on 8-frame windows (``default_stage2.yaml``), short;
6. **export** - :mod:`trainer.export_pipeline` to ``--out`` (the pipeline format of ``MimoLoadPipeline``);
7. **evaluation** - :func:`trainer.evaluate.evaluate` on the held-out synthetic test clips: the model vs
   (a) :func:`trainer.baselines.paste_reference` and (b) the no-pose network; ``docs/default_model.md``
   gets the table, the settings and the time taken, ``docs/default_model/`` the contact sheets.

Every stage skips work that is already done (dataset files, the VAE file, checkpoints), so a re-run with the
same ``--work`` folder continues where the last one stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from trainer.data.clips import append_manifest, read_clip, read_manifest, write_clip

logger = logging.getLogger("trainer.default_model")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
DEMO_VIDEO = REPO / ".cache" / "media" / "demo.mp4"
SIZE = 64
FRAMES = 8
DATA_SEED = 2024
SPLITS = (0.80, 0.08, 0.12)
#: shares of the time budget (the rest: data, export, evaluation)
SHARES = {"vae": 0.15, "stage1": 0.33, "nopose": 0.15, "stage2": 0.06, "decoder": 0.12}
EVAL_STEPS = 20
EVAL_GUIDANCE = 2.0
#: paste-back margins tried on the validation split
GROWS = (0, 1, 2, 3)


class Clock:
    """Wall-clock budget of the whole recipe."""

    def __init__(self, minutes: float, record: Path | None = None) -> None:
        self.start = time.perf_counter()
        self.budget = minutes * 60.0
        self.file = record
        self.times: dict[str, float] = json.loads(record.read_text()) if record and record.is_file() else {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget - self.elapsed()

    def record(self, name: str, since: float) -> None:
        """Time of stage ``name``, added up over invocations (a re-run skipping a finished stage adds nothing)."""
        seconds = round(time.perf_counter() - since, 1)
        if seconds >= 1.0 or name not in self.times:
            self.times[name] = round(self.times.get(name, 0.0) + seconds, 1)
        if self.file is not None:
            self.file.write_text(json.dumps(self.times, indent=2))
        logger.info("%s done in %.1f s (%.1f min of %.1f used)", name, self.times[name], self.elapsed() / 60,
                    self.budget / 60)


# ---- data ---------------------------------------------------------------------------------------------------
def _resize_clip(clip: Any, size: int) -> Any:
    def video(a: np.ndarray) -> np.ndarray:
        return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in a])

    clip.frames, clip.scene, clip.pose = video(clip.frames), video(clip.scene), video(clip.pose)
    clip.person_mask, clip.occlusion_mask = video(clip.person_mask), video(clip.occlusion_mask)
    clip.reference = cv2.resize(clip.reference, (size, size), interpolation=cv2.INTER_AREA)
    clip.reference_mask = cv2.resize(clip.reference_mask, (size, size), interpolation=cv2.INTER_AREA)
    clip.vertices = clip.camera = None  # not used by training; the camera would need rescaling
    return clip


def add_real_clips(data_dir: Path, real_dir: Path, video: Path, windows: int) -> int:
    """Prepare ``windows`` clips of ``video`` at 256 px and add them, resized, to the training split."""
    from trainer.prepare import PrepareConfig, prepare_videos

    if not video.is_file():
        logger.warning("real sample video %s not found: training on synthetic clips only", video)
        return 0
    config = PrepareConfig(size=256, frames=FRAMES, stride=2, hop=FRAMES, max_windows=windows,
                           val_fraction=0.0, test_fraction=0.0)
    prepare_videos([video], real_dir, config)
    listed = {e["clip"] for e in read_manifest(data_dir)}
    added = 0
    for entry in read_manifest(real_dir):
        name = "real_" + entry["clip"]
        if name not in listed:
            if not (data_dir / name).exists():
                write_clip(_resize_clip(read_clip(real_dir / entry["clip"]), SIZE), data_dir / name)
            append_manifest(data_dir, {"clip": name, "frames": entry["frames"], "height": SIZE, "width": SIZE,
                                       "source": "real:" + str(entry.get("source", video.name)),
                                       "split": "train"})
        added += 1
    return added


def blank_pose_copy(data_dir: Path, out_dir: Path) -> Path:
    """The training clips of ``data_dir`` with all-zero pose videos (the no-pose control's data)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    listed = {e["clip"] for e in read_manifest(out_dir)}
    for entry in read_manifest(data_dir, "train"):
        if entry["clip"] in listed:
            continue
        if not (out_dir / entry["clip"]).exists():
            clip = read_clip(data_dir / entry["clip"])
            clip.pose = np.zeros_like(clip.pose)
            write_clip(clip, out_dir / entry["clip"])
        append_manifest(out_dir, entry)
    return out_dir


# ---- training in timed chunks ----------------------------------------------------------------------------------
def train_for(config_file: Path, overrides: dict[str, Any], seconds: float, max_steps: int) -> dict[str, Any]:
    """Train in chunks of ``checkpoint_every`` steps (each resumed from the last checkpoint) until the next
    chunk would not fit in ``seconds`` or ``max_steps`` is reached; returns steps, seconds, export folder."""
    from trainer.checkpointing import list_checkpoints
    from trainer.config import load_config
    from trainer.train import train

    probe = load_config(config_file, dict(overrides, steps=max_steps))
    chunk = probe.checkpoint_every
    output = Path(probe.output_dir)
    start = time.perf_counter()
    found = list_checkpoints(output)
    done = int(found[-1].name.split("-")[-1]) if found else 0
    last = None
    while done < max_steps:
        spent = time.perf_counter() - start
        if last is not None and spent + last > seconds:
            break
        t0 = time.perf_counter()
        target = min(done + chunk, max_steps)
        train(load_config(config_file, dict(overrides, steps=target)), resume="auto")
        done = target
        last = time.perf_counter() - t0
        logger.info("%s: step %d (%.1f s per chunk)", output.name, done, last)
    if done == 0 or not (output / "export").is_dir():
        train(load_config(config_file, dict(overrides, steps=max(done, 1))), resume="auto")
    return {"steps": done, "seconds": round(time.perf_counter() - start, 1), "export": str(output / "export"),
            "batch_size": probe.batch_size}


def stage(work: Path, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a stage once: its result is kept in ``<work>/<name>.json`` and read back on re-runs."""
    record = work / f"{name}.json"
    if record.is_file():
        return json.loads(record.read_text())
    result = fn()
    record.write_text(json.dumps(result, indent=2))
    return result


# ---- evaluation -------------------------------------------------------------------------------------------------
def pose_mask_paste(clip: Any, generated: np.ndarray, grow: int = 3) -> np.ndarray:
    """Human-layer compositing: the generated frames over the scene layer where the body can be.

    The mask is the *pose render*'s silhouette (what inference knows; no ground truth) dilated by ``grow``
    pixels (clothing and hair reach past the body) with a 1-pixel soft edge; outside it the scene layer
    shows, and the occluders are put back on top where their mask is set.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    masks = []
    for pose in clip.pose:
        body = (pose.max(-1) > 10).astype(np.uint8)
        masks.append(cv2.blur(cv2.dilate(body, kernel).astype(np.float32), (3, 3)))
    m = np.stack(masks)[..., None]
    out = clip.scene.astype(np.float32) * (1 - m) + generated.astype(np.float32) * m
    occ = clip.occlusion_mask > 127
    out[occ] = clip.frames[occ]
    return out.round().clip(0, 255).astype(np.uint8)


def pipeline_generator(pipeline: Any, steps: int = EVAL_STEPS, guidance: float = EVAL_GUIDANCE,
                       seed: int = 0, cache: dict | None = None) -> Callable[[Any], np.ndarray]:
    """A :data:`trainer.baselines.Generator` running ``pipeline`` on a clip (occluders pasted back).

    ``cache``: a dict keyed by clip name, so several methods can post-process one generation.
    """
    from trainer.datasets import pad_to_square, resize_center_crop

    def run(clip: Any) -> np.ndarray:
        key = (clip.extra.get("name"), int(clip.pose.any()))
        if cache is not None and key in cache:
            return cache[key]
        t, h, w = clip.frames.shape[:3]
        ref = resize_center_crop(pad_to_square(clip.reference), min(h, w))
        occ_mask = torch.from_numpy((clip.occlusion_mask > 127).astype(np.float32))
        frames = torch.from_numpy(clip.frames).float() / 255
        out = pipeline.generate(
            torch.from_numpy(ref).float() / 255, torch.from_numpy(clip.pose).float() / 255,
            torch.from_numpy(clip.scene).float() / 255, frames * occ_mask[..., None], occ_mask,
            steps=steps, guidance=guidance, seed=seed, window=min(t, FRAMES), overlap=2,
        )
        result = (out.numpy() * 255).round().clip(0, 255).astype(np.uint8)
        if cache is not None:
            cache[key] = result
        return result

    return run


def choose_grow(data: Path, generator: Callable[[Any], np.ndarray], out: Path,
                grows: tuple[int, ...] = GROWS) -> dict[str, Any]:
    """The paste-back margin (pixels) with the best PSNR on the validation split; returns it with the scores."""
    from trainer.evaluate import evaluate

    def pasted(grow: int) -> Callable[[Any], np.ndarray]:
        return lambda clip: pose_mask_paste(clip, generator(clip), grow=grow)

    methods = {f"grow_{g}": pasted(g) for g in grows}
    report = evaluate(data, methods, out, "val")
    scores = {int(k.split("_")[1]): round(v["psnr"], 3) for k, v in report["methods"].items()}
    return {"grow": max(scores, key=lambda g: scores[g]), "val_psnr": scores, "val_clips": len(report["clips"])}


def write_report(doc: Path, report: dict, info: dict, figures: Path) -> None:
    names = {"mimo-default": "**mimo-default** (this model; paste-back)",
             "mimo-default_full_frame": "mimo-default, whole decoded frame (no paste-back)",
             "paste_reference": "(a) paste the reference at the person's box",
             "no_pose": "(b) same network trained without pose, whole frame",
             "no_pose_paste_back": "(b) same network trained without pose, paste-back"}
    rows = []
    for name, m in report["methods"].items():
        rows.append(f"| {names.get(name, name)} | {m['psnr']:.2f} | {m['ssim']:.3f} |")
    t = info["times"]
    s1, np_, s2 = info["stage1"], info["nopose"], info["stage2"]
    rel = figures.relative_to(doc.parent)
    text = f"""# The default model (`models/mimo-default`)

A small MIMO model trained by the pack's own trainer from synthetic clips plus the real sample clip, on
CPU, by one command. It ships in the repository so the demo and the tests run real generation with
nothing downloaded. It is a *tiny* model (64x64 frames): it shows the method working end to end, it is
not a production-quality generator.

## Command

```
make default-model
# = {info['command']}
```

Total wall time of the run that produced the shipped folder: **{info['total_minutes']:.1f} min** on 2 CPU threads
(data {t.get('data', 0):.0f} s, VAE {t.get('vae', 0):.0f} s, stage 1 {t.get('stage1', 0):.0f} s, no-pose
control {t.get('nopose', 0):.0f} s, stage 2 {t.get('stage2', 0):.0f} s, export {t.get('export', 0):.0f} s,
decoder fine-tuning {t.get('decoder', 0):.0f} s, evaluation {t.get('evaluate', 0):.0f} s). Model folder size: **{info['size_mb']:.1f} MB**.

## Evaluation

Held-out synthetic test clips ({len(report['clips'])} clips, {SIZE}x{SIZE}, {FRAMES} frames each): every
clip has its own seed, so its character (body shape, clothing, textures), motion, background and
occluders were never seen in training. All methods get the same inputs (reference picture, pose render,
scene layer, occluders with their mask, which each method pastes back on top). Sampling: DDIM
{EVAL_STEPS} steps, CFG {EVAL_GUIDANCE}, seed 0.

| method | PSNR ↑ | SSIM ↑ |
|---|---|---|
{chr(10).join(rows)}

- **paste-back** (`trainer.default_model.pose_mask_paste`): the generated frame is composited over the
  scene layer inside the *pose render*'s silhouette dilated by {info['paste_grow']['grow']} pixel(s) (known at inference, no
  ground truth), occluders on top. The margin was chosen on the {info['paste_grow']['val_clips']} validation clips (PSNR per
  margin in pixels: {', '.join(f'{k}: {v:.2f}' for k, v in info['paste_grow']['val_psnr'].items())}), never on the test clips.
  Rows without it show the whole VAE-decoded frame, so every pixel (the
  background included) goes through the small VAE.
- (a) `trainer.baselines.paste_reference`: the reference character's cut-out scaled into the box of the
  person's true mask in each frame, over the scene layer.
- (b) the same network, config and data with blank pose videos, trained for {np_['steps']} steps
  (the model: {s1['steps']} stage-1 steps{' — fewer for the control, because of the time budget' if np_['steps'] < s1['steps'] else ''});
  evaluated through `trainer.baselines.without_pose` (blank pose input).
- LPIPS: {report['lpips']}. FVD: {report['fvd']}.

Contact sheets (rows = clips; reference | ground truth | prediction):
{chr(10).join(f'- `{name}`: ![{name}]({rel}/contact_{name}.png)' for name in report['methods'])}

## Training

- Data: {info['data']['train']} training clips ({info['data']['real']} of them from the real sample video
  `.cache/media/demo.mp4`), {info['data']['val']} validation and {info['data']['test']} test clips
  (synthetic seed {DATA_SEED}).
- VAE (`trainer/vae_pretrain.py`): `AutoencoderKL` widths (16, 32, 64), 4x downsampling, 4 latent
  channels; {info['vae']['steps']} steps; reconstruction PSNR on training images {info['vae']['psnr_after']:.1f} dB;
  latent scaling factor {info['vae']['scaling_factor']:.3f}. After the diffusion training, its decoder alone was
  fine-tuned ({info['decoder']['steps']} steps; encoder frozen, so the latents keep their meaning):
  reconstruction PSNR {info['decoder']['psnr_after']:.1f} dB.
- Stage 1 (`trainer/configs/default_stage1.yaml`): {s1['steps']} steps of batch {s1['batch_size']}.
- Stage 2 (`trainer/configs/default_stage2.yaml`): {s2['steps']} steps of batch {s2['batch_size']} (8-frame windows).
- CLIP image encoder: the tiny preset's frozen, seeded random encoder (identity comes through the
  ReferenceNet).
- Sampler stored with the model: {json.dumps(info['sampler'])}.
"""
    doc.write_text(text, encoding="utf-8")


# ---- the recipe -------------------------------------------------------------------------------------------------
def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(out: Path, work: Path, minutes: float, count: int, real_windows: int, doc: Path,
        eval_clips: int | None, command: str) -> dict[str, Any]:
    from mimo_core.pipeline.mimo_io import load_pipeline_any
    from trainer.baselines import paste_reference, without_pose
    from trainer.evaluate import evaluate
    from trainer.export_pipeline import export_pipeline
    from trainer.synthetic import generate_dataset
    from trainer.vae_pretrain import finetune_decoder, load_images, pretrain_vae, save_vae

    work.mkdir(parents=True, exist_ok=True)
    clock = Clock(minutes, work / "times.json")
    data = work / "data"
    info: dict[str, Any] = {"command": command}

    t0 = time.perf_counter()
    generate_dataset(data, count, DATA_SEED, (SIZE, SIZE), FRAMES, SPLITS)
    real = add_real_clips(data, work / "real", DEMO_VIDEO, real_windows)
    info["data"] = {split: len(read_manifest(data, split)) for split in ("train", "val", "test")}
    info["data"]["real"] = real
    clock.record("data", t0)

    t0 = time.perf_counter()
    vae_file = work / "vae.safetensors"
    stats_file = work / "vae.json"
    if not vae_file.is_file():
        vae, stats = pretrain_vae(load_images(data, SIZE), steps=4000, batch_size=16, learning_rate=1.5e-3,
                                  max_seconds=SHARES["vae"] * clock.budget)
        save_vae(vae, vae_file)
        stats_file.write_text(json.dumps(stats))
    info["vae"] = json.loads(stats_file.read_text())
    clock.record("vae", t0)

    common = {"vae_path": str(vae_file)}
    t0 = time.perf_counter()
    info["stage1"] = stage(work, "stage1", lambda: train_for(
        CONFIGS / "default_stage1.yaml", dict(common, data_dir=str(data), output_dir=str(work / "stage1")),
        SHARES["stage1"] * clock.budget, 100000))
    clock.record("stage1", t0)

    t0 = time.perf_counter()
    nopose_data = blank_pose_copy(data, work / "data_nopose")
    info["nopose"] = stage(work, "nopose", lambda: train_for(
        CONFIGS / "default_stage1.yaml",
        dict(common, data_dir=str(nopose_data), output_dir=str(work / "stage1_nopose")),
        min(SHARES["nopose"] * clock.budget, clock.left() - 0.3 * clock.budget), info["stage1"]["steps"]))
    clock.record("nopose", t0)

    t0 = time.perf_counter()
    info["stage2"] = stage(work, "stage2", lambda: train_for(
        CONFIGS / "default_stage2.yaml",
        {"data_dir": str(data), "output_dir": str(work / "stage2"), "init_from": info["stage1"]["export"]},
        min(SHARES["stage2"] * clock.budget, clock.left() - 0.24 * clock.budget), 100000))
    clock.record("stage2", t0)

    # the decoder only: latents keep their meaning, so the trained networks stay valid
    t0 = time.perf_counter()
    decoder_file = work / "vae_decoder.safetensors"
    if not decoder_file.is_file():
        from mimo_core.checkpoints.pack_format import load_model

        vae, stats = finetune_decoder(load_model(vae_file), load_images(data, SIZE), steps=100000,
                                      max_seconds=min(SHARES["decoder"] * clock.budget,
                                                      clock.left() - 0.12 * clock.budget))
        save_vae(vae, decoder_file)
        (work / "vae_decoder.json").write_text(json.dumps(stats))
    info["decoder"] = json.loads((work / "vae_decoder.json").read_text())
    clock.record("decoder", t0)

    t0 = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    export_pipeline(info["stage2"]["export"], out, {"default_model": {
        "data_seed": DATA_SEED, "resolution": SIZE, "frames": FRAMES, "stage1_steps": info["stage1"]["steps"],
        "stage2_steps": info["stage2"]["steps"], "eval_steps": EVAL_STEPS, "eval_guidance": EVAL_GUIDANCE}},
        vae_file=decoder_file)
    export_pipeline(info["nopose"]["export"], work / "nopose_pipeline", vae_file=decoder_file)
    info["size_mb"] = folder_size(out) / 2**20
    clock.record("export", t0)

    t0 = time.perf_counter()
    model = load_pipeline_any(out)
    info["sampler"] = model.sampler.to_dict()
    nopose = load_pipeline_any(work / "nopose_pipeline")
    cache: dict = {}
    model_gen = pipeline_generator(model, cache=cache)
    nopose_gen = without_pose(pipeline_generator(nopose, cache=cache))
    # the paste-back margin is chosen on the validation split (never on the test clips)
    grow = stage(work, "paste_grow", lambda: choose_grow(data, model_gen, work / "eval_val"))
    info["paste_grow"] = grow
    g = int(grow["grow"])
    methods = {
        "mimo-default": lambda clip: pose_mask_paste(clip, model_gen(clip), grow=g),
        "mimo-default_full_frame": model_gen,
        "paste_reference": paste_reference,
        "no_pose": nopose_gen,
        "no_pose_paste_back": lambda clip: pose_mask_paste(clip, nopose_gen(clip), grow=g),
    }
    report = evaluate(data, methods, work / "eval", "test", eval_clips)
    clock.record("evaluate", t0)

    info["times"] = dict(clock.times)
    info["total_minutes"] = sum(clock.times.values()) / 60
    figures = doc.parent / "default_model"
    figures.mkdir(parents=True, exist_ok=True)
    for name in methods:
        shutil.copy(work / "eval" / f"contact_{name}.png", figures / f"contact_{name}.png")
    summary = {k: {m: v for m, v in r.items() if m != "per_clip"} for k, r in report["methods"].items()}
    (work / "summary.json").write_text(json.dumps({"info": info, "results": summary}, indent=2, default=str))
    write_report(doc, report, info, figures)
    return {"info": info, "results": summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.default_model", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="models/mimo-default", help="pipeline folder to write")
    p.add_argument("--work", default="runs/default_model", help="data, checkpoints and evaluation")
    p.add_argument("--minutes", type=float, default=55.0, help="wall-clock budget of the whole recipe")
    p.add_argument("--clips", type=int, default=240, help="synthetic clips (train/val/test 80/8/12 %%)")
    p.add_argument("--real-windows", type=int, default=8, help="clips taken from the real sample video")
    p.add_argument("--eval-clips", type=int, default=None, help="at most this many test clips")
    p.add_argument("--doc", default="docs/default_model.md", help="evaluation report to write")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    command = (f"python -m trainer.default_model --out {args.out} --minutes {args.minutes:g} --clips {args.clips}")
    result = run(Path(args.out), Path(args.work), args.minutes, args.clips, args.real_windows, Path(args.doc),
                 args.eval_clips, command)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
