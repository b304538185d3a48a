"""Default video inpainting (CPU, no model): temporal propagation, then Telea.

1. Every hole pixel that is visible in other frames takes the temporal median
   of those visible samples. With ``align="homography"`` the frames are first
   registered to the reference frame with ORB features + RANSAC homography
   (ECC alignment when features are scarce; estimated on non-hole pixels), so
   a panning/zooming camera works; with
   ``align="none"`` (default) the camera is assumed static.
2. Pixels never seen in any frame are filled spatially with ``cv2.inpaint``
   (Telea), per frame.

Memory: one float32 copy of the clip plus a NaN-masked stack; call it per
chunk (e.g. 16-48 frames) for long videos.
"""

from __future__ import annotations

import warnings
from typing import Any

import cv2
import numpy as np

from ._arrays import as_frames, as_masks, to_uint8


def inpaint_video(
    frames: Any,
    hole_mask: Any,
    align: str = "none",
    telea_radius: int = 5,
    hole_threshold: float = 0.5,
) -> np.ndarray:
    """Fill ``hole_mask`` in ``frames``.

    Args:
        frames: [T,H,W,3] float 0..1 (or uint8).
        hole_mask: [T,H,W] 0..1; pixels > ``hole_threshold`` are holes
            (e.g. ``1 - Layers.scene_mask``).
        align: ``"none"`` (static camera) or ``"homography"`` (camera motion).
        telea_radius: neighbourhood radius of the spatial fallback, pixels.

    Returns:
        [T,H,W,3] float32 in 0..1; pixels outside the holes are unchanged.
    """
    if align not in ("none", "homography"):
        raise ValueError(f"align must be 'none' or 'homography', got {align!r}")
    clip = as_frames(frames)
    t, h, w = clip.shape[:3]
    holes = as_masks(hole_mask, (t, h, w), "hole_mask") > hole_threshold
    out = clip.copy()
    if not holes.any():
        return out
    if align == "none":
        filled = _temporal_fill_static(clip, holes)
        out[holes] = filled[holes]
        unseen = holes & np.isnan(filled[..., 0])
    else:
        unseen = np.zeros_like(holes)
        for i in range(t):
            if holes[i].any():
                filled_i, unseen[i] = _temporal_fill_aligned(clip, holes, i)
                out[i][holes[i]] = filled_i[holes[i]]
    for i in np.flatnonzero(unseen.reshape(t, -1).any(1)):
        img = to_uint8(np.nan_to_num(out[i]))
        fixed = cv2.inpaint(img, unseen[i].astype(np.uint8) * 255, telea_radius, cv2.INPAINT_TELEA)
        out[i][unseen[i]] = fixed[unseen[i]].astype(np.float32) / 255.0
    return out


def _temporal_fill_static(clip: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Per-pixel median over frames where the pixel is visible; NaN where never visible."""
    stack = np.where(holes[..., None], np.nan, clip)
    seen_any = (~holes).any(0)
    med = np.full(clip.shape[1:], np.nan, np.float32)
    if seen_any.any():
        med[seen_any] = np.nanmedian(stack[:, seen_any], axis=0)
    return np.broadcast_to(med, clip.shape)


def _homography(src: np.ndarray, dst: np.ndarray, src_valid: np.ndarray, dst_valid: np.ndarray) -> np.ndarray | None:
    """3x3 homography mapping ``src`` pixels onto ``dst`` (uint8 grey images), or None.

    ORB features + RANSAC first; when too few features are found (small or
    smooth images) the ECC image alignment of OpenCV is used instead.
    """
    hom = _homography_orb(src, dst, src_valid, dst_valid)
    return hom if hom is not None else _homography_ecc(src, dst, src_valid & dst_valid)


def _homography_orb(src: np.ndarray, dst: np.ndarray, src_valid: np.ndarray, dst_valid: np.ndarray) -> np.ndarray | None:
    orb = cv2.ORB_create(1500)
    k1, d1 = orb.detectAndCompute(src, src_valid.astype(np.uint8) * 255)
    k2, d2 = orb.detectAndCompute(dst, dst_valid.astype(np.uint8) * 255)
    if d1 is None or d2 is None or len(k1) < 8 or len(k2) < 8:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(d1, d2)
    if len(matches) < 8:
        return None
    p1 = np.float32([k1[m.queryIdx].pt for m in matches])
    p2 = np.float32([k2[m.trainIdx].pt for m in matches])
    hom, inliers = cv2.findHomography(p1, p2, cv2.RANSAC, 3.0)
    if hom is None or inliers is None or int(inliers.sum()) < 8:
        return None
    return hom


def _homography_ecc(src: np.ndarray, dst: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """Translation from phase correlation, refined to a homography by ECC when it converges."""
    a, b = src.astype(np.float32), dst.astype(np.float32)
    (dx, dy), response = cv2.phaseCorrelate(a, b)  # dst(x) ~ src(x - d)
    if response < 0.05:
        return None
    # ECC finds W with src(W(x)) ~ dst(x): W maps dst pixels to src pixels.
    warp = np.array([[1, 0, -dx], [0, 1, -dy], [0, 0, 1]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    try:
        _, warp = cv2.findTransformECC(b, a, warp, cv2.MOTION_HOMOGRAPHY, criteria, valid.astype(np.uint8), 5)
    except cv2.error:
        pass  # keep the translation
    return np.linalg.inv(warp.astype(np.float64))


def _temporal_fill_aligned(clip: np.ndarray, holes: np.ndarray, ref: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill frame ``ref`` from all other frames warped onto it.

    Returns (filled [H,W,3] with NaN where never seen, unseen [H,W] bool).
    """
    t, h, w = clip.shape[:3]
    grey = []
    for f, hole in zip(clip, holes, strict=True):
        g = cv2.cvtColor(to_uint8(f), cv2.COLOR_RGB2GRAY)
        if hole.any() and not hole.all():
            g[hole] = int(np.median(g[~hole]))  # holes must not pull the alignment
        grey.append(g)
    samples = []
    for j in range(t):
        if j == ref:
            continue
        hom = _homography(grey[j], grey[ref], ~holes[j], ~holes[ref])
        if hom is None:
            continue
        warped = cv2.warpPerspective(clip[j], hom, (w, h), flags=cv2.INTER_LINEAR)
        valid = cv2.warpPerspective((~holes[j]).astype(np.uint8), hom, (w, h), flags=cv2.INTER_NEAREST) > 0
        inside = cv2.warpPerspective(np.ones((h, w), np.uint8), hom, (w, h), flags=cv2.INTER_NEAREST) > 0
        samples.append(np.where((valid & inside)[..., None], warped, np.nan))
    if not samples:
        return np.full(clip.shape[1:], np.nan, np.float32), holes[ref].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
        med = np.nanmedian(np.stack(samples), axis=0).astype(np.float32)
    unseen = holes[ref] & np.isnan(med[..., 0])
    return med, unseen
