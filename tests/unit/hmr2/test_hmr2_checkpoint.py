"""The real loader reads tiny checkpoints in the released Lightning layout, and nothing unsafe."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from _hmr2_tiny import TINY, fake_smpl_buffers, lightning_checkpoint, tiny_model

from mimo_core.body.hmr2 import StandIn, UnsafeCheckpointError, load_checkpoint_file, load_hmr2


def _same_outputs(a, b) -> None:
    x = torch.randn(2, 3, *TINY.image_size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        pa, pb = a(x), b(x)
    for name in ("global_orient", "body_pose", "betas", "cam_crop"):
        assert torch.equal(getattr(pa, name), getattr(pb, name)), name


def test_lightning_checkpoint_round_trip(tmp_path):
    model = tiny_model()
    path = tmp_path / "epoch=35-step=1000000.ckpt"
    torch.save(lightning_checkpoint(model), path)
    loaded = load_hmr2(tmp_path, config=TINY)  # folder lookup by the released file name
    _same_outputs(model, loaded.model)
    assert "discriminator.D_conv1.weight" in loaded.ignored_keys and "initialized" in loaded.ignored_keys
    assert "smpl.v_template" in loaded.ignored_keys
    smpl = fake_smpl_buffers()
    betas = torch.randn(4, 10)
    expected = smpl["smpl.v_template"][None] + torch.einsum("vcs,bs->bvc", smpl["smpl.shapedirs"], betas)
    expected = torch.einsum("v,bvc->bc", smpl["smpl.J_regressor"][0], expected)
    assert loaded.pelvis is not None
    assert torch.allclose(loaded.pelvis.pelvis(betas), expected, atol=1e-5)


def test_checkpoint_with_config_object_uses_restricted_unpickler(tmp_path, fake_cfgnode_class):
    model = tiny_model(seed=5)
    cfg = fake_cfgnode_class(MODEL=fake_cfgnode_class(IMAGE_SIZE=256))
    path = tmp_path / "hmr2.ckpt"
    torch.save(
        lightning_checkpoint(
            model, extra={"hyper_parameters": {"cfg": cfg, "lr": np.float64(1e-5)}}, smpl=False
        ),
        path,
    )
    import sys

    del sys.modules["fake_yacs_config"]  # the class is no longer importable, as on a user's machine
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    raw = load_checkpoint_file(path)
    stand_in = raw["hyper_parameters"]["cfg"]
    assert isinstance(stand_in, StandIn) and stand_in.stand_in_for == "fake_yacs_config.CfgNode"
    assert stand_in["MODEL"]["IMAGE_SIZE"] == 256
    assert isinstance(raw["hyper_parameters"]["lr"], StandIn)  # numpy scalars are kept inert too
    loaded = load_hmr2(path, config=TINY)
    _same_outputs(model, loaded.model)
    assert loaded.pelvis is None
    sys.modules["fake_yacs_config"] = type(sys)("fake_yacs_config")  # let the fixture clean up


class _Exploit:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.target}",)


class _EvalExploit:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("legacy", [False, True])
def test_malicious_pickle_is_refused(tmp_path, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    payload = {"state_dict": {"x": torch.zeros(1)}, "hyper_parameters": _Exploit(str(marker))}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_builtins_eval_is_refused(tmp_path):
    path = tmp_path / "evil2.ckpt"
    torch.save({"state_dict": {}, "x": _EvalExploit()}, path)
    with pytest.raises(UnsafeCheckpointError, match="eval"):
        load_checkpoint_file(path)


def test_wrong_architecture_is_named(tmp_path):
    path = tmp_path / "hmr2.ckpt"
    torch.save(lightning_checkpoint(tiny_model()), path)
    with pytest.raises(ValueError, match="wrong shapes"):
        load_hmr2(path)  # official (full-size) config against a tiny file


def test_missing_checkpoint_names_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="epoch=35-step=1000000.ckpt"):
        load_hmr2(tmp_path)
