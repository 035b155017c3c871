"""Least squares GAN (Mao et al. 2017), on D's raw output d.

D minimises 1/2 E (d(x) - b)^2 + 1/2 E (d(G(z)) - a)^2, G minimises 1/2 E (d(G(z)) - c)^2.
Defaults a = 0, b = c = 1 (the paper's 0-1 coding). Pointwise, the optimal D is
(b p + a q) / (p + q); with b - c = 1 and b - a = 2 (e.g. a = -1, b = 1, c = 0) G then
minimises (1/2) integral ((p + q) - 2q)^2 / (p + q), the chi-square of Mao et al.'s eq. (9).
"""
from __future__ import annotations

from torch import Tensor

from gankit.objectives.base import Objective, register_objective


@register_objective("lsgan", aliases=("least-squares",))
def lsgan(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> Objective:
    """Targets: ``a`` for fakes and ``b`` for reals in D's loss, ``c`` for fakes in G's."""
    if a == b:
        raise ValueError("a (fake target) and b (real target) must differ")

    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * ((real - b) ** 2).mean() + 0.5 * ((fake - a) ** 2).mean()

    def g_loss(fake: Tensor) -> Tensor:
        return 0.5 * ((fake - c) ** 2).mean()

    return Objective("lsgan", d_loss, g_loss, d_probability=False)
