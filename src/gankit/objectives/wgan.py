"""Wasserstein GAN (Arjovsky, Chintala, Bottou 2017) and WGAN-GP (Gulrajani et al. 2017).

The critic f_w has no sigmoid; its raw outputs are the "logits" here. The critic
maximises E f_w(x) - E f_w(G(z)), an estimate of the Wasserstein-1 distance (up to the
Lipschitz constant that the constraint fixes); G minimises -E f_w(G(z)).

- ``wgan``: weights clipped to [-c, c] after every critic step (the constraint hook).
- ``wgan-gp``: no clipping; the penalty lambda * (||grad_x f(x_hat)||_2 - 1)^2 with
  x_hat = eps x + (1 - eps) G(z), ONE eps per sample and the norm taken PER SAMPLE over all
  of that sample's dimensions (two public implementations drew eps per pixel or took one
  norm over the whole batch; both change the constraint).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from gankit.objectives.base import Objective, register_objective


def critic_loss(real: Tensor, fake: Tensor) -> Tensor:
    """-(E f(x) - E f(G(z))): minus the critic's estimate of the distance."""
    return fake.mean() - real.mean()


def generator_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


def clip_weights(module: nn.Module, c: float) -> None:
    """Every parameter of the critic into [-c, c], in place."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


def gradient_penalty(
    D: nn.Module,
    real: Tensor,
    fake: Tensor,
    y: Optional[Tensor] = None,
    weight: float = 10.0,
    eps: Optional[Tensor] = None,
) -> Tensor:
    """weight * mean_i (||grad f(x_hat_i)||_2 - 1)^2; ``eps`` ([B], one per sample) is drawn
    uniformly in [0, 1) unless given. The graph is kept so the penalty trains the critic."""
    b = real.shape[0]
    if eps is None:
        eps = torch.rand(b, device=real.device, dtype=real.dtype)
    eps = eps.reshape(b, *([1] * (real.dim() - 1)))  # broadcast over every non-batch dimension
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat, y)
    # each output depends only on its own sample, so grad of the sum gives per-sample grads
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.reshape(b, -1).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()


@register_objective("wgan")
def wgan(clip: float = 0.01) -> Objective:
    """WGAN with weight clipping to [-clip, clip] after every critic step."""
    if not clip > 0:
        raise ValueError(f"clip must be positive, got {clip}")
    return Objective("wgan", critic_loss, generator_loss, constrain=lambda D: clip_weights(D, clip), d_probability=False)


@register_objective("wgan-gp")
def wgan_gp(penalty_weight: float = 10.0) -> Objective:
    """WGAN-GP: the critic loss plus ``penalty_weight`` (lambda) times the gradient penalty."""
    if not penalty_weight >= 0:
        raise ValueError(f"penalty_weight must be >= 0, got {penalty_weight}")

    def penalty(D: nn.Module, real: Tensor, fake: Tensor, y: Optional[Tensor]) -> Tensor:
        return gradient_penalty(D, real, fake, y, penalty_weight)

    return Objective("wgan-gp", critic_loss, generator_loss, penalty=penalty, d_probability=False)
