"""A person's look as the colours of their clothing from head to foot, to tell people apart.

Used by the tracker to take a person back when they come back somewhere else
(after leaving the frame, or behind something wide): position no longer says who
is who, clothing colours do. The descriptor splits the person's box into
``BANDS`` horizontal bands (head, shoulders, ..., feet) and keeps the median
CIELAB colour of the segmenter's mask in each (the mask shrunk by one pixel, so
that the background along its edge does not count). Bands are relative to the
box, so the same person nearer or further from the camera still lines up, and
the median ignores a swinging arm or a strap.

Two descriptors compare by the mean colour difference (CIE76 delta E, in which
2 is barely visible and 10 is clearly another colour) over the bands seen in
both. On the real sample clip (``bench/bench_preprocess.py``) the walking
woman's look stays within 4.7-11.4 (median 6.2) of her look in her first frame,
while the man, in a grey T-shirt like hers, is never closer than 10.7: two people
dressed alike do not come far apart, which is why the tracker asks for a close
match that is also clearly closer than the next person
(:class:`~.tracking.PersonTracker`).
"""

from __future__ import annotations

import cv2
import numpy as np

BANDS = 6
MIN_PIXELS = 10  # fewer mask pixels in a band: that band is not seen


def describe(
    frame: np.ndarray, mask: np.ndarray, box: np.ndarray, mask_origin: tuple[int, int] = (0, 0)
) -> np.ndarray | None:
    """``[BANDS, 3]`` float32 median L*a*b* colour per band of ``box`` (NaN rows: band not seen).

    Args:
        frame: ``[H,W,3]`` uint8 RGB.
        mask: 0..1, the person (pixels above 0.5 count): frame-sized, or a crop whose
            top-left corner lies at ``mask_origin`` (x, y) in the frame.
        box: ``x0,y0,x1,y1`` pixels.

    Returns:
        None when fewer than half of the bands are seen.
    """
    h, w = frame.shape[:2]
    if not np.isfinite(box).all():
        return None
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x1 - x0 < 3 or y1 - y0 < BANDS:
        return None
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mx, my = int(mask_origin[0]), int(mask_origin[1])
    ix0, iy0 = max(x0, mx), max(y0, my)
    ix1, iy1 = min(x1, mx + mask.shape[1]), min(y1, my + mask.shape[0])
    if ix1 > ix0 and iy1 > iy0:
        inside[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = mask[iy0 - my : iy1 - my, ix0 - mx : ix1 - mx] > 0.5
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)
    lab = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0  # OpenCV's 8-bit L*a*b*: L scaled to 0..255, a and b offset by 128
    lab[..., 1:] -= 128.0
    out = np.full((BANDS, 3), np.nan, np.float32)
    rows = y1 - y0
    for k in range(BANDS):
        band = slice(k * rows // BANDS, (k + 1) * rows // BANDS)
        pixels = lab[band][inside[band]]
        if len(pixels) >= MIN_PIXELS:
            out[k] = np.median(pixels, 0)
    return out if np.isfinite(out[:, 0]).sum() * 2 >= BANDS else None


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean colour difference (delta E) over the bands seen in both; inf when fewer than half are."""
    both = np.isfinite(a[:, 0]) & np.isfinite(b[:, 0])
    if both.sum() * 2 < len(a):
        return float("inf")
    return float(np.linalg.norm(a[both] - b[both], axis=1).mean())


def blend(old: np.ndarray | None, new: np.ndarray, weight: float) -> np.ndarray:
    """Running mean ``(1 - weight) * old + weight * new``, band by band (a band seen in one only keeps that one)."""
    if old is None:
        return new.copy()
    out = np.where(np.isfinite(old), (1 - weight) * old + weight * new, new)
    return np.where(np.isfinite(new), out, old).astype(np.float32)
