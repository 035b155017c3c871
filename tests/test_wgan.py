"""WGAN weight clipping and WGAN-GP's per-sample gradient penalty, against hand-derived values."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.objectives.base import build_objective
from gankit.objectives.wgan import gradient_penalty
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state

# Direction u = (1, 1, 0, 0)/sqrt(2) in a [1, 2, 2] "image"; w = (1, -1, 0, 0) is orthogonal to it.
U = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64) / math.sqrt(2)
W = torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=torch.float64)
S = torch.tensor([0.0, 1.0, 3.0, 2.0], dtype=torch.float64)  # u . x_hat for every sample


class Quadratic(nn.Module):
    """D(x) = a/2 (u . x)^2: grad = a (u . x) u, so ||grad|| = |a| |u . x|."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

    def forward(self, x, y=None):
        return 0.5 * self.a * (x.reshape(x.shape[0], -1) @ U) ** 2


def _pair(d: float = 5.0):
    # real and fake differ only along w, so every point of each segment has u . x_hat = s_i:
    # with one eps per sample the penalty is exact whatever eps is; per-pixel eps moves
    # x_hat off the segment (u . x_hat != s_i), a whole-batch norm mixes the samples.
    real = (S[:, None] * U + d * W).reshape(4, 1, 2, 2)
    fake = (S[:, None] * U - d * W).reshape(4, 1, 2, 2)
    return real, fake


def test_penalty_is_per_sample_norm_with_one_eps_per_sample():
    torch.manual_seed(0)
    real, fake = _pair()
    want = 10 * float(((S.abs() - 1) ** 2).mean())  # 10 * mean(1, 0, 4, 1) = 15
    assert want == pytest.approx(15.0)
    for _ in range(5):  # whatever eps is drawn
        assert float(gradient_penalty(Quadratic(), real, fake).detach()) == pytest.approx(want, abs=1e-9)
    # the objective's penalty is the same function with lambda = 10
    obj = build_objective("wgan-gp", {})
    assert float(obj.penalty(Quadratic(), real, fake, None)) == pytest.approx(want, abs=1e-9)


def test_the_two_known_bugs_give_other_values():
    # what the test above rules out, computed here directly so the contrast is visible
    real, fake = _pair()
    D = Quadratic()
    whole_batch = 10 * (float(S.norm()) - 1) ** 2  # one norm over the batch's gradients
    assert abs(whole_batch - 15.0) > 1
    torch.manual_seed(0)
    eps = torch.rand_like(real)  # one eps per pixel
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x_hat).sum(), x_hat)
    per_pixel = 10 * float(((g.reshape(4, -1).norm(dim=1) - 1) ** 2).mean())
    assert abs(per_pixel - 15.0) > 1


def test_penalty_trains_the_critic_through_the_gradient_norm():
    # d/da of 10 mean(|a s_i| - 1)^2 at a = 1 is 10 mean(2 (|s_i| - 1) |s_i|) = 40
    real, fake = _pair()
    D = Quadratic()
    gradient_penalty(D, real, fake).backward()
    assert float(D.a.grad) == pytest.approx(40.0, abs=1e-9)


def test_explicit_eps_gives_the_hand_computed_interpolate():
    # D(x) = 1/2 ||x||^2 has grad x_hat; with eps = 1/4: x_hat = x/4 + 3f/4
    real = torch.full((2, 1, 2, 2), 2.0, dtype=torch.float64)
    fake = torch.zeros_like(real)
    D = lambda x, y=None: 0.5 * (x.reshape(x.shape[0], -1) ** 2).sum(1)
    eps = torch.tensor([0.25, 1.0], dtype=torch.float64)
    # ||x_hat|| = 0.5 * 2 (4 pixels of 0.5) = 1 and 2 * 2 = 4
    assert float(gradient_penalty(D, real, fake, eps=eps)) == pytest.approx(10 * (0 + 9) / 2)


def test_wgan_losses_by_hand():
    obj = build_objective("wgan", {})
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert float(obj.d_loss(real, fake)) == pytest.approx(-2.5)  # -(2 - (-0.5))
    assert float(obj.g_loss(fake)) == pytest.approx(0.5)


def _tiny_state(preset: str, overrides: list[str]):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 1, 28, 28, generator=g)
    data = Dataset("tiny", Split(x), Split(x[:32]), Split(x[:32]))
    cfg = load_config(preset, [
        "generator.args={hidden: [32, 32]}",
        "discriminator.args={units: 16, pieces: 2, input_dropout: 0.0, hidden_dropout: 0.0}",
        "noise.dim=8",
        *overrides,
    ])
    state, _ = build_state(cfg, data)
    return state


def test_weights_stay_in_clip_range_after_every_critic_step():
    torch.manual_seed(0)
    c = 0.01
    # a large learning rate so that unclipped weights would leave [-c, c] at once
    s = _tiny_state("wgan", ["optim_d.lr=0.01", "optim_g.lr=0.01", "train.k=5", "train.k_warmup=null"])
    seen = []
    # D's forward runs at the start of every critic step (and in G's step): at each call
    # the weights are those left by the previous critic step and its clipping
    s.D.register_forward_pre_hook(lambda m, inp: seen.append(max(float(p.abs().max()) for p in m.parameters())))
    algorithm1(s, 4)
    assert len(seen) >= 4 * (2 * 5 + 1)
    assert max(seen) <= c + 1e-9
    assert max(seen[1:]) == pytest.approx(c)  # the clip is active: weights sit at the bound


def test_without_clipping_the_same_run_leaves_the_range():
    # shows the test above can fail: wgan-gp has no clipping, same learning rate
    torch.manual_seed(0)
    s = _tiny_state("wgan-gp", ["optim_d.lr=0.01", "optim_g.lr=0.01", "train.k=5"])
    algorithm1(s, 2)
    assert max(float(p.abs().max()) for p in s.D.parameters()) > 0.05


def test_wgan_gp_trains_a_step_and_presets_hold_the_papers_defaults():
    torch.manual_seed(0)
    s = _tiny_state("wgan-gp", ["train.k=2"])
    algorithm1(s, 2)
    assert all(torch.isfinite(p).all() for p in s.D.parameters())
    w = load_config("wgan")
    assert (w.optim_d.name, w.optim_d.lr, w.objective.args["clip"], w.data.batch_size, w.train.k) == ("rmsprop", 5e-5, 0.01, 64, 5)
    gp = load_config("wgan-gp")
    assert (gp.optim_d.name, gp.optim_d.lr, tuple(gp.optim_d.betas), gp.objective.args["penalty_weight"], gp.train.k) == (
        "adam", 1e-4, (0.0, 0.9), 10.0, 5)


def test_estimate_record_leaves_out_the_warmup_and_averages_the_window(tmp_path):
    # the tracker's estimate is the mean of -(critic loss) over the steps since the last record,
    # without the first skip_first steps
    from types import SimpleNamespace

    from gankit.reproduce.wgan import EstimateAndQuality

    t = EstimateAndQuality(tmp_path / "c.jsonl", SimpleNamespace(valid=SimpleNamespace(x=torch.zeros(1)),
                           test=SimpleNamespace(x=torch.zeros(1))), every=100, cfg=None, n_samples=1, n_valid=1,
                           n_test=1, seed=0, cfd=None, n_cfd=1, skip_first=3)
    t.started = True
    for step, loss in [(1, -9.0), (2, -9.0), (3, -9.0), (4, -1.0), (5, -2.0)]:
        t(None, SimpleNamespace(step=step, d_loss=torch.tensor(loss)))
    assert t.window == [1.0, 2.0]


@pytest.mark.slow
def test_wgan_reproduction_dry_run_writes_the_contract(tmp_path):
    import json

    from gankit.data.datasets import load_dataset
    from gankit.reproduce import wgan as rw

    try:
        load_dataset("mnist", None, False, 500)
    except Exception as e:  # noqa: BLE001 - no MNIST on this machine: nothing to run
        pytest.skip(f"MNIST not available: {e}")
    from gankit.reproduce import Options, get_reproduction, run

    # its tracker records into this process's memory: --jobs 2 still trains its runs here, in turn
    res = run(get_reproduction("wgan"), tmp_path, Options(dry_run=True, seed=0, jobs=2))
    assert res["settings"]["jobs"] == 1
    saved = json.loads((tmp_path / "result.json").read_text())
    for key in ("spearman_estimate_quality", "spearman_estimate_parzen", "cfd_noise_sd", "curve"):
        assert key in saved
    assert all("cfd" in r and "estimate" in r for r in saved["curve"])
    assert res["settings"]["dry_run"] is True and (tmp_path / "curve.png").is_file()
