"""The critic's warm-up (train.k_warmup): the released WGAN code's schedule, counted in
critic optimiser steps, and exact across a resume in the middle of it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state
from gankit.training.critic_warmup import CriticWarmup, critic_steps
from gankit.training.run import train

TINY = [
    "generator.args={hidden: [16]}",
    "discriminator.args={units: 8, pieces: 2, input_dropout: 0.0, hidden_dropout: 0.0}",
    "noise.dim=4",
    "data.batch_size=16",
    "train.threads=1",
]
# a short schedule of the same shape: 7 critic steps for iterations 0-2 and every 4th, else k = 2
SHORT = ["train.k=2", "train.k_warmup={steps: 7, first: 3, every: 4}"]


def _data() -> Dataset:
    x = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return Dataset("tiny", Split(x), Split(x[:16]), Split(x[:16]))


def test_the_released_schedule():
    # main.py: Diters = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else 5
    w = CriticWarmup.from_config(load_config("wgan").train.k_warmup)
    ts = (0, 1, 24, 25, 26, 499, 500, 501, 999, 1000, 1500)
    assert [critic_steps(5, w, t) for t in ts] == [100, 100, 100, 5, 5, 5, 100, 5, 5, 100, 100]
    assert [critic_steps(5, None, t) for t in ts] == [5] * len(ts)
    assert [critic_steps(1, CriticWarmup(3, first=2, every=0), t) for t in range(5)] == [3, 3, 1, 1, 1]


def test_on_in_wgan_only():
    assert load_config("wgan").train.k_warmup is not None
    for name in ("wgan-gp", "goodfellow2014", "hinge", "fgan-kl"):
        assert load_config(name).train.k_warmup is None, name


def test_bad_warmup_is_a_config_error():
    with pytest.raises(ConfigError, match="train.k_warmup.steps"):
        load_config("wgan", ["train.k_warmup.steps=0"])


def test_critic_optimiser_steps_per_generator_iteration_follow_the_schedule():
    torch.manual_seed(0)
    s, _ = build_state(load_config("wgan", TINY + SHORT), _data())
    per_iteration: list[int] = []
    d_steps = [0]
    s.opt_d.register_step_post_hook(lambda *a: d_steps.__setitem__(0, d_steps[0] + 1))

    def on_g_step(*a) -> None:
        per_iteration.append(d_steps[0])
        d_steps[0] = 0

    s.opt_g.register_step_post_hook(on_g_step)
    algorithm1(s, 9)
    assert per_iteration == [7, 7, 7, 2, 7, 2, 2, 2, 7]


def _final(run: Path) -> dict:
    newest = max((run / "checkpoints").glob("*.safetensors"), key=lambda p: p.stat().st_mtime_ns)
    return ckpt.flat_state(ckpt.load(newest))


def test_resume_in_the_middle_of_the_warmup_is_exact(tmp_path):
    log = ["log.checkpoint_every=1", "log.tensorboard=false", "log.progress=false", "log.diagnostics=false",
           "log.samples_every=1000"]
    data = _data()
    quiet = dict(say=lambda m: None, progress=False, data=data)
    torch.manual_seed(0)
    train(load_config("wgan", TINY + SHORT + log + ["train.steps=6"]), tmp_path / "whole", **quiet)
    torch.manual_seed(0)
    train(load_config("wgan", TINY + SHORT + log + ["train.steps=2"]), tmp_path / "split", **quiet)  # stops inside
    torch.manual_seed(123)  # the resumed run must not depend on the process's RNG state
    steps: list[int] = []
    train(load_config("wgan", TINY + SHORT + log + ["train.steps=6"]), tmp_path / "split",
          callbacks=[lambda s, st: steps.append(st.step)], **quiet)
    assert steps == [3, 4, 5, 6]  # it went on from the checkpoint at 2, inside the warm-up
    a, b = _final(tmp_path / "whole"), _final(tmp_path / "split")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert any(k.startswith(".opt_d.") for k in a)


def test_a_dry_run_keeps_the_warmup_short():
    from gankit.config import DRY_RUN_OVERRIDES

    w = load_config("wgan", DRY_RUN_OVERRIDES).train.k_warmup
    assert (w.steps, w.first, w.every) == (5, 2, 500)
    assert load_config("wgan-gp", DRY_RUN_OVERRIDES).train.k_warmup is None
