"""Does redrawing the reference in the A-pose help? Measured on synthetic clips with ground truth.

MIMO encodes the character from a canonical A-pose picture. Users often have only a picture of
the character in some other pose (a frame of a video). Per synthetic clip this bench takes:

* ``gt``: the clip's own reference, the character rendered in the A-pose on white (what the
  pack's models were trained with);
* ``frame``: the frame where the person is largest, cut out by MIMO Prepare Reference (MediaPipe)
  at 256 pixels and scaled to the model's size: the character in another pose;
* ``repose``: ``frame`` redrawn in the A-pose by the pipeline itself
  (:meth:`~mimo_core.pipeline.mimo.MimoPipeline.repose`, driven by
  :func:`~mimo_core.body.a_pose.a_pose_motion` with the average body shape);

and prints, per clip and on average:

* ``ref_psnr``: PSNR of the ``frame`` / ``repose`` picture against ``gt`` (how close each is to the
  A-pose picture the model expects);
* ``video_psnr`` / ``body_psnr``: PSNR of the clip generated with each reference (the generated
  person pasted over the scene where the pose render is, occluders on top, as the default model's
  evaluation does) against the true frames, over the whole frame and over the person's pixels.

Seeds 5000 and up by default: the default model's training clips use seeds drawn from a
SeedSequence (``trainer.synthetic.dataset.clip_seed``), so these clips are unseen.

    .venv/bin/python bench/bench_repose.py [--seeds 5000 5001 ...] [--model models/mimo-default]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mimo_core.body.a_pose import a_pose_motion  # noqa: E402
from mimo_core.body.stages import render_motion  # noqa: E402
from mimo_core.pipeline import load_pipeline_any  # noqa: E402
from mimo_core.preprocess import MediaPipePersonDetector  # noqa: E402
from mimo_core.preprocess.reference import prepare_reference  # noqa: E402
from trainer.default_model import EVAL_GUIDANCE, EVAL_STEPS, FRAMES, SIZE, pipeline_generator, pose_mask_paste  # noqa: E402
from trainer.evaluate import psnr  # noqa: E402
from trainer.synthetic import default_body_model, synthesize_clip  # noqa: E402

DETECT_SIZE = 256  # MediaPipe needs more pixels than the model's 64


def masked_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels where ``mask`` [T,H,W] is set (frames uint8)."""
    p, t = pred.astype(np.float64) / 255, target.astype(np.float64) / 255
    mse = float(((p - t) ** 2)[mask].mean()) if mask.any() else float("nan")
    return 10 * np.log10(1 / max(mse, 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5000, 5012)))
    parser.add_argument("--model", default="models/mimo-default")
    parser.add_argument("--grow", type=int, default=1,
                        help="paste-back margin in pixels (1: the one chosen for mimo-default on its validation clips)")
    parser.add_argument("--sheet", default="docs/images/repose.png", help="contact sheet to write ('' for none)")
    args = parser.parse_args()

    torch.manual_seed(0)
    pipeline = load_pipeline_any(args.model)
    body = default_body_model()
    pose, _ = render_motion(a_pose_motion(body, (SIZE, SIZE), fill=0.9), body)  # the training references' framing
    generate = pipeline_generator(pipeline)
    rows, sheet = [], []
    print(f"{'seed':>5} {'ref_psnr frame':>15} {'repose':>7} | {'video_psnr gt':>14} {'frame':>6} {'repose':>7} | "
          f"{'body_psnr gt':>13} {'frame':>6} {'repose':>7}")
    with MediaPipePersonDetector() as detector:
        for seed in args.seeds:
            clip = synthesize_clip(seed, (SIZE, SIZE), FRAMES, body_model=body).clip
            big = synthesize_clip(seed, (DETECT_SIZE, DETECT_SIZE), FRAMES, body_model=body).clip  # same person
            k = int(np.argmax((big.person_mask > 127).reshape(FRAMES, -1).sum(1)))
            try:
                frame_ref, _ = prepare_reference(big.frames[k], size=(SIZE, SIZE), detector=detector)
            except ValueError as exc:
                print(f"{seed:5d} no reference found: {exc}")
                continue
            t0 = time.perf_counter()
            reposed = pipeline.repose(torch.from_numpy(frame_ref).float(), pose[0], steps=EVAL_STEPS,
                                      guidance=EVAL_GUIDANCE, seed=0).numpy()
            repose_s = time.perf_counter() - t0
            refs = {"gt": clip.reference, "frame": (frame_ref * 255).round().astype(np.uint8),
                    "repose": (reposed * 255).round().astype(np.uint8)}
            body_px = clip.pose.max(-1) > 10
            r = {"seed": seed, "repose_s": repose_s}
            for name in ("frame", "repose"):
                r[f"ref_{name}"] = psnr(refs[name][None], clip.reference[None])
            outs = {}
            for name, ref in refs.items():
                video = pose_mask_paste(clip, generate(replace(clip, reference=ref)), grow=args.grow)
                outs[name] = video
                r[f"video_{name}"] = psnr(video, clip.frames)
                r[f"body_{name}"] = masked_psnr(video, clip.frames, body_px)
            rows.append(r)
            print(f"{seed:5d} {r['ref_frame']:15.2f} {r['ref_repose']:7.2f} | {r['video_gt']:14.2f} "
                  f"{r['video_frame']:6.2f} {r['video_repose']:7.2f} | {r['body_gt']:13.2f} {r['body_frame']:6.2f} "
                  f"{r['body_repose']:7.2f}", flush=True)
            if len(sheet) < 4:
                mid = FRAMES // 2
                sheet.append(np.concatenate([refs["frame"], refs["repose"], refs["gt"], clip.frames[mid],
                                             outs["frame"][mid], outs["repose"][mid], outs["gt"][mid]], 1))
    if not rows:
        raise SystemExit("no clip gave a reference")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "seed"}
    print(f"mean  {mean['ref_frame']:15.2f} {mean['ref_repose']:7.2f} | {mean['video_gt']:14.2f} "
          f"{mean['video_frame']:6.2f} {mean['video_repose']:7.2f} | {mean['body_gt']:13.2f} "
          f"{mean['body_frame']:6.2f} {mean['body_repose']:7.2f}")
    wins = sum(r["body_repose"] > r["body_frame"] for r in rows)
    print(f"{len(rows)} clips; repose beats the posed frame on the person's pixels in {wins}; "
          f"repose {mean['repose_s']:.2f} s per picture ({EVAL_STEPS} steps, {SIZE} px, CPU)")
    if args.sheet and sheet:
        from PIL import Image

        out = Path(args.sheet)
        out.parent.mkdir(parents=True, exist_ok=True)
        img = np.concatenate(sheet, 0)
        Image.fromarray(img).resize((img.shape[1] * 3, img.shape[0] * 3), Image.NEAREST).save(out)
        print(f"contact sheet (per row: frame reference, reposed, true A-pose, true frame, generated with each "
              f"of the three): {out}")


if __name__ == "__main__":
    main()
