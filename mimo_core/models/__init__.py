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
from .video_unet import SD15_UNET_CONFIG, VideoUNet, expand_conv_in, split_motion_state_dict

__all__ = [
    "ANNY_VERTICES",
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
    "VertexCodes",
    "VideoRunState",
    "VideoUNet",
    "apply_per_frame",
    "cfg_reference_mask",
    "expand_conv_in",
    "self_attention_paths",
    "split_motion_state_dict",
]
