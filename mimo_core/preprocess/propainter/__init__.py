"""ProPainter video inpainting (the full inpainting backend).

Networks with the published checkpoint layouts (RAFT on torchvision's
implementation, recurrent flow completion, ProPainter generator with
deformable alignment on ``torchvision.ops.deform_conv2d``), a loader for the
three published files and the published inference procedure.
"""

from .flow_completion import RecurrentFlowCompleteNet
from .generator import InpaintGenerator, ProPainterConfig
from .inference import propainter_inpaint
from .loader import (
    FLOW_COMPLETION_FILE,
    PROPAINTER_FILE,
    RAFT_FILE,
    ProPainterModels,
    load_propainter,
    save_propainter,
)
from .raft import RaftConfig, RaftFlow

__all__ = [
    "FLOW_COMPLETION_FILE",
    "PROPAINTER_FILE",
    "RAFT_FILE",
    "InpaintGenerator",
    "ProPainterConfig",
    "ProPainterModels",
    "RaftConfig",
    "RaftFlow",
    "RecurrentFlowCompleteNet",
    "load_propainter",
    "propainter_inpaint",
    "save_propainter",
]
