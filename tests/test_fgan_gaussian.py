"""fgan-gaussian: the direct minimiser against closed forms, and the reproduction's contract."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from gankit.nets.oned import Critic1D, Spline1D
from gankit.objectives.fgan import variational_bound
from gankit.reproduce import fgan_gaussian as fg

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


def test_fgan_training_moves_sigma_towards_the_kl_minimiser():
    # G starts at (0, 1); P's moments are (0, 1.43): a short KL f-GAN run must widen G
    torch.manual_seed(0)
    _, sd = _moments()
    got = fg.fgan_fit("kl", seed=0, fit=fg.FitSettings(steps=300, batch=256, k=1, lr=0.005))
    assert abs(got["mu"]) < 0.2
    assert got["sigma"] > 1.15 and abs(got["sigma"] - sd) < abs(1.0 - sd)


def test_dry_run_writes_the_result_contract(tmp_path):
    res = fg.run(tmp_path, dry_run=True, seed=0)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert (tmp_path / "report.md").read_text().startswith("# f-GAN")
    for key in ("max_mu_error", "max_sigma_error", *fg.DIVERGENCES):
        assert key in saved
    assert saved["max_mu_error"] == pytest.approx(max(saved[d]["mu_error"] for d in fg.DIVERGENCES))
    assert res["settings"]["dry_run"] is True


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


def test_tv_settings_refit_a_spline_critic_and_move_g_the_right_way():
    # from (0, 1) the TV gradient is (+0.14, -0.38) in (mu, log sigma): G must first widen and move left
    assert fg.fit_settings("tv").critic == "spline" and fg.fit_settings("tv").critic_reset_every > 0
    assert fg.fit_settings("kl").critic == "mlp" and fg.fit_settings("kl").critic_reset_every == 0
    torch.manual_seed(0)
    got = fg.fgan_fit("tv", seed=0, fit=fg.FitSettings(steps=50, batch=512, critic="spline", critic_reset_every=25,
                                                          critic_refit_steps=200, lr=0.01, lr_g=0.01))
    assert got["sigma"] > 1.1 and got["mu"] < 0.0
