"""Prepare the reference character image: find the person, cut them out, frame them.

The person is found with the same MediaPipe segmenter as the video
(:class:`~mimo_core.preprocess.mediapipe_backend.MediaPipePersonDetector`);
when the pose model finds no body (e.g. a close-up face), MediaPipe selfie
segmentation is used instead. The crop is the person's box grown by
``margin`` and padded to the target aspect ratio, then resized to ``size``;
everything outside the person is replaced by ``background``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ._arrays import as_frames, mask_box, to_uint8
from .mediapipe_backend import MediaPipePersonDetector, _import_mediapipe


def prepare_reference(
    image: Any,
    size: tuple[int, int] = (768, 768),
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    margin: float = 0.1,
    detector: MediaPipePersonDetector | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the person out of ``image`` and frame them for the model.

    Args:
        image: [H,W,3] float 0..1 (or uint8) RGB.
        size: output (height, width) in pixels.
        background: RGB 0..1 colour put behind the person.
        margin: extra border around the person's box, as a fraction of its
            longer side.
        detector: optional reusable detector.

    Returns:
        (image [h,w,3] float32 0..1, mask [h,w] float32 0..1) with (h,w) = ``size``.

    Raises:
        ValueError: no person is found in ``image``.
    """
    img = as_frames(image, "image")
    if img.shape[0] != 1:
        raise ValueError(f"image must be one [H,W,3] picture, got {img.shape[0]} frames")
    img = img[0]
    out_h, out_w = (int(v) for v in size)
    if out_h < 8 or out_w < 8:
        raise ValueError(f"size must be at least 8x8 (height, width), got {size}")
    mask = person_mask(img, detector)
    box = mask_box(mask)
    if box is None:
        raise ValueError("no person found in the reference image (MediaPipe pose and selfie segmentation)")
    x0, y0, x1, y1 = _framed_box(box, margin, out_w / out_h)
    bg = np.asarray(background, np.float32).reshape(1, 1, 3)
    cut = img * mask[..., None] + bg * (1 - mask[..., None])
    crop = _crop_padded(cut, x0, y0, x1, y1, bg)
    crop_mask = _crop_padded(mask[..., None], x0, y0, x1, y1, np.zeros((1, 1, 1), np.float32))[..., 0]
    interp = cv2.INTER_AREA if (x1 - x0) > out_w else cv2.INTER_CUBIC
    out = np.clip(cv2.resize(crop, (out_w, out_h), interpolation=interp), 0, 1)
    out_mask = np.clip(cv2.resize(crop_mask, (out_w, out_h), interpolation=cv2.INTER_LINEAR), 0, 1)
    return out.astype(np.float32), out_mask.astype(np.float32)


def person_mask(image: np.ndarray, detector: MediaPipePersonDetector | None = None) -> np.ndarray:
    """[H,W] float32 0..1 mask of the main person in ``image`` ([H,W,3] float 0..1)."""
    h, w = image.shape[:2]
    u8 = to_uint8(image)
    own = detector is None
    det_model = detector or MediaPipePersonDetector()
    try:
        det = det_model.detect(u8)
    finally:
        if own:
            det_model.close()
    if det is not None and (det.mask > 0.5).any():
        return det.full_mask(h, w)
    mp = _import_mediapipe()
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
        result = seg.process(u8)
    mask = np.asarray(result.segmentation_mask, np.float32)
    # keep the largest connected blob
    n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0.5).astype(np.uint8))
    if n <= 1:
        return np.zeros((h, w), np.float32)
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return mask * (labels == keep)


def _framed_box(box: np.ndarray, margin: float, aspect: float) -> tuple[int, int, int, int]:
    """Grow ``box`` by ``margin`` and widen/heighten it to ``aspect`` (= w/h), about its centre."""
    x0, y0, x1, y1 = (float(v) for v in box)
    pad = margin * max(x1 - x0, y1 - y0)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    bw, bh = x1 - x0, y1 - y0
    if bw / bh < aspect:
        bw = bh * aspect
    else:
        bh = bw / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (int(round(cx - bw / 2)), int(round(cy - bh / 2)), int(round(cx + bw / 2)), int(round(cy + bh / 2)))


def _crop_padded(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, fill: np.ndarray) -> np.ndarray:
    """Crop [y0:y1, x0:x1] of [H,W,C] ``img``; parts outside the image take ``fill``."""
    h, w, c = img.shape
    out = np.empty((y1 - y0, x1 - x0, c), np.float32)
    out[:] = fill
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out
