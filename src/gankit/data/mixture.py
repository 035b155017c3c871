"""``mixture-1d``: the two-component Gaussian mixture of f-GAN's 1-D experiment
(``gankit reproduce fgan-gaussian``): p = 0.6 N(-1, 0.6²) + 0.4 N(1.5, 0.9²).

Two overlapping, unequal components, so that every f-divergence has one best Gaussian and
the divergences disagree about where it is. Unlike the other datasets the points are stored
in the mixture's own coordinates, not mapped into [0, 1]: the model is x = mu + sigma z on
the real line, so its parameters are compared with the direct minimiser as they are (use
``pixel_range: unit``, which hands the nets the stored values unchanged).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from gankit.data.datasets import Dataset, Split, register_dataset

# (weight, mean, standard deviation) of each component
MIXTURE = ((0.6, -1.0, 0.6), (0.4, 1.5, 0.9))
TRAIN, VALID, TEST = 200_000, 1_000, 1_000
SEED = 7  # the points are the same on every machine


def mixture_log_pdf(x: np.ndarray, mixture=MIXTURE) -> np.ndarray:
    comps = [np.log(w) - 0.5 * ((x - m) / s) ** 2 - np.log(s * math.sqrt(2 * math.pi)) for w, m, s in mixture]
    return np.logaddexp.reduce(np.stack(comps), axis=0)


def sample_mixture(n: int, seed: int, mixture=MIXTURE) -> Tensor:
    """n points [n, 1] (float32): a component by weight, then its Gaussian."""
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor([c[0] for c in mixture])
    k = torch.multinomial(w, n, replacement=True, generator=g)
    m = torch.tensor([c[1] for c in mixture])[k]
    s = torch.tensor([c[2] for c in mixture])[k]
    return (m + s * torch.randn(n, generator=g)).reshape(n, 1)


@register_dataset("mixture-1d")
def load(root: Optional[str] = None, download: bool = True) -> Dataset:
    # synthetic: root and download do not apply
    train = sample_mixture(TRAIN, SEED)
    valid, test = sample_mixture(VALID, SEED + 1), sample_mixture(TEST, SEED + 2)
    return Dataset("mixture-1d", Split(train), Split(valid), Split(test), source=f"sampled mixture-1d (seed {SEED})")
