"""Simultaneous updates (train.update: simultaneous, the released MNIST code's step) and the
rest of preset goodfellow2014: uniform noise on [-sqrt(3), sqrt(3)], pylearn2's momentum
form and per-epoch momentum, the output bias clip."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

from gankit.cli.main import main
from gankit.config import ScheduleConfig, OptimizerConfig, load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state
from gankit.training.noise import NoiseSampler
from gankit.training.optim import Schedule
from gankit.training.run import train
from gankit.training.simultaneous import simultaneous

TINY = ["data.batch_size=8", "noise.dim=3", "generator.args.hidden=[6]", "discriminator.args.units=4",
        "discriminator.args.pieces=2", "train.threads=1"]  # fmt: skip
QUIET = ["log.tensorboard=false", "log.progress=false", "log.diagnostics=false", "log.samples_every=1000"]


def tiny_dataset(n: int = 40, side: int = 4) -> Dataset:
    x = torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(0))
    return Dataset("tiny", Split(x), Split(x[:8]), Split(x[:8]))


def test_one_step_is_both_gradients_of_one_forward_pass():
    """The updated weights equal w - lr * grad, with D's and G's gradients taken by hand
    from one pass (the same x, z and D dropout masks, G's gradient through D's pre-update
    weights): a second pass of D on G(z), or D stepping before G's gradient, would differ."""
    # D's weights U(+-0.5), not 0.005: G's gradient through D is then far from zero
    state, _ = build_state(load_config("goodfellow2014", TINY + ["discriminator.args.init_range=0.5"]), tiny_dataset())
    G0, D0 = copy.deepcopy(state.G), copy.deepcopy(state.D)
    data, noise = copy.deepcopy(state.data), copy.deepcopy(state.noise)
    rng = torch.get_rng_state()  # D's dropout masks come from torch's global generator
    simultaneous(state, 1)

    torch.set_rng_state(rng)
    x, _ = data.next()
    z, _ = noise.sample(8)
    fake = G0(z)
    real_logits, fake_logits = D0(x), D0(fake)  # the loop's order: D on x, then on G(z)
    d_loss = 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())  # halved cross-entropy
    g_loss = F.softplus(-fake_logits).mean()  # -log D(G(z))
    d_grads = torch.autograd.grad(d_loss, list(D0.parameters()), retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, list(G0.parameters()))
    lr = 0.1  # the first SGD step: the momentum buffer is the gradient itself
    for net, net0, grads in ((state.D, D0, d_grads), (state.G, G0, g_grads)):
        for p, p0, g in zip(net.parameters(), net0.parameters(), grads):
            assert g.abs().max() > 1e-3
            torch.testing.assert_close((p - p0).detach(), -lr * g, rtol=1e-4, atol=1e-4 * lr * g.abs().max().item())
    assert state.step == 1


def test_simultaneous_differs_from_alternating():
    cfg = load_config("goodfellow2014", TINY)
    a, _ = build_state(cfg, tiny_dataset())
    simultaneous(a, 2)
    b, _ = build_state(cfg, tiny_dataset())
    algorithm1(b, 2)
    assert any(not torch.equal(p, q) for p, q in zip(a.G.parameters(), b.G.parameters()))


def test_the_run_dispatches_on_train_update(tmp_path):
    """``train`` runs the loop train.update names: its weights are those of that loop run
    by hand from the same built state, and differ with the other value."""
    data = tiny_dataset()
    for update, loop in (("simultaneous", simultaneous), ("alternating", algorithm1)):
        cfg = load_config("goodfellow2014", TINY + QUIET + ["train.steps=3", f"train.update={update}"])
        ran = train(cfg, tmp_path / update, data=data, say=lambda m: None)
        by_hand, _ = build_state(cfg, data)
        loop(by_hand, 3)
        for p, q in zip(ran.G.parameters(), by_hand.G.parameters()):
            assert torch.equal(p, q), update


def test_exact_resume_in_simultaneous_mode(tmp_path):
    data = tiny_dataset()
    common = TINY + QUIET + ["log.every=2", "log.checkpoint_every=2", "train.ema_decay=0.9"]
    say = lambda m: None  # noqa: E731
    assert load_config("goodfellow2014", common).train.update == "simultaneous"
    train(load_config("goodfellow2014", common + ["train.steps=8"]), tmp_path / "whole", data=data, say=say)
    train(load_config("goodfellow2014", common + ["train.steps=4"]), tmp_path / "cut", data=data, say=say)
    train(load_config("goodfellow2014", common + ["train.steps=8"]), tmp_path / "cut", data=data, say=say)
    a = ckpt.flat_state(ckpt.load(ckpt.checkpoint_path(tmp_path / "whole" / "checkpoints", 8)))
    b = ckpt.flat_state(ckpt.load(ckpt.checkpoint_path(tmp_path / "cut" / "checkpoints", 8)))
    assert a.keys() == b.keys() and any(k.startswith(".G.") for k in a) and any("ema" in k for k in a)
    assert [k for k in a if a[k] != b[k]] == []


def test_simultaneous_needs_k_1():
    with pytest.raises(ConfigError, match="train.k must be 1"):
        load_config("goodfellow2014", ["train.k=2"])
    with pytest.raises(ConfigError, match="train.k_warmup needs train.update: alternating"):
        load_config("goodfellow2014", ["train.k_warmup.steps=100"])


def test_uniform_noise_on_plus_minus_sqrt3_has_unit_variance():
    cfg = load_config("goodfellow2014").noise
    assert (cfg.distribution, cfg.dim, cfg.scale) == ("uniform", 100, math.sqrt(3))
    z, _ = NoiseSampler(100, cfg.distribution, cfg.scale, 0, seed=0).sample(10_000)
    a = math.sqrt(3)
    assert -a <= z.min() and z.max() < a
    assert z.min() < -a + 1e-3 and z.max() > a - 1e-3  # fills the interval
    # U(-a, a): mean 0, variance a^2 / 3 = 1; standard errors over 10^6 draws ~1e-3
    assert abs(z.mean().item()) < 5e-3 and abs(z.var().item() - 1) < 5e-3


def test_momentum_moves_once_an_epoch_and_saturates_at_epoch_250():
    sch = Schedule(load_config("goodfellow2014").schedule, {}, {"g": OptimizerConfig(name="sgd", lr=0.1, momentum=0.5)})
    # MomentumAdjustor(start 1, saturate 250): after e epochs the momentum is 0.5 + 0.2 * e / 249
    for step, epochs in ((0, 0), (499, 0), (500, 1), (999, 1), (62_750, 125), (124_499, 248), (124_500, 249)):
        assert sch.momentum("g", step) == pytest.approx(0.5 + 0.2 * epochs / 249, abs=1e-12), step
    assert sch.momentum("g", 10**7) == 0.7


def test_pylearn2_momentum_form_follows_its_velocity_under_lr_decay():
    """torch's SGD driven by the schedule with momentum_form pylearn2 takes pylearn2's steps
    (v <- mu v - lr g, w <- w + v) while the lr decays and the momentum moves."""
    cfg = ScheduleConfig(lr_decay=1.5, min_lr=0.01, momentum_final=0.9, momentum_end_step=6, momentum_every=2,
                         momentum_form="pylearn2")  # fmt: skip
    base = OptimizerConfig(name="sgd", lr=0.5, momentum=0.5)
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=base.lr, momentum=base.momentum)
    sch = Schedule(cfg, {"g": opt}, {"g": base})
    sch.apply(0)
    ref, v = w.detach().clone(), torch.zeros(2, dtype=torch.float64)
    target = torch.tensor([0.3, 0.7], dtype=torch.float64)
    for t in range(12):  # the lr reaches its floor at t = 9
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
        v = sch.momentum("g", t) * v - sch.lr("g", t) * 2 * (ref - target)
        ref = ref + v
        sch.apply(t + 1)
        torch.testing.assert_close(w.detach(), ref, rtol=0, atol=1e-12)
    # torch's own form takes other steps under the same schedule
    torch_form = Schedule(cfg.model_copy(update={"momentum_form": "torch"}), {}, {"g": base})
    assert torch_form.torch_momentum("g", 3) != sch.torch_momentum("g", 3)


def test_output_bias_clip_of_never_lit_pixels():
    x = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    x[:, :, 0, 0] = 0  # a pixel that is 0 in every training image
    exact, _ = build_state(load_config("goodfellow2014", TINY), Dataset("t", Split(x), Split(x[:8]), Split(x[:8])))
    fast, _ = build_state(load_config("goodfellow2014-fast", TINY), Dataset("t", Split(x), Split(x[:8]), Split(x[:8])))
    for state, clip in ((exact, 1e-7), (fast, 1e-3)):
        bias = state.G.net[-1].bias
        assert bias[0].item() == pytest.approx(math.log(clip / (1 - clip)), rel=1e-4)
        mean = x.reshape(40, -1)[:, 1].mean()
        assert bias[1].item() == pytest.approx(math.log(mean / (1 - mean)), rel=1e-4)


def test_default_recipe_keeps_algorithm1_and_gaussian_noise():
    cfg = load_config("goodfellow2014-fast")
    assert (cfg.train.update, cfg.noise.distribution, cfg.noise.scale) == ("alternating", "gaussian", 1.0)


def test_reproduce_paper_exact_dry_run(tmp_path, capsys):
    assert main(["reproduce", "goodfellow2014", "--paper-exact", "--dry-run", "--out", str(tmp_path / "r")]) == 0
    res = json.loads((tmp_path / "r" / "result.json").read_text())
    assert res["settings"]["dry_run"] is True and math.isfinite(res["parzen10k_mean"])
    assert "paper-exact recipe" in capsys.readouterr().out
    config = (tmp_path / "r").rglob("config.yaml")
    assert any("update: simultaneous" in p.read_text() for p in config)


def test_simultaneous_refuses_semi_supervised_objectives(tmp_path):
    from gankit.training.run import train

    cfg = load_config("ssl-mnist-fm", ["train.update=simultaneous", "train.steps=2", "dry_run=true", "data.limit=500"])
    with pytest.raises(ConfigError, match="train.update: simultaneous does not train semi-supervised"):
        train(cfg, tmp_path / "run")
