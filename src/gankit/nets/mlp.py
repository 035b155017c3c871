"""The MNIST nets of Goodfellow et al. (2014), as in the released code (mnist.yaml).

Generator: noise enters only at the bottom layer -> 1200 ReLU -> 1200 ReLU -> sigmoid
output, weights uniform in +-0.05, output bias set from the data's pixel marginals.
Discriminator: two maxout layers (240 units x 5 pieces) with dropout (inputs kept with
probability 0.8, hidden units with 0.5), weights uniform in +-0.005, one logit out.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gankit.nets.goodfellow2014 import limit_weight_norms
from gankit.nets.layers import Dropout, Maxout
from gankit.nets.registry import register_net

__all__ = ["Maxout", "PaperGenerator", "MaxoutDiscriminator"]


def _uniform_init(module: nn.Module, irange: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -irange, irange)
            nn.init.zeros_(m.bias)


@register_net("paper-mlp")
class PaperGenerator(nn.Module):
    def __init__(
        self,
        noise_dim: int = 100,
        hidden: Sequence[int] = (1200, 1200),
        image_shape: Sequence[int] = (1, 28, 28),
        init_range: float = 0.05,
        output: str = "sigmoid",
        marginal_clip: float = 1e-3,
    ) -> None:
        super().__init__()
        if output not in ("sigmoid", "tanh"):
            raise ValueError(f"output must be 'sigmoid' or 'tanh', got {output!r}")
        if not 0 < marginal_clip < 0.5:
            raise ValueError(f"marginal_clip must lie in (0, 0.5), got {marginal_clip}")
        self.marginal_clip = marginal_clip
        self.image_shape = tuple(image_shape)
        self.output = output
        dims = [noise_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], math.prod(self.image_shape)))
        self.net = nn.Sequential(*layers)
        _uniform_init(self, init_range)

    @torch.no_grad()
    def init_from_data(self, x: Tensor) -> None:
        """Start the output units at the data's mean pixel, clipped to [marginal_clip, 1 -
        marginal_clip] (pylearn2's init_sigmoid_bias_from_marginals clips to 1e-7, the
        released code's setting; the default 1e-3 is the one the other presets were
        measured with)."""
        mean = x.reshape(x.shape[0], -1).float().mean(0)
        if self.output == "tanh":
            mean = (mean + 1) / 2
        p = mean.clamp(self.marginal_clip, 1 - self.marginal_clip)
        bias = torch.log(p / (1 - p))
        self.net[-1].bias.copy_(bias if self.output == "sigmoid" else bias / 2)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = self.net(z)
        out = torch.sigmoid(h) if self.output == "sigmoid" else torch.tanh(h)
        return out.view(z.shape[0], *self.image_shape)


@register_net("paper-maxout")
class MaxoutDiscriminator(nn.Module):
    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        units: int = 240,
        pieces: int = 5,
        layers: int = 2,
        input_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
        init_range: float = 0.005,
        max_norm: Optional[float] = None,  # limit on each unit's incoming weight norm (the TFD yaml's)
    ) -> None:
        super().__init__()
        for name, p in (("input_dropout", input_dropout), ("hidden_dropout", hidden_dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {p}")
        if layers < 1 or units < 1 or pieces < 1:
            raise ValueError("layers, units and pieces must be at least 1")
        mods: list[nn.Module] = [nn.Flatten(), Dropout(input_dropout)]
        width = math.prod(image_shape)
        for i in range(layers):
            mods.append(Maxout(width, units, pieces))
            mods.append(Dropout(hidden_dropout))
            width = units
        mods.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*mods)
        _uniform_init(self, init_range)
        if max_norm is not None:
            limit_weight_norms(self, max_norm)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.net(x).squeeze(1)
