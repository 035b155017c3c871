"""The MNIST nets of Mirza & Osindero (2014), "Conditional Generative Adversarial Nets", §4.1.

Generator (``mirza-mlp-g``): z (100-d, uniform in the unit hypercube) -> 200 ReLU and the
one-hot label y -> 1000 ReLU; the two are concatenated and mapped to a combined 1200 ReLU
layer, then to 784 sigmoid units.
Discriminator (``mirza-maxout-d``): x -> maxout 240 units x 5 pieces and y -> maxout 50 x 5;
the two are concatenated and mapped to a joint maxout layer of 240 units x 4 pieces, then
to one logit (D = sigmoid(logit)).

Dropout with probability 0.5 is applied to both nets (the paper's words); here it follows
every hidden layer, and D's inputs are kept whole (the paper names no input dropout). The
paper gives no initialisation: the weights are uniform in +-0.05 (G) and +-0.005 (D), as
Goodfellow et al.'s released MNIST nets (``paper-mlp``, ``paper-maxout``), biases zero, and
G's output biases start at the data's pixel marginals. ``label_init_range`` gives the label
paths (y -> 1000 ReLU in G, y -> maxout 50x5 in D) a range of their own, and
``test_dropout`` keeps G's dropout on when sampling, as part of its noise.

gankit's uniform noise is centred (``[-scale, scale]``); G adds ``z_offset`` to it, so with
``noise.scale: 0.5`` and the default offset of 0.5 it sees the paper's z in [0, 1]^100.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nets.layers import Dropout, Maxout
from gankit.nets.registry import register_net

__all__ = ["MirzaGenerator", "MirzaDiscriminator"]


def _uniform_init(module: nn.Module, irange: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)


def _labels(y: Optional[Tensor], num_classes: int) -> Tensor:
    if y is None:
        raise ValueError("this conditional net needs a label per example (y is None)")
    return F.one_hot(y.long(), num_classes).float()


def _check(num_classes: int, dropout: float) -> None:
    if num_classes < 1:
        raise ValueError("a conditional net needs class labels: set data.conditional: true on a dataset with labels")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


@register_net("mirza-mlp-g")
class MirzaGenerator(nn.Module):
    """G(z, y): z -> 200 ReLU, y -> 1000 ReLU, concatenated -> 1200 ReLU -> sigmoid image."""

    def __init__(
        self,
        noise_dim: int = 100,
        num_classes: int = 0,
        image_shape: Sequence[int] = (1, 28, 28),
        z_hidden: int = 200,
        y_hidden: int = 1000,
        joint_hidden: int = 1200,
        dropout: float = 0.5,
        z_offset: float = 0.5,
        init_range: float = 0.05,
        label_init_range: Optional[float] = None,
        test_dropout: bool = False,
    ) -> None:
        super().__init__()
        _check(num_classes, dropout)
        self.num_classes, self.image_shape, self.z_offset = num_classes, tuple(image_shape), z_offset
        drop = lambda: Dropout(dropout, at_test=test_dropout)  # noqa: E731
        self.z_path = nn.Sequential(nn.Linear(noise_dim, z_hidden), nn.ReLU(), drop())
        self.y_path = nn.Sequential(nn.Linear(num_classes, y_hidden), nn.ReLU(), drop())
        self.joint = nn.Sequential(nn.Linear(z_hidden + y_hidden, joint_hidden), nn.ReLU(), drop())
        self.out = nn.Linear(joint_hidden, math.prod(self.image_shape))
        _uniform_init(self, init_range)
        if label_init_range is not None:
            _uniform_init(self.y_path, label_init_range)

    @torch.no_grad()
    def init_from_data(self, x: Tensor) -> None:
        """Start the output units at the data's mean pixel (pylearn2's init_sigmoid_bias_from_marginals)."""
        p = x.reshape(x.shape[0], -1).float().mean(0).clamp(1e-3, 1 - 1e-3)
        self.out.bias.copy_(torch.log(p / (1 - p)))

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = torch.cat([self.z_path(z + self.z_offset), self.y_path(_labels(y, self.num_classes).to(z.dtype))], dim=1)
        return torch.sigmoid(self.out(self.joint(h))).view(z.shape[0], *self.image_shape)


@register_net("mirza-maxout-d")
class MirzaDiscriminator(nn.Module):
    """D(x, y): x -> maxout 240x5, y -> maxout 50x5, concatenated -> maxout 240x4 -> logit."""

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 0,
        x_units: int = 240,
        x_pieces: int = 5,
        y_units: int = 50,
        y_pieces: int = 5,
        joint_units: int = 240,
        joint_pieces: int = 4,
        dropout: float = 0.5,
        input_dropout: float = 0.0,
        init_range: float = 0.005,
        label_init_range: Optional[float] = None,
    ) -> None:
        super().__init__()
        _check(num_classes, dropout)
        _check(num_classes, input_dropout)
        self.num_classes = num_classes
        self.x_path = nn.Sequential(nn.Flatten(), Dropout(input_dropout), Maxout(math.prod(image_shape), x_units, x_pieces),
                                    Dropout(dropout))
        self.y_path = nn.Sequential(Maxout(num_classes, y_units, y_pieces), Dropout(dropout))
        self.joint = nn.Sequential(Maxout(x_units + y_units, joint_units, joint_pieces), Dropout(dropout))
        self.out = nn.Linear(joint_units, 1)
        _uniform_init(self, init_range)
        if label_init_range is not None:
            _uniform_init(self.y_path, label_init_range)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = torch.cat([self.x_path(x), self.y_path(_labels(y, self.num_classes).to(x.dtype))], dim=1)
        return self.out(self.joint(h)).squeeze(1)
