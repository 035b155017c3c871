"""f-GAN (Nowozin, Cseke, Tomioka 2016): any f-divergence through its Fenchel conjugate.

    F(theta, w) = E_P[ g_f(V_w(x)) ] - E_Q_theta[ f*(g_f(V_w(x))) ]

D's raw output is V(x); the output activation g_f maps it into the domain of the
conjugate f*, and T = g_f(V) is the variational function. D maximises F; at the optimum
T*(x) = f'(p(x)/q(x)) and F equals D_f(P || Q) = integral q f(p/q).

``js`` is the paper's Jensen-Shannon row, f(u) = -(u+1) log((1+u)/2) + u log u, whose
D_f is 2·JSD(P || Q) (JSD = KL(P || M)/2 + KL(Q || M)/2, M = (P+Q)/2; at most 2 log 2):
the name follows the paper, ``Divergence.value`` says what the number is.

Each divergence carries f, f', g_f, f* and the composition f*(g_f(v)) written so that it
stays finite where T approaches the edge of dom f* (e.g. GAN: -log(1 - exp(log
sigmoid(v))) = softplus(v)); the naive composition gives inf or nan there.

Generator losses: ``saddle`` descends F itself (only -E_Q f*(T) depends on theta);
``alternative`` ascends E_Q[g_f(V(G(z)))], the paper's recommendation (section 3.2),
which has the same fixed point and stronger gradients early on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective, register_objective

LOG2 = math.log(2.0)

Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Divergence:
    name: str
    f: Fn  # generator f(u), u = p/q, convex with f(1) = 0
    f_prime: Fn  # f'(u): the optimal variational function is T* = f'(p/q)
    activation: Fn  # g_f: V (any real) -> T in dom f*
    conjugate: Fn  # f*(t) on dom f*
    conjugate_of_activation: Fn  # f*(g_f(v)), stable for all finite v
    value: str = ""  # what D_f = integral q f(p/q) equals, where its name alone does not say

    @property
    def label(self) -> str:
        """The name, with what its D_f equals where the name alone does not say (``js (2·JSD)``)."""
        return f"{self.name} ({self.value})" if self.value else self.name


def _xlogx(u: Tensor) -> Tensor:
    return torch.xlogy(u, u)  # 0 log 0 = 0


class _LogWrightOmega(torch.autograd.Function):
    """log omega(x), where omega(x) = W(e^x) solves w + log w = x, for every real x.

    Newton's method on l = log w (e^l + l = x is convex and increasing in l, so the
    iteration converges from the start below); the gradient comes from the implicit
    function theorem, dl/dx = 1 / (1 + omega). Working with log omega keeps 1/omega =
    exp(-l) and its gradient free of intermediate overflow. Runs on the tensor's device
    inside autograd, which scipy.special.wrightomega cannot; tests check it against scipy.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        xd = x.double()
        big = xd.clamp_min(1)
        # start: W(e^x) ~ e^x for small x, ~ x - log x for large x
        l = torch.where(xd < 1, xd, torch.log(big - torch.log(big)).clamp_min(0))
        for _ in range(30):
            el = torch.exp(l)
            l = l - (el + l - xd) / (el + 1)
        l = l.to(x.dtype)
        ctx.save_for_backward(l)
        return l

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (l,) = ctx.saved_tensors
        return grad * torch.sigmoid(-l)  # 1 / (1 + e^l)


def log_wright_omega(x: Tensor) -> Tensor:
    """log W(e^x), differentiable, finite for all finite x."""
    return _LogWrightOmega.apply(x)


def wright_omega(x: Tensor) -> Tensor:
    """W(e^x) (Lambert W of an exponential)."""
    return torch.exp(log_wright_omega(x))


def _jeffrey_conjugate(t: Tensor) -> Tensor:
    l = log_wright_omega(1 - t)
    return torch.exp(l) + torch.exp(-l) + t - 2


DIVERGENCES: dict[str, Divergence] = {
    d.name: d
    for d in [
        Divergence(
            "kl",
            f=_xlogx,
            f_prime=lambda u: torch.log(u) + 1,
            activation=lambda v: v,
            conjugate=lambda t: torch.exp(t - 1),
            conjugate_of_activation=lambda v: torch.exp(v - 1),
        ),
        Divergence(
            "reverse-kl",
            f=lambda u: -torch.log(u),
            f_prime=lambda u: -1 / u,
            activation=lambda v: -torch.exp(-v),
            conjugate=lambda t: -1 - torch.log(-t),
            conjugate_of_activation=lambda v: v - 1,  # -1 - log(exp(-v))
        ),
        Divergence(
            "pearson",
            f=lambda u: (u - 1) ** 2,
            f_prime=lambda u: 2 * (u - 1),
            activation=lambda v: v,
            conjugate=lambda t: t * t / 4 + t,
            conjugate_of_activation=lambda v: v * v / 4 + v,
        ),
        Divergence(
            "neyman",
            f=lambda u: (1 - u) ** 2 / u,
            f_prime=lambda u: 1 - 1 / (u * u),
            activation=lambda v: -torch.expm1(-v),
            conjugate=lambda t: 2 - 2 * torch.sqrt(1 - t),
            conjugate_of_activation=lambda v: 2 - 2 * torch.exp(-v / 2),  # sqrt(1 - t) = exp(-v/2)
        ),
        Divergence(
            "hellinger",
            f=lambda u: (torch.sqrt(u) - 1) ** 2,
            f_prime=lambda u: 1 - 1 / torch.sqrt(u),
            activation=lambda v: -torch.expm1(-v),
            conjugate=lambda t: t / (1 - t),
            conjugate_of_activation=torch.expm1,  # (1 - e^-v) / e^-v
        ),
        Divergence(
            "jeffrey",
            f=lambda u: (u - 1) * torch.log(u),
            f_prime=lambda u: torch.log(u) + 1 - 1 / u,
            activation=lambda v: v,
            conjugate=_jeffrey_conjugate,
            conjugate_of_activation=_jeffrey_conjugate,
        ),
        Divergence(
            "js",
            f=lambda u: -(u + 1) * torch.log((1 + u) / 2) + _xlogx(u),
            f_prime=lambda u: torch.log(2 * u / (1 + u)),
            activation=lambda v: LOG2 - F.softplus(-v),
            conjugate=lambda t: -torch.log(2 - torch.exp(t)),
            conjugate_of_activation=lambda v: F.softplus(v) - LOG2,  # 2 - 2 sigmoid(v) = 2 sigmoid(-v)
            # the paper's f for Jensen-Shannon (its Table 1) integrates to twice the JSD;
            # kept as the paper has it, so g_f, f* and T* are the paper's too
            value="2·JSD",
        ),
        Divergence(
            "gan",
            f=lambda u: _xlogx(u) - (u + 1) * torch.log1p(u),
            f_prime=lambda u: torch.log(u / (u + 1)),
            activation=lambda v: -F.softplus(-v),
            conjugate=lambda t: -torch.log(-torch.expm1(t)),
            conjugate_of_activation=F.softplus,  # -log(1 - sigmoid(v))
        ),
        Divergence(
            "tv",
            f=lambda u: 0.5 * torch.abs(u - 1),
            f_prime=lambda u: 0.5 * torch.sign(u - 1),
            activation=lambda v: 0.5 * torch.tanh(v),
            conjugate=lambda t: t,
            conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
        ),
    ]
}
ALIASES = {
    "kullback-leibler": "kl",
    "reverse_kl": "reverse-kl",
    "pearson-chi2": "pearson",
    "neyman-chi2": "neyman",
    "squared-hellinger": "hellinger",
    "jensen-shannon": "js",
    "total-variation": "tv",
}


def get_divergence(name: str) -> Divergence:
    key = ALIASES.get(name, name)
    if key not in DIVERGENCES:
        raise ValueError(f"unknown divergence '{name}' (known: {', '.join(DIVERGENCES)})")
    return DIVERGENCES[key]


def variational_bound(div: Divergence, real_v: Tensor, fake_v: Tensor) -> Tensor:
    """Minibatch estimate of F = E_P[g_f(V)] - E_Q[f*(g_f(V))], a lower bound on D_f(P||Q)."""
    return div.activation(real_v).mean() - div.conjugate_of_activation(fake_v).mean()


@register_objective("fgan")
def fgan(divergence: str = "gan", generator_loss: str = "alternative") -> Objective:
    """f-GAN under ``divergence`` (kl, reverse-kl, pearson, neyman, hellinger, jeffrey, js
    (= 2·JSD, the paper's f), gan, tv); ``generator_loss`` is ``alternative`` (the paper's) or ``saddle``."""
    div = get_divergence(divergence)
    if generator_loss not in ("alternative", "saddle"):
        raise ValueError(f"generator_loss must be 'alternative' or 'saddle', got {generator_loss!r}")

    def d_loss(real_v: Tensor, fake_v: Tensor) -> Tensor:
        return -variational_bound(div, real_v, fake_v)

    if generator_loss == "saddle":
        def g_loss(fake_v: Tensor) -> Tensor:
            return -div.conjugate_of_activation(fake_v).mean()
    else:
        def g_loss(fake_v: Tensor) -> Tensor:
            return -div.activation(fake_v).mean()

    # only the gan divergence's V is a logit: g_f(v) = log sigmoid(v)
    return Objective(f"fgan-{div.name}", d_loss, g_loss, d_probability=div.name == "gan")
