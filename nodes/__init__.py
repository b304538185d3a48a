"""ComfyUI adapters for mimo_core (V3 schema API). One module per stage group."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# The pack's root holds mimo_core/ (and trainer/); make them importable as top-level
# packages. Appended, never prepended, so ComfyUI's own modules (e.g. its `nodes`) win.
_PACK_ROOT = str(Path(__file__).resolve().parent.parent)
if _PACK_ROOT not in sys.path:
    sys.path.append(_PACK_ROOT)

from comfy_api.latest import ComfyExtension, io  # noqa: E402

from . import backends, compositing, generate, layers, models, motion, person, previews, routes, sdc, video  # noqa: E402, F401
from .model_paths import register_model_folders  # noqa: E402

register_model_folders()

log = logging.getLogger("mimo")

NODE_MODULES = [video, person, layers, motion, compositing, previews, models, generate, backends, sdc]


def all_nodes() -> list[type[io.ComfyNode]]:
    nodes: list[type[io.ComfyNode]] = []
    for module in NODE_MODULES:
        nodes.extend(module.NODES)
    return nodes


class MimoExtension(ComfyExtension):
    async def on_load(self) -> None:
        from . import optional_backends

        optional_backends.report_once()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return all_nodes()
