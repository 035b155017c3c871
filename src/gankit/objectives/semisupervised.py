"""Semi-supervised GANs of Salimans et al. (2016), "Improved techniques for training GANs".

D is a K-class classifier with logits l_1..l_K and an implicit fake class K+1 whose logit
is fixed at 0, so p(fake | x) = 1/(Z(x)+1) with Z(x) = Σ_k exp l_k(x), and the real/fake
probability D(x) = Z/(Z+1) = sigmoid(logsumexp_k l_k(x)). Its loss is the supervised
cross-entropy on a labelled minibatch (the K+1 softmax restricted to the K real classes is
the K softmax) plus the unsupervised GAN terms on unlabelled real and generated examples.
G's loss is feature matching (‖E f(x) − E f(G(z))‖² on D's last hidden layer) or a GAN loss
on D(G(z)).
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.objectives.base import Objective, register_objective


def real_logit(class_logits: Tensor) -> Tensor:
    """logit of D(x) = Z/(Z+1): log Z = logsumexp of the K class logits (the fake logit is 0)."""
    return class_logits.logsumexp(dim=1)


def unsupervised_loss(real: Tensor, fake: Tensor, real_label: float = 1.0) -> Tensor:
    """½ E[−log D(x)] + ½ E[−log(1 − D(G(z)))] on class logits, as the released code weighs it.
    ``real_label`` < 1 is one-sided label smoothing: real examples' target is α, fakes' stays 0."""
    r, f = real_logit(real), real_logit(fake)
    real_term = real_label * F.softplus(-r) + (1 - real_label) * F.softplus(r)
    return 0.5 * real_term.mean() + 0.5 * F.softplus(f).mean()


def supervised_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Cross-entropy of the labelled minibatch under D's K-class softmax (its logits, fp32)."""
    return F.cross_entropy(logits.float(), y)


def feature_matching(D: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """(‖E f(x) − E f(G(z))‖², D's logits on G(z)): the squared distance averaged over the units
    of f (``D.features``) as the released code does; one pass of D over G(z) gives f and the
    logits (``D.logits_and_features``). G's step freezes D's weights, so the gradient reaches G
    only; the real features need none."""
    with torch.no_grad():
        real_mean = D.features(real).float().mean(0)
    fake_logits, fake_features = D.logits_and_features(fake)
    return (real_mean - fake_features.float().mean(0)).pow(2).mean(), fake_logits


class HistoricalAverage:
    """Salimans et al. §3.3 for D: λ ‖θ − (1/t) Σ_{i≤t} θ_i‖², with θ_1..θ_t D's parameters at
    its steps so far, this one included (their running mean, kept here in memory: a resumed
    run starts it afresh)."""

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.mean: list[Tensor] = []
        self.count = 0

    def __call__(self, D: nn.Module, real: Tensor, fake: Tensor, y: Optional[Tensor]) -> Tensor:
        params = [p for p in D.parameters() if p.requires_grad]
        with torch.no_grad():
            if not self.mean:
                self.mean = [p.detach().clone() for p in params]
            else:
                for m, p in zip(self.mean, params):
                    m.add_(p.detach() - m, alpha=1 / (self.count + 1))
            self.count += 1
        return self.weight * sum(((p - m) ** 2).sum() for p, m in zip(params, self.mean))


def _zero(fake: Tensor) -> Tensor:
    return fake.new_zeros(())  # no graph: G's gradient comes from the feature-matching term alone


GeneratorLoss = Literal["feature-matching", "minimax", "non-saturating"]


@register_objective("k-plus-one")
def k_plus_one(generator: GeneratorLoss = "feature-matching", unlabelled_weight: float = 1.0,
               real_label: float = 1.0, historical_average: float = 0.0) -> Objective:
    """Salimans et al.'s K+1-class D. ``generator``: feature matching (the MNIST code), the
    minimax loss E log(1 − D(G(z))) (the released minibatch-discrimination code) or the
    non-saturating −E log D(G(z)). ``real_label`` < 1: one-sided label smoothing.
    ``historical_average`` > 0: λ of D's historical-averaging penalty."""
    if historical_average < 0:
        raise ValueError(f"historical_average must be >= 0, got {historical_average}")
    if not 0 < real_label <= 1:
        raise ValueError(f"real_label must be in (0, 1], got {real_label}")
    if generator == "feature-matching":
        g_loss, g_real = _zero, feature_matching
    elif generator == "minimax":
        g_loss, g_real = (lambda fake: -F.softplus(real_logit(fake)).mean()), None
    elif generator == "non-saturating":
        g_loss, g_real = (lambda fake: F.softplus(-real_logit(fake)).mean()), None
    else:
        raise ValueError(f"generator must be feature-matching, minimax or non-saturating, got {generator!r}")
    return Objective(
        "k-plus-one",
        lambda real, fake: unlabelled_weight * unsupervised_loss(real, fake, real_label),
        g_loss,
        supervised=supervised_loss,
        g_real=g_real,
        penalty=HistoricalAverage(historical_average) if historical_average > 0 else None,
        d_probability=False,  # D's outputs are K class logits; logs show their mean
    )
