"""Video sampling pipeline: schedulers, context windows, the window sampler, VAE I/O, person crops.

Model-agnostic: the sampler takes a ``predict`` closure, so any denoiser fits.
"""

from .context import BLEND_MODES, WindowAccumulator, blend_windows, uniform_windows, window_weights
from .crops import (
    CropBox,
    CropOptions,
    WindowPaster,
    crop_window,
    feather_mask,
    mask_boxes,
    paste_windows,
    window_crop_boxes,
)
from .mimo import IN_CHANNEL_MODES, MimoPipeline, SamplerSettings
from .mimo_io import load_official_pipeline, load_pipeline, load_pipeline_any, save_pipeline
from .predict import make_predict
from .sampler import PredictFn, SamplingCancelled, WindowConfig, initial_noise, sample_video
from .schedulers import SCHEDULERS, make_scheduler
from .vae import FitInfo, decode_video, encode_video, fit_to_multiple, restore_size

__all__ = [
    "BLEND_MODES",
    "IN_CHANNEL_MODES",
    "MimoPipeline",
    "SamplerSettings",
    "load_official_pipeline",
    "load_pipeline",
    "load_pipeline_any",
    "save_pipeline",
    "CropBox",
    "CropOptions",
    "FitInfo",
    "PredictFn",
    "SCHEDULERS",
    "SamplingCancelled",
    "WindowAccumulator",
    "WindowConfig",
    "WindowPaster",
    "blend_windows",
    "crop_window",
    "decode_video",
    "encode_video",
    "feather_mask",
    "fit_to_multiple",
    "initial_noise",
    "make_predict",
    "make_scheduler",
    "mask_boxes",
    "paste_windows",
    "restore_size",
    "sample_video",
    "uniform_windows",
    "window_crop_boxes",
    "window_weights",
]
