"""Section 4 of Goodfellow et al. (2014), computed numerically.

For a fixed G the discriminator that maximises

    V(D, G) = ∫ p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx

is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Proposition 1), and the generator's
criterion C(G) = max_D V(D, G) = V(D*, G) = -log 4 + 2·JSD(p_data ‖ p_g) (Theorem 1).

Two representations share one code path: a *discrete* distribution is a probability
vector (weights 1), a *1-D density* is its values on a grid together with quadrature
weights (:func:`quadrature_weights`), so every integral is ``sum(w * f)``. For densities
given as functions, :func:`value_quad`, :func:`jsd_quad` and :func:`c_of_g_quad` use
adaptive quadrature (scipy.integrate.quad) instead of a grid.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import integrate

LOG4 = math.log(4.0)
Density = Callable[[float], float]


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # x·log y with 0·log 0 = 0: mass where one distribution is zero contributes nothing.
    from scipy.special import xlogy

    return xlogy(x, y)


def _arrays(*arrays: Sequence[float] | np.ndarray) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = out[0].shape
    for a in out[1:]:
        if a.shape != shape:
            raise ValueError(f"arrays must have the same shape, got {shape} and {a.shape}")
    return out


def quadrature_weights(x: Sequence[float] | np.ndarray, rule: str = "simpson") -> np.ndarray:
    """Weights w with ∫ f ≈ Σ w·f(x) on the grid ``x`` (uniform grid; Simpson needs an odd length)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        raise ValueError("a quadrature grid needs at least 2 points")
    h = (x[-1] - x[0]) / (n - 1)
    if not np.allclose(np.diff(x), h, rtol=1e-6, atol=0):
        raise ValueError("quadrature_weights expects a uniform grid")
    if rule == "trapezoid" or n % 2 == 0 or n < 3:
        w = np.full(n, h)
        w[0] = w[-1] = h / 2
        return w
    if rule != "simpson":
        raise ValueError(f"unknown rule {rule!r} (simpson or trapezoid)")
    w = np.full(n, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return w * h / 3


def optimal_discriminator(p_data: np.ndarray | Sequence[float], p_g: np.ndarray | Sequence[float]) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_g) (Proposition 1). Where both vanish D* is irrelevant to V;
    we return 1/2 there."""
    p, q = _arrays(p_data, p_g)
    s = p + q
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, p / np.where(s > 0, s, 1.0), 0.5)


def value(d: np.ndarray | Sequence[float], p_data: np.ndarray | Sequence[float], p_g: np.ndarray | Sequence[float],
          weights: Optional[np.ndarray | Sequence[float]] = None,
          one_minus_d: Optional[np.ndarray | Sequence[float]] = None) -> float:
    """V(D, G) = Σ w·[p_data·log D + p_g·log(1 − D)] (weights 1 for discrete distributions).

    ``one_minus_d`` may give 1 − D directly where computing it would round to 0 (D near 1).
    Returns -inf when D puts 0 (or 1) where p_data (or p_g) has mass, as the integral does."""
    d, p, q = _arrays(d, p_data, p_g)
    w = np.ones_like(p) if weights is None else _arrays(weights, p)[0]
    omd = 1.0 - d if one_minus_d is None else _arrays(one_minus_d, p)[0]
    with np.errstate(divide="ignore"):
        return float(np.sum(w * (_xlogy(p, d) + _xlogy(q, omd))))


def kl(p: np.ndarray | Sequence[float], q: np.ndarray | Sequence[float],
       weights: Optional[np.ndarray | Sequence[float]] = None) -> float:
    """KL(p ‖ q) = Σ w·p·log(p/q); +inf when p has mass where q has none."""
    p, q = _arrays(p, q)
    w = np.ones_like(p) if weights is None else _arrays(weights, p)[0]
    if np.any((p > 0) & (q <= 0)):
        return math.inf
    mask = p > 0
    return float(np.sum(w[mask] * p[mask] * np.log(p[mask] / q[mask])))


def jsd(p: np.ndarray | Sequence[float], q: np.ndarray | Sequence[float],
        weights: Optional[np.ndarray | Sequence[float]] = None) -> float:
    """Jensen–Shannon divergence in nats: ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2."""
    p, q = _arrays(p, q)
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m, weights) + 0.5 * kl(q, m, weights)


def c_of_g(p_data: np.ndarray | Sequence[float], p_g: np.ndarray | Sequence[float],
           weights: Optional[np.ndarray | Sequence[float]] = None) -> float:
    """C(G) = V(D*, G): the generator's criterion with the discriminator at its optimum."""
    p, q = _arrays(p_data, p_g)
    # 1 − D* = p_g/(p_data + p_g), computed as such: 1 − D* rounds to 0 where p_g << p_data
    return value(optimal_discriminator(p, q), p, q, weights, optimal_discriminator(q, p))


# ---------------------------------------------------------------------------------------
# Densities given as functions: adaptive quadrature over [a, b] (use the support, or a
# range that holds all but a negligible part of both distributions).


def _quad(f: Callable[[float], float], a: float, b: float, points: Optional[Sequence[float]]) -> float:
    pts = None if points is None else [t for t in points if a < t < b]
    val, _ = integrate.quad(f, a, b, points=pts or None, limit=500, epsabs=1e-13, epsrel=1e-11)
    return float(val)


def value_quad(d: Density, p_data: Density, p_g: Density, a: float, b: float,
               points: Optional[Sequence[float]] = None, one_minus_d: Optional[Density] = None) -> float:
    """V(D, G) for densities and a discriminator given as functions of x (``one_minus_d``
    optionally gives 1 − D(x) without rounding)."""

    def f(x: float) -> float:
        p, q, dx = p_data(x), p_g(x), d(x)
        omd = 1.0 - dx if one_minus_d is None else one_minus_d(x)
        return float(_xlogy(p, dx) + _xlogy(q, omd))

    return _quad(f, a, b, points)


def jsd_quad(p_data: Density, p_g: Density, a: float, b: float, points: Optional[Sequence[float]] = None) -> float:
    """JSD(p_data ‖ p_g) in nats, from its definition (not through C(G))."""

    def f(x: float) -> float:
        p, q = p_data(x), p_g(x)
        m = 0.5 * (p + q)
        if m <= 0:
            return 0.0
        return 0.5 * float(_xlogy(p, p / m) + _xlogy(q, q / m))

    return _quad(f, a, b, points)


def c_of_g_quad(p_data: Density, p_g: Density, a: float, b: float, points: Optional[Sequence[float]] = None) -> float:
    """C(G) = V(D*, G) with D* = p_data/(p_data + p_g), by quadrature."""

    def d_star(x: float) -> float:
        p, q = p_data(x), p_g(x)
        return p / (p + q) if p + q > 0 else 0.5

    def one_minus_d_star(x: float) -> float:
        p, q = p_data(x), p_g(x)
        return q / (p + q) if p + q > 0 else 0.5

    return value_quad(d_star, p_data, p_g, a, b, points, one_minus_d_star)
