"""The full-size network has exactly the released checkpoint's parameter names and shapes."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from _hmr2_tiny import MANIFEST, TINY, tiny_model

from mimo_core.body.hmr2 import IGNORED_PREFIXES, Hmr2Config, Hmr2Model, rot6d_to_rotmat
from mimo_core.body.rotations import axis_angle_to_matrix


def _manifest_keys() -> dict[str, dict]:
    if not MANIFEST.is_file():
        pytest.skip(f"checkpoint manifest not found at {MANIFEST} (the shared folder beside the repository)")
    return json.loads(MANIFEST.read_text())["keys"]


def test_full_model_matches_manifest_keys_and_shapes():
    keys = _manifest_keys()
    with torch.device("meta"):
        model = Hmr2Model(Hmr2Config.official())
    ours = {k: (list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()}
    used = {k: (v["shape"], v["dtype"]) for k, v in keys.items() if k.startswith(("backbone.", "smpl_head."))}
    assert ours == used
    others = [k for k in keys if k not in used]
    assert others and all(k.startswith(IGNORED_PREFIXES) for k in others)


def test_full_width_forward_shapes():
    config = dataclasses.replace(Hmr2Config.official(), depth=1, head_depth=1)  # full widths, fewer layers
    model = Hmr2Model(config).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 256, 192))
    assert model.config.grid == (16, 12)
    assert tuple(out.global_orient.shape) == (2, 3, 3)
    assert tuple(out.body_pose.shape) == (2, 23, 3, 3)
    assert tuple(out.betas.shape) == (2, 10)
    assert tuple(out.cam_crop.shape) == (2, 3)


def test_rot6d_reads_first_two_columns():
    rot = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.7], [2.5, 0.1, -0.4]]))
    six = torch.cat([rot[..., :, 0], rot[..., :, 1]], dim=-1)
    assert torch.allclose(rot6d_to_rotmat(six), rot, atol=1e-6)
    out = rot6d_to_rotmat(torch.randn(5, 6))
    assert torch.allclose(out @ out.transpose(-1, -2), torch.eye(3).expand(5, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(out), torch.ones(5), atol=1e-5)


def test_tiny_model_outputs_are_valid_rotations():
    out = tiny_model()(torch.randn(3, 3, *TINY.image_size))
    rot = torch.cat([out.global_orient[:, None], out.body_pose], dim=1)
    assert torch.allclose(rot @ rot.transpose(-1, -2), torch.eye(3).expand_as(rot), atol=1e-5)
    assert torch.isfinite(out.betas).all() and torch.isfinite(out.cam_crop).all()


def test_wrong_input_size_is_named():
    with pytest.raises(ValueError, match=r"\[B, 3, 256, 192\]"):
        tiny_model()(torch.zeros(1, 3, 256, 256))
