"""CatGAN (Springenberg 2015): its entropies and losses against closed forms."""
from __future__ import annotations

import math

import pytest
import torch

from gankit.objectives.catgan import catgan, conditional_entropy, d_loss, g_loss, marginal_entropy


def logits_of(p: list[list[float]]) -> torch.Tensor:
    return torch.tensor(p, dtype=torch.float64).log()


def h(p: list[float]) -> float:
    return -sum(q * math.log(q) for q in p if q > 0)


def pytest_approx(v: float):
    return pytest.approx(v, rel=1e-9, abs=1e-9)


def test_entropies_against_closed_forms() -> None:
    K = 10
    uniform = torch.zeros(6, K, dtype=torch.float64)
    assert float(conditional_entropy(uniform)) == pytest_approx(math.log(K))
    assert float(marginal_entropy(uniform)) == pytest_approx(math.log(K))
    # confident and evenly spread: each example certain (H = 0), the batch uniform over 10 classes
    onehot = torch.full((K, K), -1e4, dtype=torch.float64).fill_diagonal_(0)
    assert float(conditional_entropy(onehot)) == pytest_approx(0.0)
    assert float(marginal_entropy(onehot)) == pytest_approx(math.log(K))
    # confident and all the same class: the marginal is certain too
    same = torch.full((4, K), -1e4, dtype=torch.float64)
    same[:, 3] = 0
    assert float(marginal_entropy(same)) == pytest_approx(0.0)
    # two examples over 2 classes: (1/4, 3/4) and (1/2, 1/2); marginal (3/8, 5/8)
    p = [[0.25, 0.75], [0.5, 0.5]]
    assert float(conditional_entropy(logits_of(p))) == pytest_approx((h(p[0]) + h(p[1])) / 2)
    assert float(marginal_entropy(logits_of(p))) == pytest_approx(h([0.375, 0.625]))


def test_losses_are_the_papers_combinations() -> None:
    real = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    fake = [[0.5, 0.5], [0.7, 0.3]]
    ec_real = sum(h(r) for r in real) / 3
    ec_fake = sum(h(f) for f in fake) / 2
    marg_real = h([sum(r[k] for r in real) / 3 for k in range(2)])
    marg_fake = h([sum(f[k] for f in fake) / 2 for k in range(2)])
    # D: certain on real, uncertain on fake, real spread evenly; G: certain and spread on its samples
    assert float(d_loss(logits_of(real), logits_of(fake))) == pytest_approx(ec_real - marg_real - ec_fake)
    assert float(g_loss(logits_of(fake))) == pytest_approx(ec_fake - marg_fake)
    obj = catgan(supervised_weight=0.5)
    y = torch.tensor([1, 0, 0])
    want = 0.5 * -(math.log(0.1) + math.log(0.2) + math.log(0.6)) / 3
    assert float(obj.supervised(logits_of(real), y)) == pytest.approx(want, rel=1e-6)  # D's logits in fp32
