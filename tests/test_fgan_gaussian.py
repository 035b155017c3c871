"""fgan-gaussian: the direct minimiser against closed forms, the presets, the critic refit,
and the reproduction's contract."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gankit.cli.main import main
from gankit.config import load_config
from gankit.data.datasets import load_dataset
from gankit.nets.oned import Critic1D, Spline1D
from gankit.objectives.fgan import variational_bound
from gankit.reproduce import fgan_gaussian as fg
from gankit.training.build import build_state, initial_nets
from gankit.training.run import train

COARSE = np.linspace(-12.0, 12.0, 2401)


def _moments():
    mean = sum(w * m for w, m, s in fg.MIXTURE)
    var = sum(w * (s * s + m * m) for w, m, s in fg.MIXTURE) - mean**2
    return mean, math.sqrt(var)


def test_kl_direct_minimiser_is_moment_matching():
    # argmin over Gaussians of KL(P || Q) matches P's mean and variance
    mean, sd = _moments()
    mu, sigma, _ = fg.direct_minimiser("kl", grid=COARSE, maxiter=400)
    assert mu == pytest.approx(mean, abs=1e-3)
    assert sigma == pytest.approx(sd, abs=1e-3)


def test_divergence_by_simpson_matches_closed_form_kl():
    # KL(P || Q) = -H(P) - E_P log q; E_P log q is closed form for Gaussian q, H(P) by quadrature
    mu, sigma = 0.3, 1.1
    lp = fg.mixture_log_pdf(COARSE)
    neg_entropy = float(np.trapezoid(np.exp(lp) * lp, COARSE))
    m2 = sum(w * (s * s + (m - mu) ** 2) for w, m, s in fg.MIXTURE)
    cross = -0.5 * m2 / sigma**2 - math.log(sigma * math.sqrt(2 * math.pi))
    assert fg.divergence_to_gaussian("kl", mu, sigma, grid=COARSE) == pytest.approx(neg_entropy - cross, abs=1e-6)


def test_mixture_sampler_has_the_mixture_moments():
    mean, sd = _moments()
    x = fg.sample_mixture(100_000, seed=0)
    assert float(x.mean()) == pytest.approx(mean, abs=0.02)
    assert float(x.std()) == pytest.approx(sd, abs=0.02)


def test_mixture_dataset_is_the_mixture_and_fixed():
    data = load_dataset("mixture-1d")
    assert len(data.train) == 200_000 and data.image_shape == (1,)
    assert torch.equal(data.train.x, load_dataset("mixture-1d").train.x)  # the same points every time
    assert len(load_dataset("mixture-1d", limit=500).train) == 500
    mean, sd = _moments()
    assert float(data.train.x.mean()) == pytest.approx(mean, abs=0.01)
    assert float(data.train.x.std()) == pytest.approx(sd, abs=0.01)


def _fit(tmp_path, preset: str, overrides: list[str]) -> tuple[float, float]:
    """Train ``preset`` through ``gankit.training.run.train`` with the reproduction's tail
    callback; the reported (mu, sigma)."""
    cfg = load_config(preset, overrides + ["log.progress=false"])
    run_dir = tmp_path / preset
    state = train(cfg, run_dir, callbacks=fg.callbacks(cfg, None, run_dir, fg.Options()))
    rows = fg.read_rows(run_dir / fg.TAIL)
    assert [r["step"] for r in rows] == list(range(int(cfg.train.steps * 0.75) + 1, cfg.train.steps + 1))
    assert rows[-1]["mu"] == pytest.approx(float(state.G.mu)), "the last row is G at the last step"
    return float(np.mean([r["mu"] for r in rows])), float(np.mean([r["sigma"] for r in rows]))


def test_fgan_training_moves_sigma_towards_the_kl_minimiser(tmp_path):
    # G starts at (0, 1); P's moments are (0, 1.43): a short KL f-GAN run must widen G
    _, sd = _moments()
    mu, sigma = _fit(tmp_path, "fgan-gaussian-kl", ["train.steps=300", "data.batch_size=256", "train.k=1",
                                                    "optim_g.lr=0.005", "optim_d.lr=0.005"])
    assert abs(mu) < 0.2
    assert sigma > 1.15 and abs(sigma - sd) < abs(1.0 - sd)


def test_a_short_kl_fit_lands_near_the_direct_minimiser(tmp_path):
    # KL's minimiser is moment matching (0.0, 1.43); 1,200 steps at a larger learning rate get close
    mean, sd = _moments()
    mu, sigma = _fit(tmp_path, "fgan-gaussian-kl", ["train.steps=1200", "data.batch_size=1024", "train.k=1",
                                                    "optim_g.lr=0.01", "optim_d.lr=0.01"])
    assert mu == pytest.approx(mean, abs=0.1)
    assert sigma == pytest.approx(sd, abs=0.1)


def test_every_divergence_has_a_preset_over_the_base():
    from gankit.config import preset_names

    base = load_config("fgan-gaussian")
    assert base.data.name == "mixture-1d" and base.generator.name == "gaussian-1d" and base.train.k == 2
    assert base.objective.args == {"divergence": "gan", "generator_loss": "saddle"}
    for name in fg.DIVERGENCES:
        assert f"fgan-gaussian-{name}" in preset_names()
        cfg = load_config(f"fgan-gaussian-{name}")
        assert cfg.objective.args == {"divergence": name, "generator_loss": "saddle"}
        assert cfg.data == base.data and cfg.noise == base.noise and cfg.train.steps == base.train.steps
    neyman = load_config("fgan-gaussian-neyman")
    assert neyman.discriminator.args["quadratic"] is True and neyman.train.k == 3 and neyman.optim_g.lr == 0.006
    tv = load_config("fgan-gaussian-tv")
    assert tv.discriminator.name == "spline-1d" and tv.optim_d.lr == 0.01 and tv.optim_g.lr == 0.002
    assert (tv.train.critic_refit_every, tv.train.critic_refit_steps) == (25, 500)
    assert load_config("fgan-gaussian-kl").train.critic_refit_every == 0


def test_the_refit_critic_starts_from_the_initial_weights():
    # a resumed run re-starts its critic from the weights build_state gave it, not its trained ones
    cfg = load_config("fgan-gaussian-kl", ["data.limit=500", "data.batch_size=50"])
    state, context = build_state(cfg, load_dataset("mixture-1d", limit=500))
    _, D0 = initial_nets(cfg, context)
    for (k, a), (_, b) in zip(state.D.state_dict().items(), D0.state_dict().items()):
        assert torch.equal(a, b), k


def test_tv_preset_refits_a_spline_critic_and_moves_g_the_right_way(tmp_path):
    # from (0, 1) the TV gradient is (+0.14, -0.38) in (mu, log sigma): G must first widen and move left
    cfg = load_config("fgan-gaussian-tv", ["train.steps=50", "data.batch_size=512", "train.critic_refit_steps=200",
                                           "optim_g.lr=0.01", "log.progress=false"])
    seen = []
    state = train(cfg, tmp_path / "tv", callbacks=[lambda s, st: seen.append(float(s.D.w.detach().abs().sum()))])
    assert state.step == 50
    assert float(state.G.log_sigma.detach().exp()) > 1.1 and float(state.G.mu.detach()) < 0.0
    assert all(v > 0 for v in seen)  # the critic had been fitted (it starts at V = 0) before every G step


def test_dry_run_writes_the_result_contract(tmp_path):
    out = tmp_path / "r"
    assert main(["reproduce", "fgan-gaussian", "--dry-run", "--out", str(out)]) == 0
    saved = json.loads((out / "result.json").read_text())
    assert (out / "report.md").read_text().startswith("# f-GAN")
    for key in ("max_mu_error", "max_sigma_error", "settings", "wall_seconds", *fg.DIVERGENCES):
        assert key in saved
    for name in fg.DIVERGENCES:
        entry = saved[name]
        assert set(entry) == {"direct_mu", "direct_sigma", "direct_divergence", "fgan_mu", "fgan_sigma",
                              "fgan_divergence", "mu_error", "sigma_error"}
        assert entry["mu_error"] == pytest.approx(abs(entry["fgan_mu"] - entry["direct_mu"]))
        assert (out / "runs" / name / "seed-0" / "config.yaml").is_file()
    assert saved["max_mu_error"] == pytest.approx(max(saved[d]["mu_error"] for d in fg.DIVERGENCES))
    assert saved["settings"]["dry_run"] is True


STD_NORMAL = ((1.0, 0.0, 1.0),)  # P = N(0, 1) as a one-component "mixture": closed forms exist


@pytest.mark.parametrize("mu,sigma", [(0.3, 0.9), (-0.5, 1.2), (0.0, 0.7)])
def test_neyman_by_simpson_matches_closed_form(mu, sigma):
    # chi2_Neyman(P || Q) = int q f(p/q), f(u) = (1-u)^2/u, = int q^2/p - 1; for P = N(0, 1),
    # Q = N(mu, sigma^2) completing the square gives exp(mu^2/(2-sigma^2)) / (sigma sqrt(2-sigma^2)) - 1.
    # The other direction (int p^2/q - 1) has another formula, so this also pins P = data, Q = model.
    want = math.exp(mu**2 / (2 - sigma**2)) / (sigma * math.sqrt(2 - sigma**2)) - 1
    got = fg.divergence_to_gaussian("neyman", mu, sigma, mixture=STD_NORMAL)
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("mu,sigma", [(0.8, 1.0), (0.0, 1.6), (0.0, 0.6)])
def test_tv_by_simpson_matches_closed_form(mu, sigma):
    # TV = P(A) - Q(A), A = {p > q}. Same sigma, shifted mean: 2 Phi(|mu|/2) - 1.
    # Same mean: the densities cross at +-x*, x*^2 = 2 sigma^2 log(sigma) / (sigma^2 - 1),
    # TV = 2 |Phi(x*) - Phi(x*/sigma)|.
    Phi = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))
    if sigma == 1.0:
        want = 2 * Phi(abs(mu) / 2) - 1
    else:
        xs = sigma * math.sqrt(2 * math.log(sigma) / (sigma**2 - 1))
        want = 2 * abs(Phi(xs) - Phi(xs / sigma))
    got = fg.divergence_to_gaussian("tv", mu, sigma, mixture=STD_NORMAL)
    assert got == pytest.approx(want, abs=2e-6)  # the kink at p = q costs Simpson a little


@pytest.mark.parametrize("name", ["neyman", "tv"])
def test_direct_minimiser_is_the_global_one(name):
    # a brute-force scan of (mu, sigma) must not find a lower divergence than the minimiser,
    # and its best cell must be next to it (neyman has a second, worse local minimum)
    mu, sigma, val = fg.direct_minimiser(name, grid=COARSE, maxiter=600)
    scan = [(fg.divergence_to_gaussian(name, m, s, grid=COARSE), m, s)
            for m in np.arange(-1.5, 1.51, 0.1) for s in np.arange(0.4, 1.81, 0.05)]
    best = min(scan)
    assert val <= best[0] + 1e-9
    assert abs(best[1] - mu) <= 0.1 and abs(best[2] - sigma) <= 0.05


def test_neyman_has_a_worse_local_minimum_that_one_start_finds():
    # why direct_minimiser takes several starts: from (1.5, 0.9) Nelder-Mead stops at the
    # right-hand component's local minimum, above the global one
    local = fg.direct_minimiser("neyman", start=(1.5, 0.9), grid=COARSE, maxiter=600)
    best = fg.direct_minimiser("neyman", grid=COARSE, maxiter=600)
    assert local[0] > 0.5 and best[0] < -0.5
    assert best[2] < local[2] - 0.1


def test_quadratic_critic_represents_a_gaussian_log_ratio():
    # log N(x; 0, 1) - log N(x; 1, 2^2) = (1/8 + log 2) - x/4 - (3/8) x^2; with the quadratic part the critic can
    # hold it exactly far outside the data (a tanh MLP alone is bounded there)
    c = Critic1D(hidden=4, layers=1, quadratic=True)
    with torch.no_grad():
        for p in c.net.parameters():
            p.zero_()
        c.net[-1].bias.fill_(0.125 + math.log(2.0))
        c.quad.weight.copy_(torch.tensor([[-0.25, -0.375]]))
    x = torch.tensor([[-30.0], [0.0], [2.0], [40.0]])
    want = (-0.5 * x**2) - (-0.5 * ((x - 1) / 2) ** 2 - math.log(2.0))
    assert torch.allclose(c(x), want.squeeze(1), atol=1e-4)
    assert float(Critic1D(quadratic=False)(x).detach().abs().max()) < 10  # bounded without it


def test_spline_critic_interpolates_its_nodes():
    c = Spline1D(lo=-1.0, hi=1.0, step=0.5)  # nodes -1, -0.5, 0, 0.5, 1
    assert float(c(torch.tensor([[0.3]])).detach().abs()) == 0.0  # starts at V = 0
    with torch.no_grad():
        c.w.copy_(torch.tensor([1.0, 2.0, 0.0, -2.0, 4.0]))
    x = torch.tensor([[-3.0], [-0.75], [0.0], [0.25], [1.0], [5.0]], requires_grad=True)
    v = c(x)
    assert torch.allclose(v, torch.tensor([1.0, 1.5, 0.0, -1.0, 4.0, 4.0]))
    (g,) = torch.autograd.grad(v.sum(), x)  # G's pathwise gradient: the slope of the segment
    assert torch.allclose(g.squeeze(1)[1:4], torch.tensor([2.0, -4.0, -4.0]))


def test_spline_tv_critic_learns_every_crossing_at_the_tv_minimiser():
    # at the direct TV minimiser p - q changes sign four times; a short fit of the spline critic
    # alone must get the sign of T right away from the crossings (the MLP learns one step only)
    torch.manual_seed(0)
    mu, sigma = 0.0535, 1.552
    div = fg.get_divergence("tv")
    x = fg.sample_mixture(50_000, seed=7)
    c = Spline1D()
    opt = torch.optim.Adam(c.parameters(), 0.01, betas=(0.5, 0.999))
    for _ in range(500):
        r = x[torch.randint(0, len(x), (1024,))]
        f = mu + sigma * torch.randn(1024, 1)
        loss = -variational_bound(div, c(r), c(f))
        opt.zero_grad()
        loss.backward()
        opt.step()
    pts = np.array([-3.0, -1.0, 0.5, 2.2, 4.0])  # crossings near -1.96, -0.36, 1.40, 3.06
    lq = -0.5 * ((pts - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))
    want = np.sign(fg.mixture_log_pdf(pts) - lq)
    assert list(want) == [-1, 1, -1, 1, -1]
    with torch.no_grad():
        got = np.sign(c(torch.tensor(pts, dtype=torch.float32).reshape(-1, 1)).numpy())
    assert list(got) == list(want)
