"""Small MLPs for low-dimensional data (points [N, d], not images).

``toy-mlp`` (G): z -> hidden layers -> a linear output shaped like the data. Linear,
because toy data are coordinates; the sampler's clamp to [0, 1] only matters outside the
data's box. ``batch_norm: true`` gives PacGAN's generator (4 x 400 ReLU + BN).

``toy-mlp-d`` (D): ``pack`` consecutive examples are concatenated into one input and get
one logit (PacGAN, Lin et al. 2018): D judges p samples at a time, which penalises a G
that drops modes. The minibatch size must be a multiple of ``pack``. ``pieces > 1`` makes
the hidden units maxout units (PacGAN's D: 200 units x 5 pieces).

``scale`` (each net its own): the net works in data units multiplied by ``scale`` (D
multiplies its input, G divides its output). Toy modes are narrow (σ 0.12 for Figure 1's
Gaussian, 0.01 on the ring): at unit scale D's first-layer weights must grow to ~1/σ before
D can resolve a mode's width, which takes Adam many thousands of steps; a D scale that makes
σ larger in D's units shortens that wait (Figure 1 uses 5; docs/results/theory-toy.md has
the short trials behind it). It changes no function the net can express, only how fast
Adam reaches it.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

from torch import Tensor, nn

from gankit.nets.layers import Maxout
from gankit.nets.registry import register_net

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


@register_net("toy-mlp")
class ToyGenerator(nn.Module):
    def __init__(
        self,
        noise_dim: int = 2,
        image_shape: Sequence[int] = (2,),
        hidden: Sequence[int] = (128, 128, 128),
        activation: str = "relu",
        batch_norm: bool = False,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale
        self.image_shape = tuple(int(v) for v in image_shape)
        dims = [noise_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers.append(nn.Linear(a, b))
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(_activation(activation))
        layers.append(nn.Linear(dims[-1], math.prod(self.image_shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return (self.net(z) / self.scale).view(z.shape[0], *self.image_shape)


@register_net("toy-mlp-d")
class ToyDiscriminator(nn.Module):
    def __init__(
        self,
        image_shape: Sequence[int] = (2,),
        hidden: Sequence[int] = (128, 128, 128),
        activation: str = "relu",
        pieces: int = 1,
        pack: int = 1,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        if pack < 1 or pieces < 1:
            raise ValueError("pack and pieces must be at least 1")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.pack, self.scale = pack, scale
        width = math.prod(image_shape) * pack
        layers: list[nn.Module] = []
        for h in hidden:
            if pieces > 1:
                layers.append(Maxout(width, h, pieces))
            else:
                layers += [nn.Linear(width, h), _activation(activation)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"toy-mlp-d with pack={self.pack} needs a batch that is a multiple of {self.pack}, got {n}")
        # consecutive examples form one packed input; the sources are shuffled, so packs are random
        return self.net(x.reshape(n // self.pack, -1) * self.scale).squeeze(1)
