"""The reconstruction term of pix2pix (Isola et al. 2017), eq. (4):

    G* = arg min_G max_D L_cGAN(G, D) + lambda * L_L1(G),   L_L1 = E_{A,B,z} ||B - G(A, z)||_1

added to any objective's generator loss by ``objective.l1`` (lambda; the paper's 100). The
mean is over pixels, as the paper's code (``nn.L1Loss``), in the nets' pixel range.

``no-adversarial`` leaves G only the reconstruction term (the paper's "L1 only" row): D still
trains with the value function's loss, so its logits stay comparable across rows, but G
ignores it.
"""
from __future__ import annotations

from dataclasses import replace

from torch import Tensor

from gankit.objectives.base import Objective, register_objective
from gankit.objectives.value import discriminator_loss


def l1_distance(fake: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference per pixel."""
    return (fake.float() - target.float()).abs().mean()


def with_l1(objective: Objective, weight: float) -> Objective:
    """The objective with ``weight`` * L1(G's output, target) added to G's loss."""
    if weight == 0:
        return objective
    return replace(objective, name=f"{objective.name}+l1", reconstruction=lambda fake, target: weight * l1_distance(fake, target))


def no_generator_loss(fake_logits: Tensor) -> Tensor:
    return fake_logits.new_zeros(())


@register_objective("no-adversarial")
def no_adversarial() -> Objective:
    return Objective("no-adversarial", discriminator_loss, no_generator_loss)
