"""Backend selection and the backend-independent :func:`rasterize` entry point."""

from __future__ import annotations

import logging

import torch

from . import nvdiffrast_backend
from .torch_backend import DEFAULT_CHUNK_ELEMENTS, rasterize_torch
from .types import Rasterization

logger = logging.getLogger("mimo")

BACKENDS = ("torch", "nvdiffrast")
_warned: set[str] = set()


def available_backends() -> list[str]:
    """Backends usable on this machine: always ``"torch"``, plus ``"nvdiffrast"``
    when it imports and CUDA is available."""
    names = ["torch"]
    if nvdiffrast_backend.is_available():
        names.append("nvdiffrast")
    return names


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def select_backend(requested: str | None, device: torch.device | str) -> str:
    """Pick the backend for tensors on ``device``.

    Args:
        requested: ``None`` / ``"auto"`` (nvdiffrast on CUDA when importable,
            otherwise torch), ``"torch"`` or ``"nvdiffrast"``. A request for
            nvdiffrast that cannot be honoured falls back to torch with a one-time
            warning on the ``"mimo"`` logger.
        device: device of the vertex tensors.
    """
    if requested not in (None, "auto", *BACKENDS):
        raise ValueError(f"unknown raster backend {requested!r}; expected one of auto, {', '.join(BACKENDS)}")
    on_cuda = torch.device(device).type == "cuda"
    if requested == "torch":
        return "torch"
    if requested in (None, "auto"):
        return "nvdiffrast" if on_cuda and nvdiffrast_backend.is_available() else "torch"
    if not on_cuda:
        _warn_once(
            "nvdiffrast-cpu",
            "raster backend 'nvdiffrast' needs CUDA tensors; using the PyTorch rasteriser for CPU tensors",
        )
        return "torch"
    if not nvdiffrast_backend.is_available():
        _warn_once(
            "nvdiffrast-missing",
            "raster backend 'nvdiffrast' was requested but nvdiffrast is not installed "
            "(it is not on PyPI: build it from github.com/NVlabs/nvdiffrast); using the PyTorch rasteriser",
        )
        return "torch"
    return "nvdiffrast"


def rasterize(
    verts_px: torch.Tensor,
    faces: torch.Tensor,
    height: int,
    width: int,
    *,
    backend: str | None = None,
    cull: str = "none",
    min_depth: float = 1e-6,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> Rasterization:
    """Rasterise triangles given in pixel space with the selected backend.

    Args:
        verts_px: ``[B,V,3]`` or ``[V,3]``: pixel ``x``, pixel ``y`` (continuous,
            origin at the top-left image corner, pixel ``(c, r)`` sampled at
            ``(c + 0.5, r + 0.5)``) and camera depth ``z`` (see
            :meth:`PerspectiveCamera.to_screen`).
        faces: ``[F,3]`` integer vertex indices shared by all frames.
        height, width: output size in pixels.
        backend: see :func:`select_backend`.
        cull: ``"none"`` (both sides, the default), ``"back"`` or ``"front"``.
        min_depth: triangles with a vertex at ``z <= min_depth`` are not drawn.
        chunk_elements: memory bound of the torch backend (ignored by nvdiffrast).

    Returns:
        :class:`Rasterization` with ``[B,H,W]`` face ids, barycentrics and depth.
    """
    name = select_backend(backend, verts_px.device)
    if name == "nvdiffrast":
        return nvdiffrast_backend.rasterize_nvdiffrast(
            verts_px, faces, height, width, cull=cull, min_depth=min_depth
        )
    return rasterize_torch(
        verts_px, faces, height, width, cull=cull, min_depth=min_depth, chunk_elements=chunk_elements
    )
