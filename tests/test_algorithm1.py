"""Algorithm 1: k discriminator updates (fresh minibatches each) per generator update."""
import pytest
import torch

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import ConfigError
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state


def tiny_dataset(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 4, 4, generator=g)
    return Dataset("tiny", Split(x), Split(x[:8]), Split(x[:8]))


def tiny_config(k, extra=()):
    return load_config(
        "goodfellow2014",
        [f"train.k={k}", "train.update=alternating", "data.batch_size=8", "noise.dim=3", "generator.args.hidden=[5]",
         "discriminator.args.units=4", "discriminator.args.pieces=2", *extra],
    )


class Counter:
    def __init__(self, opt):
        self.n = 0
        inner = opt.step

        def step(*a, **kw):
            self.n += 1
            return inner(*a, **kw)

        opt.step = step


def test_k3_updates_d_three_times_per_g_update():
    state, _ = build_state(tiny_config(3), tiny_dataset())
    d, g = Counter(state.opt_d), Counter(state.opt_g)
    positions = []

    def watch(s, st):
        positions.append((s.data.epoch, s.data.position))

    before = [p.detach().clone() for p in state.D.parameters()]
    algorithm1(state, 4, [watch])
    assert (d.n, g.n) == (12, 4)
    assert state.step == 4
    # Each D step takes a fresh minibatch: 3 batches of 8 per iteration.
    consumed = [e * 64 + p for e, p in positions]
    assert [b - a for a, b in zip(consumed, consumed[1:])] == [24, 24, 24]
    assert any(not torch.equal(a, b) for a, b in zip(before, state.D.parameters()))


def test_g_steps_3_updates_g_three_times_per_iteration_on_fresh_noise():
    state, _ = build_state(tiny_config(1, ["train.g_steps=3"]), tiny_dataset())
    d, g = Counter(state.opt_d), Counter(state.opt_g)
    drawn = []
    sample = state.conditions.sample

    def recording(m):
        z, c = sample(m)
        drawn.append(z.clone())
        return z, c

    state.conditions.sample = recording
    algorithm1(state, 2)
    assert (d.n, g.n) == (2, 6)
    assert state.step == 2
    assert len(drawn) == 8  # per iteration one D step's noise, then three G steps' noise
    assert all(not torch.equal(a, b) for i, a in enumerate(drawn) for b in drawn[i + 1:])


def test_g_steps_needs_alternating_updates():
    with pytest.raises(ConfigError, match="train.g_steps"):
        load_config("goodfellow2014", ["train.update=simultaneous", "train.g_steps=2"])


def test_generator_step_leaves_d_untouched_and_d_step_leaves_g_untouched():
    from gankit.training.algorithm1 import discriminator_step, generator_step

    state, _ = build_state(tiny_config(1), tiny_dataset())
    g0 = [p.detach().clone() for p in state.G.parameters()]
    discriminator_step(state)
    assert all(torch.equal(a, b) for a, b in zip(g0, state.G.parameters()))
    d0 = [p.detach().clone() for p in state.D.parameters()]
    grads0 = [p.grad.clone() for p in state.D.parameters()]
    generator_step(state, 8)
    assert all(torch.equal(a, b) for a, b in zip(d0, state.D.parameters()))
    # D accumulated no gradient during the G step.
    assert all(torch.equal(a, p.grad) for a, p in zip(grads0, state.D.parameters()))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in state.G.parameters())
    assert all(p.requires_grad for p in state.D.parameters())  # restored after the G step


def test_paper_schedule_lr_decay_and_momentum_ramp():
    cfg = load_config("goodfellow2014")
    state, _ = build_state(cfg.model_copy(update={"data": cfg.data.model_copy(update={"limit": 200})}), tiny_dataset(200))
    sch = state.schedule
    assert abs(sch.lr("d", 0) - 0.1) < 1e-12
    assert abs(sch.lr("d", 100_000) - 0.1 / 1.000004**100_000) < 1e-12
    assert sch.lr("g", 10**8) == 1e-6  # floor
    assert sch.momentum("g", 0) == 0.5
    assert abs(sch.momentum("g", (500 + 125_000) // 2) - 0.6) < 1e-3
    assert sch.momentum("g", 10**6) == 0.7
    sch.apply(125_000)
    # pylearn2's velocity keeps each step's lr: torch's momentum is mu * lr_{t-1} / lr_t = 0.7 * 1.000004
    assert state.opt_d.param_groups[0]["momentum"] == pytest.approx(0.7 * 1.000004, rel=1e-12)


def test_lr_decay_can_start_late():
    """schedule.lr_decay_start: lr stays at its base until that step, then decays from there."""
    cfg = load_config("goodfellow2014", ["schedule.lr_decay=1.001", "schedule.lr_decay_start=500", "schedule.min_lr=1e-5"])
    state, _ = build_state(cfg.model_copy(update={"data": cfg.data.model_copy(update={"limit": 200})}), tiny_dataset(200))
    sch = state.schedule
    assert sch.lr("g", 0) == sch.lr("g", 500) == 0.1
    assert abs(sch.lr("d", 1500) - 0.1 / 1.001**1000) < 1e-15
    assert sch.lr("d", 10**6) == 1e-5


def test_linear_lr_decay_reaches_zero_at_the_run_end():
    """schedule.lr_linear_from: base lr until that fraction of train.steps, then linear to 0 at the
    last step, as Dai et al.'s (2017) semi-supervised MNIST code (lr * min(3 * (1 - epoch / epochs), 1))."""
    cfg = load_config("goodfellow2014", ["train.steps=300", "schedule.lr_decay=1.0", "schedule.lr_linear_from=0.6667",
                                         "optim_g.lr=0.001", "optim_d.lr=0.003"])
    state, _ = build_state(cfg.model_copy(update={"data": cfg.data.model_copy(update={"limit": 200})}), tiny_dataset(200))
    sch = state.schedule
    assert sch.lr("d", 0) == sch.lr("d", 200) == 0.003  # round(0.6667 * 300) = 200
    assert sch.lr("g", 250) == pytest.approx(0.001 / 2, rel=1e-12)  # halfway down
    assert sch.lr("d", 299) == pytest.approx(0.003 / 100, rel=1e-12)  # the last update
    assert sch.lr("d", 300) == 0.0
    sch.apply(250)
    assert state.opt_g.param_groups[0]["lr"] == pytest.approx(0.0005, rel=1e-12)
    with pytest.raises(ConfigError, match="set one"):
        load_config("goodfellow2014", ["schedule.lr_linear_from=0.5"])  # the preset decays lr exponentially
