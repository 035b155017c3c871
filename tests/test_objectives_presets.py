"""Every objective preset resolves, validates and builds its objective with the expected pieces."""
from __future__ import annotations

import pytest

from gankit.config import load_config
from gankit.objectives.base import build_objective
from gankit.objectives.fgan import DIVERGENCES

PRESETS = ["wgan", "wgan-gp", "hinge", "lsgan", *(f"fgan-{d}" for d in DIVERGENCES)]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_builds_its_objective(preset):
    cfg = load_config(preset)
    obj = build_objective(cfg.objective.name, cfg.objective.args)
    assert (obj.constrain is not None) == (preset == "wgan")  # only WGAN clips
    assert (obj.penalty is not None) == (preset == "wgan-gp")  # only WGAN-GP penalises
    if preset.startswith("fgan-"):
        assert obj.name == "fgan-" + cfg.objective.args["divergence"] == preset
