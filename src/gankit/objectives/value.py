"""The value function of Goodfellow et al. (2014), eq. (1), written in D's logits.

    V(D, G) = E_x~p_data [log D(x)] + E_z~p_z [log(1 - D(G(z)))]

With D(x) = sigmoid(l):  log D = -softplus(-l)  and  log(1 - D) = -softplus(l),
which stay finite where D saturates at 0 or 1.

D ascends V (so its loss is -V). G descends V: the *saturating* loss
log(1 - D(G(z))) is the one in eq. (1) and Algorithm 1; its gradient vanishes when D
rejects samples confidently (D(G(z)) -> 0), which is why section 3 of the paper trains G
to maximise log D(G(z)) instead: the *non-saturating* loss -log D(G(z)).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective, register_objective


def log_d(logits: Tensor) -> Tensor:
    """log D(x) for D(x) = sigmoid(logits)."""
    return -F.softplus(-logits)


def log_one_minus_d(logits: Tensor) -> Tensor:
    """log(1 - D(x)) for D(x) = sigmoid(logits)."""
    return -F.softplus(logits)


def value(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Minibatch estimate of V(D, G), eq. (1)."""
    return log_d(real_logits).mean() + log_one_minus_d(fake_logits).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D ascends V, i.e. descends -V (the binary cross-entropy of real vs. fake)."""
    return -value(real_logits, fake_logits)


def saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """Eq. (1)'s generator term, minimised: E log(1 - D(G(z)))."""
    return log_one_minus_d(fake_logits).mean()


def non_saturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """Section 3's alternative: maximise log D(G(z)), i.e. minimise -E log D(G(z))."""
    return -log_d(fake_logits).mean()


def _scaled(loss, scale: float):
    if scale == 1.0:
        return loss
    return lambda real, fake: scale * loss(real, fake)


@register_objective("saturating", aliases=("minimax",))
def saturating(d_scale: float = 1.0) -> Objective:
    """The minimax game exactly as eq. (1) writes it."""
    return Objective("saturating", _scaled(discriminator_loss, d_scale), saturating_generator_loss)


@register_objective("non-saturating")
def non_saturating(d_scale: float = 1.0) -> Objective:
    """Same D; G maximises log D(G(z)) (the paper's recommendation in practice).
    ``d_scale`` multiplies D's loss (the released MNIST code halves it)."""
    return Objective("non-saturating", _scaled(discriminator_loss, d_scale), non_saturating_generator_loss)
