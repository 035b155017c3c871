"""R1 penalty against closed forms, and its composition with objectives and presets."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.config import load_config
from gankit.errors import ConfigError
from gankit.objectives.base import build_objective
from gankit.objectives.penalties import r1_penalty, with_r1


class HalfSquare(nn.Module):
    """D(x) = a/2 * ||x||^2 per sample: grad_x D = a x, so R1 = gamma/2 * a^2 * mean ||x||^2."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

    def forward(self, x, y=None):
        return 0.5 * self.a * x.reshape(x.shape[0], -1).pow(2).sum(1)


def _real() -> torch.Tensor:
    # squared norms 1, 4, 9 and 0: mean 3.5
    return torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 0.0]], dtype=torch.float64).reshape(4, 1, 1, 2)


def test_r1_by_hand_and_its_gradient_on_d():
    D = HalfSquare()
    pen = r1_penalty(D, _real(), None, gamma=0.5)
    assert float(pen.detach()) == pytest.approx(0.5 / 2 * 4.0 * 3.5)  # gamma/2 * a^2 * mean ||x||^2 = 3.5
    pen.backward()
    assert float(D.a.grad) == pytest.approx(0.5 * 2.0 * 3.5)  # d/da = gamma * a * mean ||x||^2


def test_with_r1_adds_to_an_objectives_own_penalty_and_zero_leaves_it_alone():
    real = _real()
    fake = torch.zeros_like(real)
    plain = build_objective("non-saturating", {})
    assert with_r1(plain, 0.0) is plain
    composed = with_r1(plain, 0.5)
    assert composed.name == "non-saturating+r1"
    assert float(composed.penalty(HalfSquare(), real, fake, None).detach()) == pytest.approx(3.5)
    gp = build_objective("wgan-gp", {})
    torch.manual_seed(0)
    own = float(gp.penalty(HalfSquare(), real, fake, None).detach())
    torch.manual_seed(0)
    both = float(with_r1(gp, 0.5).penalty(HalfSquare(), real, fake, None).detach())
    assert both == pytest.approx(own + 3.5)


def test_r1_is_a_validated_preset_key():
    assert load_config("toy-grid25", ["objective.r1=0.1"]).objective.r1 == 0.1
    with pytest.raises(ConfigError, match="objective.r1"):
        load_config("toy-grid25", ["objective.r1=-1"])
