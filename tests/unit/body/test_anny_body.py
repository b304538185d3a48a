"""Anny body model: shapes, conventions, landmark regression and the fast fitting path."""

from __future__ import annotations

import torch

from mimo_core.body import MEDIAPIPE_33


def test_forward_shapes_and_canonical_frame(anny_body) -> None:
    body = anny_body
    assert body.name == "anny" and body.num_vertices == 13718
    assert body.faces.shape[1] == 3 and int(body.faces.max()) < body.num_vertices
    out = body(body.zero_params(2))
    assert out.vertices.shape == (2, body.num_vertices, 3)
    assert out.joints.shape == (2, body.num_pose_joints, 3)
    assert out.landmarks.shape == (2, 33, 3)
    lm = out.landmarks[0]
    nose, l_sh, r_sh = (lm[MEDIAPIPE_33.index(n)] for n in ("nose", "left_shoulder", "right_shoulder"))
    l_ankle = lm[MEDIAPIPE_33.index("left_ankle")]
    assert nose[1] > l_sh[1] > l_ankle[1]  # Y up
    assert l_sh[0] > 0 > r_sh[0]  # left side at +X
    assert nose[2] > l_sh[2]  # facing +Z
    height = float(body.rest_height(body.default_shape()[None]))
    assert 1.5 < height < 1.8


def test_global_transform_and_landmarks_match_full_regression(anny_body) -> None:
    import anny

    body = anny_body
    torch.manual_seed(0)
    params = body.zero_params(3)
    params.pose = body.full_pose(torch.randn(3, len(body.fit_pose_joints), 3) * 0.4)
    params.shape = torch.rand(3, body.num_shape)
    params.global_orient = torch.randn(3, 3)
    params.transl = torch.randn(3, 3)
    out = body(params)
    # Landmarks that come from Anny's COCO regressor equal the regressor applied to the skinned mesh.
    reg = anny.KeypointsRegressor.coco(body._anny)
    full = torch.einsum("kv,bvd->bkd", reg.regression_weights.float(), out.vertices)
    for name in ("nose", "left_wrist", "right_knee", "left_heel"):
        coco_name = name if name != "left_foot_index" else "left_big_toe"
        k = reg.labels.index(coco_name)
        torch.testing.assert_close(out.landmarks[:, MEDIAPIPE_33.index(name)], full[:, k], atol=1e-4, rtol=0)
    # The reduced chain used by the fitter is exact.
    fit_pose = params.pose[:, list(body.fit_pose_joints)]
    canon = body.canonical(params.pose, params.shape, with_vertices=False)[2]
    torch.testing.assert_close(body.fit_landmarks(fit_pose, params.shape), canon, atol=1e-5, rtol=0)
