"""The SMPL transformer-decoder head of HMR 2.0.

One token (a single zero scalar, embedded by ``to_token_embedding``) goes through ``head_depth``
pre-norm layers of self-attention, cross-attention over the backbone tokens and an MLP; the output
token is read out by three linear layers whose results are *added* to the mean-parameter buffers
``init_body_pose`` (6-D rotations, global orientation first), ``init_betas`` and ``init_cam``.
Parameter names follow the released checkpoint (``smpl_head.*``): the decoder is
``transformer.transformer.layers.{i}.{0: self-attn, 1: cross-attn, 2: MLP}.{norm, fn.*}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import Hmr2Config


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """HMR 2.0's 6-D rotation decoding (Zhou et al. 2019, Gram-Schmidt).

    The 6 numbers are read as two rows ``(a1x, a1y, a1z), (a2x, a2y, a2z)``; ``a1`` and ``a2`` become
    the first two *columns* of the rotation after orthonormalisation.

    Args:
        x: ``[..., 6]``.
    Returns:
        ``[..., 3, 3]`` rotation matrices.
    """
    if x.shape[-1] != 6:
        raise ValueError(f"6-D rotations must end with a dimension of 6, got {tuple(x.shape)}")
    pairs = x.reshape(*x.shape[:-1], 2, 3)
    a1, a2 = pairs[..., 0, :], pairs[..., 1, :]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


class PreNorm(nn.Module):
    """``fn(LayerNorm(x), **kwargs)`` (the residual is added by the caller)."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, _ = t.shape
    return t.reshape(b, n, heads, -1).transpose(1, 2)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)


class SelfAttention(nn.Module):
    """Self-attention with a bias-free fused ``to_qkv`` and an ``to_out.0`` projection."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    """Token queries (``to_q``) attending to context keys/values (``to_kv``), both bias-free."""

    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_kv = nn.Linear(context_dim, heads * dim_head * 2, bias=False)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        q = _split_heads(self.to_q(x), self.heads)
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FeedForward(nn.Module):
    """``net = [Linear, GELU, Dropout, Linear, Dropout]`` (weights at ``net.0`` and ``net.3``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim),
                                 nn.Dropout(0.0))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttnTransformer(nn.Module):
    """``layers[i] = [PreNorm(self-attn), PreNorm(cross-attn), PreNorm(MLP)]``, each with a residual."""

    def __init__(self, cfg: Hmr2Config) -> None:
        super().__init__()
        d = cfg.head_dim
        self.layers = nn.ModuleList(
            nn.ModuleList([
                PreNorm(d, SelfAttention(d, cfg.head_heads, cfg.head_dim_head)),
                PreNorm(d, CrossAttention(d, cfg.embed_dim, cfg.head_heads, cfg.head_dim_head)),
                PreNorm(d, FeedForward(d, cfg.head_mlp_dim)),
            ])
            for _ in range(cfg.head_depth)
        )  # fmt: skip

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for self_attn, cross_attn, ff in self.layers:  # type: ignore[misc]
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = ff(x) + x
        return x


class TokenDecoder(nn.Module):
    """Embeds the ``[B, 1, 1]`` input token, adds ``pos_embedding`` and runs the decoder layers."""

    def __init__(self, cfg: Hmr2Config) -> None:
        super().__init__()
        self.to_token_embedding = nn.Linear(1, cfg.head_dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 1, cfg.head_dim))
        self.transformer = CrossAttnTransformer(cfg)

    def forward(self, token: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.to_token_embedding(token) + self.pos_embedding
        return self.transformer(x, context=context)


@dataclass
class SmplPrediction:
    """Raw HMR 2.0 output for ``B`` crops.

    Attributes:
        global_orient: ``[B, 3, 3]`` root rotation (smplx convention: about the pelvis joint).
        body_pose: ``[B, 23, 3, 3]`` rotations of the SMPL body joints 1..23.
        betas: ``[B, 10]`` SMPL shape.
        cam_crop: ``[B, 3]`` weak-perspective crop camera ``(s, tx, ty)``.
    """

    global_orient: torch.Tensor
    body_pose: torch.Tensor
    betas: torch.Tensor
    cam_crop: torch.Tensor


class SmplTransformerHead(nn.Module):
    """``forward(features [B, C, Hp, Wp]) -> SmplPrediction`` (one refinement iteration, zero token)."""

    def __init__(self, cfg: Hmr2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer = TokenDecoder(cfg)
        self.decpose = nn.Linear(cfg.head_dim, cfg.pose_dim)
        self.decshape = nn.Linear(cfg.head_dim, cfg.num_betas)
        self.deccam = nn.Linear(cfg.head_dim, 3)
        self.register_buffer("init_body_pose", torch.zeros(1, cfg.pose_dim))
        self.register_buffer("init_betas", torch.zeros(1, cfg.num_betas))
        self.register_buffer("init_cam", torch.zeros(1, 3))

    def forward(self, features: torch.Tensor) -> SmplPrediction:
        b = features.shape[0]
        context = features.flatten(2).transpose(1, 2)  # [B, Hp*Wp, C]
        token = features.new_zeros(b, 1, 1)
        out = self.transformer(token, context=context)[:, 0]  # [B, D]
        pose6d = self.decpose(out) + self.init_body_pose
        betas = self.decshape(out) + self.init_betas
        cam = self.deccam(out) + self.init_cam
        rotmats = rot6d_to_rotmat(pose6d.reshape(b, self.cfg.num_joints, 6))
        return SmplPrediction(
            global_orient=rotmats[:, 0], body_pose=rotmats[:, 1:], betas=betas, cam_crop=cam
        )
