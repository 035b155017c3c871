"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018), on D's raw output d.

D minimises E relu(1 - d(x)) + E relu(1 + d(G(z))); G minimises -E d(G(z)).
Pointwise, the optimal D is +1 where p > q and -1 where p < q, and D's minimal loss is
2 (1 - TV(P, Q)).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gankit.objectives.base import Objective, register_objective


def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


@register_objective("hinge")
def hinge() -> Objective:
    return Objective("hinge", hinge_d_loss, hinge_g_loss, d_probability=False)
