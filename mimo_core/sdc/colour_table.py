"""Per-vertex colour tables of the sdc pose condition: load and save.

The official release keeps its table in ``assets/sdc_info.npy``: a pickled ``dict`` written by
``np.save(..., allow_pickle=True)`` whose key ``"smpl"`` holds a ``[6890, 3]`` (or ``[6890, 4]``)
array. Such a file is never fully unpickled here: a restricted unpickler rebuilds numpy arrays and
builtin containers only, and refuses any other global (``os.system``, ``builtins.eval`` ...).

Tables are returned as ``[V, 3]`` float32 RGB in 0..1. Storage in 0..255 (integer arrays, or float
arrays whose maximum exceeds 1) is scaled by 1/255; an alpha column is dropped. The pack saves
tables as plain arrays (``.npy`` without pickle, ``.npz`` or ``.txt``).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]


DEFAULT_KEY = "smpl"
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
_BUILTIN_CONTAINERS = {
    ("builtins", "dict"): dict, ("builtins", "list"): list, ("builtins", "tuple"): tuple,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("__builtin__", "dict"): dict, ("__builtin__", "list"): list, ("__builtin__", "tuple"): tuple,
    ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset,
}  # fmt: skip


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes, scalars and builtin containers."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[key]
        if key in _BUILTIN_CONTAINERS:
            return _BUILTIN_CONTAINERS[key]
        if key == ("_codecs", "encode"):  # protocol-2 pickles store raw bytes this way
            import _codecs

            return _codecs.encode
        raise pickle.UnpicklingError(
            f"global {module}.{name} is not allowed in a colour-table file (only numpy arrays and containers)"
        )


def read_pickled_npy(path: str | Path) -> Any:
    """Read an ``.npy`` file holding a pickled object (``dtype=object``) with the restricted unpickler.

    Returns:
        The unpickled object; a 0-d object array (what ``np.save`` of a dict writes) is unwrapped.

    Raises:
        pickle.UnpicklingError: the pickle references anything but numpy arrays and builtin containers.
        ValueError: the file is not an ``.npy`` object array.
    """
    path = Path(path)
    with path.open("rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            _, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path}: unsupported .npy format version {version}")
        if not dtype.hasobject:
            raise ValueError(f"{path}: not a pickled object array (dtype {dtype})")
        obj = _ArrayOnlyUnpickler(f, encoding="latin1").load()
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        return obj.item()
    return obj


def normalise_table(table: Any, name: str = "colour table") -> np.ndarray:
    """``[V,3|4]`` colours in 0..1 or 0..255 -> ``[V,3]`` float32 in 0..1.

    Integer arrays and float arrays with a maximum above 1 are taken as 0..255 storage.
    """
    arr = np.asarray(table)
    if arr.ndim != 2 or arr.shape[1] not in (3, 4) or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a [V,3] or [V,4] array of vertex colours, got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    rgb = arr[:, :3].astype(np.float64)
    if not np.isfinite(rgb).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if rgb.min() < 0:
        raise ValueError(f"{name} holds negative colours (min {rgb.min():.4g}); expected 0..1 or 0..255")
    if np.issubdtype(arr.dtype, np.integer) or rgb.max() > 1.0:
        if rgb.max() > 255.0:
            raise ValueError(f"{name} has values up to {rgb.max():.4g}; expected 0..1 or 0..255")
        rgb = rgb / 255.0
    return rgb.astype(np.float32)


def _pick(obj: Any, key: str, path: Path) -> Any:
    if isinstance(obj, dict):
        if key not in obj:
            raise KeyError(f"{path}: key {key!r} not found; available keys: {sorted(map(str, obj))}")
        return obj[key]
    return obj


def load_colour_table(path: str | Path, key: str = DEFAULT_KEY) -> np.ndarray:
    """Load a per-vertex colour table.

    Args:
        path: the release's ``sdc_info.npy`` (pickled dict, read with a restricted unpickler), a plain
            ``.npy`` array, an ``.npz`` (entry ``key``, or its only entry) or a text file (``np.loadtxt``).
        key: dict / npz entry to read (``"smpl"`` in the release).

    Returns:
        ``[V, 3]`` float32 RGB in 0..1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"colour table not found: {path} (expected sdc_info.npy or a [V,3] array file)")
    suffix = path.suffix.lower()
    if suffix == ".npz" or zipfile.is_zipfile(path):
        with np.load(path, allow_pickle=False) as data:
            names = list(data.keys())
            if key in names:
                table = data[key]
            elif len(names) == 1:
                table = data[names[0]]
            else:
                raise KeyError(f"{path}: entry {key!r} not found; available entries: {names}")
    elif suffix == ".npy":
        try:
            table = np.load(path, allow_pickle=False)
        except ValueError:  # object array: a pickled dict such as the release's sdc_info.npy
            table = _pick(read_pickled_npy(path), key, path)
    else:
        table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    return normalise_table(table, name=f"colour table {path.name}")


def save_colour_table(path: str | Path, table: Any) -> Path:
    """Save ``[V,3]`` colours in 0..1 as a plain array file (never pickled).

    ``.npy`` -> float32 array, ``.npz`` -> entry ``"smpl"``, anything else -> text (``np.savetxt``).
    """
    path = Path(path)
    rgb = normalise_table(np.asarray(table), name="colour table")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, rgb, allow_pickle=False)
    elif suffix == ".npz":
        np.savez(path, **{DEFAULT_KEY: rgb})
    else:
        np.savetxt(path, rgb, fmt="%.7f")
    return path
