"""Score the default preprocessing against exact ground truth on synthetic clips.

Usage:
    .venv/bin/python bench/bench_layers_synthetic.py [--seeds 0 1 2 3 4 5] [--size 256] [--frames 24]
        [--iterations 200] [--figures docs/images] [--no-rigid]

Each seed gives a :func:`trainer.synthetic.synthesize_clip` clip (an Anny character
in front of a procedural scene with occluders passing in front) whose person mask,
occlusion mask and posed vertices are exact. Per clip and over all clips it prints:

* person-mask IoU of the MediaPipe tracker (``track_person``) vs the exact visible
  person mask (lost frames count with an empty mask);
* occlusion IoU of ``split_layers`` (no depth: occluders found by their motion
  across the body and by the hidden body, silhouette pixels the person mask
  misses) vs the exact occlusion mask, with the silhouette rendered (a) from the ground-truth vertices
  and (b) from the body fitted to the tracker's landmarks; each both against the
  whole occluder mask and against the occluded part of the body (the part the
  silhouette rule can see), plus (c) with the ground-truth person mask and
  silhouette (the rule alone, without tracker errors); ``occ_front_*`` scores against
  the whole of the occluders that hide part of the body in some frame of the clip
  (an object that never overlaps the body cannot be told in front without depth);
* person-mask IoU of the split's person layer (the tracker's mask minus the
  occluders found) with the fitted silhouette, the largest composite error
  (occlusion over person over scene vs the input, in 1/255 steps) and the
  split's time per frame;
* error of the fitted body: 3D landmark error after aligning the hip centres (mm),
  2D landmark error (% of the person's box height) and per-vertex error (mm), where
  a landmark is the mean of the 8 vertices nearest to the model's landmark on the
  clip's rest body (same definition on the fitted and the true mesh).

IoU over a clip = pixels in both / pixels in either, summed over its frames. A clip in
which the tracker never finds the person is scored on the default path with an empty
person mask and an empty silhouette (it counts, with IoU 0 where it has ground truth).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else float("nan")


def landmark_proxies(body, shape: torch.Tensor, k: int = 8) -> torch.Tensor:  # noqa: ANN001
    """``[33, k]`` vertex indices whose mean stands for each landmark (nearest on the rest body)."""
    params = body.zero_params(1)
    params.shape = shape[None].float()
    with torch.no_grad():
        out = body(params)
    d = torch.cdist(out.landmarks[0], out.vertices[0])  # [33, V]
    return d.topk(k, largest=False).indices


def evaluate(seed: int, size: int, frames: int, iterations: int, body, detector, rigid: bool = True) -> dict:  # noqa: ANN001
    from mimo_core.body.camera import project_points
    from mimo_core.body.stages import estimate_motion, render_motion
    from mimo_core.preprocess import split_layers, track_person
    from trainer.synthetic import synthesize_clip

    sample = synthesize_clip(seed, (size, size), frames, body_model=body)
    clip = sample.clip
    video = clip.frames  # [T,H,W,3] uint8
    gt_person = clip.person_mask > 127
    gt_occ = clip.occlusion_mask > 127
    body_sil = sample.body_mask
    hidden_gt = gt_occ & body_sil
    # The occluders that hide part of the body in some frame (without depth, nothing shows that an
    # object which never overlaps the body is in front; the official release also keeps only objects
    # that meet the rendered body).
    meets = [k for k in range(len(sample.occluder_masks)) if (sample.occluder_masks[k] & body_sil).any()]
    front_gt = gt_occ & sample.occluder_masks[meets].any(0) if meets else np.zeros_like(gt_occ)
    start = time.perf_counter()
    track = track_person(video, detector=detector)
    track_s = time.perf_counter() - start
    pred_person = track.masks > 0.5
    r = {"seed": seed, "motion": clip.extra["motion"], "occluders": clip.extra["occluders"],
         "found": track.found_fraction, "person_iou": iou(pred_person, gt_person),
         "track_ms": 1000 * track_s / frames}  # fmt: skip

    def occ_scores(tag: str, person_mask: np.ndarray, silhouette: np.ndarray) -> None:
        start = time.perf_counter()
        layers = split_layers(
            video, person_mask.astype(np.float32), body_silhouette=silhouette.astype(np.float32), rigid=rigid
        )
        r[f"split_ms_{tag}"] = 1000 * (time.perf_counter() - start) / frames
        occ = layers.occlusion_mask > 0.5
        r[f"occ_iou_{tag}"] = iou(occ, gt_occ)
        r[f"occ_body_iou_{tag}"] = iou(occ & body_sil, hidden_gt)
        r[f"occ_front_iou_{tag}"] = iou(occ, front_gt)
        r[f"person_iou_{tag}"] = iou(layers.person_mask > 0.5, gt_person)
        frames_f = video.astype(np.float32) / 255.0
        r[f"composite_err_{tag}"] = float(np.abs(layers.composite() - frames_f).max() * 255.0)

    occ_scores("gt_sil", track.masks, body_sil)
    occ_scores("gt_all", gt_person, body_sil)
    r["occluded_fraction"] = float(hidden_gt.sum() / max(body_sil.sum(), 1))
    if np.isnan(track.landmarks).all():
        # Never found: the default path has no person mask and no body to render. Score
        # that (an empty silhouette) rather than leaving the clip out of the means.
        occ_scores("fit_sil", track.masks, np.zeros_like(body_sil))
        r["fit"] = None
        return r
    start = time.perf_counter()
    motion = estimate_motion(
        track.landmarks, track.world_landmarks, (size, size), body, iterations=iterations
    )
    r["fit_s_per_frame"] = (time.perf_counter() - start) / frames
    _, fit_sil = render_motion(motion, body, mode="silhouette")
    occ_scores("fit_sil", track.masks, fit_sil.numpy() > 0.5)
    # Body error against the exact vertices (same mesh topology).
    with torch.no_grad():
        fit_verts = motion.vertices(body).float()
    gt_verts = torch.from_numpy(clip.vertices.astype(np.float32))
    proxy = landmark_proxies(body, motion.shape)
    gt_lm, fit_lm = gt_verts[:, proxy].mean(2), fit_verts[:, proxy].mean(2)  # [T,33,3]
    hips = [23, 24]
    gt_rel = gt_lm - gt_lm[:, hips].mean(1, keepdim=True)
    fit_rel = fit_lm - fit_lm[:, hips].mean(1, keepdim=True)
    avail = body.landmark_available
    r["mpjpe_mm"] = 1000 * float((gt_rel - fit_rel).norm(dim=-1)[:, avail].mean())
    r.update(body_error_breakdown(gt_rel[:, avail].numpy(), fit_rel[:, avail].numpy(),
                                  np.flatnonzero(avail.numpy())))  # fmt: skip
    pve = (gt_verts - gt_verts.mean(1, keepdim=True)) - (fit_verts - fit_verts.mean(1, keepdim=True))
    r["pve_mm"] = 1000 * float(pve.norm(dim=-1).mean())
    cam = torch.from_numpy(clip.camera)  # [T,4] fx fy cx cy
    gt_2d = project_points(gt_lm, cam[:, :2], cam[:, 2:])
    fit_2d = project_points(fit_lm, motion.focal.float(), motion.principal_point.float())
    ys = gt_2d[..., 1]
    height = (ys.max(1).values - ys.min(1).values)[:, None]
    r["err2d_pct"] = 100 * float(((gt_2d - fit_2d).norm(dim=-1) / height)[:, avail].median())
    r["fit"] = (motion, fit_sil.numpy())
    r["_sample"] = sample
    r["_track"] = track
    return r


# MediaPipe's left/right landmark pairs (face, arms, hands, legs, feet).
LR_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
            (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))  # fmt: skip


def _procrustes_error(gt: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """[T] mean distance after the best per-frame similarity transform of ``fit`` onto ``gt`` ([T,N,3] each)."""
    from mimo_core.body.rotations import similarity_fit

    g, f = torch.from_numpy(gt).double(), torch.from_numpy(fit).double()
    rot, scale = similarity_fit(f, g)
    aligned = (f - f.mean(1, keepdim=True)) @ rot.transpose(1, 2) * scale[:, None, None]
    return (aligned - (g - g.mean(1, keepdim=True))).norm(dim=-1).mean(1).numpy()


def body_error_breakdown(gt: np.ndarray, fit: np.ndarray, index: np.ndarray) -> dict:
    """Where the 3D landmark error (hip-aligned, camera axes, metres) comes from.

    gt, fit: [T,N,3] landmarks the body model has, ``index`` their MediaPipe numbers.
    Returns mm: the error along the camera's viewing axis (depth) and across it (image
    plane), the error after a per-frame similarity alignment (PA: what is left once the
    whole body's orientation and size are taken out), and the share of frames where
    swapping the fit's left and right landmarks would cut the error by a third or more.
    """
    err = gt - fit
    pos = {int(k): i for i, k in enumerate(index)}
    swap = np.arange(len(index))
    for a, b in LR_PAIRS:
        if a in pos and b in pos:
            swap[pos[a]], swap[pos[b]] = pos[b], pos[a]
    per_frame = np.linalg.norm(err, axis=-1).mean(1)
    swapped = np.linalg.norm(gt - fit[:, swap], axis=-1).mean(1)
    return {
        "depth_mm": 1000 * float(np.abs(err[..., 2]).mean()),
        "plane_mm": 1000 * float(np.linalg.norm(err[..., :2], axis=-1).mean()),
        "pa_mpjpe_mm": 1000 * float(_procrustes_error(gt, fit).mean()),
        "lr_swap_pct": 100 * float((swapped < per_frame * 2 / 3).mean()),
    }


def write_layers_figure(out: Path, r: dict, rigid: bool = True) -> None:
    """Frame | person layer | occlusion layer (fitted silhouette outline, missed occluder in red) | scene layer."""
    import cv2

    from mimo_core.preprocess import split_layers

    sample, track = r["_sample"], r["_track"]
    video = sample.clip.frames
    occ_per_frame = (sample.clip.occlusion_mask > 127) & sample.body_mask
    i = int(np.argmax(occ_per_frame.reshape(len(video), -1).sum(1)))
    _, sil = r["fit"]
    # The whole clip: finding occluders by their motion needs the neighbouring frames.
    layers = split_layers(video, track.masks, body_silhouette=sil, rigid=rigid)
    tiles = [video[i].astype(np.float32) / 255.0, layers.person[i], layers.occlusion[i], layers.scene[i]]
    outline = (
        cv2.morphologyEx((sil[i] > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    )
    tiles[2] = tiles[2].copy()
    tiles[2][outline] = (0.2, 0.6, 1.0)
    missed = (sample.clip.occlusion_mask[i] > 127) & ~(layers.occlusion_mask[i] > 0.5)
    tiles[2][missed] = 0.4 * tiles[0][missed] + np.array([0.6, 0.0, 0.0], np.float32)
    img = np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=1.0) for t in tiles], 1)
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "layers_synthetic.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])  # fmt: skip
    print(f"figure: seed {r['seed']} frame {i} -> {out / 'layers_synthetic.png'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--figures", type=Path, default=None, help="write the layers figure to this folder")
    parser.add_argument(
        "--no-rigid",
        action="store_true",
        help="split without the rigid-object follower (the motion-only split)",
    )
    args = parser.parse_args()
    from mimo_core.preprocess import MediaPipePersonDetector
    from trainer.synthetic import default_body_model

    body = default_body_model()
    rows = []
    cols = ("found", "person_iou", "person_iou_fit_sil", "occ_iou_gt_all", "occ_body_iou_gt_all", "occ_iou_gt_sil",
            "occ_body_iou_gt_sil", "occ_iou_fit_sil", "occ_body_iou_fit_sil", "occ_front_iou_gt_all",
            "occ_front_iou_fit_sil", "composite_err_fit_sil",
            "split_ms_fit_sil", "mpjpe_mm", "err2d_pct", "pve_mm", "pa_mpjpe_mm", "depth_mm", "plane_mm",
            "lr_swap_pct")  # fmt: skip
    print(f"{args.size}x{args.size}, {args.frames} frames per clip, fit {args.iterations} iterations")
    print("seed motion      occ% " + " ".join(f"{c[:14]:>14s}" for c in cols))
    with MediaPipePersonDetector() as detector:
        for seed in args.seeds:
            r = evaluate(
                seed, args.size, args.frames, args.iterations, body, detector, rigid=not args.no_rigid
            )
            rows.append(r)
            vals = " ".join(f"{r.get(c, float('nan')):14.3f}" for c in cols)
            print(f"{seed:4d} {r['motion'][:10]:10s} {100 * r['occluded_fraction']:4.1f} {vals}", flush=True)
    groups = [("", rows), (" hidden", [r for r in rows if r["occluded_fraction"] > 0]),
              (" hidden <=30%", [r for r in rows if 0 < r["occluded_fraction"] <= 0.3]),
              (" hidden >30%", [r for r in rows if r["occluded_fraction"] > 0.3]),
              (" none", [r for r in rows if r["occluded_fraction"] == 0])]  # fmt: skip
    for name, group in groups:
        if not group or (name and len(group) == len(rows)):
            continue
        for stat, fn in (("mean", np.nanmean), ("median", np.nanmedian)):
            label = f"{stat}{name}"
            print(f"{label:21s}" + " ".join(f"{fn([r.get(c, np.nan) for r in group]):14.3f}" for c in cols))
    print(
        "rows 'hidden': clips whose occluders hide part of the body (also split at 30 % of the body hidden "
        "over the clip); 'none': clips where nothing does."
    )
    fits = [r["fit_s_per_frame"] for r in rows if "fit_s_per_frame" in r]
    print(
        f"tracking {np.mean([r['track_ms'] for r in rows]):.1f} ms/frame, fit "
        f"{np.mean(fits) if fits else float('nan'):.3f} s/frame"
    )
    print(
        "occ_*: occlusion IoU vs the whole occluder mask; occ_body_*: vs the occluded part of the body; "
        "occ_front_*: vs the whole of the occluders that hide part of the body in some frame. "
        "gt_all: exact person mask + exact silhouette; gt_sil: tracker mask + exact silhouette; "
        "fit_sil: tracker mask + fitted-body silhouette (the default path). person_iou: the tracker's mask; "
        "person_iou_fit_sil: the split's person mask (occluders removed). composite_err: largest difference "
        "(1/255 steps) between the layers' composite and the input. split_ms: split_layers per frame. "
        "mpjpe: 3D landmark error after aligning the hips; pa_mpjpe: after the best per-frame rotation, "
        "scale and shift; depth / plane: its parts along and across the camera's view; lr_swap_pct: frames "
        "where the fit's left and right landmarks are better swapped."
    )
    if args.figures is not None:
        with_occ = [r for r in rows if r.get("fit") and r["occluded_fraction"] > 0]
        if with_occ:
            write_layers_figure(
                args.figures,
                max(with_occ, key=lambda r: r.get("occ_body_iou_fit_sil", 0)),
                rigid=not args.no_rigid,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
