"""MIMO networks: video denoising UNet, ReferenceNet, pose encoders, per-vertex motion codes."""

from .pose_encoders import (
    ChampGuidanceEncoder,
    GuidanceEncoderSet,
    PaperPoseEncoder,
    PoseGuider,
    apply_per_frame,
)
from .reference import ReferenceFeatures, ReferenceNet, cfg_reference_mask, self_attention_paths
from .run_state import VideoRunState
from .temporal import MotionModule, MotionModuleConfig
from .vertex_codes import ANNY_VERTICES, SMPL_VERTICES, VertexCodes
from .video_unet import (
    CONV_IN_KINDS,
    INPUT_LAYOUTS,
    SD15_UNET_CONFIG,
    TemporalConvIn,
    VideoUNet,
    collapse_conv_in,
    expand_conv_in,
    fit_conv_in,
    inflate_conv_in,
    input_layout,
    split_motion_state_dict,
)

__all__ = [
    "ANNY_VERTICES",
    "CONV_IN_KINDS",
    "INPUT_LAYOUTS",
    "SD15_UNET_CONFIG",
    "SMPL_VERTICES",
    "ChampGuidanceEncoder",
    "GuidanceEncoderSet",
    "MotionModule",
    "MotionModuleConfig",
    "PaperPoseEncoder",
    "PoseGuider",
    "ReferenceFeatures",
    "ReferenceNet",
    "TemporalConvIn",
    "VertexCodes",
    "VideoRunState",
    "VideoUNet",
    "apply_per_frame",
    "cfg_reference_mask",
    "collapse_conv_in",
    "expand_conv_in",
    "fit_conv_in",
    "inflate_conv_in",
    "input_layout",
    "self_attention_paths",
    "split_motion_state_dict",
]
