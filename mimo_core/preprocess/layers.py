"""Split a clip into person, occlusion and scene layers (MIMO's spatial decomposition).

Occluders are what lies in front of the person:

* with ``depth``: candidate segments near the person whose mean depth is
  nearer than the person's median depth. Convention: ``depth`` is *relative
  inverse depth* (disparity), **larger = nearer**, as Depth Anything outputs it
  (:func:`~mimo_core.preprocess.depth.estimate_depth`); pass
  ``depth_larger_is_nearer=False`` for metric depth (smaller = nearer).
  Candidates are the given ``occluder_masks``, or else connected regions of
  non-person pixels around the person that are nearer than the person.
* without depth but with ``body_silhouette`` (the rendered body): silhouette
  pixels not covered by the person mask are hidden body; the candidate segments
  covering them are occluders. With no candidates, occluders are found two
  ways: things that move on their own across the body
  (:func:`~mimo_core.preprocess.occluders.find_moving_occluders`: optical flow,
  the silhouette and the person mask decide, and each occluder is followed
  through the clip), plus the hidden area itself where it is thick (a static
  occluder; thin slivers along the silhouette's edge are fitting errors).
  Segmenters often put an occluder that lies over the body into the person
  mask; the visible person is the person mask minus the occluders.

Layers hold colours *unpremultiplied*: each layer equals the frame where its
mask is > 0 and 0 elsewhere. :meth:`Layers.composite` puts the occlusion layer
over the person layer over the scene layer, which reproduces the input exactly
where masks are hard (the scene layer's holes are what inpainting fills).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ._arrays import as_frames, as_masks, expand_box, mask_box, to_numpy, to_uint8
from .occluders import find_moving_occluders
from .rigid_occluders import find_rigid_occluders


@dataclass
class Layers:
    """The three layers of a clip; every array has T frames of H x W.

    person, occlusion, scene: [T,H,W,3] float32 in 0..1 (0 outside their mask).
    person_mask: [T,H,W] float32 0..1, visible person (occluders removed).
    occlusion_mask: [T,H,W] float32 0..1, things in front of the person.
    scene_mask: [T,H,W] float32 0..1, visible scene = (1-person)(1-occlusion);
        its zeros are the holes to inpaint.
    """

    person: np.ndarray
    person_mask: np.ndarray
    occlusion: np.ndarray
    occlusion_mask: np.ndarray
    scene: np.ndarray
    scene_mask: np.ndarray

    def composite(self, scene: np.ndarray | None = None) -> np.ndarray:
        """Occlusion over person over scene -> [T,H,W,3] float32.

        ``scene`` replaces the scene layer (e.g. the inpainted background).
        """
        bg = self.scene if scene is None else as_frames(scene, "scene")
        om = self.occlusion_mask[..., None]
        pm = self.person_mask[..., None]
        return om * self.occlusion + (1 - om) * (pm * self.person + (1 - pm) * bg)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write all layers to one compressed ``.npz`` (stored as uint8, 1/255 steps)."""
        np.savez_compressed(path, **{f.name: to_uint8(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Layers:
        """Read a file written by :meth:`save`."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"layers file not found: {str(p)!r}")
        with np.load(p, allow_pickle=False) as z:
            missing = [f.name for f in fields(cls) if f.name not in z.files]
            if missing:
                raise ValueError(f"{str(p)!r} is not a layers file: missing arrays {missing}")
            return cls(**{f.name: z[f.name].astype(np.float32) / 255.0 for f in fields(cls)})


def split_layers(
    frames: Any,
    person_mask: Any,
    depth: Any | None = None,
    occluder_masks: Any | None = None,
    body_silhouette: Any | None = None,
    depth_larger_is_nearer: bool = True,
    depth_margin: float = 0.05,
    search_scale: float = 1.5,
    min_area: int = 16,
    min_hidden_fraction: float = 0.2,
    mask_floor: float = 0.1,
    motion: bool = True,
    hidden_opening: float = 0.03,
    rigid: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Layers:
    """Split ``frames`` into person / occlusion / scene layers.

    Args:
        frames: [T,H,W,3] float 0..1 (or uint8).
        person_mask: [T,H,W] 0..1, the visible person (e.g. ``PersonTrack.masks``).
        depth: optional [T,H,W] depth map (see module doc for the convention).
        occluder_masks: optional candidate objects, [T,K,H,W] 0..1 (K per frame).
        body_silhouette: optional [T,H,W] 0..1 rendered body (the whole body,
            including parts hidden in the video).
        depth_larger_is_nearer: True for disparity / relative inverse depth.
        depth_margin: a segment must be nearer than the person by this much
            (in units of the per-frame depth range) to count as in front.
        search_scale: only pixels inside the person's box grown by this factor
            (and the silhouette's box) are considered.
        min_area: ignore segments smaller than this many pixels.
        min_hidden_fraction: without depth, a candidate is an occluder when at
            least this fraction of its pixels covers hidden body.
        mask_floor: person-mask values below this are treated as 0 (segmenters
            leave faint non-zero values around the person, which would otherwise
            put a box of background into the person layer).
        motion: without depth and candidates, also find occluders by their motion
            (needs ``body_silhouette`` and at least two frames).
        rigid: without depth and candidates, also follow moving objects seen clear
            of the person as rigid templates
            (:func:`~mimo_core.preprocess.rigid_occluders.find_rigid_occluders`;
            needs ``body_silhouette`` and at least three frames).
        progress: optional ``callback(done, total)``, called after each stage
            (per-frame rule, motion, rigid objects).
        hidden_opening: without depth and candidates, hidden body counts as an
            occluder only where it is thicker than about twice this share of the
            silhouette's size (morphological opening).

    Returns:
        :class:`Layers`. With neither ``depth`` nor ``body_silhouette`` there
        is no evidence of occlusion and the occlusion layer is empty.
    """
    clip = as_frames(frames)
    t, h, w = clip.shape[:3]
    pm = as_masks(person_mask, (t, h, w), "person_mask")
    pm = np.where(pm < mask_floor, 0.0, pm).astype(np.float32)
    dm = None if depth is None else _as_depth(depth, (t, h, w), depth_larger_is_nearer)
    sil = None if body_silhouette is None else as_masks(body_silhouette, (t, h, w), "body_silhouette")
    cands = None
    if occluder_masks is not None:
        cands = to_numpy(occluder_masks)
        if cands.ndim != 4 or cands.shape[0] != t or cands.shape[2:] != (h, w):
            raise ValueError(f"occluder_masks must be [T,K,H,W] with T,H,W={t, h, w}, got {cands.shape}")
        cands = np.clip(cands.astype(np.float32), 0, 1)

    use_motion = motion and dm is None and cands is None and sil is not None and t > 1
    use_rigid = rigid and dm is None and cands is None and sil is not None and t > 2
    stages, done = 1 + int(use_motion) + int(use_rigid), 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, stages)

    occ = np.zeros((t, h, w), np.float32)
    for i in range(t):
        occ[i] = _occluders_in_frame(
            pm[i],
            None if dm is None else dm[i],
            None if cands is None else cands[i],
            None if sil is None else sil[i],
            depth_margin,
            search_scale,
            min_area,
            min_hidden_fraction,
            hidden_opening,
        )
    step()
    if use_motion:
        occ = np.maximum(occ, find_moving_occluders(clip, pm, sil))
        step()
    if use_rigid:
        occ = np.maximum(occ, find_rigid_occluders(clip, pm, sil))
        step()
    person_vis = pm * (1 - occ)
    scene_mask = (1 - person_vis) * (1 - occ)
    return Layers(
        person=clip * (person_vis[..., None] > 0),
        person_mask=person_vis,
        occlusion=clip * (occ[..., None] > 0),
        occlusion_mask=occ,
        scene=clip * (scene_mask[..., None] > 0),
        scene_mask=scene_mask,
    )


def _as_depth(depth: Any, shape: tuple[int, int, int], larger_is_nearer: bool) -> np.ndarray:
    """Depth -> [T,H,W] "nearness" normalised per frame to 0..1 (1 = nearest)."""
    d = to_numpy(depth).astype(np.float32)
    if d.ndim == 4 and d.shape[-1] == 1:
        d = d[..., 0]
    if tuple(d.shape) != tuple(shape):
        raise ValueError(f"depth must be [T,H,W]={tuple(shape)}, got {tuple(d.shape)}")
    if not larger_is_nearer:
        d = -d
    lo = d.reshape(len(d), -1).min(1)[:, None, None]
    hi = d.reshape(len(d), -1).max(1)[:, None, None]
    return (d - lo) / np.maximum(hi - lo, 1e-8)


def _search_region(pm: np.ndarray, sil: np.ndarray | None, scale: float) -> np.ndarray | None:
    h, w = pm.shape
    boxes = [b for b in (mask_box(pm), None if sil is None else mask_box(sil)) if b is not None]
    if not boxes:
        return None
    union = np.array(
        [
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ],
        np.float32,
    )
    x0, y0, x1, y1 = expand_box(union, scale, w, h)
    region = np.zeros((h, w), bool)
    region[y0:y1, x0:x1] = True
    return region


def _occluders_in_frame(
    pm: np.ndarray,
    near: np.ndarray | None,
    cands: np.ndarray | None,
    sil: np.ndarray | None,
    margin: float,
    scale: float,
    min_area: int,
    min_hidden_fraction: float,
    hidden_opening: float = 0.03,
) -> np.ndarray:
    """[H,W] occlusion mask of one frame."""
    out = np.zeros(pm.shape, np.float32)
    region = _search_region(pm, sil, scale)
    if region is None or (near is None and sil is None):
        return out
    person = pm > 0.5
    hidden = None if sil is None else (sil > 0.5) & ~person
    if near is not None and person.any():
        person_near = float(np.median(near[person]))
        if cands is not None:
            for c in cands:
                seg = (c > 0.5) & region & ~person
                if seg.sum() >= min_area and float(near[seg].mean()) > person_near + margin:
                    if _touches(seg, person) or (hidden is not None and (hidden & seg).any()):
                        out = np.maximum(out, c)
            return out
        front = (near > person_near + margin) & region & ~person
        n, labels, stats, _ = cv2.connectedComponentsWithStats(front.astype(np.uint8), connectivity=8)
        grown = cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] < min_area:
                continue
            seg = labels == k
            # In front of the person AND overlapping them (or their hidden body).
            if (seg & grown).any() or (hidden is not None and (seg & hidden).any()):
                out[seg] = 1.0
        return out
    assert hidden is not None
    if cands is not None:
        for c in cands:
            seg = (c > 0.5) & region
            area = int(seg.sum())
            if area >= min_area and (seg & hidden).sum() >= min_hidden_fraction * area:
                out = np.maximum(out, c)
        return out
    # Keep the thick parts only: a misfitted body leaves slivers along its edge.
    box = mask_box(sil)
    size = 0.0 if box is None else float(max(box[2] - box[0], box[3] - box[1]))
    r = max(1, int(round(hidden_opening * size)))
    kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    hidden_u8 = cv2.morphologyEx(hidden.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hidden_u8, connectivity=8)
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] >= min_area:
            out[labels == k] = 1.0
    return out


def _touches(seg: np.ndarray, person: np.ndarray) -> bool:
    grown = cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return bool((seg & grown).any())
