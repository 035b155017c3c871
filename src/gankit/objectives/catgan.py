"""Categorical GAN (Springenberg 2015): D is a K-class classifier p(y | x, D).

D is certain about real examples (low conditional entropy), uncertain about generated ones
(high conditional entropy), and spreads real examples evenly over the classes (high entropy
of the marginal class distribution on the minibatch); G makes its samples ones D is certain
about and spreads them evenly over the classes. The semi-supervised variant adds λ times
the cross-entropy of a labelled minibatch to D's loss. Expectations are minibatch means.

    L_D = E_x H[p(y|x)] − H[E_x p(y|x)] − E_z H[p(y|G(z))] + λ CE(labelled)
    L_G = E_z H[p(y|G(z))] − H[E_z p(y|G(z))]
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective, register_objective


def conditional_entropy(logits: Tensor) -> Tensor:
    """E_x H[p(y|x)]: the mean over the minibatch of each example's class entropy (nats)."""
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1).mean()


def marginal_entropy(logits: Tensor) -> Tensor:
    """H[E_x p(y|x)]: the entropy of the minibatch's mean class distribution (nats)."""
    p = F.softmax(logits, dim=1).mean(0)
    return -(p * p.clamp_min(1e-30).log()).sum()


def d_loss(real: Tensor, fake: Tensor) -> Tensor:
    return conditional_entropy(real) - marginal_entropy(real) - conditional_entropy(fake)


def g_loss(fake: Tensor) -> Tensor:
    return conditional_entropy(fake) - marginal_entropy(fake)


@register_objective("catgan")
def catgan(supervised_weight: float = 1.0) -> Objective:
    """``supervised_weight``: λ of the labelled cross-entropy term."""
    if supervised_weight < 0:
        raise ValueError(f"supervised_weight must be >= 0, got {supervised_weight}")

    def supervised(logits: Tensor, y: Tensor) -> Tensor:
        return supervised_weight * F.cross_entropy(logits.float(), y)

    return Objective("catgan", d_loss, g_loss, supervised=supervised, d_probability=False)
