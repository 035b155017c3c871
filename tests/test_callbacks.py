"""The default callbacks: one order for every training, with and without a run directory."""
import json

import pytest
import torch

from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.errors import DivergenceError
from gankit.training.algorithm1 import StepStats, algorithm1
from gankit.training.build import build_state
from gankit.training.callbacks import (
    Checkpointer, DivergenceGuard, MetricsLog, ProgressBar, SampleGrids, StopOnSignal, default_callbacks,
)
from gankit.training.diagnostics import Diagnostics
from gankit.training.ema import EMA

TINY = ["train.steps=4", "log.every=2", "log.diagnostics_every=2", "log.checkpoint_every=100", "train.ema_decay=0.9",
        "generator.args.hidden=[8]", "generator.args.batch_norm=false", "discriminator.args.hidden=[8]",
        "discriminator.args.pieces=1", "data.batch_size=16", "log.tensorboard=false"]


def _state(*overrides):
    cfg = load_config("toy-pacgan-ring8", TINY + list(overrides))
    state, context = build_state(cfg, load_dataset("ring8"))
    return cfg, state, context


def test_run_directory_order(tmp_path):
    cfg, state, context = _state()
    mine = lambda s, st: None
    cbs = default_callbacks(cfg, state, tmp_path, context, extra=[mine], progress=True)
    try:
        kinds = [type(c) for c in cbs.ordered]
        assert kinds[:4] == [DivergenceGuard, EMA, Diagnostics, MetricsLog]
        assert cbs.ordered[4] is mine
        assert kinds[5:] == [SampleGrids, Checkpointer, ProgressBar, StopOnSignal]
        assert cbs.ordered[0] is cbs.saver.guard  # the checkpointer checks weights with the same guard
        assert cbs.ordered[1] is state.ema
        assert cbs.log.diagnostics is cbs.ordered[2]
    finally:
        cbs.close()


def test_in_memory_training_gets_guard_average_and_diagnostics_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, state, _ = _state()
    cbs = default_callbacks(cfg, state)
    assert [type(c) for c in cbs.ordered] == [DivergenceGuard, EMA, Diagnostics]
    assert (cbs.log, cbs.grids, cbs.saver, cbs.bar, cbs.stop) == (None,) * 5
    before = {n: p.clone() for n, p in state.ema.module.named_parameters()}
    algorithm1(state, 4, cbs.ordered)
    assert state.ema.num_updates == 4
    assert any(not torch.equal(before[n], p) for n, p in state.ema.module.named_parameters())
    assert list(tmp_path.iterdir()) == []
    cfg, state, _ = _state("train.ema_decay=null", "log.diagnostics=false")
    assert [type(c) for c in default_callbacks(cfg, state).ordered] == [DivergenceGuard]


def test_in_memory_guard_stops_on_a_non_finite_loss():
    cfg, state, _ = _state()
    guard = default_callbacks(cfg, state).ordered[0]
    nan, one = torch.tensor(float("nan")), torch.tensor(1.0)
    with pytest.raises(DivergenceError, match="discriminator loss is nan.*no checkpoint had been written yet"):
        guard(state, StepStats(3, nan, one, torch.zeros(2), torch.zeros(2)))


def test_diagnostics_row_lands_in_the_same_log_row(tmp_path):
    cfg, state, context = _state()
    cbs = default_callbacks(cfg, state, tmp_path, context)
    try:
        algorithm1(state, 4, cbs.ordered)
    finally:
        cbs.close()
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 4]
    assert all("diag_diversity" in r for r in rows)
    assert cbs.ordered[2].bar_text.startswith(" |gradG|=")
