"""Video denoising UNet: an SD1.5 ``UNet2DConditionModel`` run per frame plus temporal motion modules.

The class *is* a diffusers ``UNet2DConditionModel`` (same child modules, same parameter names); motion
modules are added as ``<block>.motion_modules.<j>`` children and run by forward hooks right after each
resnet/attention pair (down and up blocks) and after the middle block's attention, which is where
AnimateDiff / Moore-AnimateAnyone / MIMO place them. The state dict therefore has exactly the key
layout of the released ``denoising_unet.pth`` (2D part) and ``motion_module.pth`` (``motion_modules``).

Video tensors are ``[B, C, F, H, W]``; inside the network frames are folded into the batch as
``[B*F, C, H, W]`` (frames of a video contiguous).

``conv_in`` is the SD1.5 2D conv (``conv_in_kind="2d"``, the default and the official MIMO release) or the
paper's condition fusion (``"3d"``): a temporal 3x3x3 conv over the concatenated [noise, scene, occlusion]
latents, initialised from a 2D kernel in its centre frame. Pose features are added to its output either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from torch import nn

from .reference import ReferenceFeatures, install_reference_readers
from .run_state import VideoRunState
from .temporal import MotionModule, MotionModuleConfig

#: runwayml/stable-diffusion-v1-5 ``unet/config.json`` (architecture fields only).
SD15_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "only_cross_attention": False,
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}

MOTION_KEY = "motion_modules."

#: ``conv_in`` variants: ``"2d"`` = the SD1.5 per-frame conv (Moore, Champ, MIMO release); ``"3d"`` = a temporal
#: conv over neighbouring frames of the concatenated [noise, scene, occlusion] latents (MIMO paper).
CONV_IN_KINDS = ("2d", "3d")
#: temporal kernel size of the ``"3d"`` conv_in (zero padding of one frame on each side)
TEMPORAL_KERNEL = 3
#: named input layouts of the denoising UNet: latent channels and conv_in variant
INPUT_LAYOUTS: dict[str, dict[str, Any]] = {
    "moore": {"in_channels": 4, "conv_in_kind": "2d"},  # noisy latents only (Moore-AnimateAnyone, Champ)
    "mimo_release": {"in_channels": 8, "conv_in_kind": "2d"},  # + scene latents (official MIMO weights)
    "paper": {"in_channels": 12, "conv_in_kind": "3d"},  # + scene + occlusion latents, 3D fusion conv
}


def expand_conv_in(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Zero-pad a ``conv_in`` weight ``[O, I, k, k]`` (or 3D ``[O, I, t, k, k]``) to ``in_channels`` inputs.

    The first ``I`` input channels keep their weights, the new ones start at zero, so the expanded layer
    gives the same output as long as the extra inputs are ignored (e.g. SD1.5 weights in an 8- or
    12-channel UNet: noisy latents + scene/background (+ occlusion) latents).
    """
    if weight.ndim not in (4, 5):
        raise ValueError(
            "expand_conv_in expects a conv weight [O, I, k, k] or [O, I, t, k, k], "
            f"got shape {tuple(weight.shape)}"
        )
    current = weight.shape[1]
    if in_channels < current:
        raise ValueError(
            f"expand_conv_in cannot shrink conv_in from {current} to {in_channels} input channels"
        )
    if in_channels == current:
        return weight
    pad = weight.new_zeros(weight.shape[0], in_channels - current, *weight.shape[2:])
    return torch.cat([weight, pad], dim=1)


def inflate_conv_in(weight: torch.Tensor, in_channels: int, frames: int = TEMPORAL_KERNEL) -> torch.Tensor:
    """A 2D ``conv_in`` weight ``[O, I, k, k]`` as a temporal 3D weight ``[O, in_channels, frames, k, k]``.

    The 2D kernel goes into the centre temporal slice, every other slice and every extra input channel is
    zero: the 3D conv then gives, frame by frame, exactly the 2D conv of the first ``I`` channels. A weight
    that is already 3D is only zero-expanded to ``in_channels`` (its temporal size must be ``frames``).
    """
    if weight.ndim == 5:
        if weight.shape[2] != frames:
            raise ValueError(
                f"3D conv_in weight {tuple(weight.shape)} has temporal size {weight.shape[2]}, expected {frames}"
            )
        return expand_conv_in(weight, in_channels)
    weight = expand_conv_in(weight, in_channels)
    out = weight.new_zeros(weight.shape[0], weight.shape[1], frames, *weight.shape[2:])
    out[:, :, frames // 2] = weight
    return out


def collapse_conv_in(weight: torch.Tensor) -> torch.Tensor:
    """A 3D ``conv_in`` weight ``[O, I, t, k, k]`` back to 2D ``[O, I, k, k]`` when only its centre slice is set.

    Raises when another temporal slice is non-zero (the 3D conv mixes frames, no 2D conv reproduces it).
    """
    if weight.ndim == 4:
        return weight
    if weight.ndim != 5:
        raise ValueError(f"collapse_conv_in expects [O, I, t, k, k], got shape {tuple(weight.shape)}")
    centre = weight.shape[2] // 2
    others = torch.cat([weight[:, :, :centre], weight[:, :, centre + 1 :]], dim=2)
    if not weight.is_meta and torch.count_nonzero(others) > 0:
        raise ValueError(
            "this conv_in weight is a trained temporal 3D conv (non-zero outside its centre frame); load it "
            "into a VideoUNet built with conv_in_kind='3d'"
        )
    return weight[:, :, centre]


def fit_conv_in(weight: torch.Tensor, in_channels: int, conv_in_kind: str = "2d") -> torch.Tensor:
    """Any 2D / 3D ``conv_in`` weight shaped for a ``conv_in_kind`` conv with ``in_channels`` inputs."""
    check_conv_in_kind(conv_in_kind)
    if conv_in_kind == "3d":
        return inflate_conv_in(weight, in_channels)
    return expand_conv_in(collapse_conv_in(weight), in_channels)


def check_conv_in_kind(conv_in_kind: str) -> str:
    """``conv_in_kind`` itself, or a ``ValueError`` naming :data:`CONV_IN_KINDS`."""
    if conv_in_kind not in CONV_IN_KINDS:
        raise ValueError(f"conv_in_kind must be one of {CONV_IN_KINDS}, got {conv_in_kind!r}")
    return conv_in_kind


def input_layout(name: str) -> dict[str, Any]:
    """``{"in_channels", "conv_in_kind"}`` of a named UNet input layout (:data:`INPUT_LAYOUTS`)."""
    if name not in INPUT_LAYOUTS:
        raise ValueError(f"unknown UNet input layout {name!r}; known: {sorted(INPUT_LAYOUTS)}")
    return dict(INPUT_LAYOUTS[name])


def split_motion_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a video-UNet state dict into (2D UNet part, motion-module part) by the ``motion_modules.`` infix."""
    spatial = {k: v for k, v in state_dict.items() if MOTION_KEY not in k}
    motion = {k: v for k, v in state_dict.items() if MOTION_KEY in k}
    return spatial, motion


class _MotionHook:
    """Forward hook applying one motion module to the output of a resnet or attention block."""

    def __init__(self, motion_module: MotionModule, state: VideoRunState) -> None:
        self.motion_module = motion_module
        self.state = state

    def _apply(self, sample: torch.Tensor) -> torch.Tensor:
        return self.motion_module(sample, self.state.num_frames)

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        if not self.state.use_motion:
            return output
        if isinstance(output, torch.Tensor):
            return self._apply(output)
        if isinstance(output, tuple):
            return (self._apply(output[0]), *output[1:])
        output.sample = self._apply(output.sample)
        return output


class _PoseHook:
    """Forward hook adding the pose residual ``[B*F, C0, h, w]`` to the ``conv_in`` output."""

    def __init__(self, state: VideoRunState) -> None:
        self.state = state

    def __call__(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        residual = self.state.pose_residual
        if residual is None:
            return output
        if residual.shape != output.shape:
            raise ValueError(
                f"pose features {tuple(residual.shape)} (frames folded into batch) do not match the conv_in "
                f"output {tuple(output.shape)}; the pose encoder must output [B, {output.shape[1]}, F, H/8, W/8]"
            )
        return output + residual.to(output.dtype)


class TemporalConvIn(nn.Conv3d):
    """The paper's condition fusion: a 3D conv over ``[noise, scene, occlusion]`` latents of neighbouring frames.

    A ``torch.nn.Conv3d`` (kernel ``(t, k, k)``, zero padding ``t // 2`` frames and ``k // 2`` pixels; keys
    ``conv_in.weight`` ``[O, I, t, k, k]`` and ``conv_in.bias``) that takes the UNet's frame-folded input
    ``[B*F, C, H, W]`` (frames per video from the run state) and returns ``[B*F, O, H, W]``, so the rest of the
    UNet, and the pose residual added to its output, are unchanged. ``[B, C, F, H, W]`` input is also accepted
    and gives ``[B, O, F, H, W]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        state: VideoRunState,
        frames: int = TEMPORAL_KERNEL,
    ) -> None:
        if frames % 2 != 1 or kernel_size % 2 != 1:
            raise ValueError(
                f"TemporalConvIn needs odd kernel sizes, got frames={frames}, kernel={kernel_size}"
            )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size=(frames, kernel_size, kernel_size),
            padding=(frames // 2, kernel_size // 2, kernel_size // 2),
        )
        self.run_state = state

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if x.ndim == 5:
            return super().forward(x)
        frames = self.run_state.num_frames
        if x.ndim != 4 or x.shape[0] % frames:
            raise ValueError(
                f"TemporalConvIn expects [B*F, C, H, W] with F={frames} frames per video, got {tuple(x.shape)}"
            )
        batch = x.shape[0] // frames
        video = x.reshape(batch, frames, *x.shape[1:]).transpose(1, 2)
        out = super().forward(video)
        return out.transpose(1, 2).reshape(batch * frames, *out.shape[1:2], *out.shape[3:])


class VideoUNet(UNet2DConditionModel):
    """SD1.5 UNet + AnimateDiff motion modules + reference attention + pose residual.

    Build with ``VideoUNet(SD15_UNET_CONFIG | {"in_channels": 8}, MotionModuleConfig())`` for the official
    MIMO layout (``in_channels`` 4 = Moore/Champ, 8 = MIMO release, 12 = paper). ``motion=None`` gives the
    image model of stage-1 training (no ``motion_modules`` keys). ``conv_in_kind="3d"`` makes ``conv_in`` the
    paper's temporal fusion conv (:class:`TemporalConvIn`, see :data:`INPUT_LAYOUTS`); a new 3D ``conv_in``
    starts as the 2D one in its centre slice, so both kinds compute the same function until trained.
    """

    def __init__(
        self,
        unet_config: Mapping[str, Any] | None = None,
        motion: MotionModuleConfig | None = None,
        conv_in_kind: str = "2d",
    ):
        config = dict(SD15_UNET_CONFIG if unet_config is None else unet_config)
        super().__init__(**config)
        self.unet_config = config
        self.motion_config = motion
        self.conv_in_kind = check_conv_in_kind(conv_in_kind)
        self.run_state = VideoRunState()
        if conv_in_kind == "3d":
            self._use_temporal_conv_in()
        if motion is not None:
            self._add_motion_modules(motion)
        self.conv_in.register_forward_hook(_PoseHook(self.run_state))
        install_reference_readers(self, self.run_state)

    # ---- construction -------------------------------------------------------------------------------------
    def _use_temporal_conv_in(self) -> None:
        """Swap the 2D ``conv_in`` for a :class:`TemporalConvIn` holding the same kernel in its centre slice."""
        conv2d = self.conv_in
        conv3d = TemporalConvIn(
            conv2d.in_channels, conv2d.out_channels, conv2d.kernel_size[0], self.run_state
        ).to(device=conv2d.weight.device, dtype=conv2d.weight.dtype)
        with torch.no_grad():
            conv3d.weight.copy_(inflate_conv_in(conv2d.weight, conv2d.in_channels, conv3d.kernel_size[0]))
            conv3d.bias.copy_(conv2d.bias)
        self.conv_in = conv3d

    def _motion_sites(self, block: nn.Module) -> nn.ModuleList:
        """Modules after which a block's motion modules run: its attentions if any, else its resnets."""
        attentions = getattr(block, "attentions", None)
        if attentions is not None and len(attentions) > 0:
            return attentions
        return block.resnets

    def _attach(self, block: nn.Module, channels: int, motion: MotionModuleConfig) -> None:
        sites = self._motion_sites(block)
        block.motion_modules = nn.ModuleList(MotionModule(channels, motion) for _ in sites)
        for site, module in zip(sites, block.motion_modules, strict=True):
            site.register_forward_hook(_MotionHook(module, self.run_state))

    def _add_motion_modules(self, motion: MotionModuleConfig) -> None:
        channels = list(self.unet_config.get("block_out_channels", SD15_UNET_CONFIG["block_out_channels"]))
        levels = len(self.down_blocks)
        if not motion.decoder_only:
            for i, block in enumerate(self.down_blocks):
                if 2**i in motion.resolutions:
                    self._attach(block, channels[i], motion)
        if motion.mid_block and self.mid_block is not None:
            self._attach(self.mid_block, channels[-1], motion)
        for i, block in enumerate(self.up_blocks):
            if 2 ** (levels - 1 - i) in motion.resolutions:
                self._attach(block, channels[levels - 1 - i], motion)

    def video_config(self) -> dict[str, Any]:
        """JSON-friendly description rebuilding this module with :meth:`from_video_config`."""
        return {
            "unet": self.unet_config,
            "motion": None if self.motion_config is None else self.motion_config.to_dict(),
            "conv_in_kind": self.conv_in_kind,
        }

    @classmethod
    def from_video_config(cls, config: Mapping[str, Any]) -> VideoUNet:
        """Build (random weights) from the dict returned by :meth:`video_config` (no ``conv_in_kind``: 2D)."""
        motion = config.get("motion")
        return cls(
            config["unet"],
            None if motion is None else MotionModuleConfig.from_dict(motion),
            conv_in_kind=config.get("conv_in_kind", "2d"),
        )

    def enable_reference_attention(self) -> None:
        """(Re)install the reference-reading ``attn1`` processors, e.g. after ``set_attn_processor``."""
        install_reference_readers(self, self.run_state)

    # ---- state dict helpers -------------------------------------------------------------------------------
    def motion_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the motion-module tensors (the ``motion_module.pth`` layout)."""
        return split_motion_state_dict(self.state_dict())[1]

    def spatial_state_dict(self) -> dict[str, torch.Tensor]:
        """Everything but the motion modules (the ``denoising_unet.pth`` layout)."""
        return split_motion_state_dict(self.state_dict())[0]

    def load_unet2d_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True) -> None:
        """Load 2D UNet weights (motion keys optional), fitting ``conv_in`` to this UNet (:func:`fit_conv_in`).

        A 4-D ``conv_in.weight`` (SD1.5, or a 2D pack model) is zero-expanded to this UNet's input channels and,
        for ``conv_in_kind="3d"``, placed in the centre temporal slice; a 3-D one loads into a 3D ``conv_in``,
        or into a 2D one when only its centre slice is non-zero.
        """
        state = dict(state_dict)
        if "conv_in.weight" in state:
            state["conv_in.weight"] = fit_conv_in(
                state["conv_in.weight"], self.conv_in.in_channels, self.conv_in_kind
            )
        result = self.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if MOTION_KEY not in k]
        if strict and (missing or result.unexpected_keys):
            raise KeyError(
                f"2D UNet weights do not match this VideoUNet: missing {missing[:8]} ({len(missing)}), "
                f"unexpected {result.unexpected_keys[:8]} ({len(result.unexpected_keys)})"
            )

    # ---- forward ------------------------------------------------------------------------------------------
    def forward(  # type: ignore[override]
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        pose_features: torch.Tensor | None = None,
        reference: ReferenceFeatures | None = None,
        reference_mask: torch.Tensor | None = None,
        use_motion_modules: bool = True,
    ) -> torch.Tensor:
        """Predict noise (or v) for a batch of videos.

        ``sample``: ``[B, C_in, F, h, w]`` latents (C_in = 4 noisy, + 4 scene, + 4 occlusion latents as
        configured); ``timestep``: scalar or ``[B]``; ``encoder_hidden_states``: ``[B, L, D]`` (CLIP image
        embedding ``[B, 1, 768]``), shared by all frames; ``pose_features``: ``[B, C0, F, h, w]`` from a pose
        encoder (``C0`` = first block width, 320); ``reference``: from :meth:`ReferenceNet.encode`;
        ``reference_mask``: ``[B]`` bool, ``False`` = plain self-attention for that video (CFG uncond half).
        Returns ``[B, C_out, F, h, w]``. With a 3D ``conv_in`` the frames of ``sample`` are neighbours in time
        (one context window), the first and last frame see zero padding.
        """
        if sample.ndim != 5:
            raise ValueError(f"VideoUNet expects sample [B, C, F, H, W], got shape {tuple(sample.shape)}")
        batch, channels, frames, height, width = sample.shape
        if channels != self.conv_in.in_channels:
            raise ValueError(
                f"VideoUNet has {self.conv_in.in_channels} input channels, sample has {channels}"
            )
        if use_motion_modules and self.motion_config is not None and frames > self.motion_config.max_frames:
            raise ValueError(
                f"{frames} frames exceed the motion modules' {self.motion_config.max_frames}-frame position "
                "table; split the video into context windows"
            )
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != batch:
            raise ValueError(
                f"encoder_hidden_states must be [B={batch}, L, D], got shape {tuple(encoder_hidden_states.shape)}"
            )
        x = sample.transpose(1, 2).reshape(batch * frames, channels, height, width)
        t = torch.as_tensor(timestep, device=sample.device)
        if t.ndim == 0:
            t = t.expand(batch)
        if t.shape != (batch,):
            raise ValueError(f"timestep must be a scalar or [B={batch}], got shape {tuple(t.shape)}")
        state = self.run_state
        state.num_frames = frames
        state.use_motion = use_motion_modules
        state.pose_residual = (
            None if pose_features is None else self._fold_frames(pose_features, batch, frames)
        )
        state.reference = reference
        if reference_mask is not None and reference_mask.shape != (batch,):
            raise ValueError(
                f"reference_mask must be [B={batch}] bool, got shape {tuple(reference_mask.shape)}"
            )
        state.reference_mask = reference_mask
        out = super().forward(
            x,
            t.repeat_interleave(frames),
            encoder_hidden_states.repeat_interleave(frames, dim=0),
            return_dict=False,
        )[0]
        return out.reshape(batch, frames, -1, height, width).transpose(1, 2)

    @staticmethod
    def _fold_frames(video: torch.Tensor, batch: int, frames: int) -> torch.Tensor:
        """``[B, C, F, h, w]`` -> ``[B*F, C, h, w]`` with a clear error on a shape mismatch."""
        if video.ndim != 5 or video.shape[0] != batch or video.shape[2] != frames:
            raise ValueError(
                f"pose_features must be [B={batch}, C, F={frames}, h, w], got {tuple(video.shape)}"
            )
        return video.transpose(1, 2).reshape(batch * frames, *video.shape[1:2], *video.shape[3:])
