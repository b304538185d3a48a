"""Colour-table files: the release's pickled sdc_info.npy (restricted unpickler) and plain arrays."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mimo_core.sdc import load_colour_table, normalise_table, read_pickled_npy, save_colour_table


@pytest.fixture
def table_u8() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(50, 3), dtype=np.uint8)


def test_pickled_dict_like_the_release(tmp_path, table_u8):
    path = tmp_path / "sdc_info.npy"
    np.save(path, {"smpl": table_u8, "other": np.zeros((2, 3))}, allow_pickle=True)
    table = load_colour_table(path)
    assert table.dtype == np.float32 and table.shape == (50, 3)
    np.testing.assert_allclose(table, table_u8 / 255.0, atol=1e-7)


def test_pickled_dict_float_table_and_rgba(tmp_path):
    rgba = np.random.default_rng(1).random((20, 4))
    path = tmp_path / "sdc_info.npy"
    np.save(path, {"smpl": rgba}, allow_pickle=True)
    np.testing.assert_allclose(load_colour_table(path), rgba[:, :3].astype(np.float32))


def test_pickled_dict_missing_key_names_the_keys(tmp_path, table_u8):
    path = tmp_path / "sdc_info.npy"
    np.save(path, {"smplx": table_u8}, allow_pickle=True)
    with pytest.raises(KeyError, match="smplx"):
        load_colour_table(path)


def test_malicious_pickle_is_rejected_and_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "sdc_info.npy"
    arr = np.empty((), dtype=object)
    arr[()] = {"smpl": Evil()}
    np.save(path, arr, allow_pickle=True)
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        load_colour_table(path)
    with pytest.raises(pickle.UnpicklingError):
        read_pickled_npy(path)
    assert not marker.exists()


def test_plain_arrays_npy_npz_txt(tmp_path, table_u8):
    floats = table_u8 / 255.0
    np.save(tmp_path / "t.npy", table_u8)
    np.savez(tmp_path / "t.npz", smpl=floats)
    np.savez(tmp_path / "single.npz", colours=floats)
    np.savetxt(tmp_path / "t.txt", table_u8.astype(float))
    for name in ("t.npy", "t.npz", "single.npz", "t.txt"):
        np.testing.assert_allclose(load_colour_table(tmp_path / name), floats, atol=1e-6, err_msg=name)


def test_float_0_255_storage_is_scaled():
    raw = np.array([[0.0, 128.0, 255.0], [10.0, 20.0, 30.0]])
    np.testing.assert_allclose(normalise_table(raw), raw / 255.0, atol=1e-7)
    np.testing.assert_allclose(normalise_table(raw / 255.0), raw / 255.0, atol=1e-7)


@pytest.mark.parametrize(
    "bad, match",
    [(np.zeros((5, 2)), r"\[V,3\]"), (np.full((3, 3), -0.1), "negative"), (np.full((3, 3), 300.0), "0..255"),
     (np.full((3, 3), np.nan), "NaN")],
)  # fmt: skip
def test_bad_tables_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        normalise_table(bad)


def test_save_round_trip_is_plain(tmp_path, table_u8):
    floats = table_u8 / 255.0
    for name in ("out.npy", "out.npz", "out.txt"):
        path = save_colour_table(tmp_path / name, floats)
        np.testing.assert_allclose(load_colour_table(path), floats, atol=1e-6)
    np.load(tmp_path / "out.npy", allow_pickle=False)  # no pickle inside


def test_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="sdc_info.npy"):
        load_colour_table(tmp_path / "nope.npy")
