"""Everything training changes, in one object the loop and the checkpoints share."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Optional

import math
import torch
from torch import Tensor, nn

from gankit.data.batches import MinibatchSource
from gankit.objectives.base import Objective
from gankit.training.ema import EMA
from gankit.training.noise import NoiseSampler
from gankit.training.optim import Schedule


def forward_context(precision: str) -> Callable[[], ContextManager[Any]]:
    """The context Algorithm 1 runs G's and D's forward passes in (``train.precision``).

    bf16 is CPU autocast: matmuls/convs in bfloat16 (about 2.5x fp32 matmul throughput on
    AVX-512-bf16 CPUs), weights, gradients, optimiser state and the losses stay fp32."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "bf16":
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    raise ValueError(f"unknown precision {precision!r}")  # the config validator already restricts it


# D's logits on the real and on the generated minibatch:
# (D, x, y, fake, y_fake) -> (logits on x, logits on fake)
DPasses = Callable[[nn.Module, Tensor, Optional[Tensor], Tensor, Optional[Tensor]], tuple[Tensor, Tensor]]


def separate_passes(D: nn.Module, x: Tensor, y: Optional[Tensor], fake: Tensor, y_fake: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """One pass of D over the real minibatch, one over the generated one."""
    return D(x, y), D(fake, y_fake)


def joint_pass(D: nn.Module, x: Tensor, y: Optional[Tensor], fake: Tensor, y_fake: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """The same logits from one pass over both minibatches stacked (2m examples): half the
    calls, larger matrix products (``train.joint_d_batch``). Valid only for a D whose output
    for an example does not depend on the other examples (see ``examples_mixed_by``)."""
    m = x.shape[0]
    both = D(torch.cat([x, fake.to(x.dtype)]), None if y is None else torch.cat([y, y_fake]))
    return both[:m], both[m:]


def examples_mixed_by(D: nn.Module) -> Optional[str]:
    """Why D's output for one example depends on the others in its batch, or None."""
    for name, m in D.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return f"normalises over the batch (batch norm at '{name}')"
    if getattr(D, "pack", 1) != 1:
        return f"packs {D.pack} examples into one input"
    return None


@dataclass
class TrainState:
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Objective
    data: MinibatchSource
    noise: NoiseSampler
    schedule: Schedule
    k: int = 1
    step: int = 0  # generator updates done
    ema: Optional[EMA] = None  # the average of G's weights (train.ema_decay), updated after each G step
    autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext  # see forward_context
    d_passes: DPasses = separate_passes  # how D's step gets its logits (train.joint_d_batch: joint_pass)
