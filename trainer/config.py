"""Training configuration: one dataclass read from YAML or JSON, validated with errors naming the field.

Model presets (``model``):

* ``tiny`` - a few-hundred-kilobyte MIMO stack for CPU tests and the embedded demo model: UNet
  ``block_out_channels`` (32, 64), one layer per block, cross-attention width 32; a PoseGuider with widths
  (8, 16, 16, 32); a 4-level ``AutoencoderKL`` with widths (8, 8, 16, 16) (downsampling 8, like SD); and as
  identity encoder a tiny ``CLIPVisionModelWithProjection`` (32x32 input, patch 8, width 32, one layer).
  The VAE and the image encoder are *frozen, randomly initialised from a fixed seed* (:data:`FROZEN_SEED`),
  so every run and every process builds the same ones; they are exported beside the trained weights so the
  nodes encode exactly as training did.
* ``sd15`` - the paper / official-release architecture: SD1.5 UNet and ReferenceNet initialised from
  ``pretrained`` (a diffusers SD1.5 folder or single file), sd-vae-ft-mse from ``vae_path``, the
  sd-image-variations CLIP image encoder from ``image_encoder_path`` (a local transformers folder), and
  optionally an AnimateDiff motion module (``motion_module_path``) for stage 2.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mimo_core.models.temporal import MotionModuleConfig
from mimo_core.models.video_unet import SD15_UNET_CONFIG

#: seed of the frozen random VAE / image encoder of the tiny preset
FROZEN_SEED = 1234

TINY_UNET_CONFIG: dict[str, Any] = dict(
    SD15_UNET_CONFIG,
    sample_size=8,
    block_out_channels=[32, 64],
    down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
    layers_per_block=1,
    cross_attention_dim=32,
    attention_head_dim=4,
    norm_num_groups=8,
)
TINY_POSE_GUIDER: dict[str, Any] = {"block_out_channels": [8, 16, 16, 32]}
TINY_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [8, 8, 16, 16],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": 32,
}
TINY_CLIP_CONFIG: dict[str, Any] = {
    "image_size": 32,
    "patch_size": 8,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "projection_dim": 32,
}
TINY_MOTION = MotionModuleConfig(num_attention_heads=2, norm_num_groups=8, max_frames=32)
SD15_MOTION = MotionModuleConfig()

MODELS = ("tiny", "sd15")
POSE_INPUTS = ("render", "vertex_codes")
PREDICTION_TYPES = ("epsilon", "v_prediction")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
IN_CHANNELS = (4, 8, 12)


class ConfigError(ValueError):
    """A training config value is missing or out of range; the message names the field."""


@dataclass
class TrainConfig:
    """Everything a training run needs. Paths are strings; sizes in pixels; ``steps`` counts optimizer steps.

    ``batch_size`` is per process; the global batch is ``batch_size * processes * gradient_accumulation_steps``.
    ``in_channels``: 4 = noisy latents only, 8 = + scene latents (official release), 12 = + scene + occlusion
    latents (paper). ``snr_gamma`` 0 disables min-SNR weighting; ``ema_decay`` 0 disables EMA.
    """

    data_dir: str = ""
    output_dir: str = ""
    split: str | None = "train"
    model: str = "tiny"
    pretrained: str | None = None
    vae_path: str | None = None
    image_encoder_path: str | None = None
    motion_module_path: str | None = None
    init_from: str | None = None
    in_channels: int = 12
    pose_input: str = "render"
    # "2d": SD1.5's conv_in zero-expanded (official release layout); "3d": the paper's 3x3x3 fusion conv over
    # [noise, scene, occlusion] latents (initialised from the 2D kernel, so it starts as the 2D model)
    conv_in_kind: str = "2d"
    stage: int = 1
    resolution: int = 32
    frames: int = 8
    frame_stride: int = 4
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-5
    lr_warmup_steps: int = 0
    weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    steps: int = 100
    prediction_type: str = "v_prediction"
    zero_snr: bool = True
    snr_gamma: float = 0.0
    noise_offset: float = 0.0
    # extra loss weight on the latent cells the person covers (0 = plain MSE): the scene is given as a
    # condition, so most of an unweighted loss is spent on copying it
    person_loss_weight: float = 0.0
    identity_dropout: float = 0.1
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    ema_decay: float = 0.0
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    seed: int = 0
    num_workers: int = 0
    log_every: int = 1
    # PoseGuider widths (one stride-2 stage per width after the first); None = the preset's. Its
    # downsampling must equal the VAE's: 4 widths for an 8x VAE, 3 for a 4x one (trainer.vae_pretrain).
    # With pose_input: vertex_codes they are the widths of the PaperPoseEncoder (same downsampling rule).
    pose_guider_channels: list | None = None
    # pose_input: vertex_codes (the paper's structured motion code): one learnable code_dim-vector per body
    # vertex, rasterised on the clips' posed mesh and encoded by a PaperPoseEncoder. num_vertices None = the
    # vertex count of the first clip's mesh; body_model_file: the SMPL / SMPL-H model file when the clips'
    # body_model is 'smpl' / 'smplh' (its faces are needed to rasterise; Anny needs no file).
    code_dim: int = 16
    num_vertices: int | None = None
    body_model_file: str | None = None

    # ---- validation -----------------------------------------------------------------------------------------
    def validate(self, check_paths: bool = True) -> TrainConfig:
        """Raise :class:`ConfigError` naming the first bad field; returns ``self``.

        ``check_paths`` also requires the model paths (``pretrained``, ``vae_path``, ...) to exist.
        """

        def need(ok: bool, field_name: str, expected: str) -> None:
            if not ok:
                raise ConfigError(f"config field {field_name}={getattr(self, field_name)!r}: expected {expected}")

        need(bool(self.data_dir), "data_dir", "the folder holding manifest.jsonl and the clips")
        need(bool(self.output_dir), "output_dir", "a folder for checkpoints, logs and the export")
        need(self.model in MODELS, "model", f"one of {MODELS}")
        need(self.in_channels in IN_CHANNELS, "in_channels", f"one of {IN_CHANNELS}")
        need(self.pose_input in POSE_INPUTS, "pose_input", f"one of {POSE_INPUTS}")
        need(self.conv_in_kind in ("2d", "3d"), "conv_in_kind", "'2d' or '3d'")
        need(self.stage in (1, 2), "stage", "1 (images) or 2 (temporal modules on clips)")
        multiple = self.latent_multiple() * 8
        need(
            self.resolution >= multiple and self.resolution % multiple == 0,
            "resolution",
            f"a positive multiple of {multiple} (VAE factor 8 times the UNet's downsampling)",
        )
        need(self.frames >= 1, "frames", "at least 1")
        need(self.frame_stride >= 1, "frame_stride", "at least 1")
        need(self.batch_size >= 1, "batch_size", "at least 1")
        need(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", "at least 1")
        need(self.learning_rate > 0, "learning_rate", "a positive number")
        need(self.lr_warmup_steps >= 0, "lr_warmup_steps", ">= 0")
        need(self.weight_decay >= 0, "weight_decay", ">= 0")
        need(self.adam_epsilon > 0, "adam_epsilon", "a positive number")
        need(self.max_grad_norm >= 0, "max_grad_norm", ">= 0 (0 disables clipping)")
        need(self.steps >= 1, "steps", "at least 1")
        need(self.prediction_type in PREDICTION_TYPES, "prediction_type", f"one of {PREDICTION_TYPES}")
        need(self.snr_gamma >= 0, "snr_gamma", ">= 0 (0 disables min-SNR weighting)")
        need(self.noise_offset >= 0, "noise_offset", ">= 0")
        need(self.person_loss_weight >= 0, "person_loss_weight", ">= 0 (0 disables the person weighting)")
        need(0 <= self.identity_dropout < 1, "identity_dropout", "a probability in [0, 1)")
        need(self.mixed_precision in MIXED_PRECISIONS, "mixed_precision", f"one of {MIXED_PRECISIONS}")
        need(0 <= self.ema_decay < 1, "ema_decay", "in [0, 1) (0 disables EMA)")
        need(self.checkpoint_every >= 1, "checkpoint_every", "at least 1")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", "at least 1")
        need(self.num_workers >= 0, "num_workers", ">= 0")
        need(self.log_every >= 1, "log_every", "at least 1")
        need(self.code_dim >= 1, "code_dim", "at least 1 (channels of a vertex code)")
        need(self.num_vertices is None or isinstance(self.num_vertices, int) and self.num_vertices >= 3,
             "num_vertices", "null (read from the clips) or the body model's vertex count")
        if self.stage == 2:
            need(self.init_from is not None, "init_from", "the stage-1 export folder (stage 2 trains on top of it)")
            need(self.frames <= self.motion_config().max_frames, "frames",
                 f"at most {self.motion_config().max_frames} (the motion modules' position table)")
        if self.model == "sd15":
            need(self.vae_path is not None, "vae_path", "a local sd-vae-ft-mse diffusers folder (model: sd15)")
            need(self.image_encoder_path is not None, "image_encoder_path",
                 "a local CLIPVisionModelWithProjection folder (model: sd15)")
            if self.stage == 1:
                need(self.pretrained is not None, "pretrained", "a local SD1.5 folder or file (model: sd15)")
        for name in ("pretrained", "vae_path", "image_encoder_path", "motion_module_path", "init_from",
                     "body_model_file"):
            value = getattr(self, name)
            need(not check_paths or value is None or Path(value).exists(), name, "an existing local path")
        return self

    # ---- derived architecture ----------------------------------------------------------------------------
    def unet_config(self) -> dict[str, Any]:
        """The 2D UNet architecture (``in_channels`` of the denoising UNet applied)."""
        base = TINY_UNET_CONFIG if self.model == "tiny" else SD15_UNET_CONFIG
        return dict(base, in_channels=self.in_channels)

    def reference_unet_config(self) -> dict[str, Any]:
        """ReferenceNet architecture: the UNet's with 4 input channels (reference latents only)."""
        return dict(self.unet_config(), in_channels=4)

    def latent_multiple(self) -> int:
        """The UNet's total downsampling (latent sizes must be multiples of it)."""
        base = TINY_UNET_CONFIG if self.model == "tiny" else SD15_UNET_CONFIG
        return 2 ** (len(base["block_out_channels"]) - 1)

    def pose_guider_config(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~mimo_core.models.PoseGuider` for this preset."""
        width = self.unet_config()["block_out_channels"][0]
        extra = TINY_POSE_GUIDER if self.model == "tiny" else {"block_out_channels": [16, 32, 96, 256]}
        if self.pose_guider_channels:
            extra = {"block_out_channels": [int(c) for c in self.pose_guider_channels]}
        return {"embedding_channels": width, "conditioning_channels": 3, **extra}

    def motion_encoder_widths(self) -> list[int]:
        """PaperPoseEncoder widths of ``pose_input: vertex_codes`` (``pose_guider_channels`` when set)."""
        if self.pose_guider_channels:
            return [int(c) for c in self.pose_guider_channels]
        return list(TINY_POSE_GUIDER["block_out_channels"]) if self.model == "tiny" else [16, 32, 64, 128]

    def motion_config(self) -> MotionModuleConfig:
        """Motion-module hyper-parameters of stage 2."""
        return TINY_MOTION if self.model == "tiny" else SD15_MOTION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_text(text: str, source: str) -> dict[str, Any]:
    if source.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of config fields, got {type(data).__name__}")
    return data


def config_from_dict(data: dict[str, Any], source: str = "config", check_paths: bool = True) -> TrainConfig:
    """Build and validate a config; unknown keys and wrongly typed values raise :class:`ConfigError`."""
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{source}: unknown config fields {unknown}; known fields: {sorted(known)}")
    defaults = TrainConfig()
    values: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        if value is not None and default is not None and not isinstance(default, str):
            kind = type(default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{source}: field {name}={value!r} should be {kind.__name__}")
        values[name] = value
    return TrainConfig(**values).validate(check_paths)


def load_config(
    path: str | Path, overrides: dict[str, Any] | None = None, check_paths: bool = True
) -> TrainConfig:
    """Read a ``.yaml``/``.yml``/``.json`` config file; ``overrides`` (e.g. from the command line) win."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    data = _parse_text(path.read_text(encoding="utf-8"), str(path))
    data.update(overrides or {})
    return config_from_dict(data, str(path), check_paths)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is parsed as YAML (numbers, booleans, null)."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)
