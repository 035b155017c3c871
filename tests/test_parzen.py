"""Parzen-window estimator: against a brute-force loop, and against a closed form."""
import math

import numpy as np
import torch

from gankit.metrics.parzen import DEFAULT_SIGMAS, parzen_log_likelihood, parzen_window


def brute_force(x: np.ndarray, mu: np.ndarray, sigma: float) -> np.ndarray:
    """One example at a time, straight from the formula, in float64."""
    d = x.shape[1]
    out = []
    for xi in x:
        a = -((xi - mu) ** 2).sum(1) / (2 * sigma**2)
        m = a.max()
        out.append(m + math.log(np.exp(a - m).mean()) - d * math.log(sigma * math.sqrt(2 * math.pi)))
    return np.array(out)


def test_matches_brute_force_loop():
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(300, 1, 7, 7, generator=g)
    x = torch.rand(57, 1, 7, 7, generator=g)
    sigmas = [0.1, 0.3, 1.0]
    fast = parzen_log_likelihood(x, mu, sigmas, chunk=20).numpy()
    for j, s in enumerate(sigmas):
        ref = brute_force(x.reshape(57, -1).double().numpy(), mu.reshape(300, -1).double().numpy(), s)
        np.testing.assert_allclose(fast[j], ref, rtol=1e-5, atol=1e-3)


def test_equals_exact_gaussian_log_density_in_the_limit():
    """Samples from N(m, s^2 I): the Parzen density is that Gaussian convolved with the
    kernel, N(m, (s^2 + sigma^2) I), so the mean test log-likelihood tends to
    -d/2 log(2 pi (s^2 + sigma^2)) - d s^2 / (2 (s^2 + sigma^2))."""
    torch.manual_seed(1)
    d, s, sigma = 2, 1.0, 0.3
    mu = torch.randn(40_000, d, dtype=torch.float64) * s
    x = torch.randn(4_000, d, dtype=torch.float64) * s
    est = parzen_log_likelihood(x, mu, [sigma]).mean().item()
    v = s**2 + sigma**2
    exact = -d / 2 * math.log(2 * math.pi * v) - d * s**2 / (2 * v)
    assert abs(est - exact) < 0.03, (est, exact)


def test_sigma_selected_on_validation_and_standard_error():
    torch.manual_seed(2)
    d = 3
    mu = torch.randn(5000, d) * 0.5
    valid = torch.randn(500, d) * 0.5
    test = torch.randn(800, d) * 0.5
    r = parzen_window(mu, valid, test, DEFAULT_SIGMAS)
    best = DEFAULT_SIGMAS[int(np.argmax(r.valid_means))]
    assert r.sigma == best
    ll = parzen_log_likelihood(test, mu, [best])[0]
    assert abs(r.mean - ll.mean().item()) < 1e-9
    assert abs(r.se - ll.std(unbiased=False).item() / math.sqrt(800)) < 1e-9
    # For N(0, 0.25 I) data the best kernel among logspace(-1, 0, 10) is the small end, not 1.0.
    assert r.sigma < 0.5
