"""The ViTPose-style ViT backbone of HMR 2.0.

Parameter names follow the released checkpoint (``backbone.*``): ``pos_embed``,
``patch_embed.proj``, ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``, ``last_norm``.
``pos_embed`` keeps the class-token slot of the pre-trained model; as in ViTPose, that slot is added to
every patch position (``x + pos_embed[:, 1:] + pos_embed[:, :1]``) and no class token is used.
LayerNorms use ``eps = 1e-6``; the MLP uses the exact GELU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import Hmr2Config


class PatchEmbed(nn.Module):
    """Strided convolution ``[B,3,H,W] -> [B, Hp*Wp, C]``."""

    def __init__(self, cfg: Hmr2Config) -> None:
        super().__init__()
        k = cfg.patch_size
        self.proj = nn.Conv2d(3, cfg.embed_dim, kernel_size=k, stride=k, padding=cfg.patch_padding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        hp, wp = int(x.shape[2]), int(x.shape[3])
        return x.flatten(2).transpose(1, 2), (hp, wp)


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection (with bias)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # [B, heads, N, d]
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """``fc1 -> GELU -> fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """``forward(images [B,3,H,W]) -> features [B, C, Hp, Wp]`` (channel-first feature map)."""

    def __init__(self, cfg: Hmr2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_positions, cfg.embed_dim))
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ViT input must be [B,3,H,W] images, got {tuple(x.shape)}")
        b = x.shape[0]
        tokens, (hp, wp) = self.patch_embed(x)
        if tokens.shape[1] != self.pos_embed.shape[1] - 1:
            raise ValueError(
                f"input {tuple(x.shape[2:])} gives {tokens.shape[1]} patches but the position embedding has "
                f"{self.pos_embed.shape[1] - 1}; the network expects {self.cfg.image_size} crops"
            )
        tokens = tokens + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for blk in self.blocks:
            tokens = blk(tokens)
        tokens = self.last_norm(tokens)
        return tokens.transpose(1, 2).reshape(b, -1, hp, wp)
