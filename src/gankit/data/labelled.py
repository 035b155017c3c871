"""The semi-supervised protocol's labelled draw: a few labelled examples per class, the rest unlabelled.

Which examples keep their labels depends on the seed alone (a torch generator of its own),
so the same seed gives the same draw on any machine and in any run of the same data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gankit.errors import ConfigError


@dataclass(frozen=True)
class LabelledDraw:
    """Indices into the training split: ``labelled`` (class by class, ``per_class`` each) and the rest."""

    labelled: Tensor  # int64 [per_class * classes]
    unlabelled: Tensor  # int64, ascending


def draw_labelled(y: Tensor, per_class: int, seed: int, num_classes: int) -> LabelledDraw:
    """``per_class`` examples of every class, chosen uniformly at random by ``seed``."""
    if y is None:
        raise ConfigError("field 'data.labels_per_class': the dataset has no class labels")
    order = torch.randperm(y.shape[0], generator=torch.Generator().manual_seed(seed))
    chosen = []
    for k in range(num_classes):
        of_k = order[y[order] == k]
        if of_k.shape[0] < per_class:
            raise ConfigError(f"field 'data.labels_per_class': class {k} has {of_k.shape[0]} training examples, "
                              f"fewer than the {per_class} asked for")
        chosen.append(of_k[:per_class])
    labelled = torch.cat(chosen)
    keep = torch.ones(y.shape[0], dtype=torch.bool)
    keep[labelled] = False
    return LabelledDraw(labelled, keep.nonzero().squeeze(1))
