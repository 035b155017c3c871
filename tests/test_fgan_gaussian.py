"""fgan-gaussian: the direct minimiser against closed forms, and the reproduction's contract."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

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
