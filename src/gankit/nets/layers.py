"""Layers of the paper's nets, written for speed on CPU (same function, same distributions).

- ``Maxout``: a linear map to ``units * pieces`` and the max over each unit's pieces,
  computed batch-last (W x^T): a unit's pieces are then whole contiguous rows, so the max
  and its backward run vectorised instead of striding over 5-element groups (a
  batch-first max and its backward take ~15% of a bf16 training step). Its output is
  the transposed view of that (batch, units) result; parameters are as ``nn.Linear``'s.
- ``Dropout``: inverted dropout whose keep-mask is cut from 64-bit random words, 16 bits
  per unit. torch's CPU ``bernoulli_`` makes one generator call per element; this makes
  one per four elements and is ~4x cheaper per mask at the paper's sizes, where
  ``bernoulli_`` masks take ~12% of a bf16 training step. Keep probabilities are quantised
  to 1/65536 (0.8 becomes 0.800003). The masks come from torch's global generator, so
  seeding and exact resume hold (the stream differs from ``nn.Dropout``'s).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

_WORD_LOW, _WORD_HIGH = -(2**63), 2**63 - 1  # random_ draws from [low, high): all 64 bits


class Maxout(nn.Module):
    """Linear map to ``units * pieces`` then the max over each unit's ``pieces``."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2:
            return self.linear(x).unflatten(-1, (self.units, self.pieces)).amax(dim=-1)
        pre_t = torch.addmm(self.linear.bias.unsqueeze(1), self.linear.weight, x.t())  # (units*pieces, batch)
        return pre_t.view(self.units, self.pieces, x.shape[0]).amax(dim=1).t()


def keep_mask(shape: torch.Size, keep: float, device: torch.device) -> Tensor:
    """Boolean mask, True with probability ``keep`` (to 1/65536), independently per element."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(_WORD_LOW, _WORD_HIGH)
    uniform16 = words.view(torch.int16)[:n].view(shape)  # uniform on [-32768, 32767]
    return uniform16 < round(keep * 65536) - 32768


class Dropout(nn.Module):
    """Inverted dropout (as ``nn.Dropout``: zero with probability ``p``, scale by 1/(1-p)).

    ``at_test`` keeps it on in eval mode too, where dropout is part of a generator's noise.
    """

    def __init__(self, p: float = 0.5, at_test: bool = False) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p, self.at_test = p, at_test

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training or self.at_test) or self.p == 0:
            return x
        keep = 1.0 - self.p
        if x.dim() == 2 and not x.is_contiguous() and x.t().is_contiguous():
            # a batch-last activation (Maxout's output): cut the mask in the same memory
            # order, so the product runs over contiguous memory
            mask = keep_mask(x.t().shape, keep, x.device).t()
        else:
            mask = keep_mask(x.shape, keep, x.device)
        return x * (mask.to(x.dtype) * (1.0 / keep))

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", at_test=True" if self.at_test else "")


class _FlattenChannelsLast(torch.autograd.Function):
    """``x.flatten(1)`` of a channels_last batch whose gradient comes back channels_last."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.shape = x.shape
        return x.flatten(1)  # a copy in (C, H, W) order: the order the next layer's weights expect

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class Flatten(nn.Flatten):
    """``nn.Flatten()`` (from dim 1). For a channels_last input it hands back a channels_last
    gradient: plain flatten's gradient is an NCHW view, and the activation before it (stored
    channels_last) then ran its backward over mixed layouts, ~20x slower than over one."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and x.requires_grad and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            return _FlattenChannelsLast.apply(x)
        return x.flatten(1)
