"""A trained generator as the metrics see it: one place that builds the ``EvalContext`` for
``gankit eval``, the reproductions and evaluation during training (``EvalDuringTraining``:
``log.eval_every`` / ``log.eval_metrics`` / ``log.best_metric``)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from gankit.atomic import write_json
from gankit.config import DRY_RUN_SCALE, Config
from gankit.data.datasets import Dataset
from gankit.data.paired import oriented
from gankit.errors import CheckpointError
from gankit.metrics.registry import EvalContext, Sharded, evaluate, figure_direction, get_metric
from gankit.metrics.ssl import CLASSIFY_OPTION
from gankit.metrics.translation import translation_context
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import StepStats
from gankit.training.build import generate, sampling_generator
from gankit.training.classify import classify
from gankit.training.noise import NoiseSampler
from gankit.training.parallel import Shard
from gankit.training.resume import state_payload
from gankit.training.state import TrainState
from gankit.training.translation import translate

EVAL_NOISE_SEED = 4321  # one fixed noise set for every evaluation of a run: steps compare on the same z
BEST = "best.safetensors"  # the run's best checkpoint by log.best_metric (a full checkpoint: resumable, sampleable)
BEST_INFO = "best.json"


class DryRunFeatures(nn.Module):
    """A fixed random conv net standing in for Inception in dry runs only: the FID code path
    runs end to end in seconds, and the figure says nothing."""

    name = "dry-run-random-features"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(16, 3, 5, 5, generator=g) * 0.2, requires_grad=False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        h = torch.nn.functional.conv2d(x * 2 - 1, self.w, stride=2).relu()
        return torch.nn.functional.adaptive_avg_pool2d(h, 4).flatten(1)


def generator_context(
    G: nn.Module,
    cfg: Config,
    num_classes: int,
    data: Dataset,
    noise_seed: int,
    seed: int = 0,
    dry_run: bool = False,
    shard: Shard = Shard(),
) -> EvalContext:
    """Metrics' view of generator ``G``: unconditional samples and, for a conditional model,
    samples for requested labels, on G's device; for paired data, G's outputs for the test
    inputs. A dry run shrinks every sample count and swaps Inception for :class:`DryRunFeatures`.

    With a ``shard`` of a data-parallel job each process generates (and extracts features
    of) its share of the samples; the figures equal one process's. Paired data is not
    shared: its dropout masks come from one seeded stream over all inputs, so every process
    translates all of them."""
    device = next(G.parameters()).device  # metrics run where G does
    noise = NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, num_classes, noise_seed)
    options: dict[str, Any] = {"fid_extractor": DryRunFeatures()} if dry_run else {}
    if data.test.a is not None:  # image-to-image: G's outputs for the test inputs, in order
        return translation_context(oriented(data, cfg.data.direction), lambda a: _translate(G, cfg, a, noise_seed),
                                   seed, DRY_RUN_SCALE if dry_run else 1.0, options)
    labelled: Optional[Any] = None
    if num_classes:
        labelled = lambda labels: generate(G, labels.shape[0], noise, cfg.data.pixel_range, labels)  # noqa: E731
    sharded: Optional[Sharded] = None
    if shard.distributed:
        sharded = Sharded(
            shard,
            lambda n, lo, hi: generate(G, n, noise, cfg.data.pixel_range, rows=(lo, hi)),
            (lambda labels, lo, hi: generate(G, labels.shape[0], noise, cfg.data.pixel_range, labels, rows=(lo, hi)))
            if num_classes else None,
        )
    return EvalContext(
        sample=lambda n: generate(G, n, noise, cfg.data.pixel_range),
        data=data,
        seed=seed,
        scale=DRY_RUN_SCALE if dry_run else 1.0,
        options=options,
        sample_labels=labelled,
        device=device,
        sharded=sharded,
    )


def _translate(G: nn.Module, cfg: Config, a: Tensor, seed: int) -> Tensor:
    with torch.random.fork_rng():  # the dropout noise: seeded, without moving anyone else's stream
        torch.manual_seed(seed)
        return translate(G, a, cfg.data.pixel_range, cfg.noise.dim)


def check_metrics(names: list[str]) -> None:
    """Fail before any training when a metric is not registered (runs take minutes)."""
    for n in names:
        get_metric(n)


class EvalDuringTraining:
    """Every ``log.eval_every`` steps: ``log.eval_metrics`` of the sampling generator (the
    weight average where the run keeps one) on fixed noise, as one row of metrics.jsonl
    (``"eval": true``) and TensorBoard scalars ``Eval/<figure>``; with ``log.best_metric``,
    the state of the best step so far as ``best.safetensors`` (its figures in ``best.json``).

    A dry-run config (``dry_run: true``) measures with :class:`DryRunFeatures` and shrunk
    counts, and its rows say ``"dry_run": true``.

    In a data-parallel job every process runs one: they share the generation and feature
    extraction (:func:`generator_context`), all hold the main process's figures, and the
    main process alone writes them."""

    def __init__(
        self, cfg: Config, run_dir: Path, data: Dataset, context: dict[str, Any], writer: Any = None
    ) -> None:
        assert cfg.log.eval_every is not None
        for name in cfg.log.eval_metrics:  # a typo fails before the first step, not at the first evaluation
            get_metric(name)
        self.cfg, self.run_dir, self.data, self.context, self.writer = cfg, run_dir, data, context, writer
        self.every = cfg.log.eval_every
        self.best_figure = cfg.log.best_metric
        self.direction = figure_direction(cfg.log.eval_metrics, self.best_figure) if self.best_figure else None
        self.best_value: Optional[float] = None
        info = run_dir / BEST_INFO
        if self.best_figure and info.is_file():  # a resumed run keeps ranking against its earlier best
            try:
                self.best_value = float(json.loads(info.read_text())["value"])
            except (ValueError, KeyError, TypeError):
                self.best_value = None
        self.path = run_dir / "metrics.jsonl"

    def evaluate(self, s: TrainState) -> dict[str, float]:
        ctx = generator_context(
            sampling_generator(s), self.cfg, self.context.get("num_classes", 0), self.data,
            EVAL_NOISE_SEED, self.cfg.seed, self.cfg.dry_run, s.shard,
        )
        if getattr(s.D, "classes", 0):  # test_error: a semi-supervised run's D (its average, if kept) at this step
            D = s.d_ema.module if s.d_ema is not None else s.D
            ctx.options[CLASSIFY_OPTION] = lambda x: classify(D, x, self.cfg.data.pixel_range)
        figures = evaluate(list(self.cfg.log.eval_metrics), ctx)
        # every process computes the figures from the same gathered rows; the main process's
        # are handed to all, so a choice made on them (the best step) is the same everywhere
        return s.shard.on_main(lambda: figures)

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value < self.best_value if self.direction == "min" else value > self.best_value

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every:
            return
        figures = self.evaluate(s)
        if not s.shard.main:
            return
        row = {"step": st.step, "eval": True, **figures, "dry_run": self.cfg.dry_run}
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from e
        if self.writer is not None:
            for k, v in figures.items():
                self.writer.add_scalar(f"Eval/{k}", v, st.step)
        if self.best_figure is not None and self._better(figures[self.best_figure]):
            self.save_best(s, figures)

    def save_best(self, s: TrainState, figures: dict[str, float]) -> None:
        try:
            ckpt.save(self.run_dir / BEST, state_payload(s, self.cfg, self.context))
        except CheckpointError as e:
            raise CheckpointError(f"{e} (the best checkpoint)") from None
        self.best_value = figures[self.best_figure]
        write_json(self.run_dir / BEST_INFO, {
            "step": s.step, "metric": self.best_figure, "value": self.best_value,
            "direction": self.direction, "figures": figures, "dry_run": self.cfg.dry_run,
        })
