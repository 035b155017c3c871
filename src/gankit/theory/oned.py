"""1-D generators measured exactly enough to check Theorem 1 on a trained model.

With z uniform on [lo, hi] and x = G(z), the probability G puts in a bin [e_i, e_{i+1})
is the length of {z : G(z) in the bin} / (hi − lo): we evaluate G on a fine, evenly spaced
z grid (midpoints) and histogram the outputs with equal weights. No kernel width to pick,
and it is right for any G, monotone or not, up to the z-grid resolution. Divergences
between binned distributions never exceed the continuous ones (data processing) and
approach them as the bins shrink.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from gankit.theory.optimum import c_of_g, jsd, optimal_discriminator


def normal_bin_probs(mu: float, sigma: float, edges: np.ndarray) -> np.ndarray:
    """Exact probability of each bin under N(mu, sigma²)."""
    cdf = stats.norm.cdf(edges, loc=mu, scale=sigma)
    return np.diff(cdf)


def pushforward_bin_probs(g: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, edges: np.ndarray,
                          n_z: int = 200_001) -> np.ndarray:
    """Probability of each bin under x = g(z), z ~ U[lo, hi]; mass outside the edges is dropped
    (so the result may sum to less than 1, as it should)."""
    z = lo + (np.arange(n_z) + 0.5) * (hi - lo) / n_z
    x = np.asarray(g(z), dtype=np.float64).reshape(-1)
    counts, _ = np.histogram(x, bins=edges)
    return counts / n_z


@dataclass
class Snapshot1D:
    """The quantities of Figure 1 and Theorem 1 for one (G, D) pair on a grid of bins."""

    centers: np.ndarray  # bin centres
    p_data: np.ndarray  # densities (probability / bin width)
    p_g: np.ndarray
    d: np.ndarray  # D(x) of the trained discriminator at the centres
    d_star: np.ndarray  # p_data / (p_data + p_g)
    jsd: float  # JSD(p_data ‖ p_g), nats, over the bins
    c_of_g: float  # V(D*, G) = −log 4 + 2·JSD
    value: float  # V(D, G) for the trained D (≤ C(G))
    d_dev_99: float  # max |D(x) − ½| over the central 99% of p_data's mass


def snapshot_1d(g: Callable[[np.ndarray], np.ndarray], d: Callable[[np.ndarray], np.ndarray], mu: float, sigma: float,
                z_range: tuple[float, float], x_range: tuple[float, float], bins: int = 2000,
                n_z: int = 200_001) -> Snapshot1D:
    from gankit.theory.optimum import value

    edges = np.linspace(x_range[0], x_range[1], bins + 1)
    width = edges[1] - edges[0]
    centers = 0.5 * (edges[:-1] + edges[1:])
    pd = normal_bin_probs(mu, sigma, edges)
    pg = pushforward_bin_probs(g, z_range[0], z_range[1], edges, n_z)
    dx = np.clip(np.asarray(d(centers), dtype=np.float64).reshape(-1), 1e-12, 1 - 1e-12)
    half = stats.norm.ppf(0.995) * sigma  # the central 99% of p_data: mu ± 2.576 sigma
    inside = np.abs(centers - mu) <= half
    return Snapshot1D(
        centers=centers,
        p_data=pd / width,
        p_g=pg / width,
        d=dx,
        d_star=optimal_discriminator(pd, pg),
        jsd=jsd(pd, pg),
        c_of_g=c_of_g(pd, pg),
        value=value(dx, pd, pg),
        d_dev_99=float(np.max(np.abs(dx[inside] - 0.5))),
    )
