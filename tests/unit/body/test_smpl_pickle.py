"""Restricted SMPL pickle loader: reads chumpy-holding files as numpy without chumpy; refuses other globals."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from mimo_core.body.smpl_pickle import load_smpl_pickle


def _fake_chumpy_modules() -> dict[str, types.ModuleType]:
    """A stand-in ``chumpy.ch.Ch`` class registered under chumpy's module name, only for pickling."""
    ch_mod = types.ModuleType("chumpy.ch")

    class Ch:  # pickled as chumpy.ch.Ch, like the official files
        def __init__(self, x: np.ndarray) -> None:
            self.x = x

        def __reduce__(self):  # noqa: ANN204 - mimic copyreg reconstruction + state dict
            import copyreg

            return (copyreg._reconstructor, (Ch, object, None), {"x": self.x, "_dirty_vars": set()})

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_mod.Ch = Ch
    return {"chumpy": types.ModuleType("chumpy"), "chumpy.ch": ch_mod}


def _write_fake_smpl(path, rng) -> dict:  # noqa: ANN001
    v, j = 6890, 24  # smplx reads landmark vertices by their SMPL index
    arrays = {
        "v_template": rng.standard_normal((v, 3)),
        "shapedirs": rng.standard_normal((v, 3, 10)) * 0.01,
        "posedirs": np.zeros((v, 3, 207), dtype=np.float32),
        "weights": np.full((v, j), 1.0 / j),
        "kintree_table": np.stack([np.r_[4294967295, np.arange(j - 1) // 2], np.arange(j)]).astype(np.int64),
        "f": rng.integers(0, v, (10, 3)).astype(np.uint32),
    }
    regressor = scipy.sparse.csc_matrix(rng.random((j, v)) * (rng.random((j, v)) < 0.3))
    mods = _fake_chumpy_modules()
    sys.modules.update(mods)
    try:
        payload = dict(arrays, J_regressor=regressor, bs_type="lrotmin")
        payload["shapedirs"] = mods["chumpy.ch"].Ch(arrays["shapedirs"])
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    finally:
        for name in mods:
            sys.modules.pop(name, None)
    return dict(arrays, J_regressor=regressor)


def test_loads_chumpy_objects_as_numpy_without_chumpy(tmp_path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "SMPL_FAKE.pkl"
    truth = _write_fake_smpl(path, rng)
    assert "chumpy" not in sys.modules
    data = load_smpl_pickle(path)
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    assert isinstance(data["shapedirs"], np.ndarray)
    np.testing.assert_array_equal(data["shapedirs"], truth["shapedirs"])
    np.testing.assert_array_equal(data["v_template"], truth["v_template"])
    assert scipy.sparse.issparse(data["J_regressor"])
    np.testing.assert_allclose(data["J_regressor"].toarray(), truth["J_regressor"].toarray())
    assert data["bs_type"] == "lrotmin"


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("echo should-not-run",))


def test_rejects_disallowed_globals(tmp_path) -> None:
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"v_template": np.zeros(3), "boom": _Evil()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        load_smpl_pickle(path)


def test_smpl_body_runs_on_the_fake_file(tmp_path) -> None:
    from mimo_core.body import SmplBody

    rng = np.random.default_rng(1)
    path = tmp_path / "SMPL_FAKE.pkl"
    _write_fake_smpl(path, rng)
    body = SmplBody(path, kind="smpl")
    params = body.zero_params(2)
    params.transl[:] = torch.tensor([0.0, 0.0, 5.0])
    out = body(params)
    assert body.name == "smpl" and body.num_pose_joints == 23
    assert out.vertices is not None and out.vertices.shape == (2, 6890, 3)
    assert out.landmarks.shape == (2, 33, 3)
    assert torch.isfinite(out.vertices).all()
