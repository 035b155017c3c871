"""Improved precision and recall (Kynkäänniemi et al. 2019), ``pr10k``.

Each set of features is a union of balls: around every feature vector, the ball reaching
its k-th nearest neighbour in the same set (k = 3, the paper's choice; the point itself is
not its own neighbour). Precision is the share of generated vectors inside some ball of
the real set (how much of what G draws looks real); recall is the share of real vectors
inside some ball of the generated set (how much of the data G covers).

``pr10k``: Inception pool3 features (as fid10k) of 10,000 generated and the first 10,000
test images. Distances in float64, a batch of rows at a time, so 10k x 10k never sits in
memory at once.
"""
from __future__ import annotations

import torch
from torch import Tensor

from gankit.errors import GankitError
from gankit.metrics.fid import _features_pair
from gankit.metrics.registry import EvalContext, register_metric

K = 3
ROWS = 1024  # rows of the distance matrix computed at once


def _check(f: Tensor, what: str, k: int) -> Tensor:
    f = torch.as_tensor(f, dtype=torch.float64)
    if f.ndim != 2 or f.shape[0] <= k:
        raise GankitError(f"precision/recall: {what} features need shape [n > {k}, d], got {list(f.shape)}")
    return f


def knn_radii(f: Tensor, k: int = K) -> Tensor:
    """Distance from each row of ``f`` to its k-th nearest other row."""
    out = []
    for i in range(0, f.shape[0], ROWS):
        d = torch.cdist(f[i : i + ROWS], f)
        # the k+1-th smallest: the smallest is the row itself, at distance 0
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def coverage(points: Tensor, centres: Tensor, radii: Tensor) -> float:
    """Share of ``points`` within radius ``radii[j]`` of some ``centres[j]``."""
    inside = 0
    for i in range(0, points.shape[0], ROWS):
        d = torch.cdist(points[i : i + ROWS], centres)
        inside += int((d <= radii[None, :]).any(dim=1).sum())
    return inside / points.shape[0]


def precision_recall(real: Tensor, fake: Tensor, k: int = K) -> tuple[float, float]:
    """(precision, recall) of feature sets ``fake`` against ``real`` ([n, d] each)."""
    real, fake = _check(real, "real", k), _check(fake, "generated", k)
    if real.shape[1] != fake.shape[1]:
        raise GankitError(f"precision/recall: feature dimensions differ ({real.shape[1]} vs {fake.shape[1]})")
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    return precision, recall


@register_metric(
    "pr10k",
    "improved precision and recall (k=3, Inception pool3): 10,000 generated vs 10,000 test images",
    {"pr10k_precision": "max", "pr10k_recall": "max"},
)
def pr10k(ctx: EvalContext) -> dict[str, float]:
    real, fake = _features_pair(ctx, 10_000)
    p, r = precision_recall(real, fake)
    return {"pr10k_precision": p, "pr10k_recall": r}
