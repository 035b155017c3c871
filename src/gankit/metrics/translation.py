"""Metrics of image-to-image translation (pix2pix) on paired test data.

For these, ``EvalContext.sample(n)`` returns G's outputs for the first n test inputs, in
order (see :func:`translation_context`), so output i is compared with test target i:

- ``fid1k``: FID (fid.py's protocol) of 1,000 outputs vs the first 1,000 test targets.
  1,000 keeps four models' FIDs within minutes on a CPU; FID's bias grows as n shrinks,
  so compare it only with other fid1k figures.
- ``l1_1k`` / ``l1_10k``: mean absolute per-pixel difference between output and target,
  pixels in [0, 1].
- ``class_acc1k`` / ``class_acc10k``: the shipped classifier of the targets' dataset
  (Fashion-MNIST for edges2fashion) on 1,000 (10,000) outputs: the share classified as
  their target's label; ``class_acc1k_real`` (``class_acc10k_real``) is the same classifier
  on the real targets (its ceiling here).
- ``fid10k`` (fid.py's) compares the outputs for the first 10,000 test inputs with the
  first 10,000 test targets in the same way.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor

from gankit.data.datasets import Dataset
from gankit.data.paired import TARGET_DATASET
from gankit.errors import ConfigError, DataError
from gankit.metrics.classifier import _check_images, predict
from gankit.metrics.fid import _fid_metric
from gankit.metrics.registry import EvalContext, register_metric
from gankit.nets.classifier import load_classifier

SIZES = {"1k": 1_000, "10k": 10_000}


def translation_context(data: Dataset, translate: Callable[[Tensor], Tensor], seed: int = 0, scale: float = 1.0,
                        options: Optional[dict[str, Any]] = None) -> EvalContext:
    """An EvalContext whose samples are ``translate(A)`` for the test inputs A, in order."""
    if data.test.a is None:
        raise ConfigError(f"dataset '{data.name}' has no input images: translation metrics need paired data")
    return EvalContext(sample=lambda n: translate(data.test.a[:n]), data=data, seed=seed, scale=scale, options=dict(options or {}))


def _pairs(ctx: EvalContext, n: int, what: str) -> tuple[Tensor, Tensor]:
    count = ctx.count(n)
    if ctx.data.test.a is None:
        raise ConfigError(f"metric '{what}' needs paired data; dataset '{ctx.data.name}' has none")
    if ctx.data.test.x.shape[0] < count:
        raise DataError(f"{ctx.data.name} test split has {ctx.data.test.x.shape[0]} pairs; {what} needs {count}")
    return ctx.samples(n), ctx.data.test.x[:count]


def _l1_metric(n: int, name: str) -> Callable[[EvalContext], dict[str, float]]:
    def metric(ctx: EvalContext) -> dict[str, float]:
        out, target = _pairs(ctx, n, name)
        return {name: float((out.double() - target.double()).abs().mean())}
    return metric


def _class_acc_metric(n: int, name: str) -> Callable[[EvalContext], dict[str, float]]:
    def metric(ctx: EvalContext) -> dict[str, float]:
        out, target = _pairs(ctx, n, name)
        labels = ctx.data.test.y
        if labels is None:
            raise DataError(f"dataset '{ctx.data.name}' has no class labels for {name}")
        _check_images(out, "outputs")
        model, _ = load_classifier(TARGET_DATASET.get(ctx.data.name, ctx.data.name), ctx.options.get("classifier_path"))
        labels = labels[: out.shape[0]]
        return {
            name: float((predict(model, out) == labels).double().mean()),
            f"{name}_real": float((predict(model, target) == labels).double().mean()),
        }
    return metric


register_metric("fid1k", "FID, TF-FID Inception pool3: 1,000 generated vs the first 1,000 test images (image-to-image: "
                "outputs for the first 1,000 test inputs vs their targets)")(_fid_metric(SIZES["1k"], "fid1k"))
for _tag, _n in SIZES.items():
    register_metric(f"l1_{_tag}", f"image-to-image: mean |output - target| per pixel (pixels in [0, 1]) over the first "
                    f"{_n:,} test pairs")(_l1_metric(_n, f"l1_{_tag}"))
    register_metric(f"class_acc{_tag}", f"image-to-image: the targets' classifier on the outputs for the first {_n:,} test "
                    "inputs: share given their target's label (and the same on the real targets)")(
        _class_acc_metric(_n, f"class_acc{_tag}"))
