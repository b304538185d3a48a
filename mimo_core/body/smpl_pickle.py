"""Load SMPL / SMPL-H ``.pkl`` model files without chumpy and without full unpickling.

The official files hold ``chumpy`` objects. :func:`load_smpl_pickle` uses a restricted unpickler that
only reconstructs numpy arrays and dtypes; chumpy classes and scipy sparse matrices are replaced by
inert stand-ins that record their pickled state, which is then turned into numpy arrays (chumpy: its
``x`` value) or a ``scipy.sparse.csc_matrix`` built from the recorded ``data / indices / indptr``.
Any other global (``os.system``, ``builtins.eval``...) is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_REDUCERS = {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")}
_OBJECT = {("__builtin__", "object"), ("builtins", "object")}
# Python 3 protocol-2 pickles store raw bytes as `_codecs.encode(text, "latin1")` (harmless).
_BYTES = {("_codecs", "encode")}
_SETS = {("__builtin__", "set"), ("builtins", "set"), ("__builtin__", "frozenset"), ("builtins", "frozenset")}


class _StandIn:
    """Inert replacement for a chumpy or scipy.sparse object: keeps the pickled state, runs nothing."""

    kind = "chumpy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _SparseStandIn(_StandIn):
    kind = "sparse"


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` restricted to the stand-in classes."""
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)):
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls()


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            if name in ("_reconstruct", "scalar"):
                return getattr(_multiarray, name)
            return getattr(np, name)
        if (module, name) in _REDUCERS:
            return _safe_reconstructor
        if (module, name) in _OBJECT:
            return object
        if (module, name) in _SETS:
            return set if name == "set" else frozenset
        if (module, name) in _BYTES:
            import _codecs

            return _codecs.encode
        if module == "chumpy" or module.startswith("chumpy."):
            return _StandIn
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix"):
            return type(name, (_SparseStandIn,), {"format_name": name})
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a body-model file")


def _convert(value: Any) -> Any:
    """Turn stand-ins into numpy / scipy values, recursively through dicts, lists and tuples."""
    if isinstance(value, _SparseStandIn):
        import scipy.sparse

        state = value.state if isinstance(value.state, dict) else {}
        try:
            data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
            shape = tuple(int(s) for s in state.get("_shape", state.get("shape")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"unreadable sparse matrix in body-model file (keys {sorted(state)})") from exc
        ctor = scipy.sparse.csr_matrix if getattr(value, "format_name", "") == "csr_matrix" else scipy.sparse.csc_matrix
        return ctor((data, indices, indptr), shape=shape)
    if isinstance(value, _StandIn):
        state = value.state
        if isinstance(state, dict):
            for key in ("x", "_x", "a"):
                if key in state:
                    return np.asarray(_convert(state[key]))
        if isinstance(state, np.ndarray):
            return state
        raise ValueError("chumpy object without an array value ('x') in body-model file")
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_convert(v) for v in value)
    return value


def load_smpl_pickle(path: str | Path) -> dict[str, Any]:
    """Read an SMPL-family ``.pkl`` as a dict of numpy arrays / scipy sparse matrices / plain values.

    Raises:
        FileNotFoundError: the file does not exist.
        pickle.UnpicklingError: the file references a global outside numpy / chumpy / scipy.sparse.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SMPL model file not found: {path}")
    with path.open("rb") as f:
        data = _RestrictedUnpickler(f, encoding="latin1").load()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of model arrays, got {type(data).__name__}")
    return _convert(data)
