"""Everything training changes, in one object the loop and the checkpoints share."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Optional, Protocol

import math
import torch
from torch import Tensor, nn

from gankit.data.batches import MinibatchSource
from gankit.objectives.base import Objective
from gankit.training.critic_warmup import CriticWarmup, critic_steps
from gankit.training.ema import EMA
from gankit.training.noise import NoiseSampler
from gankit.training.optim import Schedule
from gankit.training.parallel import Shard


def forward_context(precision: str, device_type: str = "cpu") -> Callable[[], ContextManager[Any]]:
    """The context Algorithm 1 runs G's and D's forward passes in (``train.precision``).

    bf16 is autocast on the CPU or CUDA: matmuls/convs in bfloat16 (about 2.5x fp32 matmul
    throughput on AVX-512-bf16 CPUs, tensor cores on GPUs); weights, gradients, optimiser
    state and the losses stay fp32. fp16 is CUDA autocast, with a loss scaler (TrainState's
    ``scaler_d``/``scaler_g``) that keeps small gradients from underflowing."""
    if precision == "fp32":
        return contextlib.nullcontext
    if precision == "bf16":
        return lambda: torch.autocast(device_type, dtype=torch.bfloat16)
    if precision == "fp16":
        return lambda: torch.autocast(device_type, dtype=torch.float16)
    raise ValueError(f"unknown precision {precision!r}")  # the config validator already restricts it


def optimiser_step(
    loss: Tensor, net: nn.Module, opt: torch.optim.Optimizer, scaler: Optional[torch.amp.GradScaler], shard: Shard
) -> None:
    """One update of ``net`` descending ``loss``: gradients (loss-scaled under fp16),
    averaged over the processes of a data-parallel job, then the optimiser's step."""
    opt.zero_grad(set_to_none=True)
    (loss if scaler is None else scaler.scale(loss)).backward()
    shard.average_gradients(net)  # before the scaler's inf check, so every process skips or takes the same step
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)
        scaler.update()


# D's logits on the real minibatch, on the generated one and, in a semi-supervised run, on
# the labelled one: (D, x, y, fake, y_fake, labelled x or None) -> (on x, on fake, on labelled or None)
DPasses = Callable[[nn.Module, Tensor, Optional[Tensor], Tensor, Optional[Tensor], Optional[Tensor]],
                   tuple[Tensor, Tensor, Optional[Tensor]]]


def separate_passes(D: nn.Module, x: Tensor, y: Optional[Tensor], fake: Tensor, y_fake: Optional[Tensor],
                    labelled: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """One pass of D over each minibatch."""
    return D(x, y), D(fake, y_fake), None if labelled is None else D(labelled)


def joint_pass(D: nn.Module, x: Tensor, y: Optional[Tensor], fake: Tensor, y_fake: Optional[Tensor],
               labelled: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Optional[Tensor]]:
    """The same logits from one pass over the minibatches stacked: a third or half the calls,
    larger matrix products (``train.joint_d_batch``). Valid only for a D whose output for an
    example does not depend on the other examples (see ``examples_mixed_by``)."""
    parts = [x, fake.to(x.dtype)] + ([] if labelled is None else [labelled.to(x.dtype)])
    # a semi-supervised D is unconditional (y is None); a conditional D takes no labelled minibatch
    logits = D(torch.cat(parts), None if y is None else torch.cat([y, y_fake])).split([len(p) for p in parts])
    return logits[0], logits[1], logits[2] if labelled is not None else None


def examples_mixed_by(D: nn.Module) -> Optional[str]:
    """Why D's output for one example depends on the others in its batch, or None."""
    for name, m in D.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return f"normalises over the batch (batch norm at '{name}')"
    if getattr(D, "mixes_examples", False):
        return "compares each example with the others in its batch (minibatch discrimination)"
    if getattr(D, "pack", 1) != 1:
        return f"packs {D.pack} examples into one input"
    if getattr(D, "logits_per_example", 1) != 1:
        return f"returns {D.logits_per_example} logits per example (one per patch)"
    return None


@dataclass
class Conditions:
    """What G is conditioned on for one minibatch, and what it should then produce."""

    y: Optional[Tensor]  # class labels [m], input images A [m, C, H, W], or None (unconditional)
    target: Optional[Tensor] = None  # paired data: the real output B for each input (reconstruction terms)
    labelled: Optional[tuple[Tensor, Tensor]] = None  # semi-supervised: a labelled real minibatch (x, y) for D


class ConditionSource(Protocol):
    """Draws z and the conditions for m generated examples; its state is checkpointed."""

    def sample(self, m: int) -> tuple[Tensor, Conditions]: ...
    def fixed(self, n: int) -> Optional[Conditions]: ...  # the same n conditions every call (sample grids), or None
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class NoiseLabels:
    """Unconditional and class-conditional runs: z and random labels (if any) from p_z."""

    def __init__(self, noise: NoiseSampler) -> None:
        self.noise = noise

    def sample(self, m: int) -> tuple[Tensor, Conditions]:
        z, y = self.noise.sample(m)
        return z, Conditions(y)

    def fixed(self, n: int) -> Optional[Conditions]:
        return None  # grids pick their own labels (one class per column)

    def state_dict(self) -> dict[str, Any]:
        return {}  # everything it draws comes from the noise sampler, checkpointed on its own

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class PairedMinibatches:
    """Image-to-image runs: z from p_z (nets may ignore it), inputs A and their targets B
    from a shuffled minibatch of real pairs (a source over x = A, y = B)."""

    def __init__(self, noise: NoiseSampler, pairs: MinibatchSource) -> None:
        self.noise, self.pairs = noise, pairs

    def sample(self, m: int) -> tuple[Tensor, Conditions]:
        z, _ = self.noise.sample(m)
        a, b = self.pairs.next()
        if a.shape[0] != z.shape[0]:  # both are this process's slice of the global m
            raise ValueError(f"paired minibatches hold {a.shape[0]} examples, {z.shape[0]} were asked for")
        return z, Conditions(a, b)

    def fixed(self, n: int) -> Optional[Conditions]:
        """The first n training pairs."""
        return Conditions(self.pairs.x[:n], self.pairs.y[:n])

    def state_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pairs.load_state_dict(state["pairs"])


class LabelledMinibatches:
    """Semi-supervised runs: z from p_z (G is unconditional) and, with it, a shuffled
    minibatch of the few labelled examples for D's supervised term (``data.labels_per_class``)."""

    def __init__(self, noise: NoiseSampler, labelled: MinibatchSource) -> None:
        self.noise, self.labelled = noise, labelled

    def sample(self, m: int) -> tuple[Tensor, Conditions]:
        z, y = self.noise.sample(m)
        x_l, y_l = self.labelled.next()
        assert y_l is not None  # the labelled source holds labels by construction
        return z, Conditions(y, labelled=(x_l, y_l))

    def fixed(self, n: int) -> Optional[Conditions]:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"labelled": self.labelled.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.labelled.load_state_dict(state["labelled"])


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
    g_steps: int = 1  # generator steps per iteration (train.g_steps)
    step: int = 0  # iterations done (generator updates when g_steps is 1)
    k_warmup: Optional[CriticWarmup] = None  # more critic steps at some iterations (train.k_warmup)
    ema: Optional[EMA] = None  # the average of G's weights (train.ema_decay), updated once per iteration
    d_ema: Optional[EMA] = None  # the average of D's weights (train.d_ema_decay), updated after each iteration
    autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext  # see forward_context
    precision: str = "fp32"  # train.precision as this device runs it (auto resolved: parallel.resolve_precision)
    d_passes: DPasses = separate_passes  # how D's step gets its logits (train.joint_d_batch: joint_pass)
    shard: Shard = Shard()  # this process's place in a data-parallel job (see training/parallel.py)
    scaler_d: Optional[torch.amp.GradScaler] = None  # fp16 loss scaling (train.precision=fp16)
    scaler_g: Optional[torch.amp.GradScaler] = None
    conditions: Optional[ConditionSource] = None  # what G is conditioned on; None: NoiseLabels(noise)

    def __post_init__(self) -> None:
        if self.conditions is None:
            self.conditions = NoiseLabels(self.noise)

    def critic_steps(self) -> int:
        """k for the coming generator iteration: ``k``, or the warm-up's count where it applies."""
        return critic_steps(self.k, self.k_warmup, self.step)
