"""Training config: loading, overrides, validation errors, bundled configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.config import ConfigError, config_from_dict, load_config, parse_override

CONFIGS = Path(__file__).resolve().parents[3] / "trainer" / "configs"
BASE = {"data_dir": "clips", "output_dir": "out"}


def test_yaml_and_json_give_the_same_config(tmp_path):
    (tmp_path / "a.yaml").write_text("data_dir: clips\noutput_dir: out\nsnr_gamma: 5\nstage: 1\n")
    (tmp_path / "a.json").write_text(json.dumps(dict(BASE, snr_gamma=5, stage=1)))
    a, b = load_config(tmp_path / "a.yaml"), load_config(tmp_path / "a.json")
    assert a == b and a.snr_gamma == 5.0 and isinstance(a.snr_gamma, float)


def test_overrides_win_and_are_parsed_as_yaml(tmp_path):
    (tmp_path / "a.yaml").write_text("data_dir: clips\noutput_dir: out\n")
    overrides = dict(parse_override(t) for t in ["steps=7", "zero_snr=false", "prediction_type=epsilon"])
    config = load_config(tmp_path / "a.yaml", overrides)
    assert (config.steps, config.zero_snr, config.prediction_type) == (7, False, "epsilon")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"in_channels": 6}, "in_channels"),
        ({"resolution": 40}, "resolution"),
        ({"prediction_type": "sample"}, "prediction_type"),
        ({"mixed_precision": "fp8"}, "mixed_precision"),
        ({"identity_dropout": 1.0}, "identity_dropout"),
        ({"stage": 2}, "init_from"),
        ({"model": "sd15", "resolution": 64}, "vae_path"),
        ({"output_dir": ""}, "output_dir"),
    ],
)
def test_bad_values_name_the_field(change, field):
    with pytest.raises(ConfigError, match=field):
        config_from_dict(dict(BASE, **change))


def test_unknown_and_mistyped_fields_are_rejected():
    with pytest.raises(ConfigError, match="learning_rat"):
        config_from_dict(dict(BASE, learning_rat=1e-4))
    with pytest.raises(ConfigError, match="steps"):
        config_from_dict(dict(BASE, steps="ten"))


def test_missing_model_paths_are_named():
    with pytest.raises(ConfigError, match="init_from"):
        config_from_dict(dict(BASE, stage=2, init_from="/nonexistent/export"))


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_bundled_configs_are_valid(name):
    config = load_config(CONFIGS / name, check_paths=False)
    assert config.stage in (1, 2)
