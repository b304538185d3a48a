"""Checkpoint I/O: the pack format and importers, each on tiny models saved in the source format."""

from __future__ import annotations

import json

import pytest
import torch
from _mimo_tiny import TINY_MOTION, TINY_UNET, randomize_
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from safetensors.torch import save_file

from mimo_core.checkpoints import (
    FORMAT,
    diffusers_unet_to_ldm,
    load_animateanyone_release,
    load_model,
    load_vae_diffusers,
    read_header,
    read_single_file_unet,
    read_state_dict,
    save_model,
    unwrap_state_dict,
    video_unet_from_sd15,
)
from mimo_core.models import (
    SD15_UNET_CONFIG,
    ChampGuidanceEncoder,
    PoseGuider,
    ReferenceNet,
    VertexCodes,
    VideoUNet,
)

B, F, H, W = 1, 2, 8, 8
C0 = TINY_UNET["block_out_channels"][0]


def _run(video: VideoUNet, reference: ReferenceNet, pose: torch.nn.Module | None, cond=None, seed: int = 4):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(B, video.conv_in.in_channels, F, H, W, generator=g)
    ctx = torch.randn(B, 1, TINY_UNET["cross_attention_dim"], generator=g)
    ref = torch.randn(B, 4, H, W, generator=g)
    cond = torch.rand(B, 3, F, 8 * H, 8 * W, generator=g) if cond is None else cond
    with torch.no_grad():
        features = reference.encode(ref, ctx)
        pose_features = None if pose is None else pose(cond)
        return video(sample, 100, ctx, pose_features=pose_features, reference=features)


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# ---- pack format -------------------------------------------------------------------------------------------
def test_pack_round_trip_video_unet(tmp_path):
    video = randomize_(VideoUNet(dict(TINY_UNET, in_channels=8), TINY_MOTION), seed=1).eval()
    path = tmp_path / "unet.safetensors"
    save_model(video, path, "video_unet", video.video_config())
    kind, config = read_header(path)
    assert kind == "video_unet" and config["unet"]["in_channels"] == 8
    loaded = load_model(path)
    assert isinstance(loaded, VideoUNet) and not any(p.is_meta for p in loaded.parameters())
    _same_state(video, loaded)
    reference = randomize_(ReferenceNet(**TINY_UNET), seed=2).eval()
    torch.testing.assert_close(_run(loaded, reference, None), _run(video, reference, None))


@pytest.mark.parametrize(
    ("module", "kind", "config"),
    [
        (PoseGuider(320, 3), "pose_guider", {"embedding_channels": 320, "conditioning_channels": 3}),
        (VertexCodes(50, 4), "vertex_codes", {"num_vertices": 50, "dim": 4}),
        (ReferenceNet(**TINY_UNET), "reference_net", {"unet": TINY_UNET}),
    ],
    ids=["pose_guider", "vertex_codes", "reference_net"],
)
def test_pack_round_trip_small_modules(tmp_path, module, kind, config):
    randomize_(module, seed=3)
    path = tmp_path / f"{kind}.safetensors"
    save_model(module, path, kind, config)
    loaded = load_model(path, dtype=torch.float16)
    assert type(loaded) is type(module)
    assert all(t.dtype == torch.float16 for t in loaded.state_dict().values())
    _same_state(module.half(), loaded)


def test_pack_rejects_foreign_files_and_kinds(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(1)}, str(plain))
    with pytest.raises(ValueError, match=f"not a {FORMAT} file"):
        load_model(plain)
    future = tmp_path / "future.safetensors"
    save_file(
        {"x": torch.zeros(1)},
        str(future),
        metadata={"format": FORMAT, "format_version": "99", "kind": "x", "config": "{}"},
    )
    with pytest.raises(ValueError, match="version"):
        load_model(future)
    with pytest.raises(ValueError, match="unknown model kind"):
        save_model(PoseGuider(), tmp_path / "x.safetensors", "nonsense", {})
    wrong = tmp_path / "wrong.safetensors"
    save_model(VertexCodes(50, 4), wrong, "vertex_codes", {"num_vertices": 60, "dim": 4})
    with pytest.raises(ValueError, match="wrong shapes"):
        load_model(wrong)


# ---- wrappers ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "global_step": 7},
        lambda sd: {"model": sd},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3},
    ],
    ids=["plain", "state_dict", "model", "module_prefix", "nested"],
)
def test_wrappers_are_removed(tmp_path, wrap):
    state = PoseGuider().state_dict()
    path = tmp_path / "guider.pth"
    torch.save(wrap(dict(state)), path)
    loaded = read_state_dict(path)
    assert loaded.keys() == state.keys()
    with pytest.raises(ValueError, match="no tensors"):
        unwrap_state_dict({"epoch": 1}, source="x")


class Opaque:
    """A class a weights-only load must refuse to construct."""


def test_unreadable_pickle_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"obj": Opaque(), "w": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="weights-only"):
        read_state_dict(path)


# ---- Moore / MIMO / Champ releases ---------------------------------------------------------------------------
def _write_release(folder, in_channels: int, champ: bool = False, motion_inside: bool = False):
    video = randomize_(VideoUNet(dict(TINY_UNET, in_channels=in_channels), TINY_MOTION), seed=11).eval()
    reference = randomize_(ReferenceNet(**TINY_UNET), seed=12).eval()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(
        video.state_dict() if motion_inside else video.spatial_state_dict(), folder / "denoising_unet.pth"
    )
    if not motion_inside:
        torch.save(video.motion_state_dict(), folder / "motion_module.pth")
    torch.save(reference.state_dict(), folder / "reference_unet.pth")
    if champ:
        encoders = {
            k: randomize_(ChampGuidanceEncoder(C0, 3), seed=13 + i) for i, k in enumerate(("depth", "normal"))
        }
        for name, encoder in encoders.items():
            torch.save(encoder.state_dict(), folder / f"guidance_encoder_{name}.pth")
        pose = encoders
    else:
        pose = randomize_(PoseGuider(C0, 3), seed=13)
        torch.save(pose.state_dict(), folder / "pose_guider.pth")
    return video, reference, pose


@pytest.mark.parametrize(
    ("flavour", "in_channels", "motion_inside"), [("moore", 4, False), ("mimo", 8, False), ("mimo", 8, True)]
)
def test_moore_and_mimo_release_load_and_match(tmp_path, flavour, in_channels, motion_inside):
    video, reference, pose = _write_release(tmp_path / "w", in_channels, motion_inside=motion_inside)
    weights = load_animateanyone_release(tmp_path / "w", unet_config=TINY_UNET, motion_config=TINY_MOTION)
    assert weights.source == flavour
    assert weights.denoising_unet.conv_in.in_channels == in_channels
    assert weights.denoising_unet.motion_config.max_frames == TINY_MOTION.max_frames
    _same_state(video, weights.denoising_unet)
    _same_state(reference, weights.reference_net)
    _same_state(pose, weights.pose_encoder)
    expected = _run(video, reference, pose)
    torch.testing.assert_close(
        _run(weights.denoising_unet, weights.reference_net, weights.pose_encoder), expected
    )


def test_champ_release_sums_guidance_encoders(tmp_path):
    video, reference, encoders = _write_release(tmp_path / "c", 4, champ=True)
    weights = load_animateanyone_release(tmp_path / "c", unet_config=TINY_UNET, motion_config=TINY_MOTION)
    assert weights.source == "champ"
    assert sorted(weights.pose_encoder.encoders) == ["depth", "normal"]
    maps = {k: torch.rand(B, 3, F, 8 * H, 8 * W) for k in encoders}
    with torch.no_grad():
        summed = weights.pose_encoder(maps)
        torch.testing.assert_close(
            summed, encoders["depth"](maps["depth"]) + encoders["normal"](maps["normal"])
        )


def test_release_errors_name_the_missing_file(tmp_path):
    _write_release(tmp_path / "w", 4)
    (tmp_path / "w" / "reference_unet.pth").unlink()
    with pytest.raises(FileNotFoundError, match="reference_unet.pth"):
        load_animateanyone_release(tmp_path / "w", unet_config=TINY_UNET, motion_config=TINY_MOTION)


# ---- SD1.5 diffusers folder / single file / AnimateDiff / VAE ----------------------------------------------------
@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_sd15_folder_plus_animatediff_ckpt(tmp_path, safe):
    unet2d = randomize_(UNet2DConditionModel(**TINY_UNET), seed=21).eval()
    unet2d.save_pretrained(tmp_path / "sd15" / "unet", safe_serialization=safe)
    donor = randomize_(VideoUNet(TINY_UNET, TINY_MOTION), seed=22)
    torch.save({"state_dict": donor.motion_state_dict()}, tmp_path / "mm_sd_v15_v2.ckpt")
    video = video_unet_from_sd15(
        tmp_path / "sd15", tmp_path / "mm_sd_v15_v2.ckpt", in_channels=8, motion_config=TINY_MOTION
    )
    state = video.state_dict()
    assert state["conv_in.weight"].shape[1] == 8
    assert torch.equal(state["conv_in.weight"][:, :4], unet2d.conv_in.weight)
    assert torch.count_nonzero(state["conv_in.weight"][:, 4:]) == 0
    for key, value in unet2d.state_dict().items():
        if key != "conv_in.weight":
            assert torch.equal(state[key], value), key
    for key, value in donor.motion_state_dict().items():
        assert torch.equal(state[key], value), key


def test_single_file_sd_checkpoint_round_trip(tmp_path):
    unet2d = randomize_(UNet2DConditionModel(**TINY_UNET), seed=23)
    ldm = diffusers_unet_to_ldm(unet2d.state_dict(), TINY_UNET)
    ldm["first_stage_model.decoder.conv_in.weight"] = torch.zeros(1)  # other SD parts are ignored
    path = tmp_path / "sd15.safetensors"
    save_file({k: v.contiguous() for k, v in ldm.items()}, str(path))
    converted = read_single_file_unet(path, TINY_UNET)
    reference = unet2d.state_dict()
    assert converted.keys() == reference.keys()
    assert all(torch.equal(converted[k], reference[k]) for k in reference)


def test_single_file_names_at_full_size():
    """The SD1.5 LDM names our mapping produces are the known ones and diffusers maps them back exactly."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    with torch.device("meta"):
        state = UNet2DConditionModel(**SD15_UNET_CONFIG).state_dict()
    ldm = diffusers_unet_to_ldm(state)
    for known in (
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight",
        "model.diffusion_model.input_blocks.3.0.op.weight",
        "model.diffusion_model.output_blocks.2.1.conv.weight",
        "model.diffusion_model.output_blocks.5.2.conv.weight",
        "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight",
        "model.diffusion_model.time_embed.0.weight",
        "model.diffusion_model.out.2.weight",
    ):
        assert known in ldm
    back = convert_ldm_unet_checkpoint(ldm, dict(SD15_UNET_CONFIG))
    assert set(back) == set(state)
    assert all(tuple(back[k].shape) == tuple(state[k].shape) for k in state)


def test_vae_folder(tmp_path):
    config = dict(
        block_out_channels=[8, 16],
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
    )
    vae = randomize_(AutoencoderKL(**config), seed=31).eval()
    vae.save_pretrained(tmp_path / "sd-vae-ft-mse")
    assert "block_out_channels" in json.loads((tmp_path / "sd-vae-ft-mse" / "config.json").read_text())
    loaded = load_vae_diffusers(tmp_path / "sd-vae-ft-mse")
    _same_state(vae, loaded)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(image).latent_dist.mean, vae.encode(image).latent_dist.mean)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_vae_diffusers(tmp_path / "nowhere")
