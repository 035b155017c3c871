"""Parzen-window log-likelihood, the estimator of Table 1 in Goodfellow et al. (2014).

An isotropic Gaussian kernel density is fitted to generated samples mu_1..mu_n:

    log p(x) = logmeanexp_i( -||x - mu_i||^2 / (2 sigma^2) ) - d log(sigma sqrt(2 pi))

sigma is picked from logspace(-1, 0, 10) by the mean log-likelihood of validation
examples (the released code used the first 1,000), and the figure is the mean over the
test set +- its standard error (std / sqrt(N)). The paper warns that this estimator has
high variance and works poorly in high dimensions; we also report it with real training
images as the "samples", the ceiling to approach.

Squared distances come from one matrix product per chunk (||x||^2 - 2 x.mu + ||mu||^2,
after centring both sets on the samples' mean to keep the cancellation small) and are
shared across all candidate sigmas; logsumexp is done in float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from gankit.errors import ConfigError
from gankit.metrics.registry import EvalContext, register_metric

DEFAULT_SIGMAS = tuple(float(s) for s in np.logspace(-1, 0, 10))


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1)


def parzen_log_likelihood(x: Tensor, samples: Tensor, sigmas: Sequence[float], chunk: int = 1000) -> Tensor:
    """Per-example log p(x) under the Parzen window of ``samples``, for each sigma: [len(sigmas), N]."""
    x, mu = _flat(x).float(), _flat(samples).float()
    center = mu.mean(0, keepdim=True)
    x, mu = x - center, mu - center
    n, d = mu.shape
    mu_sq = (mu * mu).sum(1)
    sig = torch.tensor(list(sigmas), dtype=torch.float64)
    out = torch.empty(len(sigmas), x.shape[0], dtype=torch.float64)
    log_norm = math.log(n) + d * torch.log(sig * math.sqrt(2 * math.pi))
    for i in range(0, x.shape[0], chunk):
        xb = x[i : i + chunk]
        dist = (xb * xb).sum(1, keepdim=True) - 2 * (xb @ mu.T) + mu_sq  # [b, n]
        dist = dist.clamp_min_(0).double()
        for j, s in enumerate(sigmas):
            out[j, i : i + chunk] = torch.logsumexp(dist * (-0.5 / (s * s)), dim=1)
    return out - log_norm[:, None]


@dataclass
class ParzenResult:
    mean: float
    se: float
    sigma: float
    valid_means: list[float]


def parzen_window(
    samples: Tensor, valid: Tensor, test: Tensor, sigmas: Sequence[float] = DEFAULT_SIGMAS
) -> ParzenResult:
    """Pick sigma on ``valid``, then score ``test``: mean +- standard error, in nats. The
    distances are computed on ``samples``' device."""
    valid, test = valid.to(samples.device), test.to(samples.device)
    valid_ll = parzen_log_likelihood(valid, samples, sigmas).mean(1)
    best = int(torch.argmax(valid_ll))
    ll = parzen_log_likelihood(test, samples, [sigmas[best]])[0]
    se = float(ll.std(unbiased=False) / math.sqrt(ll.shape[0]))
    return ParzenResult(float(ll.mean()), se, float(sigmas[best]), [float(v) for v in valid_ll])


def _valid(ctx: EvalContext) -> Tensor:
    """The validation images sigma is chosen on (option ``parzen_valid``, 1,000 as the released script)."""
    return ctx.data.valid.x[: ctx.count(ctx.options.get("parzen_valid", 1000))]


def _test(ctx: EvalContext) -> Tensor:
    return ctx.data.test.x[: ctx.count(len(ctx.data.test))]


def _parzen_metric(n_samples: int, key: str):
    def fn(ctx: EvalContext) -> dict[str, float]:
        valid, test = _valid(ctx), _test(ctx)
        r = parzen_window(ctx.samples(n_samples).to(ctx.device), valid, test)
        return {f"{key}_mean": r.mean, f"{key}_se": r.se, f"{key}_sigma": r.sigma}

    return fn


register_metric(
    "parzen10k", "Parzen-window log-likelihood of the test set, 10,000 generated samples (Table 1)", {"parzen10k_mean": "max"}
)(
    _parzen_metric(10_000, "parzen10k")
)


@register_metric("parzen10k_train_reference", "The same estimator with 10,000 training images as the samples (the ceiling)")
def train_reference(ctx: EvalContext) -> dict[str, float]:
    n = ctx.count(10_000)
    g = torch.Generator().manual_seed(ctx.seed)
    idx = torch.randperm(len(ctx.data.train), generator=g)[:n]
    valid, test = _valid(ctx), _test(ctx)
    r = parzen_window(ctx.data.train.x[idx].to(ctx.device), valid, test)
    return {"train_reference_mean": r.mean, "train_reference_se": r.se, "train_reference_sigma": r.sigma}


# Conditional models (Mirza & Osindero 2014, Table 1): the window is fitted to 1,000 samples
# of each of the 10 classes, drawn through ``ctx.sample_labels``, then scored as above.


def class_balanced_samples(ctx: EvalContext, n: int, metric: str) -> Tensor:
    """``ctx.count(n)`` samples of a conditional model, the same number of each class (labels 0, 1, ..., K-1, 0, ...)."""
    if ctx.sample_labels is None:
        raise ConfigError(f"metric '{metric}' needs a conditional model (EvalContext.sample_labels is not set)")
    k = ctx.data.num_classes or 10
    labels = torch.arange(ctx.count(n)) % k
    return ctx.sample_labels(labels)


@register_metric(
    "cparzen10k",
    "conditional models: Parzen-window log-likelihood of the test set, 1,000 samples of each of 10 classes "
    "(Mirza & Osindero 2014, Table 1)",
    {"cparzen10k_mean": "max"},
)
def cparzen10k(ctx: EvalContext) -> dict[str, float]:
    valid, test = _valid(ctx), _test(ctx)
    r = parzen_window(class_balanced_samples(ctx, 10_000, "cparzen10k").to(ctx.device), valid, test)
    return {"cparzen10k_mean": r.mean, "cparzen10k_se": r.se, "cparzen10k_sigma": r.sigma}


@register_metric(
    "cparzen10k_valid",
    "conditional models: validation images' mean Parzen log-likelihood at the best sigma, 1,000 samples of each "
    "of 10 classes (a stopping rule that never sees the test set)",
    {"cparzen10k_valid_mean": "max"},
)
def cparzen10k_valid(ctx: EvalContext) -> dict[str, float]:
    # the paper's stopping point is the best validation log-likelihood estimate: the sigma
    # search's own figure, so selecting a step costs no test image
    valid = _valid(ctx)
    samples = class_balanced_samples(ctx, 10_000, "cparzen10k_valid").to(ctx.device)
    means = parzen_log_likelihood(valid.to(ctx.device), samples, DEFAULT_SIGMAS).mean(1)
    best = int(torch.argmax(means))
    return {"cparzen10k_valid_mean": float(means[best]), "cparzen10k_valid_sigma": DEFAULT_SIGMAS[best]}
