"""Architecture hyper-parameters of the HMR 2.0 network (ViT backbone + SMPL transformer-decoder head).

:meth:`Hmr2Config.official` is the released ``epoch=35-step=1000000.ckpt`` model: ViT-H/16 on a
256x192 crop (1280 wide, 32 blocks, 16 heads) and a 6-layer cross-attention decoder (1024 wide,
8 heads of 64) reading one zero token. Every field is configurable so that a small model with the
same parameter names can be built for tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hmr2Config:
    """Sizes of the HMR 2.0 network.

    Attributes:
        image_size: ``(H, W)`` network input in pixels (the official model: ``(256, 192)``).
        patch_size: ViT patch side; the patch convolution uses ``stride = patch_size`` and ``padding = 2``.
        patch_padding: padding of the patch convolution (ViTPose: ``4 + 2 * (ratio // 2 - 1) = 2``).
        embed_dim, depth, num_heads, mlp_ratio: ViT width, number of blocks, heads, MLP expansion.
        head_dim: width of the decoder token.
        head_depth, head_heads, head_dim_head, head_mlp_dim: decoder layers, heads, per-head width, MLP width.
        num_joints: rotations predicted (global orientation + 23 SMPL body joints).
        num_betas: SMPL shape coefficients.
    """

    image_size: tuple[int, int] = (256, 192)
    patch_size: int = 16
    patch_padding: int = 2
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: int = 4
    head_dim: int = 1024
    head_depth: int = 6
    head_heads: int = 8
    head_dim_head: int = 64
    head_mlp_dim: int = 1024
    num_joints: int = 24
    num_betas: int = 10

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        for name in ("patch_size", "embed_dim", "depth", "num_heads", "head_dim", "head_depth", "head_heads",
                     "head_dim_head", "head_mlp_dim", "num_joints", "num_betas"):  # fmt: skip
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"Hmr2Config.{name} must be positive, got {getattr(self, name)}")

    @classmethod
    def official(cls) -> Hmr2Config:
        """The released HMR 2.0 model (ViT-H/16 + 6-layer decoder)."""
        return cls()

    @property
    def grid(self) -> tuple[int, int]:
        """``(Hp, Wp)`` patch grid produced by the patch convolution."""
        h, w = self.image_size
        k, p = self.patch_size, self.patch_padding
        return (h + 2 * p - k) // k + 1, (w + 2 * p - k) // k + 1

    @property
    def num_positions(self) -> int:
        """Rows of ``backbone.pos_embed``: one per patch (``(H//k) * (W//k)``) plus the unused class slot."""
        h, w = self.image_size
        return (h // self.patch_size) * (w // self.patch_size) + 1

    @property
    def pose_dim(self) -> int:
        """Width of the 6-D rotation output: ``6 * num_joints``."""
        return 6 * self.num_joints
