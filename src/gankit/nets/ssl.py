"""The permutation-invariant MNIST nets of Salimans et al. (2016), for semi-supervised GANs.

D (``ssl-mlp-d``) is a K-class classifier: 784-1000-500-250-250-250-K, ReLU, weight
normalisation with data-dependent initialisation (each unit's pre-activation starts with
zero mean and unit variance over the first 500 training examples, as the released code),
Gaussian noise on the input (std 0.3) and after every hidden layer (std 0.5) while
training. It returns the K class logits [m, K]; objectives read them (the K+1-class
objective, CatGAN). Optionally a minibatch-discrimination layer sits before the output
(``minibatch_kernels`` > 0).

G (``ssl-mlp``) is 100-500-500-784: softplus with batch norm (no learned scale, as the
released code; ``bn_scale: true`` learns one, as Dai et al.'s 2017 code for the same nets),
then a weight-normalised sigmoid output layer.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.nets.registry import register_net


class WeightNormLinear(nn.Module):
    """y = x (g * v / ‖v‖)ᵀ + b, one norm per output unit. The released code's hidden layers
    keep g fixed after the data-dependent start (``train_scale=False``); its output layer learns it."""

    def __init__(self, in_features: int, out_features: int, train_scale: bool = False, data_init: bool = True,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.randn(out_features, in_features) * init_std)
        scale = torch.ones(out_features)
        if train_scale:
            self.g = nn.Parameter(scale)
        else:
            self.register_buffer("g", scale)
        self.b = nn.Parameter(torch.zeros(out_features))
        # 1 once the data-dependent start is done (a buffer: checkpoints keep it): on the first
        # training-mode pass (SemiSupervisedDiscriminator.init_from_data makes it a real one).
        self.register_buffer("initialised", torch.tensor(0 if data_init else 1, dtype=torch.uint8))

    def weight(self) -> Tensor:
        return self.v * (self.g / self.v.norm(dim=1)).unsqueeze(1)

    def _pre(self, x: Tensor) -> Tensor:
        # (x vᵀ) scaled per unit: the same as x Wᵀ without materialising W each call
        return (x @ self.v.t()) * (self.g / self.v.norm(dim=1))

    def forward(self, x: Tensor) -> Tensor:
        pre = self._pre(x)
        if self.training and not bool(self.initialised):
            with torch.no_grad():  # unit mean 0, variance 1 on this first training batch
                mean, std = pre.mean(0), pre.std(0, unbiased=False).clamp_min(1e-6)
                self.g.div_(std)
                self.b.copy_(-mean / std)
                self.initialised.fill_(1)
            pre = self._pre(x)
        return pre + self.b


class GaussianNoise(nn.Module):
    """x + N(0, σ²) while training; the identity in eval mode (classification, test error)."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016) §3.2: M_i = f(x_i) T ∈ R^{B×C}; c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_L1);
    o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j) (+ a bias per kernel). Returns [f(x_i), o(x_i)].

    T is weight-normalised per (kernel, dimension) as in the released code; on the first
    training batch the scale is set so the mean nearest-neighbour L1 distance is 2 and the
    bias so o has zero mean (the released code's data-dependent start)."""

    def __init__(self, in_features: int, kernels: int = 100, dim: int = 5, data_init: bool = True) -> None:
        super().__init__()
        self.kernels, self.dim = kernels, dim
        self.theta = nn.Parameter(torch.randn(in_features, kernels, dim) * 0.05)
        self.log_scale = nn.Parameter(torch.zeros(kernels, dim))
        self.b = nn.Parameter(torch.full((kernels,), -1.0))
        self.register_buffer("initialised", torch.tensor(0 if data_init else 1, dtype=torch.uint8))

    def tensor(self) -> Tensor:
        """T [in, B, C]."""
        return self.theta * (self.log_scale.exp() / self.theta.norm(dim=0)).unsqueeze(0)

    def distances(self, f: Tensor) -> Tensor:
        """L1 distances [m, B, m] between the rows M_{i,b} and M_{j,b}."""
        M = torch.einsum("ni,ibc->nbc", f, self.tensor()).transpose(0, 1)  # [B, m, C]
        # torch's L1 cdist, one m x m matrix per kernel: forward and backward 1.9x faster than
        # broadcasting the [m, B, C, m] differences (batch 100, 100 kernels, 2 threads), the
        # same to float rounding
        return torch.cdist(M, M, p=1).permute(1, 0, 2)

    def forward(self, f: Tensor) -> Tensor:
        # fp32 under autocast too: M in bf16 would put errors of ~1% into each exp(-distance)
        with torch.autocast(f.device.type, enabled=False):
            return self._forward(f.float())

    def _forward(self, f: Tensor) -> Tensor:
        d = self.distances(f)
        if self.training and not bool(self.initialised):
            with torch.no_grad():
                eye = torch.eye(f.shape[0], device=f.device, dtype=d.dtype).unsqueeze(1) * 1e6
                half_min = 0.5 * (d + eye).amin(2).mean(0)  # per kernel
                self.log_scale.sub_(half_min.clamp_min(1e-12).log().unsqueeze(1))
                o0 = (torch.exp(-self.distances(f)).sum(2) - 1).mean(0)
                self.b.copy_(-o0)
                self.initialised.fill_(1)
            d = self.distances(f)
        o = torch.exp(-d).sum(2) - 1  # the j = i term is exp(0) = 1
        return torch.cat([f, o + self.b], dim=1)


@register_net("ssl-mlp-d")
class SemiSupervisedDiscriminator(nn.Module):
    """K class logits [m, K]; ``features(x)`` is the layer feature matching compares (the
    last hidden layer's ReLU output, before its noise: the released code's ``layers[-3]``)."""

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        hidden: Sequence[int] = (1000, 500, 250, 250, 250),
        classes: int = 10,
        input_noise: float = 0.3,
        hidden_noise: float = 0.5,
        minibatch_kernels: int = 0,
        minibatch_dim: int = 5,
    ) -> None:
        super().__init__()
        self.classes = classes
        dims = [math.prod(image_shape), *hidden]
        self.input_noise = GaussianNoise(input_noise)
        self.hidden = nn.ModuleList(WeightNormLinear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.noise = nn.ModuleList(GaussianNoise(hidden_noise) for _ in hidden)
        self.minibatch: Optional[MinibatchDiscrimination] = (
            MinibatchDiscrimination(dims[-1], minibatch_kernels, minibatch_dim) if minibatch_kernels else None)
        width = dims[-1] + (minibatch_kernels if minibatch_kernels else 0)
        self.out = WeightNormLinear(width, classes, train_scale=True)

    @property
    def mixes_examples(self) -> bool:
        return self.minibatch is not None

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer's ReLU output, before its noise."""
        h = self.input_noise(x.reshape(x.shape[0], -1))
        for i, layer in enumerate(self.hidden):
            if i:
                h = self.noise[i - 1](h)
            h = F.relu(layer(h))
        return h

    def logits_and_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(the K class logits, ``features``) from one pass: feature matching's G step needs both."""
        f = self.features(x)
        h = self.noise[-1](f)
        if self.minibatch is not None:
            h = self.minibatch(h)
        return self.out(h), f

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.logits_and_features(x)[0]

    @torch.no_grad()
    def init_from_data(self, x: Tensor, n: int = 500) -> None:
        """The data-dependent start of every weight-normalised layer from one training-mode pass
        over the first ``n`` training examples, as the released code's ``init_param(trainx[:500])``.
        Run before training, so the start does not depend on how the training step batches D's passes."""
        was_training = self.training
        self.train()
        self(x[:n])
        self.train(was_training)


@register_net("ssl-mlp")
class SemiSupervisedGenerator(nn.Module):
    def __init__(
        self,
        noise_dim: int = 100,
        hidden: Sequence[int] = (500, 500),
        image_shape: Sequence[int] = (1, 28, 28),
        bn_scale: bool = False,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        dims = [noise_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            linear = nn.Linear(a, b, bias=False)  # batch norm's shift is the bias
            nn.init.xavier_uniform_(linear.weight)  # lasagne's GlorotUniform
            layers += [linear, nn.BatchNorm1d(b, momentum=0.1, eps=1e-6), nn.Softplus()]
        self.body = nn.Sequential(*layers)
        for m in self.body:
            if isinstance(m, nn.BatchNorm1d):
                m.weight.requires_grad_(bn_scale)  # a learned scale only if asked: the released code has none (g=None)
        self.out = WeightNormLinear(dims[-1], math.prod(self.image_shape), train_scale=True, data_init=False)
        nn.init.xavier_uniform_(self.out.v)

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return torch.sigmoid(self.out(self.body(z))).view(z.shape[0], *self.image_shape)
