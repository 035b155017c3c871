"""Presets are YAML deltas over defaults; bad values are named."""
import pytest

from gankit.config import load_config, preset_names
from gankit.errors import ConfigError


def test_paper_preset_has_the_papers_settings():
    cfg = load_config("goodfellow2014")
    assert cfg.data.batch_size == 100 and cfg.train.k == 1
    assert (cfg.optim_d.name, cfg.optim_d.lr, cfg.optim_d.momentum) == ("sgd", 0.1, 0.5)
    assert cfg.schedule.momentum_final == 0.7 and cfg.schedule.lr_decay == 1.000004
    assert cfg.generator.name == "paper-mlp" and cfg.discriminator.name == "paper-maxout"
    assert cfg.noise.dim == 100


def test_overrides_and_base_presets():
    cfg = load_config("goodfellow2014-fast", ["train.k=3", "generator.args.hidden=[64, 64]"])
    assert cfg.train.k == 3 and cfg.generator.args["hidden"] == [64, 64]
    assert "goodfellow2014" in preset_names()


@pytest.mark.parametrize(
    "override, field",
    [
        ("train.k=0", "train.k"),
        ("optim_d.lr=0", "optim_d.lr"),
        ("optim_g.lr=-1", "optim_g.lr"),
        ("train.steps=abc", "train.steps"),
        ("trian.k=1", "trian"),
        ("data.batch_size=[1]", "data.batch_size"),
        ("optim_d.betas=[0.5, 1.5]", "optim_d.betas"),
        ("noise.distribution=cauchy", "noise.distribution"),
    ],
)
def test_bad_values_name_the_field(override, field):
    with pytest.raises(ConfigError) as e:
        load_config("goodfellow2014", [override])
    assert f"'{field}" in str(e.value)


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config("goodfellow2014", ["train.k"])


def test_bad_net_and_objective_arguments_are_named():
    from gankit.data.datasets import Dataset, Split
    from gankit.training.build import build_state
    import torch

    x = torch.rand(10, 1, 28, 28)
    ds = Dataset("t", Split(x), Split(x), Split(x))
    with pytest.raises(ConfigError, match="generator.args.hiden"):
        build_state(load_config("goodfellow2014", ["generator.args.hiden=[3]"]), ds)
    with pytest.raises(ConfigError, match="discriminator.args.*input_dropout"):
        build_state(load_config("goodfellow2014", ["discriminator.args.input_dropout=1.5"]), ds)
    with pytest.raises(ConfigError, match="objective.name.*nope"):
        build_state(load_config("goodfellow2014", ["objective.name=nope"]), ds)
    with pytest.raises(ConfigError, match="objective.args.zzz"):
        build_state(load_config("goodfellow2014", ["objective.args.zzz=1"]), ds)


def test_overrides_read_exponent_floats_and_a_new_name_drops_the_old_args():
    # PyYAML alone reads "1e-4" as a string; net args are untyped, so it would reach the net
    cfg = load_config("goodfellow2014", ["optim_g.lr=1e-4", "generator.args.marginal_clip=1e-07"])
    assert cfg.optim_g.lr == 1e-4 and cfg.generator.args["marginal_clip"] == 1e-7
    # arguments of paper-mlp mean nothing to another net; args given after the name apply
    cfg = load_config("goodfellow2014", ["generator.name=toy-mlp-g", "generator.args.hidden=[8]"])
    assert cfg.generator.args == {"hidden": [8]}
    assert load_config("goodfellow2014", ["generator.name=paper-mlp"]).generator.args["init_range"] == 0.05
