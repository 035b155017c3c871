"""From a validated config to the objects Algorithm 1 needs."""
from __future__ import annotations

import random
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from gankit.config import Config
from gankit.data.batches import MinibatchSource
from gankit.data.datasets import Dataset
from gankit.data.labelled import draw_labelled
from gankit.errors import ConfigError
from gankit.nets.registry import build_net
from gankit.runtime import keep_freed_memory
from gankit.data.paired import oriented, pair_sources
from gankit.objectives.base import Objective, build_objective
from gankit.objectives.penalties import with_r1
from gankit.objectives.reconstruction import no_generator_loss, with_l1
from gankit.training.critic_warmup import CriticWarmup
from gankit.training.ema import EMA
from gankit.training.optim import Schedule, build_optimizer
from gankit.training.parallel import Job, Shard, check_precision, grad_scaler, resolve_device, resolve_precision, to_device
from gankit.training.noise import NoiseSampler
from gankit.training.state import (ConditionSource, LabelledMinibatches, NoiseLabels, PairedMinibatches, TrainState, examples_mixed_by,
                                   forward_context, joint_pass, separate_passes)


COMPILE_BACKEND = "inductor"  # train.compile's torch.compile backend (tests use "eager": same guards, no C++ build)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def net_context(cfg: Config, image_shape: tuple[int, ...], num_classes: int,
                condition_shape: Optional[tuple[int, ...]] = None) -> dict[str, Any]:
    """What nets may take from the data and the noise unless the preset sets it. On paired
    data the condition is the input image (``condition_shape``), not a class label."""
    return {
        "noise_dim": cfg.noise.dim,
        "image_shape": list(image_shape),
        "num_classes": num_classes if cfg.data.conditional and condition_shape is None else 0,
        "condition_shape": None if condition_shape is None else list(condition_shape),
        "output": "sigmoid" if cfg.data.pixel_range == "unit" else "tanh",
    }


def build_nets(cfg: Config, context: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    G = build_net("generator", cfg.generator.name, cfg.generator.args, **context)
    D = build_net("discriminator", cfg.discriminator.name, cfg.discriminator.args, **context)
    check_nets(G, D, cfg, context)
    return G, D


_FORWARD_ERRORS = (RuntimeError, ValueError, TypeError, IndexError)


@torch.no_grad()
def check_nets(G: nn.Module, D: nn.Module, cfg: Config, context: dict[str, Any]) -> None:
    """One minibatch of zero noise through G, then D, in eval mode (no random draws, no
    batch-norm statistics updated): a net in the wrong role, or one that does not fit the
    data's shape, is one ConfigError naming the field, not a traceback at the first step."""
    m, shape = cfg.data.batch_size, tuple(context["image_shape"])
    z = torch.zeros(m, context["noise_dim"])
    y = torch.zeros(m, dtype=torch.long) if context["num_classes"] else None
    if context.get("condition_shape"):
        y = torch.zeros(m, *context["condition_shape"])
    was_training = G.training, D.training
    G.eval()
    D.eval()
    try:
        try:
            x = G(z, y)
        except _FORWARD_ERRORS as e:
            given = f"noise [{m}, {context['noise_dim']}]" + (f" and input images {list(y.shape)}" if y is not None and y.dim() > 1 else "")
            raise ConfigError(f"field 'generator.name': net '{cfg.generator.name}' cannot map {given} to images: "
                              f"{str(e).splitlines()[0]}") from None
        if not isinstance(x, Tensor) or tuple(x.shape) != (m, *shape):
            got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ConfigError(f"field 'generator.name': net '{cfg.generator.name}' returned {got} for {m} noise "
                              f"vectors; the data's images are {list(shape)}")
        try:
            logits = D(x, y)
        except _FORWARD_ERRORS as e:
            raise ConfigError(f"field 'discriminator.name': net '{cfg.discriminator.name}' cannot take images "
                              f"{list(shape)}: {str(e).splitlines()[0]}") from None
        classes = getattr(D, "classes", 0)  # a classifier D (semi-supervised objectives): [m, classes]
        if not isinstance(logits, Tensor) or logits.dim() != (2 if classes else 1):
            got = list(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ConfigError(f"field 'discriminator.name': net '{cfg.discriminator.name}' returned {got} for {m} "
                              "images; a discriminator returns one logit per example (or per pack), a classifier "
                              "discriminator one logit per class")
    finally:
        G.train(was_training[0])
        D.train(was_training[1])


def to_net_range(x: Tensor, pixel_range: str) -> Tensor:
    return x if pixel_range == "unit" else x * 2 - 1


def to_unit_range(x: Tensor, pixel_range: str) -> Tensor:
    return x if pixel_range == "unit" else (x + 1) / 2


def build_objective_for(cfg: Config, paired: bool) -> Objective:
    objective = with_l1(with_r1(build_objective(cfg.objective.name, cfg.objective.args), cfg.objective.r1), cfg.objective.l1)
    if objective.reconstruction is not None and not paired:
        raise ConfigError(f"field 'objective.l1': the L1 term compares G's output with a paired target; dataset "
                          f"'{cfg.data.name}' has no pairs (use one such as edges2fashion, or set objective.l1: 0)")
    if objective.g_loss is no_generator_loss and objective.reconstruction is None:
        raise ConfigError("field 'objective.l1': objective 'no-adversarial' leaves G no loss without the L1 term; set objective.l1 > 0")
    return objective


def label_seed(cfg: Config) -> int:
    """The seed of the labelled draw: ``data.label_seed``, else the run's seed."""
    return cfg.seed if cfg.data.label_seed is None else cfg.data.label_seed


def check_semi_supervised(cfg: Config, objective: Objective, data: Dataset) -> None:
    """A semi-supervised objective and a labelled draw come together."""
    if objective.supervised is not None and not cfg.data.labels_per_class:
        raise ConfigError(f"field 'data.labels_per_class': objective '{cfg.objective.name}' trains D on labelled "
                          "examples; set how many per class (e.g. 10)")
    if cfg.data.labels_per_class and objective.supervised is None:
        raise ConfigError(f"field 'data.labels_per_class': objective '{cfg.objective.name}' uses no labels; "
                          "choose a semi-supervised one (k-plus-one, catgan) or leave it null")
    if cfg.data.labels_per_class and (cfg.data.conditional or data.train.y is None or not data.num_classes):
        raise ConfigError(f"field 'data.labels_per_class': needs an unconditional run on labelled data "
                          f"(dataset '{data.name}', data.conditional={cfg.data.conditional})")


def initial_nets(cfg: Config, context: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """G and D with the weights ``build_state`` gives them before training (the same seed),
    built without touching the global random state (e.g. for a resumed run that re-starts
    its critic, or a picture of step 0)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return build_nets(cfg, context)


def build_state(cfg: Config, data: Dataset, job: Optional[Job] = None) -> tuple[TrainState, dict[str, Any]]:
    """The training state of ``cfg`` on ``data``: in this process alone on ``train.device``
    unless ``job`` (``parallel.start``) places it in a data-parallel job."""
    job = job or Job(Shard(0, 1, cfg.seed), resolve_device(cfg.train.device))
    device, shard = job.device, job.shard
    check_precision(cfg.train.precision, device)
    precision = resolve_precision(cfg.train.precision, device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    keep_freed_memory()
    seed_everything(cfg.seed)
    data = oriented(data, cfg.data.direction)
    paired = data.condition_shape is not None
    if paired and not cfg.data.conditional:
        raise ConfigError(f"field 'data.conditional': dataset '{data.name}' pairs each target with an input image, "
                          "which G is conditioned on; set data.conditional: true")
    if cfg.data.conditional and not paired and not data.num_classes:
        raise ConfigError(f"field 'data.conditional': dataset '{data.name}' has no class labels")
    if not paired and (cfg.data.flip or cfg.data.jitter or cfg.data.direction != "AtoB"):
        raise ConfigError(f"field 'data': direction, flip and jitter apply to paired data; dataset '{data.name}' has no pairs")
    context = net_context(cfg, data.image_shape, data.num_classes, data.condition_shape)
    objective = build_objective_for(cfg, paired)
    check_semi_supervised(cfg, objective, data)
    G, D = build_nets(cfg, context)
    if cfg.train.joint_d_batch and (why := examples_mixed_by(D)):
        raise ConfigError(f"field 'train.joint_d_batch': discriminator '{cfg.discriminator.name}' {why}, so one pass "
                          "over real and generated examples together would not compute D's loss; leave it false")
    x = to_net_range(data.train.x, cfg.data.pixel_range)
    for net in (G, D):
        if hasattr(net, "init_from_data"):
            net.init_from_data(x)
    if cfg.train.sync_batchnorm and shard.distributed:
        G = nn.SyncBatchNorm.convert_sync_batchnorm(G)
        D = nn.SyncBatchNorm.convert_sync_batchnorm(D)
    G.to(device)
    D.to(device)
    x = to_device(x, device)
    labels = to_device(data.train.y, device) if cfg.data.conditional and not paired else None
    if cfg.train.channels_last:
        # NHWC weights and batches: oneDNN's native conv layout on CPU (no reorders per call).
        # Only 4-D tensors change; checkpoints store plain contiguous copies either way.
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
    noise = NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, context["num_classes"], seed=cfg.seed + 2,
                         device=device, shard=shard)
    conditions: ConditionSource = NoiseLabels(noise)
    if paired:
        if shard.world > 1 or device.type != "cpu":
            raise ConfigError(f"field 'train.device': paired data ('{data.name}') trains in one process on the CPU; "
                              f"got {shard.world} process(es) on {device}")
        a = to_net_range(data.train.a, cfg.data.pixel_range)
        if cfg.train.channels_last:
            a = a.contiguous(memory_format=torch.channels_last)
        source, pairs = pair_sources(a, x, cfg.data.batch_size, cfg.seed + 1, cfg.data.flip, cfg.data.jitter)
        conditions = PairedMinibatches(noise, pairs)
    elif cfg.data.labels_per_class:
        assert data.train.y is not None  # check_semi_supervised
        draw = draw_labelled(data.train.y, cfg.data.labels_per_class, label_seed(cfg), data.num_classes)
        y_all = to_device(data.train.y, device)
        labelled = MinibatchSource(x[draw.labelled.to(x.device)], y_all[draw.labelled.to(y_all.device)], cfg.data.batch_size,
                                   seed=cfg.seed + 3, device=device, rank=shard.rank, world=shard.world)
        conditions = LabelledMinibatches(noise, labelled)
        source = MinibatchSource(x[draw.unlabelled.to(x.device)], None, cfg.data.batch_size, seed=cfg.seed + 1,
                                 device=device, rank=shard.rank, world=shard.world)
    else:
        source = MinibatchSource(x, labels, cfg.data.batch_size, seed=cfg.seed + 1, device=device, rank=shard.rank,
                                 world=shard.world)
    opt_g = build_optimizer(cfg.optim_g, G.parameters())
    opt_d = build_optimizer(cfg.optim_d, D.parameters())
    schedule = Schedule(cfg.schedule, {"g": opt_g, "d": opt_d}, {"g": cfg.optim_g, "d": cfg.optim_d},
                        total_steps=cfg.train.steps)
    schedule.apply(0)
    warmup = CriticWarmup.from_config(cfg.train.k_warmup) if cfg.train.k_warmup is not None else None
    state = TrainState(G, D, opt_g, opt_d, objective, source, noise, schedule, k=cfg.train.k, k_warmup=warmup,
                       g_steps=cfg.train.g_steps,
                       autocast=forward_context(precision, device.type), precision=precision,
                       d_passes=joint_pass if cfg.train.joint_d_batch else separate_passes,
                       shard=shard, scaler_d=grad_scaler(precision), scaler_g=grad_scaler(precision),
                       conditions=conditions)
    if cfg.train.ema_decay is not None:
        state.ema = EMA(G, cfg.train.ema_decay, cfg.train.ema_warmup)  # copied before compiling: a plain module
    if cfg.train.d_ema_decay is not None:
        state.d_ema = EMA(D, cfg.train.d_ema_decay, cfg.train.ema_warmup)
    if cfg.train.compile:
        # In place, so parameter names (checkpoints) do not change. Static shapes: every
        # training batch is full (MinibatchSource drops the incomplete tail of an epoch),
        # so after the first iteration nothing recompiles (tests/test_fast_options.py).
        G.compile(dynamic=False, backend=COMPILE_BACKEND)
        D.compile(dynamic=False, backend=COMPILE_BACKEND)
    return state, context


def sampling_description(cfg: Config) -> str:
    """What ``sampling_generator`` returns for runs of ``cfg``, in words for reports."""
    if cfg.train.ema_decay is None:
        return "G"
    w = cfg.train.ema_warmup
    # until the ramp reaches ema_decay, update s of t weighs about (s/t)^(warmup-2) (training/ema.py)
    weighting = {2.0: "uniformly weighted", 3.0: "linearly weighted"}.get(w, f"weighted by step^{w - 2:g}")
    return f"average of G's weights, {weighting} (decay min({cfg.train.ema_decay}, (1+t)/({w:g}+t)))"


def sampling_generator(state: TrainState) -> nn.Module:
    """The generator to draw samples from: the weight average if the run keeps one."""
    return state.ema.module if state.ema is not None else state.G


@torch.no_grad()
def generate(
    G: nn.Module,
    n: int,
    noise: NoiseSampler,
    pixel_range: str = "unit",
    labels: Optional[Tensor] = None,
    batch: int = 1000,
    rows: Optional[tuple[int, int]] = None,
) -> Tensor:
    """n samples from G in [0, 1], in eval mode, batch by batch, on G's device (returned in host memory).
    ``rows`` (lo, hi): only rows lo..hi of those n; the noise of all n is still drawn, so they
    are the rows the whole call returns and the sampler ends where the whole call leaves it."""
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    lo, hi = rows if rows is not None else (0, n)
    out = []
    try:
        for i in range(0, n, batch):
            m = min(batch, n - i)
            z, y = noise.sample(m)
            if labels is not None:
                y = labels[i : i + m]
            a, b = max(lo - i, 0), min(hi - i, m)
            if a >= b:
                continue
            z, y = z[a:b].to(device), None if y is None else y[a:b].to(device)
            out.append(to_unit_range(G(z, y), pixel_range).clamp_(0, 1).float().cpu())
    finally:
        G.train(was_training)
    return torch.cat(out) if out else torch.empty(0)
