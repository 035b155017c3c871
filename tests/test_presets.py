"""Every preset builds and trains: two steps of each on tiny data."""
from __future__ import annotations

import pytest
import torch

from test_released_nets import PRESET_DATA

from gankit.config import DRY_RUN_OVERRIDES, load_config, preset_names
from gankit.training.run import train


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.mark.parametrize("preset", preset_names())
def test_preset_trains_two_steps(preset, tmp_path) -> None:
    # presets for data that ship nowhere train on tiny files in the real format
    data = [f"data.root={PRESET_DATA[preset](tmp_path)}"] if preset in PRESET_DATA else []
    cfg = load_config(preset, DRY_RUN_OVERRIDES + ["train.steps=2", "log.tensorboard=false", "log.progress=false", *data])
    state = train(cfg, tmp_path / "run")
    assert state.step == 2
    assert (tmp_path / "run" / "checkpoints").is_dir() and (tmp_path / "run" / "metrics.jsonl").is_file()
    for p in state.G.parameters():
        assert torch.isfinite(p).all()


def test_a_changed_net_name_replaces_its_args(tmp_path) -> None:
    """wgan-gp is a delta over wgan: its objective's name changes, so wgan's clip is gone."""
    base = load_config("wgan")
    cfg = load_config("wgan-gp")
    assert base.objective.args == {"clip": 0.01}
    assert cfg.objective.name == "wgan-gp" and cfg.objective.args == {"penalty_weight": 10.0}
    assert cfg.discriminator == base.discriminator and cfg.train.k == base.train.k
