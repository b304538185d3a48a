"""VAE import from original (LDM / CompVis) single files: SD1.5 checkpoints and standalone sd-vae-ft-mse files.

The LDM layout is written by this test's own inverse mapping (diffusers -> LDM names), independent of the
importer; at full size the names it produces are checked against known SD1.5 names and shapes.
"""

from __future__ import annotations

import re

import pytest
import torch
from _mimo_tiny import TINY_UNET, randomize_
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from safetensors.torch import save_file

from mimo_core.checkpoints import (
    diffusers_unet_to_ldm,
    ldm_vae_to_diffusers,
    load_single_file_vae,
    load_vae,
    read_single_file_sd,
    vae_config_from_ldm,
)
from mimo_core.checkpoints.sd_single_file import extract_ldm_vae, vae_from_ldm_checkpoint

TINY_VAE = dict(
    block_out_channels=[8, 16, 16],
    down_block_types=["DownEncoderBlock2D"] * 3,
    up_block_types=["UpDecoderBlock2D"] * 3,
    latent_channels=4,
    norm_num_groups=4,
    layers_per_block=2,
)
SD15_VAE = dict(
    block_out_channels=[128, 256, 512, 512],
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    latent_channels=4,
    norm_num_groups=32,
    layers_per_block=2,
)
_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def diffusers_vae_to_ldm(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """This test's own diffusers -> LDM renaming (the layout of SD1.5 / sd-vae-ft-mse single files)."""
    levels = 1 + max(int(m[1]) for k in state if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", k)))
    out = {}
    for key, value in state.items():
        name = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        name = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", name)
        name = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", name)
        name = re.sub(
            r"decoder\.up_blocks\.(\d+)\.resnets\.",
            lambda m: f"decoder.up.{levels - 1 - int(m[1])}.block.",
            name,
        )
        name = re.sub(
            r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
            lambda m: f"decoder.up.{levels - 1 - int(m[1])}.upsample.",
            name,
        )
        name = re.sub(r"mid_block\.resnets\.(\d)\.", lambda m: f"mid.block_{int(m[1]) + 1}.", name)
        if m := re.match(
            r"(\w+)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(\w+)$", key
        ):
            name = f"{m[1]}.mid.attn_1.{_ATTENTION[m[2]]}.{m[3]}"
            if m[3] == "weight" and m[2] != "group_norm":
                value = value[:, :, None, None]  # LDM: 1x1 conv
        out[prefix + name] = value
    return out


def _tiny_vae(seed: int = 31) -> AutoencoderKL:
    return randomize_(AutoencoderKL(**TINY_VAE), seed=seed).eval()


def _assert_same_vae(expected: AutoencoderKL, actual: torch.nn.Module) -> None:
    se, sa = expected.state_dict(), actual.state_dict()
    assert se.keys() == sa.keys()
    for key in se:
        assert se[key].shape == sa[key].shape and torch.equal(se[key], sa[key]), key
    g = torch.Generator().manual_seed(3)
    latents = torch.randn(1, 4, 4, 4, generator=g)
    image = torch.rand(1, 3, 16, 16, generator=g) * 2 - 1
    with torch.no_grad():
        decoded = actual.decode(latents).sample
        assert decoded.shape == (1, 3, 16, 16)
        torch.testing.assert_close(decoded, expected.decode(latents).sample, rtol=0, atol=0)
        torch.testing.assert_close(
            actual.encode(image).latent_dist.mean, expected.encode(image).latent_dist.mean, rtol=0, atol=0
        )


# ---- tiny models through real files ----------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_sd15_single_file_yields_unet_and_vae(tmp_path, suffix):
    unet2d = randomize_(UNet2DConditionModel(**TINY_UNET), seed=23)
    vae = _tiny_vae()
    checkpoint = {
        **diffusers_unet_to_ldm(unet2d.state_dict(), TINY_UNET),
        **diffusers_vae_to_ldm(vae.state_dict(), "first_stage_model."),
        "cond_stage_model.transformer.text_model.embeddings.position_ids": torch.arange(4)[None],
        "cond_stage_model.transformer.text_model.final_layer_norm.weight": torch.ones(8),
    }
    assert "first_stage_model.encoder.mid.attn_1.q.weight" in checkpoint
    path = tmp_path / f"sd15{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in checkpoint.items()}, str(path))
    else:  # the CompVis .ckpt wrapper; read with torch.load(weights_only=True)
        torch.save({"state_dict": checkpoint, "global_step": 840000}, path)
    parts = read_single_file_sd(path, unet_config=TINY_UNET, vae_config={"norm_num_groups": 4})
    reference = unet2d.state_dict()
    assert parts.unet_state_dict.keys() == reference.keys()
    assert all(torch.equal(parts.unet_state_dict[k], reference[k]) for k in reference)
    assert isinstance(parts.vae, AutoencoderKL) and not parts.vae.training
    _assert_same_vae(vae, parts.vae)
    assert torch.equal(
        parts.vae.encoder.mid_block.attentions[0].to_q.weight,
        checkpoint["first_stage_model.encoder.mid.attn_1.q.weight"][:, :, 0, 0],
    )
    _assert_same_vae(vae, load_single_file_vae(path, {"norm_num_groups": 4}))


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_standalone_vae_file(tmp_path, suffix):
    """sd-vae-ft-mse's original file: unprefixed encoder/decoder tensors (+ loss / EMA bookkeeping, ignored)."""
    vae = _tiny_vae(seed=32)
    state = diffusers_vae_to_ldm(vae.state_dict())
    state |= {"loss.logvar": torch.zeros(()), "model_ema.decay": torch.tensor(0.999)}
    path = tmp_path / f"vae-ft-mse-840000-ema-pruned{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    loaded = load_vae(path, {"norm_num_groups": 4})
    _assert_same_vae(vae, loaded)
    assert loaded.config.scaling_factor == pytest.approx(0.18215)


def test_load_vae_still_reads_diffusers_folders(tmp_path):
    vae = _tiny_vae(seed=33)
    vae.save_pretrained(tmp_path / "vae")
    _assert_same_vae(vae, load_vae(tmp_path / "vae"))


def test_inferred_config_and_errors(tmp_path):
    ldm = diffusers_vae_to_ldm(_tiny_vae().state_dict())
    config = vae_config_from_ldm(ldm, {"norm_num_groups": 4})
    for field in ("block_out_channels", "layers_per_block", "latent_channels", "norm_num_groups"):
        assert config[field] == TINY_VAE[field], field
    assert config["down_block_types"] == TINY_VAE["down_block_types"]
    assert config["in_channels"] == config["out_channels"] == 3 and config["mid_block_add_attention"]
    no_vae = tmp_path / "unet_only.safetensors"
    save_file({"model.diffusion_model.out.2.bias": torch.zeros(4)}, str(no_vae))
    with pytest.raises(ValueError, match="first_stage_model"):
        load_single_file_vae(no_vae)
    with pytest.raises(KeyError, match="encoder.mid.attn_1.qkv.weight"):
        ldm_vae_to_diffusers({**ldm, "encoder.mid.attn_1.qkv.weight": torch.zeros(1)})
    incomplete = tmp_path / "incomplete.safetensors"
    save_file({k: v for k, v in ldm.items() if k != "decoder.up.1.block.2.conv2.bias"}, str(incomplete))
    with pytest.raises(ValueError, match="missing"):
        load_single_file_vae(incomplete, {"norm_num_groups": 4})


# ---- full size, on the meta device -----------------------------------------------------------------------------
def test_sd15_vae_names_at_full_size():
    """SD1.5's first_stage_model names/shapes map onto diffusers' AutoencoderKL exactly, config included."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    with torch.device("meta"):
        state = AutoencoderKL(**SD15_VAE).state_dict()
    ldm = diffusers_vae_to_ldm(state, "first_stage_model.")
    assert len(ldm) == 248
    known = {  # names and shapes of runwayml/stable-diffusion-v1-5's v1-5-pruned-emaonly checkpoint
        "first_stage_model.encoder.conv_in.weight": (128, 3, 3, 3),
        "first_stage_model.encoder.down.1.block.0.nin_shortcut.weight": (256, 128, 1, 1),
        "first_stage_model.encoder.down.2.downsample.conv.weight": (512, 512, 3, 3),
        "first_stage_model.encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "first_stage_model.encoder.mid.attn_1.proj_out.weight": (512, 512, 1, 1),
        "first_stage_model.encoder.norm_out.weight": (512,),
        "first_stage_model.encoder.conv_out.weight": (8, 512, 3, 3),
        "first_stage_model.quant_conv.weight": (8, 8, 1, 1),
        "first_stage_model.post_quant_conv.weight": (4, 4, 1, 1),
        "first_stage_model.decoder.conv_in.weight": (512, 4, 3, 3),
        "first_stage_model.decoder.mid.block_2.conv1.weight": (512, 512, 3, 3),
        "first_stage_model.decoder.up.3.upsample.conv.weight": (512, 512, 3, 3),
        "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight": (256, 512, 1, 1),
        "first_stage_model.decoder.up.0.block.2.conv2.weight": (128, 128, 3, 3),
        "first_stage_model.decoder.conv_out.weight": (3, 128, 3, 3),
    }
    for name, shape in known.items():
        assert tuple(ldm[name].shape) == shape, name
    assert not any(k.startswith("first_stage_model.decoder.up.0.upsample") for k in ldm)
    checkpoint = {**ldm, "model.diffusion_model.out.2.bias": torch.zeros(4, device="meta")}
    config, converted = vae_from_ldm_checkpoint(checkpoint)
    assert converted.keys() == state.keys()
    assert all(converted[k].shape == state[k].shape for k in state)
    for field, value in SD15_VAE.items():
        assert config[field] == value, field
    assert len(extract_ldm_vae(checkpoint)) == 248
    # cross-check against diffusers' own converter
    theirs = convert_ldm_vae_checkpoint(ldm, dict(SD15_VAE))
    assert set(theirs) == set(converted)
    assert all(theirs[k].shape == converted[k].shape for k in theirs)
