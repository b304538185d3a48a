"""Landmark conventions shared by the body models and the fitter.

MediaPipe Pose gives 33 landmarks per person; the body models regress the subset they can
reproduce (see :attr:`mimo_core.body.base.BodyModel.landmark_available`).
"""

from __future__ import annotations

MEDIAPIPE_33: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip

COCO_17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

MP_LEFT_HIP = MEDIAPIPE_33.index("left_hip")
MP_RIGHT_HIP = MEDIAPIPE_33.index("right_hip")
MP_LEFT_SHOULDER = MEDIAPIPE_33.index("left_shoulder")
MP_RIGHT_SHOULDER = MEDIAPIPE_33.index("right_shoulder")

# Indices of the COCO-17 points inside the MediaPipe-33 list (same names).
COCO_17_IN_MEDIAPIPE: tuple[int, ...] = tuple(MEDIAPIPE_33.index(name) for name in COCO_17)

# Mirror pairs (left index, right index) in MediaPipe-33 order, for flipping.
MEDIAPIPE_MIRROR: tuple[int, ...] = tuple(
    MEDIAPIPE_33.index(n.replace("left", "TMP").replace("right", "left").replace("TMP", "right"))
    for n in MEDIAPIPE_33
)
