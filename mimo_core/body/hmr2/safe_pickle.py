"""Read PyTorch checkpoints without full unpickling.

:func:`load_checkpoint_file` first tries ``torch.load(weights_only=True)``. A PyTorch Lightning
checkpoint may also hold objects that this refuses (``hyper_parameters`` with a yacs ``CfgNode``,
Lightning's ``AttributeDict``, numpy scalars...). Such files are then read with a restricted
unpickler: tensors, storages and plain containers are rebuilt as usual, a short list of modules that
can run code (``os``, ``subprocess``, ``builtins.eval``...) is refused with :class:`UnsafeCheckpointError`,
and every other global (a class or function of any other module, numpy and torch included) becomes an
inert :class:`StandIn` that only records the name and the pickled arguments and state. Nothing named in
the file is imported or called.
"""

from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Any

import torch

#: plain data types that may be rebuilt as themselves.
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "tuple"), ("builtins", "list"),
    ("builtins", "dict"), ("builtins", "int"), ("builtins", "float"), ("builtins", "complex"),
    ("builtins", "bool"), ("builtins", "str"), ("builtins", "bytes"), ("builtins", "bytearray"),
    ("builtins", "slice"), ("_codecs", "encode"),
}  # fmt: skip
#: module roots whose globals are never accepted, not even as stand-ins.
_REFUSED_ROOTS = {
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pickle", "marshal",
    "code", "codeop", "pty", "ctypes", "multiprocessing", "signal", "webbrowser", "asyncio", "threading",
    "types", "inspect", "io", "pathlib", "tempfile", "shelve", "dill", "functools", "operator", "copyreg",
    "copy_reg", "_pickle", "__builtin__", "builtins",
}  # fmt: skip


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references a global that could run code; the file is not loaded."""


class StandIn(dict):
    """Inert replacement for an unknown class found in a checkpoint.

    Accepts any constructor arguments, dict items (``SETITEMS``), list items (``APPENDS``) and state
    (``BUILD``) and stores them; it has no behaviour.

    Attributes:
        stand_in_for: ``"module.Name"`` of the class it replaces.
        args: positional constructor arguments; ``items`` appended list items; ``state`` the ``BUILD`` state.
    """

    stand_in_for = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.args = args
        self.kwargs = kwargs
        self.items_list: list[Any] = []
        self.state: Any = None

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:  # noqa: ARG003 - NEWOBJ passes arguments
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.items_list, obj.state = args, kwargs, [], None
        return obj

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items_list.append(item)

    def extend(self, items: Any) -> None:
        self.items_list.extend(items)

    def __reduce__(self) -> tuple[Any, ...]:  # pragma: no cover - stand-ins are never re-pickled
        raise TypeError(f"stand-in for {self.stand_in_for} cannot be pickled")

    def __repr__(self) -> str:
        return f"StandIn({self.stand_in_for}, {dict(self)!r}, state={self.state!r})"


_STAND_INS: dict[str, type[StandIn]] = {}


def _stand_in(module: str, name: str) -> type[StandIn]:
    key = f"{module}.{name}"
    if key not in _STAND_INS:
        _STAND_INS[key] = type(f"StandIn[{key}]", (StandIn,), {"stand_in_for": key})
    return _STAND_INS[key]


def _resolve(module: str, name: str) -> Any:
    if (module, name) in _ALLOWED:
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name)
    if (
        module == "torch"
        and name.endswith("Storage")
        or module == "torch"
        and isinstance(getattr(torch, name, None), torch.dtype)
    ):
        return getattr(torch, name)
    if module.split(".")[0] in _REFUSED_ROOTS:
        raise UnsafeCheckpointError(
            f"checkpoint references {module}.{name}, which is not allowed; file not loaded"
        )
    return _stand_in(module, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        return _resolve(module, name)


#: a ``pickle``-like module for ``torch.load(pickle_module=...)``.
restricted_pickle = types.ModuleType("restricted_pickle")
restricted_pickle.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
restricted_pickle.load = lambda f, **kw: _RestrictedUnpickler(f, **kw).load()  # type: ignore[attr-defined]
restricted_pickle.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
restricted_pickle.__name__ = "pickle"


def load_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Load a ``torch.save``'d file safely (see the module docstring).

    Args:
        path: the checkpoint file.
        map_location: where tensors are placed.
    Returns:
        The unpickled object (usually a dict; unknown classes inside it are :class:`StandIn`).
    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file references code-running globals.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return _torch_load(path, map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass
    # weights_only=False only hands control to the restricted module above: nothing is imported from the file.
    return _torch_load(path, map_location, weights_only=False, pickle_module=restricted_pickle)


def _torch_load(path: Path, map_location: str | torch.device, **kwargs: Any) -> Any:
    """``torch.load`` memory-mapped when the file allows it (zip format), plainly otherwise."""
    try:
        return torch.load(path, map_location=map_location, mmap=True, **kwargs)
    except RuntimeError as err:  # legacy (non-zip) files cannot be memory-mapped
        if "mmap" not in str(err):
            raise
    return torch.load(path, map_location=map_location, **kwargs)
