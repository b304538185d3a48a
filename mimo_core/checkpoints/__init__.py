"""Checkpoint I/O: the pack's own safetensors format and importers for the official formats."""

from .importers import (
    AnimateAnyoneWeights,
    build_video_unet,
    infer_motion_config,
    load_animateanyone_release,
    load_champ_guidance_encoders,
    load_pose_guider,
    load_reference_net,
    load_unet2d_diffusers,
    load_vae_diffusers,
    read_diffusers_folder,
    read_motion_module,
    video_unet_from_sd15,
)
from .pack_format import BUILDERS, FORMAT, FORMAT_VERSION, build_model, load_model, read_header, save_model
from .sd_single_file import diffusers_unet_to_ldm, read_single_file_unet
from .state_dict_io import load_exact, read_state_dict, unwrap_state_dict

__all__ = [
    "BUILDERS",
    "FORMAT",
    "FORMAT_VERSION",
    "AnimateAnyoneWeights",
    "build_model",
    "build_video_unet",
    "diffusers_unet_to_ldm",
    "infer_motion_config",
    "load_animateanyone_release",
    "load_champ_guidance_encoders",
    "load_exact",
    "load_model",
    "load_pose_guider",
    "load_reference_net",
    "load_unet2d_diffusers",
    "load_vae_diffusers",
    "read_diffusers_folder",
    "read_header",
    "read_motion_module",
    "read_single_file_unet",
    "read_state_dict",
    "save_model",
    "unwrap_state_dict",
    "video_unet_from_sd15",
]
