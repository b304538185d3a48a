"""A tiny SMPL-H-layout model file for tests: 6,890 vertices, 52 joints, real finger topology.

The body is a stick figure in the SMPL rest pose (y up, facing +z, left side at +x, arms out,
palms down). Every joint sits on one vertex (one-hot ``J_regressor``), the ten fingertip vertices
of the standard SMPL-H fingertip ids sit at the finger ends, skinned mostly to the distal finger
joint; every other vertex is bound to the pelvis. ``hands_components`` / ``hands_mean`` are
random orthonormal bases (the official files hold MANO's PCA of hand poses there).
"""

from __future__ import annotations

import numpy as np

from mimo_core.body.hands import SMPLH_FINGERTIP_VERTICES

NUM_VERTICES = 6890
NUM_JOINTS = 52
BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
BODY_JOINTS = np.array([
    [0.0, 0.9, 0.0], [0.09, 0.82, 0.0], [-0.09, 0.82, 0.0], [0.0, 1.0, 0.0], [0.1, 0.45, 0.0],
    [-0.1, 0.45, 0.0], [0.0, 1.12, 0.0], [0.1, 0.08, 0.0], [-0.1, 0.08, 0.0], [0.0, 1.2, 0.0],
    [0.1, 0.02, 0.1], [-0.1, 0.02, 0.1], [0.0, 1.42, 0.0], [0.08, 1.35, 0.0], [-0.08, 1.35, 0.0],
    [0.0, 1.55, 0.02], [0.18, 1.38, 0.0], [-0.18, 1.38, 0.0], [0.45, 1.38, 0.0], [-0.45, 1.38, 0.0],
    [0.7, 1.38, 0.0], [-0.7, 1.38, 0.0],
])  # fmt: skip
# Left hand, relative to the wrist, in SMPL-H joint order (index, middle, pinky, ring, thumb; 3 each),
# fingers along +x, palm facing -y, thumb towards +z.
_FINGER_BASE = {"index": (0.085, 0.0, 0.025), "middle": (0.09, 0.0, 0.005), "pinky": (0.075, 0.0, -0.035),
                "ring": (0.085, 0.0, -0.015), "thumb": (0.025, -0.012, 0.025)}  # fmt: skip
_FINGER_BONES = {"index": (0.038, 0.024, 0.022), "middle": (0.043, 0.028, 0.023), "pinky": (0.03, 0.02, 0.019),
                 "ring": (0.04, 0.026, 0.022), "thumb": (0.035, 0.031, 0.027)}  # fmt: skip
_FINGER_DIR = {"index": (1.0, 0.0, 0.08), "middle": (1.0, 0.0, 0.0), "pinky": (1.0, 0.0, -0.12),
               "ring": (1.0, 0.0, -0.05), "thumb": (0.75, -0.15, 0.65)}  # fmt: skip
SMPLH_FINGERS = ("index", "middle", "pinky", "ring", "thumb")
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")  # order of SMPLH_FINGERTIP_VERTICES


def hand_geometry() -> tuple[np.ndarray, np.ndarray]:
    """Left-hand joints ``[15,3]`` and fingertips ``[5,3]`` (thumb..pinky) relative to the wrist."""
    joints, tips = [], {}
    for finger in SMPLH_FINGERS:
        d = np.asarray(_FINGER_DIR[finger]) / np.linalg.norm(_FINGER_DIR[finger])
        p = np.asarray(_FINGER_BASE[finger], dtype=np.float64)
        for length in _FINGER_BONES[finger]:
            joints.append(p.copy())
            p = p + length * d
        tips[finger] = p
    return np.stack(joints), np.stack([tips[f] for f in TIP_ORDER])


def write_tiny_smplh(path, num_betas: int = 10, seed: int = 0) -> None:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    hand_j, hand_tips = hand_geometry()
    mirror = np.array([-1.0, 1.0, 1.0])
    joints = np.concatenate([BODY_JOINTS, BODY_JOINTS[20] + hand_j, BODY_JOINTS[21] + hand_j * mirror])
    parents = list(BODY_PARENTS)
    for wrist in (20, 21):
        base = len(parents)
        for f in range(5):
            parents += [wrist, base + 3 * f, base + 3 * f + 1]
    template = rng.normal(0.0, 0.02, (NUM_VERTICES, 3)) + np.array([0.0, 0.9, 0.0])
    weights = np.zeros((NUM_VERTICES, NUM_JOINTS))
    weights[:, 0] = 1.0
    regressor = np.zeros((NUM_JOINTS, NUM_VERTICES))
    tip_ids = set(SMPLH_FINGERTIP_VERTICES["left"]) | set(SMPLH_FINGERTIP_VERTICES["right"])
    joint_vertices = [v for v in range(100, NUM_VERTICES) if v not in tip_ids][:NUM_JOINTS]
    for j, v in enumerate(joint_vertices):
        template[v] = joints[j]
        regressor[j, v] = 1.0
        weights[v] = 0.0
        weights[v, parents[j] if j else 0] = 1.0
    for side, wrist, sign in (("left", 20, 1.0), ("right", 21, -1.0)):
        first = 22 if side == "left" else 37
        for k, vid in enumerate(SMPLH_FINGERTIP_VERTICES[side]):
            distal = first + 3 * SMPLH_FINGERS.index(TIP_ORDER[k]) + 2
            template[vid] = BODY_JOINTS[wrist] + hand_tips[k] * np.array([sign, 1.0, 1.0])
            weights[vid] = 0.0
            weights[vid, distal], weights[vid, distal - 1] = 0.85, 0.15
    shapedirs = rng.standard_normal((NUM_VERTICES, 3, num_betas)) * 1e-3
    faces = rng.integers(0, NUM_VERTICES, (20, 3)).astype(np.int64)

    def basis() -> np.ndarray:
        q, _ = np.linalg.qr(rng.standard_normal((45, 45)))
        return q.T * 0.5

    np.savez(path, v_template=template, shapedirs=shapedirs, posedirs=np.zeros((NUM_VERTICES, 3, 51 * 9)),
             J_regressor=regressor, weights=weights, f=faces,
             kintree_table=np.stack([np.r_[4294967295, parents[1:]], np.arange(NUM_JOINTS)]).astype(np.int64),
             hands_componentsl=basis(), hands_componentsr=basis(),
             hands_meanl=rng.normal(0, 0.1, 45), hands_meanr=rng.normal(0, 0.1, 45))
