"""HMR 2.0 (4D-Humans): SMPL bodies from person crops, loaded from the released Lightning checkpoint.

- :class:`Hmr2Config` / :class:`Hmr2Model`: the ViT-H/16 backbone + SMPL transformer-decoder head, with the
  released checkpoint's parameter names (any size, for tests);
- :func:`load_hmr2`: read ``epoch=35-step=1000000.ckpt`` without full unpickling;
- :class:`Hmr2Estimator`: frames + person boxes -> per-frame SMPL parameters and a :class:`MotionSequence`.
"""

from __future__ import annotations

from .checkpoint import CHECKPOINT_NAMES, IGNORED_PREFIXES, Hmr2Checkpoint, SmplPelvisData, load_hmr2
from .config import Hmr2Config
from .crop import crop_people, crop_to_image_points, square_boxes
from .estimator import Hmr2Estimate, Hmr2Estimator
from .head import SmplPrediction, rot6d_to_rotmat
from .model import Hmr2Model
from .safe_pickle import StandIn, UnsafeCheckpointError, load_checkpoint_file

__all__ = [
    "CHECKPOINT_NAMES", "IGNORED_PREFIXES", "Hmr2Checkpoint", "Hmr2Config", "Hmr2Estimate", "Hmr2Estimator",
    "Hmr2Model", "SmplPelvisData", "SmplPrediction", "StandIn", "UnsafeCheckpointError", "crop_people",
    "crop_to_image_points", "load_checkpoint_file", "load_hmr2", "rot6d_to_rotmat", "square_boxes",
]  # fmt: skip
