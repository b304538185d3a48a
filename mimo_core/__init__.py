"""mimo_core: the MIMO method (models, preprocessing stages, sampler, checkpoint I/O).

Usable without ComfyUI: nothing in this package imports ``comfy``, ``folder_paths`` or
``server``. Sub-packages are imported on demand so that ``import mimo_core`` stays cheap.
"""

__version__ = "0.1.0"
