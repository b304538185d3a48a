"""AnimateDiff-style temporal attention ("motion modules").

The module tree and parameter names follow the AnimateDiff ``VanillaTemporalModule`` layout used by
AnimateDiff ``mm_sd_v15_v2.ckpt``, Moore-AnimateAnyone, Champ and the official MIMO release, so their
``motion_module.pth`` files load without renaming::

    temporal_transformer.norm                      GroupNorm(32, C, eps=1e-6)
    temporal_transformer.proj_in                   Linear(C, C)
    temporal_transformer.transformer_blocks.{k}
        .attention_blocks.{j}                      self-attention over frames (to_q/to_k/to_v/to_out.0)
        .attention_blocks.{j}.pos_encoder.pe       sinusoidal table [1, max_len, C] (persistent buffer)
        .norms.{j}                                 LayerNorm before each attention block
        .ff / .ff_norm                             GEGLU feed-forward and its LayerNorm
    temporal_transformer.proj_out                  Linear(C, C), zero-initialised

Attention runs through diffusers' ``Attention`` class and its default SDPA processor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from torch import nn


@dataclass(frozen=True)
class MotionModuleConfig:
    """Hyper-parameters of every motion module in a video UNet (defaults = AnimateDiff v2 / MIMO).

    ``resolutions`` lists the down-sampling factors (1, 2, 4, 8 = every block) whose blocks get motion
    modules; ``mid_block`` adds one to the middle block; ``decoder_only`` skips the down blocks.
    """

    num_attention_heads: int = 8
    num_transformer_blocks: int = 1
    attention_block_types: tuple[str, ...] = ("Temporal_Self", "Temporal_Self")
    max_frames: int = 32
    norm_num_groups: int = 32
    resolutions: tuple[int, ...] = field(default=(1, 2, 4, 8))
    mid_block: bool = True
    decoder_only: bool = False
    zero_initialize: bool = True

    def to_dict(self) -> dict:
        """JSON-friendly dict (tuples become lists)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict) -> MotionModuleConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"MotionModuleConfig got unknown keys {sorted(unknown)}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fixed)


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """Sinusoidal position table ``[1, max_len, dim]`` (sin on even channels, cos on odd ones)."""
    if dim % 2:
        raise ValueError(f"sinusoidal_table needs an even channel count, got dim={dim}")
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, max_len, dim)
    table[0, :, 0::2] = torch.sin(position * div_term)
    table[0, :, 1::2] = torch.cos(position * div_term)
    return table


class PositionalEncoding(nn.Module):
    """Adds a fixed sinusoidal frame-position code; buffer ``pe`` is ``[1, max_len, dim]``."""

    def __init__(self, dim: int, max_len: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[N, F, dim]`` with ``F <= max_len``; returns the same shape."""
        frames = x.shape[1]
        if frames > self.pe.shape[1]:
            raise ValueError(
                f"temporal attention got {frames} frames but its position table holds {self.pe.shape[1]}; "
                "use context windows of at most that many frames"
            )
        return x + self.pe[:, :frames].to(dtype=x.dtype)


class TemporalSelfAttention(Attention):
    """Self-attention across frames at every spatial position (``Temporal_Self``).

    Input/output: ``[B*F, HW, C]`` (frames of one video contiguous); attention mixes the ``F`` axis.
    """

    def __init__(self, dim: int, heads: int, max_frames: int, position_encoding: bool = True) -> None:
        if dim % heads:
            raise ValueError(f"temporal attention: channels {dim} not divisible by heads {heads}")
        super().__init__(query_dim=dim, heads=heads, dim_head=dim // heads, bias=False)
        self.pos_encoder = PositionalEncoding(dim, max_frames) if position_encoding else None

    def forward(  # type: ignore[override]
        self, hidden_states: torch.Tensor, num_frames: int
    ) -> torch.Tensor:
        bf, hw, channels = hidden_states.shape
        if bf % num_frames:
            raise ValueError(
                f"temporal attention: batch*frames={bf} is not a multiple of num_frames={num_frames}"
            )
        batch = bf // num_frames
        x = hidden_states.reshape(batch, num_frames, hw, channels).permute(0, 2, 1, 3)
        x = x.reshape(batch * hw, num_frames, channels)
        if self.pos_encoder is not None:
            x = self.pos_encoder(x)
        x = super().forward(x)
        x = x.reshape(batch, hw, num_frames, channels).permute(0, 2, 1, 3)
        return x.reshape(bf, hw, channels)


class TemporalTransformerBlock(nn.Module):
    """Pre-norm temporal attention blocks followed by a GEGLU feed-forward, all residual."""

    def __init__(self, dim: int, config: MotionModuleConfig) -> None:
        super().__init__()
        for kind in config.attention_block_types:
            if kind != "Temporal_Self":
                raise ValueError(
                    f"unsupported attention block type {kind!r}; only 'Temporal_Self' is implemented"
                )
        self.attention_blocks = nn.ModuleList(
            TemporalSelfAttention(dim, config.num_attention_heads, config.max_frames)
            for _ in config.attention_block_types
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in config.attention_block_types)
        self.ff = FeedForward(dim, activation_fn="geglu")
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, hidden_states: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``hidden_states``: ``[B*F, HW, C]``; returns the same shape."""
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            hidden_states = attention(norm(hidden_states), num_frames) + hidden_states
        return self.ff(self.ff_norm(hidden_states)) + hidden_states


class TemporalTransformer(nn.Module):
    """GroupNorm -> Linear -> temporal blocks -> Linear, added back to the input feature map."""

    def __init__(self, channels: int, config: MotionModuleConfig) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(config.norm_num_groups, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList(
            TemporalTransformerBlock(channels, config) for _ in range(config.num_transformer_blocks)
        )
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, sample: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``sample``: ``[B*F, C, H, W]`` per-frame feature maps; returns the same shape."""
        bf, channels, height, width = sample.shape
        residual = sample
        x = self.norm(sample).permute(0, 2, 3, 1).reshape(bf, height * width, channels)
        x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, num_frames)
        x = self.proj_out(x)
        x = x.reshape(bf, height, width, channels).permute(0, 3, 1, 2)
        return x + residual


class MotionModule(nn.Module):
    """One AnimateDiff motion module (``VanillaTemporalModule``) for feature maps with ``channels``."""

    def __init__(self, channels: int, config: MotionModuleConfig | None = None) -> None:
        super().__init__()
        config = config or MotionModuleConfig()
        self.temporal_transformer = TemporalTransformer(channels, config)
        self.gradient_checkpointing = False
        if config.zero_initialize:
            nn.init.zeros_(self.temporal_transformer.proj_out.weight)
            nn.init.zeros_(self.temporal_transformer.proj_out.bias)

    def forward(self, sample: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``sample``: ``[B*F, C, H, W]`` (frames contiguous per video); returns the same shape."""
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return torch.utils.checkpoint.checkpoint(
                self.temporal_transformer, sample, num_frames, use_reentrant=False
            )
        return self.temporal_transformer(sample, num_frames)
