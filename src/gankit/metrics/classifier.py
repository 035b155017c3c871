"""Digit-classifier metrics for MNIST and Fashion-MNIST: fast enough to run during training.

The classifier is gankit's own small conv net (``gankit.nets.classifier``), trained on the
dataset's training split and shipped as safetensors (its test accuracy is in the file's
metadata). Generated images must be [N, 1, 28, 28] in [0, 1], as EvalContext promises.

- ``classes10k``: the predicted-class histogram of 10,000 samples. ``classes10k_covered``
  is how many classes get at least 1% of the samples (a tenth of their uniform share), and
  ``classes10k_kl`` is KL(p_hat || uniform) = log K - H(p_hat) in nats: 0 when every class
  is equally frequent, log 10 = 2.30 when all samples are one class (mode collapse).
- ``cfd10k``: the Fréchet distance between Gaussians fitted to the classifier's 128-d
  feature layer on 10,000 samples and on the first 10,000 test images (Inception-free FID).
- ``cacc10k`` (conditional models): 10,000 samples, 1,000 per class, drawn through
  ``EvalContext.sample_labels``; the share classified as the class they were asked for,
  per class (``cacc10k_class3``) and averaged (``cacc10k``).

The ``sample_labels`` hook (set by whoever builds the EvalContext for a conditional model):
``ctx.sample_labels(labels)`` takes int64 labels [n] in 0..K-1 and returns n generated
images [n, C, H, W] in [0, 1], the i-th drawn for ``labels[i]``, in the same order; fresh
noise for each call, seeded from the context's seed. Leave it None for unconditional models.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from gankit.errors import ConfigError, DataError
from gankit.metrics.fid import frechet_distance_features, real_features
from gankit.metrics.registry import EvalContext, register_metric
from gankit.nets.classifier import DigitClassifier, load_classifier

BATCH = 1000


def _classifier(ctx: EvalContext) -> DigitClassifier:
    """The classifier; option ``classifier_path`` overrides the shipped one."""
    return load_classifier(ctx.data.name, ctx.options.get("classifier_path"))[0].to(ctx.device)


def _check_images(x: Tensor, what: str) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise DataError(f"classifier metrics need images [N, 1, 28, 28]; the {what} are {list(x.shape)}")


def _checked(x: Tensor) -> Tensor:
    _check_images(x, "generated images")
    return x


def _predicted(ctx: EvalContext, x: Tensor) -> Tensor:
    """The classifier's classes for generated images ``x``."""
    return predict(_classifier(ctx), _checked(x))


@torch.no_grad()
def predict(model: DigitClassifier, x: Tensor) -> Tensor:
    """Predicted classes [N] (computed on the model's device, returned on the host)."""
    dev = next(model.parameters()).device
    return torch.cat([model(x[i : i + BATCH].to(dev).float()).argmax(1).cpu() for i in range(0, x.shape[0], BATCH)])


@torch.no_grad()
def classifier_features(model: DigitClassifier, x: Tensor) -> Tensor:
    dev = next(model.parameters()).device
    return torch.cat([model.features(x[i : i + BATCH].to(dev).float()).cpu() for i in range(0, x.shape[0], BATCH)])


def class_histogram_stats(pred: Tensor, num_classes: int = 10, min_share: float = 0.01) -> dict[str, float]:
    """Coverage (classes with at least ``min_share`` of the samples) and KL(p_hat || uniform)."""
    counts = torch.bincount(pred, minlength=num_classes).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    entropy = float(-(nz * nz.log()).sum())
    return {"covered": float((p >= min_share).sum()), "kl": math.log(num_classes) - entropy}


@register_metric("classes10k", "digit-classifier class histogram of 10,000 samples: classes covered (>=1%), KL to uniform (nats)")
def classes10k(ctx: EvalContext) -> dict[str, float]:
    s = class_histogram_stats(ctx.map_samples(10_000, lambda x: _predicted(ctx, x)))
    return {"classes10k_covered": s["covered"], "classes10k_kl": s["kl"]}


class ClassifierFD:
    """The classifier's Fréchet distance (cfd): generated images against fixed real images
    in the digit classifier's 128-d features. The real features are cached on disk under a
    key from the weights' hash, so retrained weights never reuse stale ones."""

    def __init__(self, dataset: str, real: Tensor, classifier_path: Optional[str] = None, device: torch.device | str = "cpu") -> None:
        self.model, meta = load_classifier(dataset, classifier_path)
        self.model.to(device)
        self.real_f = real_features(self.features, f"classifier-{meta['sha256'][:16]}", dataset, "test", real)

    def features(self, x: Tensor) -> Tensor:
        return classifier_features(self.model, x)

    def __call__(self, fake: Tensor) -> float:
        return self.distance(self.features(fake))

    def distance(self, fake_features: Tensor) -> float:
        return frechet_distance_features(fake_features, self.real_f)


@register_metric(
    "cfd10k", "Fréchet distance in the digit classifier's 128-d features: 10,000 samples vs 10,000 test images", {"cfd10k": "min"}
)
def cfd10k(ctx: EvalContext) -> dict[str, float]:
    n = ctx.count(10_000)
    real = ctx.data.test.x
    if real.shape[0] < n:
        raise DataError(f"{ctx.data.name} test split has {real.shape[0]} images; cfd10k needs {n}")
    fd = ClassifierFD(ctx.data.name, real[:n], ctx.options.get("classifier_path"), ctx.device)
    return {"cfd10k": fd.distance(ctx.map_samples(10_000, lambda x: fd.features(_checked(x))))}


@register_metric("cacc10k", "conditional models: share of 10,000 samples (1,000 per class) classified as their label, per class")
def cacc10k(ctx: EvalContext) -> dict[str, float]:
    if ctx.sample_labels is None:
        raise ConfigError("metric 'cacc10k' needs a conditional model (EvalContext.sample_labels is not set)")
    k = ctx.data.num_classes or 10
    n = ctx.count(10_000)
    labels = torch.arange(n) % k
    pred = ctx.map_labelled(labels, lambda x: _predicted(ctx, x))
    if pred.shape[0] != n:
        raise DataError(f"sample_labels returned {pred.shape[0]} images for {n} labels")
    hit = (pred == labels).double()
    out = {f"cacc10k_class{c}": float(hit[labels == c].mean()) for c in range(k) if (labels == c).any()}
    out["cacc10k"] = float(hit.mean())
    return out
