"""Regularisers that add to any objective's discriminator loss.

R1 (Mescheder, Geiger, Nowozin 2018, "Which training methods for GANs do actually
converge?"): gamma/2 * E_x~p_data ||grad_x D(x)||^2, D's gradient on real data pushed to
zero. It leaves the equilibrium p_g = p_data (where D is constant) in place and damps the
rotation around it, which is why it converges where the plain game oscillates.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
from torch import Tensor, nn

from gankit.objectives.base import Objective


def r1_penalty(D: nn.Module, real: Tensor, y: Optional[Tensor], gamma: float) -> Tensor:
    x = real.detach().requires_grad_(True)
    logits = D(x, y)
    # outputs depend only on their own (or their pack's) samples: grad of the sum is per sample
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return 0.5 * gamma * grad.pow(2).reshape(x.shape[0], -1).sum(1).mean()


def with_r1(objective: Objective, gamma: float) -> Objective:
    """The objective with ``gamma`` * R1 added to D's loss (beside any penalty it has)."""
    if gamma == 0:
        return objective
    own = objective.penalty

    def penalty(D: nn.Module, real: Tensor, fake: Tensor, y: Optional[Tensor]) -> Tensor:
        extra = r1_penalty(D, real, y, gamma)
        return extra if own is None else own(D, real, fake, y) + extra

    return replace(objective, name=f"{objective.name}+r1", penalty=penalty)
