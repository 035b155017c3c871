"""Label-conditioned nets: G(z, y) and D(x, y) for ``data.conditional: true``.

- ``cdcgan`` (G): the label's code is concatenated to z before DCGAN's projection, as in
  Mirza & Osindero (2014); the code is the one-hot vector (``label_code: onehot``, their
  choice) or a learned embedding (``label_code: embedding``).
- ``cdcgan-d`` (D, concatenation): the one-hot label enters as K constant planes stacked
  onto the image channels, so every convolution sees it.
- ``dcgan-projection`` (D, projection; Miyato & Koyama 2018): logit = psi(phi(x)) +
  <embed(y), phi(x)>, the form that follows from D being a log density ratio of
  conditionals; phi is DCGAN's convolutional body.

Every conditional net needs ``num_classes`` >= 1, which the trainer fills in from the
dataset when ``data.conditional`` is true.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nets.dcgan import DCGANFeatures, DCGANGenerator, _check_shape, dcgan_init
from gankit.nets.registry import register_net


def _need_classes(num_classes: int) -> None:
    if num_classes < 1:
        raise ValueError("a conditional net needs class labels: set data.conditional: true on a dataset with labels")


def _need_labels(y: Optional[Tensor], num_classes: int) -> Tensor:
    if y is None:
        raise ValueError("this conditional net needs a label per example (y is None)")
    if y.dtype != torch.long:
        y = y.long()
    return y


class LabelCode(nn.Module):
    """Label -> vector: one-hot (fixed) or a learned embedding."""

    def __init__(self, num_classes: int, kind: str = "onehot", dim: Optional[int] = None) -> None:
        super().__init__()
        if kind not in ("onehot", "embedding"):
            raise ValueError(f"label_code must be 'onehot' or 'embedding', got {kind!r}")
        self.num_classes, self.kind = num_classes, kind
        self.dim = num_classes if kind == "onehot" else int(dim or num_classes)
        self.embed = nn.Embedding(num_classes, self.dim) if kind == "embedding" else None

    def forward(self, y: Tensor) -> Tensor:
        if self.embed is not None:
            return self.embed(y)
        return F.one_hot(y, self.num_classes).float()


@register_net("cdcgan")
class ConditionalDCGANGenerator(DCGANGenerator):
    """DCGAN generator on [z, code(y)]."""

    def __init__(
        self,
        noise_dim: int = 100,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        width: int = 64,
        output: str = "tanh",
        label_code: str = "onehot",
        label_dim: Optional[int] = None,
        init_std: float = 0.02,
    ) -> None:
        _need_classes(num_classes)
        code = LabelCode(num_classes, label_code, label_dim)
        super().__init__(noise_dim, image_shape, width, output, extra_dim=code.dim, init_std=init_std)
        self.num_classes = num_classes
        self.code = code
        dcgan_init(self.code, init_std)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        y = _need_labels(y, self.num_classes)
        return self.decode(torch.cat([z, self.code(y)], dim=1))


@register_net("cdcgan-d")
class ConcatDCGANDiscriminator(nn.Module):
    """DCGAN discriminator whose input is the image with K one-hot label planes stacked on."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), num_classes: int = 0, width: int = 64, slope: float = 0.2) -> None:
        super().__init__()
        _need_classes(num_classes)
        c, h, _ = _check_shape(image_shape)
        self.num_classes = num_classes
        self.features = DCGANFeatures(c + num_classes, h, width, slope)
        self.head = nn.Linear(self.features.out_features, 1)
        dcgan_init(self)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        y = _need_labels(y, self.num_classes)
        planes = F.one_hot(y, self.num_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.head(self.features(torch.cat([x, planes], dim=1))).squeeze(1)


@register_net("dcgan-projection")
class ProjectionDCGANDiscriminator(nn.Module):
    """logit(x, y) = w . phi(x) + b + embed(y) . phi(x)  (projection discriminator)."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), num_classes: int = 0, width: int = 64, slope: float = 0.2) -> None:
        super().__init__()
        _need_classes(num_classes)
        c, h, _ = _check_shape(image_shape)
        self.num_classes = num_classes
        self.features = DCGANFeatures(c, h, width, slope)
        self.head = nn.Linear(self.features.out_features, 1)
        self.embed = nn.Embedding(num_classes, self.features.out_features)
        dcgan_init(self)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        y = _need_labels(y, self.num_classes)
        phi = self.features(x)
        return self.head(phi).squeeze(1) + (self.embed(y) * phi).sum(1)
