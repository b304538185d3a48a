"""3D body models, motion sequences and the default body-motion estimator.

- :class:`BodyModel` / :class:`BodyParams` / :class:`BodyOutput`: the shared interface;
- :class:`AnnyBody` (default, ships with the ``anny`` wheel) and :class:`SmplBody` (user-provided SMPL /
  SMPL-H files, read without chumpy);
- :class:`MotionSequence`: per-frame body + camera parameters, one safetensors file;
- :func:`fit_motion`: MediaPipe 33 landmarks -> fitted :class:`MotionSequence`.
"""

from __future__ import annotations

from pathlib import Path

from .base import BodyModel, BodyOutput, BodyParams
from .camera import default_focal_length, project_points
from .fitting import FitWeights, fit_motion
from .landmarks import COCO_17, COCO_17_IN_MEDIAPIPE, MEDIAPIPE_33
from .motion import MotionSequence
from .smpl_pickle import load_smpl_pickle


def AnnyBody(*args, **kwargs):  # noqa: N802, ANN002, ANN003, ANN201 - lazy class accessor
    """Create the Anny body model (see :class:`mimo_core.body.anny_model.AnnyBody`)."""
    from .anny_model import AnnyBody as _AnnyBody

    return _AnnyBody(*args, **kwargs)


def SmplBody(*args, **kwargs):  # noqa: N802, ANN002, ANN003, ANN201 - lazy class accessor
    """Create an SMPL / SMPL-H body model (see :class:`mimo_core.body.smpl_model.SmplBody`)."""
    from .smpl_model import SmplBody as _SmplBody

    return _SmplBody(*args, **kwargs)


def load_body_model(name: str = "anny", model_file: str | Path | None = None) -> BodyModel:
    """Body model by id: ``'anny'`` (no file needed) or ``'smpl'`` / ``'smplh'`` (needs ``model_file``)."""
    if name == "anny":
        return AnnyBody()
    if name in ("smpl", "smplh"):
        if model_file is None:
            raise ValueError(f"body model {name!r} needs its model file (e.g. SMPL_NEUTRAL.pkl / .npz)")
        return SmplBody(model_file, kind=name)
    raise ValueError(f"unknown body model {name!r}; expected 'anny', 'smpl' or 'smplh'")


__all__ = [
    "COCO_17", "COCO_17_IN_MEDIAPIPE", "MEDIAPIPE_33", "AnnyBody", "BodyModel", "BodyOutput", "BodyParams",
    "FitWeights", "MotionSequence", "SmplBody", "default_focal_length", "fit_motion", "load_body_model",
    "load_smpl_pickle", "project_points",
]  # fmt: skip
