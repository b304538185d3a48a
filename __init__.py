"""MIMO character video synthesis for ComfyUI (V3 node pack).

ComfyUI imports this module and calls :func:`comfy_entrypoint`. The nodes live in
``nodes/``; the method itself lives in ``mimo_core/`` and runs without ComfyUI.
"""


async def comfy_entrypoint():
    from .nodes import MimoExtension

    return MimoExtension()
