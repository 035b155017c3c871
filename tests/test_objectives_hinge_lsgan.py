"""Hinge and least-squares objectives: the optimal D over a free table against closed forms."""
from __future__ import annotations

import pytest
import torch

from gankit.objectives.base import build_objective

P_COUNTS = torch.tensor([1, 2, 3, 4, 5, 5])
Q_COUNTS = torch.tensor([4, 4, 3, 3, 3, 3])  # p == q at index 2
P, Q = P_COUNTS / 20.0, Q_COUNTS / 20.0
# minibatch means over these index lists are exact expectations under P and Q
IDX_P = torch.repeat_interleave(torch.arange(6), P_COUNTS)
IDX_Q = torch.repeat_interleave(torch.arange(6), Q_COUNTS)


def _best_free_critic(obj, steps: int = 1500, lr: float = 0.05) -> torch.Tensor:
    torch.manual_seed(0)
    d = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([d], lr=lr)
    decay = torch.optim.lr_scheduler.ExponentialLR(opt, 0.996)  # settles onto the hinge's kinks
    for _ in range(steps):
        opt.zero_grad()
        obj.d_loss(d[IDX_P], d[IDX_Q]).backward()
        opt.step()
        decay.step()
    return d.detach()


def test_hinge_optimal_critic_is_the_sign_and_its_loss_is_two_minus_two_tv():
    obj = build_objective("hinge", {})
    d = _best_free_critic(obj)
    tv = 0.5 * float((P - Q).abs().sum())
    assert float(obj.d_loss(d[IDX_P], d[IDX_Q])) == pytest.approx(2 * (1 - tv), abs=1e-3)
    differ = P != Q
    torch.testing.assert_close(d[differ], torch.sign(P - Q)[differ].double(), atol=2e-2, rtol=0)


def test_hinge_losses_by_hand():
    obj = build_objective("hinge", {})
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 0.5])
    # relu(1-2)=0, relu(1-0)=1 -> 0.5; relu(1-3)=0, relu(1.5)=1.5 -> 0.75
    assert float(obj.d_loss(real, fake)) == pytest.approx(1.25)
    assert float(obj.g_loss(fake)) == pytest.approx(1.25)


@pytest.mark.parametrize("a,b", [(0.0, 1.0), (-1.0, 1.0)])
def test_lsgan_optimal_critic_is_b_p_plus_a_q_over_p_plus_q(a, b):
    obj = build_objective("lsgan", {"a": a, "b": b, "c": 0.0})
    d = _best_free_critic(obj)
    torch.testing.assert_close(d, ((b * P + a * Q) / (P + Q)).double(), atol=1e-4, rtol=0)


def test_lsgan_generator_objective_at_the_optimal_critic_is_mao_eq9():
    # a = -1, b = 1, c = 0 (b - c = 1, b - a = 2): with D optimal, G's objective
    # E_P[(D - c)^2]/2 + E_Q[(D - c)^2]/2 equals (1/2) sum ((p + q) - 2q)^2 / (p + q),
    # the chi-square between p + q and 2q of Mao et al.'s eq. (9)
    obj = build_objective("lsgan", {"a": -1.0, "b": 1.0, "c": 0.0})
    d = (P - Q) / (P + Q)
    g_side = 0.5 * float((P * d**2).sum()) + float(obj.g_loss(d[IDX_Q]))
    chi2 = float((((P + Q) - 2 * Q) ** 2 / (P + Q)).sum())
    assert chi2 > 0.01
    assert g_side == pytest.approx(0.5 * chi2, abs=1e-6)


def test_lsgan_rejects_equal_targets():
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="objective.args"):
        build_objective("lsgan", {"a": 1.0, "b": 1.0})
