"""Champ guidance-encoder sets in the pack's own format: one file, config = guidance types + encoder configs."""

from __future__ import annotations

import json

import pytest
import torch
from _mimo_tiny import randomize_
from safetensors.torch import save_file

from mimo_core.checkpoints import (
    FORMAT,
    champ_guidance_encoder_config,
    champ_guidance_set_config,
    load_champ_guidance_encoders,
    load_model,
    read_header,
    save_champ_guidance_set,
    save_model,
)
from mimo_core.checkpoints.importers import CHAMP_GUIDANCE_TYPES
from mimo_core.models import ChampGuidanceEncoder, GuidanceEncoderSet

TINY_WIDTHS = (8, 32, 32, 32)  # 8x downsampling like Champ's (16, 32, 96, 256); widths after the first: 32k
EMBED = 32


def _tiny_set(seed: int = 0) -> GuidanceEncoderSet:
    channels = {"depth": 3, "normal": 3, "semantic_map": 3, "dwpose": 1}
    encoders = {
        name: randomize_(
            ChampGuidanceEncoder(EMBED, channels[name], TINY_WIDTHS, attention_heads=4), seed + i
        )
        for i, name in enumerate(("normal", "depth", "dwpose", "semantic_map"))  # not alphabetical on purpose
    }
    return GuidanceEncoderSet(encoders).eval()


def _maps(encoders: GuidanceEncoderSet, seed: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        name: torch.rand(1, enc.conditioning_channels, 2, 32, 32, generator=g)
        for name, enc in encoders.encoders.items()
    }


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].shape == sb[key].shape and torch.equal(sa[key], sb[key]), key


def test_champ_guidance_set_round_trip(tmp_path):
    encoders = _tiny_set()
    path = tmp_path / "champ_guidance.safetensors"
    save_champ_guidance_set(encoders, path)
    kind, config = read_header(path)
    assert kind == "champ_guidance_set"
    assert config["guidance_types"] == ["normal", "depth", "dwpose", "semantic_map"]
    assert config["encoders"]["dwpose"] == {
        "embedding_channels": EMBED,
        "conditioning_channels": 1,
        "block_out_channels": list(TINY_WIDTHS),
        "attention_heads": 4,
    }
    loaded = load_model(path)
    assert isinstance(loaded, GuidanceEncoderSet) and not loaded.training
    assert list(loaded.encoders) == list(encoders.encoders)
    assert all(isinstance(e, ChampGuidanceEncoder) for e in loaded.encoders.values())
    _same_state(encoders, loaded)
    maps = _maps(encoders)
    with torch.no_grad():
        expected = encoders(maps)
        actual = loaded(maps)
        assert expected.shape == (1, EMBED, 2, 4, 4) and expected.abs().max() > 0
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
        for name in maps:
            torch.testing.assert_close(loaded.encoders[name](maps[name]), encoders.encoders[name](maps[name]))
    half = load_model(path, dtype=torch.float16)
    assert all(t.dtype == torch.float16 for t in half.state_dict().values())


def test_champ_release_files_to_pack_file(tmp_path):
    """guidance_encoder_<type>.pth files (Champ's release layout) -> one pack file -> the same set."""
    source = _tiny_set(seed=10)
    folder = tmp_path / "champ"
    folder.mkdir()
    for name, encoder in source.encoders.items():
        torch.save(encoder.state_dict(), folder / f"guidance_encoder_{name}.pth")
    imported = load_champ_guidance_encoders(folder, block_out_channels=TINY_WIDTHS)
    # the importer builds its encoders with the default 8 heads; the config records what the module has
    assert champ_guidance_set_config(imported)["encoders"]["depth"]["attention_heads"] == 8
    save_champ_guidance_set(imported, tmp_path / "set.safetensors")
    loaded = load_model(tmp_path / "set.safetensors")
    assert list(loaded.encoders) == [t for t in CHAMP_GUIDANCE_TYPES if t in source.encoders]
    _same_state(imported, loaded)
    maps = _maps(loaded)
    with torch.no_grad():
        torch.testing.assert_close(loaded(maps), imported(maps), rtol=0, atol=0)


def test_full_size_champ_release_layout_round_trips(tmp_path, manifest_dir):
    """Zero tensors with the exact names/shapes of Champ's four released encoders survive the round trip."""
    folder = tmp_path / "champ"
    folder.mkdir()
    for name in CHAMP_GUIDANCE_TYPES:
        keys = json.loads((manifest_dir / f"champ_guidance_encoder_{name}_manifest.json").read_text())["keys"]
        torch.save(
            {k: torch.zeros(v["shape"]) for k, v in keys.items()}, folder / f"guidance_encoder_{name}.pth"
        )
    imported = load_champ_guidance_encoders(folder)
    config = champ_guidance_set_config(imported)
    assert config["guidance_types"] == list(CHAMP_GUIDANCE_TYPES)
    assert config["encoders"]["depth"] == {
        "embedding_channels": 320,
        "conditioning_channels": 3,
        "block_out_channels": [16, 32, 96, 256],
        "attention_heads": 8,
    }
    save_champ_guidance_set(imported, tmp_path / "champ.safetensors")
    loaded = load_model(tmp_path / "champ.safetensors")
    sa, sb = imported.state_dict(), loaded.state_dict()
    assert list(sa) == list(sb) and all(sa[k].shape == sb[k].shape for k in sa)
    assert all(k.startswith(tuple(f"encoders.{t}." for t in CHAMP_GUIDANCE_TYPES)) for k in sb)


def test_config_helpers_and_bad_configs(tmp_path):
    encoder = ChampGuidanceEncoder(EMBED, 3, TINY_WIDTHS, attention_heads=4)
    rebuilt = ChampGuidanceEncoder(**champ_guidance_encoder_config(encoder))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in encoder.state_dict().items()
    }
    with pytest.raises(TypeError, match="GuidanceEncoderSet"):
        champ_guidance_set_config(encoder)
    with pytest.raises(TypeError, match="ChampGuidanceEncoder"):
        champ_guidance_set_config(GuidanceEncoderSet({"depth": torch.nn.Conv2d(3, 3, 1)}))
    config = champ_guidance_set_config(_tiny_set())
    broken = tmp_path / "broken.safetensors"
    save_model(_tiny_set(), broken, "champ_guidance_set", dict(config, guidance_types=["depth"]))
    with pytest.raises(ValueError, match="guidance_types"):
        load_model(broken)
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in _tiny_set().state_dict().items()}, str(plain))
    with pytest.raises(ValueError, match=f"not a {FORMAT} file"):
        load_model(plain)
