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


def _parzen_metric(n_samples: int, key: str):
    def fn(ctx: EvalContext) -> dict[str, float]:
        n_valid = ctx.options.get("parzen_valid", 1000)
        valid = ctx.data.valid.x[: ctx.count(n_valid)]
        test = ctx.data.test.x[: ctx.count(len(ctx.data.test))]
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
    valid = ctx.data.valid.x[: ctx.count(ctx.options.get("parzen_valid", 1000))]
    test = ctx.data.test.x[: ctx.count(len(ctx.data.test))]
    r = parzen_window(ctx.data.train.x[idx].to(ctx.device), valid, test)
    return {"train_reference_mean": r.mean, "train_reference_se": r.se, "train_reference_sigma": r.sigma}
