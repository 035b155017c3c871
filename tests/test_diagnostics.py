"""Progress/collapse diagnostics: logged where promised, warn once, never change the run."""
import json

import pytest
import torch

from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.training.algorithm1 import StepStats, algorithm1
from gankit.training.build import build_state
from gankit.training.diagnostics import Diagnostics, mean_pairwise_distance
from gankit.training.run import train

TINY = ["train.steps=20", "log.every=5", "log.diagnostics_every=10", "log.checkpoint_every=100",
        "generator.args.hidden=[16, 16]", "generator.args.batch_norm=false", "discriminator.args.hidden=[16]",
        "discriminator.args.pieces=1", "data.batch_size=32", "log.tensorboard=false", "log.progress=false"]


def test_diagnostics_reach_metrics_jsonl_on_toy_data(tmp_path):
    cfg = load_config("toy-pacgan-ring8", TINY)
    train(cfg, tmp_path / "run", progress=False)
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    with_diag = {r["step"]: r for r in rows if "diag_diversity" in r}
    assert sorted(with_diag) == [1, 10, 20]  # measured at step 1 and every 10, logged on the same step
    for r in with_diag.values():
        assert 0 <= r["diag_modes"] <= 8
        assert r["diag_g_grad_norm"] > 0 and r["diag_diversity"] >= 0
        assert r["diag_d_fake"] == pytest.approx(r["d_fake"], abs=1e-6)  # same minibatch as the loop's own log
    assert all("diag_diversity" not in r for r in rows if r["step"] not in with_diag)
    assert not list((tmp_path / "run" / "samples").glob("*.png")) if (tmp_path / "run" / "samples").exists() else True


def test_diagnostics_do_not_change_training():
    weights = []
    for on in (True, False):
        cfg = load_config("toy-pacgan-ring8", TINY + [f"log.diagnostics={str(on).lower()}"])
        state, _ = build_state(cfg, load_dataset("ring8"))
        from gankit.training.callbacks import default_callbacks

        algorithm1(state, 12, default_callbacks(cfg, state).ordered)
        weights.append([p.detach().clone() for p in state.G.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_grad_norm_and_diversity_against_direct_computation():
    cfg = load_config("toy-pacgan-ring8", TINY)
    state, _ = build_state(cfg, load_dataset("ring8"))
    algorithm1(state, 1)
    flat = torch.cat([p.grad.reshape(-1) for p in state.G.parameters()])
    assert Diagnostics.grad_norm(state.G) == pytest.approx(flat.norm().item(), rel=1e-5)
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])
    assert mean_pairwise_distance(x) == pytest.approx((5 + 4 + 3) / 3)


def _stats(step, d_fake_logit):
    return StepStats(step, torch.tensor(1.0), torch.tensor(1.0), torch.zeros(4), torch.full((4,), d_fake_logit))


def test_saturation_warns_once_in_plain_words():
    cfg = load_config("toy-pacgan-ring8", TINY)
    state, _ = build_state(cfg, load_dataset("ring8"))
    said = []
    diag = Diagnostics(cfg, None, state, say=said.append)
    base = {"diag_d_real": 0.9, "diag_diversity": 1.0, "diag_modes": 8.0}
    diag.check(1, {**base, "diag_d_fake": 0.4, "diag_g_grad_norm": 2.0})
    assert not said
    diag.check(10, {**base, "diag_d_fake": 0.01, "diag_g_grad_norm": 0.5})  # saturated D but G still learns
    assert not said
    row = {**base, "diag_d_fake": 0.01, "diag_g_grad_norm": 0.01}
    diag.check(20, row)
    assert len(said) == 1 and "saturated" in said[0] and "non-saturating" in said[0]
    assert row["diag_warning_saturation"] == 1.0
    diag.check(30, {**base, "diag_d_fake": 0.01, "diag_g_grad_norm": 0.01})
    assert len(said) == 1  # once


def test_collapsed_generator_triggers_the_collapse_warning():
    cfg = load_config("toy-pacgan-ring8", TINY)
    state, _ = build_state(cfg, load_dataset("ring8"))
    said = []
    diag = Diagnostics(cfg, None, state, say=said.append)
    last = state.G.net[-1]
    with torch.no_grad():
        last.weight.zero_()  # G(z) = bias for every z: one point
    algorithm1(state, 0)
    state.G.net[-1].weight.grad = torch.zeros_like(last.weight)
    row = diag.measure(state, _stats(10, 0.0))
    assert row["diag_diversity"] < 1e-6 and row["diag_modes"] <= 1
    diag.check(10, row)  # a quarter of the way through (10 of 20 steps) and never spread
    assert len(said) == 1 and "collapsed" in said[0]
    # a healthy ring generator: the data itself, through the same measurement
    real = state.data.x[torch.randperm(state.data.x.shape[0])[:256]]  # the nets' range, as G outputs it
    assert mean_pairwise_distance(real) / diag.real_spread == pytest.approx(1.0, abs=0.1)
    with torch.no_grad():
        last.weight.normal_()
    assert diag.measure(state, _stats(11, 0.0))["diag_diversity"] > 0.1


def test_blurred_but_spread_samples_are_not_called_a_collapse():
    # early in training G spreads over every mode without yet landing within 3 sigma: the
    # live (3-sigma) mode count is low but every mode is still covered, which is no collapse
    cfg = load_config("toy-pacgan-ring8", TINY)
    state, _ = build_state(cfg, load_dataset("ring8"))
    said = []
    diag = Diagnostics(cfg, None, state, say=said.append)
    base = {"diag_d_real": 0.5, "diag_d_fake": 0.5, "diag_g_grad_norm": 1.0, "diag_diversity": 1.0}
    diag.check(1, {**base, "diag_modes": 7.0, "diag_modes_covered": 8.0})
    diag.check(2, {**base, "diag_modes": 2.0, "diag_modes_covered": 8.0})
    assert not said
    diag.check(3, {**base, "diag_modes": 1.0, "diag_modes_covered": 2.0})  # now G has left 6 of 8 modes
    assert len(said) == 1 and "covered 2 of 8" in said[0]


def test_covered_modes_are_measured_without_the_3_sigma_radius():
    cfg = load_config("toy-pacgan-ring8", TINY)
    state, _ = build_state(cfg, load_dataset("ring8"))
    diag = Diagnostics(cfg, None, state, say=lambda m: None)
    spec = diag.spec
    # a "generator" that puts its samples 5 sigma off every mode, evenly over the 8 modes
    n = diag.z.shape[0]
    phys = spec.centers[torch.arange(n) % 8] * (1 + 5 * spec.sigma)
    points = (phys / spec.half_width).float()  # the nets' symmetric range: x / L

    class Fixed(torch.nn.Module):
        def forward(self, z, y=None):
            return points[: z.shape[0]]

    state.G = Fixed()
    state.G.net = torch.nn.Sequential(torch.nn.Linear(1, 1))  # gives the gradient-norm probe a parameter
    row = diag.measure(state, _stats(10, 0.0))
    assert row["diag_modes"] == 0  # nothing within 3 sigma
    assert row["diag_modes_covered"] == 8


def test_collapse_warning_on_image_data_names_no_modes():
    # image data has no mode spec: the warning must still be raised (and not crash the run,
    # as it once did by looking up a toy-only mode count)
    cfg = load_config("goodfellow2014-fast", ["data.limit=200", "train.steps=20", "log.tensorboard=false",
                                              "log.progress=false"])
    state, _ = build_state(cfg, load_dataset("mnist", limit=200))
    said = []
    diag = Diagnostics(cfg, None, state, say=said.append)
    assert diag.spec is None
    base = {"diag_d_real": 0.9, "diag_d_fake": 0.4, "diag_g_grad_norm": 1.0}
    diag.check(1, {**base, "diag_diversity": 1.0})
    diag.check(10, {**base, "diag_diversity": 0.01})
    assert len(said) == 1 and "collapsed" in said[0] and "modes covered" not in said[0]


def test_uniform_class_prediction_with_a_vanished_gradient_warns_once():
    # a K-class D (CatGAN): the entropy of its prediction on G(z) as a share of log K,
    # against closed forms, and the warning when G's gradient has gone with it
    import math

    cfg = load_config("toy-pacgan-ring8", TINY)
    state, _ = build_state(cfg, load_dataset("ring8"))
    algorithm1(state, 1)
    said = []
    diag = Diagnostics(cfg, None, state, say=said.append)

    def measured(fake_logits):
        return diag.measure(state, StepStats(1, torch.tensor(1.0), torch.tensor(1.0), torch.zeros(4, 10), fake_logits))

    assert measured(torch.zeros(4, 10))["diag_fake_class_entropy"] == pytest.approx(1.0)
    two_classes = torch.full((4, 10), -1e4)
    two_classes[:, :2] = 0.0  # p = (1/2, 1/2, 0, ..., 0): entropy log 2
    assert measured(two_classes)["diag_fake_class_entropy"] == pytest.approx(math.log(2) / math.log(10), rel=1e-5)
    assert "diag_fake_class_entropy" not in measured(torch.zeros(4))  # one logit: no classes to spread over

    base = {"diag_d_real": 0.5, "diag_d_fake": 0.5, "diag_diversity": 1.0, "diag_modes": 8.0}
    diag.check(1, {**base, "diag_g_grad_norm": 0.3, "diag_fake_class_entropy": 0.6})
    diag.check(10, {**base, "diag_g_grad_norm": 0.01, "diag_fake_class_entropy": 0.7})  # small gradient, D still certain
    diag.check(20, {**base, "diag_g_grad_norm": 0.2, "diag_fake_class_entropy": 0.99})  # uniform, but G still learns
    assert not said
    row = {**base, "diag_g_grad_norm": 0.01, "diag_fake_class_entropy": 0.99}
    diag.check(30, row)
    assert len(said) == 1 and "near uniform" in said[0] and "optim_g.lr" in said[0]
    assert row["diag_warning_uniform"] == 1.0
    diag.check(40, {**base, "diag_g_grad_norm": 0.001, "diag_fake_class_entropy": 0.999})
    assert len(said) == 1  # once
