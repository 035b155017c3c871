"""DCGAN nets (Radford, Metz & Chintala 2015), following the paper's guidelines:

- strided (transposed) convolutions, no pooling; G starts with a projection of z that is
  reshaped into a small feature map ("project and reshape");
- batch norm in G and D except G's output layer and D's input layer;
- ReLU in G with a tanh output (or sigmoid for data kept in [0, 1]); LeakyReLU 0.2 in D;
- weights drawn from N(0, 0.02) (batch-norm scales from N(1, 0.02)).

One pair of classes covers 28x28 (MNIST), 32x32 (CIFAR-10) and 64x64 images: the side is
halved while it is even and larger than 4, which gives 7x7 -> 28, 4x4 -> 32 and 4x4 -> 64.
``width`` is the channel count of the widest-resolution hidden layer; it doubles per
halving (the paper's 64x64 G is width 128 with 4 halvings: 1024 channels at 4x4).

``hidden`` > 0 adds one fully connected layer of that many units (batch norm, then ReLU in
G, LeakyReLU in D) between z and the projection in G and between the last feature map and
the logit in D: with ``width=64, hidden=1024`` on 28x28 these are the InfoGAN MNIST nets that
Lucic et al. (2018) compare GAN losses on. ``hidden=0`` (default) is plain DCGAN.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gankit.nets.layers import Flatten
from gankit.nets.registry import register_net


def dcgan_init(module: nn.Module, std: float = 0.02) -> None:
    """The paper's initialisation: conv/linear weights N(0, std), BN scales N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def halvings(side: int) -> tuple[int, int]:
    """(number of stride-2 layers, base side): halve while even and larger than 4."""
    if side < 4:
        raise ValueError(f"images must be at least 4 pixels high, got {side}")
    n = 0
    while side % 2 == 0 and side > 4:
        side //= 2
        n += 1
    if n == 0:
        raise ValueError(f"image side {side} cannot be reached by stride-2 layers from a >=4 pixel base")
    return n, side


def _check_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be [C, H, W], got {list(image_shape)}")
    c, h, w = (int(v) for v in image_shape)
    if h != w:
        raise ValueError(f"DCGAN nets need square images, got {h}x{w}")
    return c, h, w


@register_net("dcgan")
class DCGANGenerator(nn.Module):
    """z -> linear projection to [width * 2^(n-1), b, b] -> n transposed convs (k4 s2 p1) -> image.

    ``extra_dim`` widens the input for conditional subclasses (label codes concatenated to z).
    """

    def __init__(
        self,
        noise_dim: int = 100,
        image_shape: Sequence[int] = (1, 28, 28),
        width: int = 64,
        output: str = "tanh",
        extra_dim: int = 0,
        init_std: float = 0.02,
        hidden: int = 0,
    ) -> None:
        super().__init__()
        if output not in ("sigmoid", "tanh"):
            raise ValueError(f"output must be 'sigmoid' or 'tanh', got {output!r}")
        if width < 1:
            raise ValueError(f"width must be at least 1, got {width}")
        if hidden < 0:
            raise ValueError(f"hidden must be 0 (no fully connected layer) or positive, got {hidden}")
        c, h, _ = _check_shape(image_shape)
        n, base = halvings(h)
        self.image_shape, self.output, self.base = (c, h, h), output, base
        ch = [width * 2 ** (n - 1 - i) for i in range(n)]  # channels per resolution, widest first
        self.top = ch[0]
        fc: list[nn.Module] = []
        d_in = noise_dim + extra_dim
        if hidden:
            fc += [nn.Linear(d_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(True)]
            d_in = hidden
        fc += [nn.Linear(d_in, ch[0] * base * base, bias=False), nn.BatchNorm1d(ch[0] * base * base), nn.ReLU(True)]
        self.project = nn.Sequential(*fc)
        layers: list[nn.Module] = []
        for a, b in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers.append(nn.ConvTranspose2d(ch[-1], c, 4, 2, 1))  # output layer: no batch norm
        self.body = nn.Sequential(*layers)
        dcgan_init(self, init_std)

    def decode(self, h: Tensor) -> Tensor:
        x = self.body(self.project(h).view(h.shape[0], self.top, self.base, self.base))
        return torch.sigmoid(x) if self.output == "sigmoid" else torch.tanh(x)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.decode(z)


class DCGANFeatures(nn.Module):
    """D's convolutional body: n strided convs (k4 s2 p1), LeakyReLU 0.2, batch norm on all
    but the first (input) layer; returns the flattened last feature map."""

    def __init__(self, in_channels: int, side: int, width: int = 64, slope: float = 0.2) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be at least 1, got {width}")
        n, base = halvings(side)
        layers: list[nn.Module] = []
        a = in_channels
        for i in range(n):
            b = width * 2**i
            layers.append(nn.Conv2d(a, b, 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(slope, True))
            a = b
        self.body = nn.Sequential(*layers, Flatten())
        self.out_features = a * base * base

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


@register_net("dcgan-d")
class DCGANDiscriminator(nn.Module):
    """image -> DCGAN features [-> FC ``hidden``, BN, LeakyReLU] -> one logit (D(x) = sigmoid(logit))."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), width: int = 64, slope: float = 0.2, hidden: int = 0) -> None:
        super().__init__()
        c, h, _ = _check_shape(image_shape)
        if hidden < 0:
            raise ValueError(f"hidden must be 0 (no fully connected layer) or positive, got {hidden}")
        self.features = DCGANFeatures(c, h, width, slope)
        if hidden:
            self.head = nn.Sequential(
                nn.Linear(self.features.out_features, hidden, bias=False),
                nn.BatchNorm1d(hidden),
                nn.LeakyReLU(slope, True),
                nn.Linear(hidden, 1),
            )
        else:
            self.head = nn.Linear(self.features.out_features, 1)
        dcgan_init(self)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.head(self.features(x)).squeeze(1)
