"""Devices and data-parallel training over ``torch.distributed``.

One process per device, started by ``torchrun`` (or ``gankit train --nproc N``, which runs
it). Every process builds the same nets from the same seed, draws the same *global*
minibatch of data and noise (``data.batch_size`` examples) and keeps its own slice of it
(``Shard.take``), so N processes compute what one process computes with the same global
batch: each loss is a mean over the process's slice, and the average of those gradients
is the gradient of the mean over the global batch.

Gradients are averaged by one flat all-reduce per optimiser step, after ``backward``
(``Shard.average_gradients``), not by wrapping G and D in DistributedDataParallel, for three
reasons, the same that led StyleGAN3's training loop away from DDP:

- DDP's reducer all-reduces from hooks inside ``backward``. R1 and WGAN-GP differentiate
  D's output with respect to its input (``autograd.grad(create_graph=True)``) and then back
  through that gradient: DDP documents that it does not support ``autograd.grad`` or double
  backward, and stylegan2-ada all-reduces gradients itself for exactly this penalty.
- In G's step D runs forward with its parameters frozen. A DDP-wrapped D then expects
  gradients that never come (an error at its next forward) unless every such forward is
  under ``no_sync`` or DDP searches the graph for unused parameters every step.
- Each of the k + 1 updates of an iteration needs exactly its own net's gradients averaged,
  once, right before its optimiser step: that is one ``all_reduce`` call here, and none on
  the passes that update nothing.

The cost is that the all-reduce does not overlap with ``backward``; GAN nets are small
next to the activations, and the reduction is one bucket per step.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gankit.errors import ConfigError, GankitError

T = TypeVar("T")

# Process-group environment torchrun sets for every process it starts.
_RUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Shard:
    """This process's place in the job: rank ``rank`` of ``world`` processes (1: no job)."""

    rank: int = 0
    world: int = 1
    seed: int = 0  # the run's seed: with world > 1, torch's global generator is reseeded from it every step

    @property
    def main(self) -> bool:
        """The process that writes the run directory (logs, grids, checkpoints)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def take(self, t: Tensor) -> Tensor:
        """This process's equal slice (along dim 0) of a global minibatch."""
        if self.world == 1:
            return t
        n = t.shape[0] // self.world
        return t[self.rank * n : (self.rank + 1) * n]

    @torch.no_grad()
    def average_gradients(self, net: nn.Module) -> None:
        """Replace each trainable parameter's gradient by its mean over the processes (one
        flat all-reduce). A missing gradient counts as zero on that process."""
        if self.world == 1:
            return
        params = [p for p in net.parameters() if p.requires_grad]
        if not params:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat.div_(self.world)
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            if p.grad is None:
                p.grad = torch.empty_like(p)
            p.grad.copy_(g.view(p.shape))

    @torch.no_grad()
    def mean(self, t: Tensor) -> Tensor:
        """The mean over the processes of a (detached) tensor: a loss over the global batch."""
        if self.world == 1:
            return t
        out = t.detach().float().clone()
        dist.all_reduce(out)
        return out.div_(self.world)

    @torch.no_grad()
    def gather(self, t: Tensor) -> Tensor:
        """Every process's tensor, concatenated along dim 0 in rank order (equal shapes)."""
        if self.world == 1:
            return t
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t.detach().contiguous())
        return torch.cat(parts)

    def span(self, n: int) -> tuple[int, int]:
        """This process's rows [lo, hi) of n: in rank order the spans tile 0..n, and the first
        n % world processes take one row more than the others."""
        q, r = divmod(n, self.world)
        lo = self.rank * q + min(self.rank, r)
        return lo, lo + q + (1 if self.rank < r else 0)

    @torch.no_grad()
    def gather_rows(self, part: Callable[[], Tensor]) -> Tensor:
        """Every process's ``part()`` concatenated along dim 0 in rank order, on every process.
        Row counts may differ (a part with no rows may have any trailing shape: the others'
        is used). A GankitError from ``part`` on any process is raised on all of them, so
        none waits for a gather that never comes."""
        if self.world == 1:
            return part()
        mine: Optional[Tensor] = None
        try:
            mine = part().detach()
            meta: tuple[Any, ...] = ("ok", mine.shape[0], tuple(mine.shape[1:]), mine.dtype)
        except GankitError as e:
            meta = ("error", type(e), str(e))
        metas: list[Any] = [None] * self.world
        dist.all_gather_object(metas, meta)
        for m in metas:
            if m[0] == "error":
                raise m[1](m[2])
        assert mine is not None
        rows = [m[1] for m in metas]
        filled = [m for m in metas if m[1] > 0]
        if not filled:
            return mine
        shape, dtype = filled[0][2], filled[0][3]
        # all_gather moves equal shapes: each part is padded to the longest, then trimmed
        comm = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        buf = torch.zeros(max(rows), *shape, dtype=dtype, device=comm)
        if mine.shape[0]:
            buf[: mine.shape[0]] = mine
        parts = [torch.empty_like(buf) for _ in range(self.world)]
        dist.all_gather(parts, buf)
        out = torch.cat([p[:k] for p, k in zip(parts, rows)])
        return out.to(mine.device if mine.shape[0] else torch.device("cpu"))

    def any(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """True on every process when ``flag`` is true on at least one."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def reseed(self, step: int) -> None:
        """Give each process its own stream of torch's global generator (dropout, WGAN-GP's
        interpolation weights) for ``step``, a function of (seed, rank, step) only: a run
        resumed at any step draws what the uninterrupted run drew, without checkpointing
        each process's generator. One process keeps the generator the checkpoint restores."""
        if self.world > 1:
            torch.manual_seed((self.seed * 1_000_003 + step) * 1_009 + self.rank)

    def on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` run by the main process alone, its result (or its GankitError, so every
        process stops with the same message) handed to all of them."""
        if self.world == 1:
            return fn()
        box: list[Any] = [None]
        if self.main:
            try:
                box[0] = ("ok", fn())
            except GankitError as e:
                box[0] = ("error", type(e), str(e))
        dist.broadcast_object_list(box, src=0)  # NCCL: through the current CUDA device (start sets it)
        if box[0][0] == "error":
            raise box[0][1](box[0][2])
        return box[0][1]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


# ---------------------------------------------------------------------------------------
# Devices


DEVICE_PATTERN = r"^(auto|cpu|cuda|cuda:\d+|mps)$"


def resolve_device(name: str, local_rank: int = 0, world: int = 1) -> torch.device:
    """``train.device`` as a torch device; asking for one this machine lacks is a ConfigError."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA device is visible"
            raise ConfigError(f"field 'train.device': '{name}' asked for, but {why}; use train.device=cpu or auto")
        if world > 1:
            if name != "cuda":
                raise ConfigError(f"field 'train.device': with {world} processes each uses cuda:LOCAL_RANK; "
                                  f"write train.device=cuda (or auto), not '{name}'")
            name = f"cuda:{local_rank}"
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"field 'train.device': '{name}' asked for, but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    if name == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError("field 'train.device': 'mps' asked for, but no Apple GPU is available; use train.device=cpu or auto")
        if world > 1:
            raise ConfigError("field 'train.device': torch.distributed has no backend for 'mps'; train on one process")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 matmuls and convolutions in hardware: a CUDA GPU
    with bf16 units, or a CPU whose oneDNN finds AVX512-BF16 or AMX. Elsewhere bf16 is
    emulated, and autocast runs far slower than fp32 (a 1000x1000 matmul at 2 GFLOP/s against
    115 on two AVX2 cores)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``train.precision`` as a run on ``device`` uses it: ``auto`` is bf16 where the device
    has it in hardware (``native_bf16``), else fp32; the other values stand as they are."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"field 'train.precision': fp16 needs a CUDA device (its loss scaler is CUDA's), and this "
                          f"run trains on {device.type}; use train.precision=bf16 there")


def grad_scaler(precision: str) -> Optional[torch.amp.GradScaler]:
    """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
    return torch.amp.GradScaler("cuda") if precision == "fp16" else None


def to_device(t: Tensor, device: torch.device) -> Tensor:
    """``t`` on ``device`` if it fits there, else left in host memory (batches then move one
    at a time)."""
    if t.device == device:
        return t
    try:
        return t.to(device)
    except torch.cuda.OutOfMemoryError:  # (torch.OutOfMemoryError from torch 2.5 on is the same class)
        return t


# ---------------------------------------------------------------------------------------
# The process group


def launched_by_torchrun() -> bool:
    return all(k in os.environ for k in _RUN_ENV) and int(os.environ["WORLD_SIZE"]) > 1


@dataclass
class Job:
    """What ``start`` set up: this process's shard and device, and whether it made the group."""

    shard: Shard
    device: torch.device
    owns_group: bool = False

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def check_job(device: str, world: int, sync_batchnorm: bool, local_rank: int = 0) -> torch.device:
    """The device of process ``local_rank`` in a job of ``world`` processes, or the
    ConfigError that would stop each of them (``gankit train --nproc`` asks before it starts them)."""
    dev = resolve_device(device, local_rank, world)
    if world > 1 and sync_batchnorm and dev.type != "cuda":
        raise ConfigError("field 'train.sync_batchnorm': torch's SyncBatchNorm runs on CUDA only; "
                          "train on CUDA, or set it false (each process then normalises over its own slice)")
    return dev


def start(device: str, seed: int, sync_batchnorm: bool = False) -> Job:
    """Join the process group torchrun describes in the environment (gloo on CPU, NCCL on
    CUDA), or a one-process job without it."""
    if not (dist.is_available() and (dist.is_initialized() or launched_by_torchrun())):
        return Job(Shard(0, 1, seed), resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    world = dist.get_world_size() if dist.is_initialized() else int(os.environ["WORLD_SIZE"])
    dev = check_job(device, world, sync_batchnorm, local_rank)
    owns = False
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        # torch.optim imports torch._dynamo on first use. Imported after the group exists,
        # it keeps a reference to it that destroy_process_group cannot drop, and gloo's
        # threads then run into interpreter exit, where one that frees a finished work's
        # tensors aborts the process ("terminate called without an active exception").
        import torch._dynamo  # noqa: F401
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        owns = True
    return Job(Shard(dist.get_rank(), dist.get_world_size(), seed), dev, owns)
