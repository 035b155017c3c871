"""1-D nets for experiments on distributions over the real line (f-GAN's Gaussian fit):
``gaussian-1d`` G(z) = mu + sigma z, and two critics, ``mlp-1d`` and ``spline-1d``."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gankit.nets.registry import register_net


@register_net("gaussian-1d")
class Gaussian1D(nn.Module):
    """G(z) = mu + sigma z; sigma = exp(log_sigma) keeps it positive."""

    def __init__(self, noise_dim: int = 1, mu: float = 0.0, sigma: float = 1.0, image_shape: Sequence[int] = (1,)) -> None:
        super().__init__()
        if noise_dim != 1 or list(image_shape) != [1]:
            raise ValueError("gaussian-1d needs 1-D noise and 1-D data")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.mu = nn.Parameter(torch.tensor(float(mu)))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.mu + torch.exp(self.log_sigma) * z


@register_net("mlp-1d")
class Critic1D(nn.Module):
    """1 -> hidden tanh -> hidden tanh -> 1 raw output V(x), plus (``quadratic``) a
    learned a x + b x^2 beside it.

    Why the quadratic part: for every divergence but TV the optimal V* is an increasing
    function of log(p/q) (e.g. neyman: V* = 2 log(p/q)), and log(p/q) of Gaussian tails
    grows like x^2. A tanh MLP is flat outside the data, so where q's tail outweighs p's
    it caps V and the generator gradient that should pull q's tail in is lost.
    """

    def __init__(self, hidden: int = 64, layers: int = 2, quadratic: bool = False, image_shape: Sequence[int] = (1,)) -> None:
        super().__init__()
        self.quad = nn.Linear(2, 1, bias=False) if quadratic else None
        if self.quad is not None:
            nn.init.zeros_(self.quad.weight)  # start as the plain MLP
        dims = [int(np.prod(image_shape)), *([hidden] * layers)]
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.Tanh()]
        mods.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        v = self.net(x)
        if self.quad is not None:
            v = v + self.quad(torch.cat([x, x * x], dim=1))
        return v.squeeze(1)


@register_net("spline-1d")
class Spline1D(nn.Module):
    """V(x) = piecewise-linear interpolation of one weight per grid node (spacing ``step``
    on [lo, hi], constant outside), starting at V = 0: a critic of local units.

    Why, for TV: F = E_P[T] - E_Q[T] is linear in T, so the optimal T is the step function
    sign(p - q) / 2 (four crossings here). An MLP critic learns the coarse single step first,
    then its shared tanh units saturate (T = +-1/2 everywhere, gradient ~ 0) before the other
    crossings are learnt, and it cannot move its steps when G moves. Each weight here sees
    only the samples near its node, so every region learns its own sign, and Adam's
    per-weight step keeps a weight able to change sign when G moves a crossing past it.
    V is continuous and piecewise linear in x, so G's pathwise gradient exists.
    """

    def __init__(self, lo: float = -10.0, hi: float = 10.0, step: float = 0.1, image_shape: Sequence[int] = (1,)) -> None:
        super().__init__()
        if list(image_shape) != [1] or not hi > lo or step <= 0:
            raise ValueError("spline-1d needs 1-D data, hi > lo and step > 0")
        self.lo, self.step = float(lo), float(step)
        self.w = nn.Parameter(torch.zeros(int(round((hi - lo) / step)) + 1))

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        n = self.w.shape[0]
        u = ((x.reshape(-1) - self.lo) / self.step).clamp(0, n - 1)
        i = u.detach().floor().long().clamp(max=n - 2)
        a = u - i
        return self.w[i] * (1 - a) + self.w[i + 1] * a
