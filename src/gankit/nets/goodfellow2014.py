"""The CIFAR-10 and TFD nets of Goodfellow et al. (2014), as the released code
(goodfeli/adversarial) builds them; the MNIST nets are ``paper-mlp`` / ``paper-maxout``.

CIFAR-10 (cifar10_convolutional.yaml):

- ``goodfellow2014-cifar10-g``: noise -> 8000 ReLU -> 8000 sigmoid, read as 80 maps of
  10x10 -> a transposed convolution to 3 maps (kernel 5, stride 3: (10 - 1) * 3 + 5 = 32)
  with one bias per output pixel (the yaml's ``tied_b: 0``); weights uniform in +-0.05.
- ``goodfellow2014-cifar10-d``: three maxout convolution layers (32 x 2 pieces, kernel 8,
  pad 4, pool 4 stride 2; 32 x 2, kernel 8, pad 3, pool 4 stride 2; 192 x 2, kernel 5,
  pad 3, pool 2 stride 2), a maxout layer of 500 units x 5 pieces, one logit out; weights
  uniform in +-0.005; dropout as the MNIST D (inputs kept with probability 0.8, every
  later layer's input with 0.5). Pooling rounds up as cuda-convnet's does, so the maps
  are 33 -> 16, 15 -> 7 and 9 -> 5 (192 x 5 x 5 into the maxout layer).

TFD (tfd_pretrain/pretrain.yaml): ``goodfellow2014-tfd-g``: noise -> 8000 ReLU -> 8000
sigmoid (bias starting at -2) -> 48 x 48 sigmoid, whose units each start with 100 nonzero
N(0, 1) incoming weights (pylearn2's ``sparse_init``) and the data's pixel marginals as
bias; other weights uniform in +-0.05. Its D is ``paper-maxout`` with 1200 units.

TFD's nets limit the norm of every unit's incoming weights to 1.9365 (pylearn2's
``max_col_norm``; ``max_norm`` here, :func:`limit_weight_norms`). The released CIFAR-10
generator has a linear output for globally contrast-normalised data; here the output is
bounded like every gankit generator's (``output``: sigmoid for pixels in [0, 1], tanh for
[-1, 1]).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gankit.nets.layers import Dropout, Maxout
from gankit.nets.registry import register_net

__all__ = ["CifarGenerator", "CifarMaxoutConvDiscriminator", "TFDGenerator", "MaxoutConv", "limit_weight_norms"]


def _uniform_init(module: nn.Module, irange: float) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.uniform_(m.weight, -irange, irange)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def limit_weight_norms(module: nn.Module, max_norm: float) -> None:
    """Keep every unit's incoming weight vector (each row of each ``nn.Linear`` weight, a
    maxout piece's included) at norm at most ``max_norm``, scaling longer ones down to it.

    pylearn2 projects right after each update; here the projection runs before each
    forward pass, so the weights an update produced are projected before anything uses
    them: the same numbers, and nothing to add to the training loop."""
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]

    def project(mod: nn.Module, args: tuple) -> None:
        with torch.no_grad():
            for lin in linears:
                norms = torch.linalg.vector_norm(lin.weight, dim=1, keepdim=True)
                # rows already at the limit (up to rounding) stay untouched, so a second
                # forward pass of one step leaves the weights autograd saved unchanged
                over = norms > max_norm * (1 + 1e-5)
                if over.any():
                    lin.weight.mul_(torch.where(over, max_norm / norms, 1.0))

    module.register_forward_pre_hook(project)


def _squash(h: Tensor, output: str) -> Tensor:
    return torch.sigmoid(h) if output == "sigmoid" else torch.tanh(h)


def _check_output(output: str) -> None:
    if output not in ("sigmoid", "tanh"):
        raise ValueError(f"output must be 'sigmoid' or 'tanh', got {output!r}")


@register_net("goodfellow2014-cifar10-g")
class CifarGenerator(nn.Module):
    def __init__(
        self,
        noise_dim: int = 100,
        hidden: int = 8000,
        maps: int = 80,
        side: int = 10,
        image_shape: Sequence[int] = (3, 32, 32),
        kernel: int = 5,
        stride: int = 3,
        init_range: float = 0.05,
        output: str = "tanh",
    ) -> None:
        super().__init__()
        _check_output(output)
        self.image_shape, self.output = tuple(image_shape), output
        self.maps, self.side = maps, side
        out_side = (side - 1) * stride + kernel
        if tuple(self.image_shape[1:]) != (out_side, out_side):
            raise ValueError(f"{maps} maps of {side}x{side}, kernel {kernel}, stride {stride} give "
                             f"{out_side}x{out_side} images, not {self.image_shape[1]}x{self.image_shape[2]}")
        self.fc = nn.Sequential(nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, maps * side * side), nn.Sigmoid())
        self.deconv = nn.ConvTranspose2d(maps, self.image_shape[0], kernel, stride=stride, bias=False)
        self.bias = nn.Parameter(torch.zeros(self.image_shape))  # untied: one per output pixel
        _uniform_init(self, init_range)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        h = self.fc(z).view(z.shape[0], self.maps, self.side, self.side)
        return _squash(self.deconv(h) + self.bias, self.output)


class MaxoutConv(nn.Module):
    """Convolution to ``channels * pieces`` maps, the max over each channel's ``pieces``
    consecutive maps, then max pooling (rounding the output size up)."""

    def __init__(self, in_channels: int, channels: int, pieces: int, kernel: int, pad: int, pool: int, pool_stride: int) -> None:
        super().__init__()
        self.channels, self.pieces = channels, pieces
        self.conv = nn.Conv2d(in_channels, channels * pieces, kernel, padding=pad)
        self.pool = nn.MaxPool2d(pool, pool_stride, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(x)
        h = h.view(h.shape[0], self.channels, self.pieces, *h.shape[2:]).amax(dim=2)
        return self.pool(h)


@register_net("goodfellow2014-cifar10-d")
class CifarMaxoutConvDiscriminator(nn.Module):
    # (channels, pieces, kernel, pad, pool, pool stride) per layer, as the yaml's dh0, h1, h2
    LAYERS = ((32, 2, 8, 4, 4, 2), (32, 2, 8, 3, 4, 2), (192, 2, 5, 3, 2, 2))

    def __init__(
        self,
        image_shape: Sequence[int] = (3, 32, 32),
        units: int = 500,
        pieces: int = 5,
        input_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
        init_range: float = 0.005,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        mods: list[nn.Module] = [Dropout(input_dropout)]
        for i, (ch, p, k, pad, pool, ps) in enumerate(self.LAYERS):
            if i:
                mods.append(Dropout(hidden_dropout))
            mods.append(MaxoutConv(c, ch, p, k, pad, pool, ps))
            c = ch
            h, w = (math.ceil((s + 2 * pad - k + 1 - pool) / ps) + 1 for s in (h, w))
            if h < 1 or w < 1:
                raise ValueError(f"images of {image_shape[1]}x{image_shape[2]} are too small for layer {i}")
        mods += [nn.Flatten(), Dropout(hidden_dropout), Maxout(c * h * w, units, pieces), Dropout(hidden_dropout),
                 nn.Linear(units, 1)]
        self.net = nn.Sequential(*mods)
        _uniform_init(self, init_range)

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.net(x).squeeze(1)


@register_net("goodfellow2014-tfd-g")
class TFDGenerator(nn.Module):
    def __init__(
        self,
        noise_dim: int = 100,
        hidden: int = 8000,
        image_shape: Sequence[int] = (1, 48, 48),
        init_range: float = 0.05,
        hidden_bias: float = -2.0,
        sparse_init: int = 100,
        max_norm: Optional[float] = None,
        output: str = "sigmoid",
    ) -> None:
        super().__init__()
        _check_output(output)
        if not 1 <= sparse_init <= hidden:
            raise ValueError(f"sparse_init must lie in 1..{hidden}, got {sparse_init}")
        self.image_shape, self.output = tuple(image_shape), output
        self.net = nn.Sequential(
            nn.Linear(noise_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.Sigmoid(),
            nn.Linear(hidden, math.prod(self.image_shape)),
        )
        _uniform_init(self, init_range)
        with torch.no_grad():
            nn.init.constant_(self.net[2].bias, hidden_bias)
            out = self.net[-1].weight  # (pixels, hidden): each row gets sparse_init N(0, 1) weights
            chosen = torch.rand(out.shape).argsort(dim=1)[:, :sparse_init]
            out.zero_().scatter_(1, chosen, torch.randn(out.shape[0], sparse_init))
        if max_norm is not None:
            limit_weight_norms(self, max_norm)

    @torch.no_grad()
    def init_from_data(self, x: Tensor) -> None:
        """Start the output units at the data's mean pixel (pylearn2's init_sigmoid_bias_from_marginals)."""
        mean = x.reshape(x.shape[0], -1).float().mean(0)
        if self.output == "tanh":
            mean = (mean + 1) / 2
        p = mean.clamp(1e-3, 1 - 1e-3)
        bias = torch.log(p / (1 - p))
        self.net[-1].bias.copy_(bias if self.output == "sigmoid" else bias / 2)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return _squash(self.net(z), self.output).view(z.shape[0], *self.image_shape)
