"""Tiny HMR 2.0 models and checkpoint files in the released (Lightning) format (shared by the tests here)."""

from __future__ import annotations

from pathlib import Path

import torch

from mimo_core.body.hmr2 import Hmr2Config, Hmr2Model

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO.parent / "shared" / "checkpoint_manifests" / "hmr2_epoch35_step1000000_manifest.json"
TINY = Hmr2Config(embed_dim=32, depth=2, num_heads=2, head_dim=32, head_depth=2, head_heads=2, head_dim_head=8,
                  head_mlp_dim=32)  # fmt: skip


def tiny_model(seed: int = 0) -> Hmr2Model:
    """A tiny model with every parameter and buffer random (so no weight is left at its default)."""
    gen = torch.Generator().manual_seed(seed)
    model = Hmr2Model(TINY)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            t.copy_(
                torch.randn(t.shape, generator=gen) * (0.3 if "weight" in name or "embed" in name else 0.1)
            )
        model.smpl_head.init_cam[:, 0] = 0.9  # a plausible crop scale
    return model.eval()


def fake_smpl_buffers(num_verts: int = 30, num_betas: int = 10, seed: int = 1) -> dict[str, torch.Tensor]:
    """Small stand-ins for the checkpoint's ``smpl.*`` buffers (same names, fewer vertices)."""
    gen = torch.Generator().manual_seed(seed)
    j_reg = torch.rand(24, num_verts, generator=gen)
    return {
        "smpl.J_regressor": j_reg / j_reg.sum(1, keepdim=True),
        "smpl.v_template": torch.randn(num_verts, 3, generator=gen) * 0.3,
        "smpl.shapedirs": torch.randn(num_verts, 3, num_betas, generator=gen) * 0.01,
        "smpl.faces_tensor": torch.zeros(4, 3, dtype=torch.int64),
        "smpl.parents": torch.arange(-1, 23, dtype=torch.int64),
    }


def lightning_checkpoint(model: Hmr2Model, extra: dict | None = None, smpl: bool = True) -> dict:
    """A dict laid out like the released ``epoch=35-step=1000000.ckpt``."""
    sd = dict(model.state_dict())
    sd["initialized"] = torch.tensor(True)
    sd["discriminator.D_conv1.weight"] = torch.zeros(32, 9, 1, 1)
    sd["discriminator.betas_out.bias"] = torch.zeros(1)
    if smpl:
        sd.update(fake_smpl_buffers())
    ckpt = {"state_dict": sd, "epoch": 35, "global_step": 1000000, "pytorch-lightning_version": "1.8.1"}
    ckpt.update(extra or {})
    return ckpt
