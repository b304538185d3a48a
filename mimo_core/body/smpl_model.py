"""SMPL / SMPL-H backend through ``smplx``, for users who provide the (licensed) model files.

Model files are read with :func:`mimo_core.body.smpl_pickle.load_smpl_pickle` (``.pkl``, no chumpy,
no full unpickling) or ``numpy.load(allow_pickle=False)`` (``.npz``) and handed to ``smplx`` as a
data struct, so ``smplx`` never opens them itself. Pose: axis-angle of the 23 SMPL body joints
(``smpl``) or 21 body + 2x15 finger joints (``smplh``); shape: ``num_betas`` betas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import BodyModel
from .landmarks import MEDIAPIPE_33
from .smpl_pickle import load_smpl_pickle

SMPL_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)  # fmt: skip
_FIT_JOINTS = ("spine1", "spine2", "spine3", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
               "right_shoulder", "right_elbow", "right_wrist", "left_hip", "left_knee", "left_ankle",
               "right_hip", "right_knee", "right_ankle")  # fmt: skip
# MediaPipe landmark -> smplx output joint name (SMPL joints + smplx's extra vertex joints).
_MP_TO_SMPLX = {
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear",
    "right_ear": "right_ear", "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow", "right_elbow": "right_elbow", "left_wrist": "left_wrist",
    "right_wrist": "right_wrist", "left_pinky": "left_pinky", "right_pinky": "right_pinky",
    "left_index": "left_index", "right_index": "right_index", "left_thumb": "left_thumb",
    "right_thumb": "right_thumb", "left_hip": "left_hip", "right_hip": "right_hip",
    "left_knee": "left_knee", "right_knee": "right_knee", "left_ankle": "left_ankle",
    "right_ankle": "right_ankle", "left_heel": "left_heel", "right_heel": "right_heel",
    "left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe",
}  # fmt: skip


def read_model_file(path: str | Path) -> dict:
    """Model arrays from a ``.pkl`` (restricted unpickler) or ``.npz`` (no pickle) file."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".pkl":
        return load_smpl_pickle(path)
    raise ValueError(f"SMPL model file must be .pkl or .npz, got {path.name}")


class SmplBody(BodyModel):
    """SMPL (6,890 vertices) or SMPL-H body from a user-provided model file."""

    def __init__(self, model_file: str | Path, kind: str = "smpl", num_betas: int = 10) -> None:
        super().__init__()
        import smplx
        from smplx.joint_names import JOINT_NAMES
        from smplx.utils import Struct

        if kind not in ("smpl", "smplh"):
            raise ValueError(f"kind must be 'smpl' or 'smplh', got {kind!r}")
        data = read_model_file(model_file)
        missing = [k for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
                   if k not in data]  # fmt: skip
        if missing:
            raise ValueError(f"{model_file}: not an SMPL model file, missing {missing}")
        num_betas = min(num_betas, int(np.asarray(data["shapedirs"]).shape[-1]))
        struct = Struct(**data)
        common = dict(model_path=str(model_file), data_struct=struct, num_betas=num_betas, batch_size=1)
        if kind == "smpl":
            self._smpl = smplx.SMPL(**common)
            n_body = 23
        else:
            self._smpl = smplx.SMPLH(**common, use_pca=False, flat_hand_mean=True)
            n_body = 21
        for p in self._smpl.parameters():
            p.requires_grad_(False)
        # Hand-pose PCA of the file (basis [45,45], mean [45] per hand), for the finger fit.
        pca_keys = ("hands_componentsl", "hands_meanl", "hands_componentsr", "hands_meanr")
        self.hand_pca = ({"left": (np.asarray(data["hands_componentsl"]), np.asarray(data["hands_meanl"])),
                          "right": (np.asarray(data["hands_componentsr"]), np.asarray(data["hands_meanr"]))}
                         if kind == "smplh" and all(k in data for k in pca_keys) else None)  # fmt: skip
        self.name = kind
        self._n_body = n_body
        body_names = SMPL_JOINTS[1 : 1 + n_body]
        hand_names = tuple(f"{side}_hand_{i}" for side in ("left", "right") for i in range(15)) if kind == "smplh" else ()
        self.pose_joint_names = body_names + hand_names
        self.fit_pose_joints = tuple(self.pose_joint_names.index(n) for n in _FIT_JOINTS)
        self.shape_names = tuple(f"beta{i}" for i in range(num_betas))
        names = list(JOINT_NAMES)
        with torch.no_grad():
            out = self._call(torch.zeros(1, len(self.pose_joint_names), 3), torch.zeros(1, num_betas))
        n_out = out.joints.shape[1]
        source, available = [], []
        for name in MEDIAPIPE_33:
            target = _MP_TO_SMPLX.get(name, "nose" if "mouth" in name else name.replace("_inner", "").replace("_outer", ""))
            idx = names.index(target) if target in names else 0
            ok = name in _MP_TO_SMPLX and idx < n_out
            source.append(idx if idx < n_out else 0)
            available.append(ok)
        self.register_buffer("_mp_source", torch.tensor(source), persistent=False)
        self.register_buffer("_mp_available", torch.tensor(available), persistent=False)
        self.register_buffer("_faces", torch.as_tensor(np.asarray(data["f"]).astype(np.int64)), persistent=False)

    def _call(self, pose: torch.Tensor, shape: torch.Tensor):  # noqa: ANN202 - smplx output
        b = pose.shape[0]
        kwargs = dict(
            betas=shape.expand(b, -1),
            body_pose=pose[:, : self._n_body].reshape(b, -1),
            global_orient=pose.new_zeros(b, 3),
            transl=pose.new_zeros(b, 3),
        )
        if self.name == "smplh":
            kwargs["left_hand_pose"] = pose[:, self._n_body : self._n_body + 15].reshape(b, -1)
            kwargs["right_hand_pose"] = pose[:, self._n_body + 15 :].reshape(b, -1)
        return self._smpl(**kwargs)

    @property
    def faces(self) -> torch.Tensor:
        return self._faces

    @property
    def num_vertices(self) -> int:
        return int(self._smpl.v_template.shape[0])

    @property
    def landmark_available(self) -> torch.Tensor:
        return self._mp_available

    def default_shape(self) -> torch.Tensor:
        return torch.zeros(self.num_shape)

    def canonical(
        self, pose: torch.Tensor, shape: torch.Tensor, with_vertices: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        out = self._call(pose.float(), shape.float())
        joints = out.joints
        return (out.vertices if with_vertices else None), joints[:, :24], joints[:, self._mp_source]
