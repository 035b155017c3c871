"""The value function of eq. (1) and the two generator losses, against values by hand."""
import math

import torch

from gankit.objectives import build_objective
from gankit.objectives.value import (
    discriminator_loss,
    non_saturating_generator_loss,
    saturating_generator_loss,
    value,
)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_value_matches_eq1_by_hand():
    # D(x) = 0.8, 0.6 on real; D(G(z)) = 0.3, 0.1 on fake.
    real = torch.tensor([logit(0.8), logit(0.6)])
    fake = torch.tensor([logit(0.3), logit(0.1)])
    by_hand = (math.log(0.8) + math.log(0.6)) / 2 + (math.log(1 - 0.3) + math.log(1 - 0.1)) / 2
    assert abs(value(real, fake).item() - by_hand) < 1e-6
    assert abs(discriminator_loss(real, fake).item() + by_hand) < 1e-6


def test_value_at_the_equilibrium_is_minus_log4():
    # D = 1/2 everywhere (logit 0): V = log(1/2) + log(1/2) = -log 4.
    z = torch.zeros(7)
    assert abs(value(z, z).item() + math.log(4)) < 1e-7


def test_generator_losses_by_hand():
    fake = torch.tensor([logit(0.3), logit(0.1)])
    sat = (math.log(0.7) + math.log(0.9)) / 2  # E log(1 - D(G(z))), minimised
    ns = -(math.log(0.3) + math.log(0.1)) / 2  # -E log D(G(z)), minimised
    assert abs(saturating_generator_loss(fake).item() - sat) < 1e-6
    assert abs(non_saturating_generator_loss(fake).item() - ns) < 1e-6


def test_losses_are_finite_where_d_saturates():
    extreme = torch.tensor([-200.0, 200.0])
    for v in (value(extreme, extreme), saturating_generator_loss(extreme), non_saturating_generator_loss(extreme)):
        assert torch.isfinite(v)


def _grad_wrt_logit(loss_fn, p: float) -> float:
    l = torch.tensor([logit(p)], dtype=torch.float64, requires_grad=True)
    loss_fn(l).backward()
    return l.grad.item()


def test_saturating_gradient_vanishes_when_d_rejects_samples():
    """Section 3: early on D rejects G's samples (D(G(z)) -> 0) and log(1 - D(G(z)))
    saturates. d/dl log(1 - sigmoid(l)) = -sigmoid(l) = -D, which vanishes with D;
    the non-saturating loss has gradient -(1 - D), which does not."""
    for p in (1e-2, 1e-4, 1e-6):
        sat = _grad_wrt_logit(saturating_generator_loss, p)
        ns = _grad_wrt_logit(non_saturating_generator_loss, p)
        assert abs(sat - (-p)) < 1e-9
        assert abs(ns - (-(1 - p))) < 1e-9
    assert abs(_grad_wrt_logit(saturating_generator_loss, 1e-6)) < 1e-5
    assert abs(_grad_wrt_logit(non_saturating_generator_loss, 1e-6)) > 0.99


def test_objectives_by_name_and_scale():
    real = torch.tensor([logit(0.8)])
    fake = torch.tensor([logit(0.3)])
    sat = build_objective("saturating")
    assert build_objective("minimax").g_loss is sat.g_loss  # the same loss under its other name
    ns = build_objective("non-saturating", {"d_scale": 0.5})
    assert abs(ns.d_loss(real, fake).item() - 0.5 * discriminator_loss(real, fake).item()) < 1e-7
    assert abs(sat.g_loss(fake).item() - math.log(0.7)) < 1e-6
