"""The one reproduction runner.

A reproduction is a declaration (:class:`Reproduction`): the models it trains (arms: a
preset each, with step budgets for the default run and ``--full``), the registered metrics
it scores them with, and how its table reads (the paper's rows beside ours). This module
does the rest, the same way for every paper: train each arm for each seed, time it,
evaluate, write ``DIR/result.json`` and ``DIR/report.md``, print the table.

Runs train and are scored one after another, or ``jobs`` at a time, each in a process of its
own with an equal share of the torch threads: small nets use one core better than two (two
one-thread runs of the semi-supervised MNIST nets side by side take 1.2-1.4x the steps per
second of one two-thread run: bench/jobs.py), and independent runs need no order. The
worker that trains a run also scores it, so scoring (Inception features for FID) runs side
by side too; this process then loads each run's final state for the table and pictures.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from gankit.atomic import write_json, write_text
from gankit.config import DRY_RUN_OVERRIDES, Config, load_config
from gankit.data.datasets import Dataset, load_dataset
from gankit.errors import GankitError
from gankit.evaluation import check_metrics, generator_context
from gankit.metrics.registry import EvalContext, evaluate
from gankit.metrics.ssl import CLASSIFY_OPTION
from gankit.registry import Registry
from gankit.report import report_after_training
from gankit.training.algorithm1 import Callback
from gankit.training.classify import run_classifier
from gankit.training.generator import load_generator
from gankit.training.run import train
from gankit.training.state import TrainState
from gankit.versions import versions

EVAL_NOISE_OFFSET = 10_000  # evaluation noise is seeded apart from training noise


@dataclass(frozen=True)
class Steps:
    """Generator steps of an arm; ``None`` keeps the preset's ``train.steps``."""

    default: Optional[int] = None
    full: Optional[int] = None


@dataclass(frozen=True)
class Arm:
    """One model a reproduction trains: a preset, once per seed."""

    key: str  # names its run directory and its entry in the settings
    preset: str
    steps: Steps = Steps()
    label: str = ""  # its row in the table, where the reproduction wants one


@dataclass(frozen=True)
class Options:
    """What the command line chose."""

    full: bool = False
    paper_exact: bool = False
    dry_run: bool = False
    seed: int = 0
    seeds: Optional[int] = None  # how many seeds from ``seed``; None: the reproduction's own count
    jobs: Optional[int] = None  # runs trained and scored at once; None: the reproduction's own count

    def seed_list(self, default: int) -> list[int]:
        n = 1 if self.dry_run else (self.seeds or default)
        return list(range(self.seed, self.seed + n))


@dataclass
class Trained:
    """One arm trained at one seed, and what its evaluation found."""

    arm: Arm
    seed: int
    out: Path  # the reproduction's directory (pictures go here)
    cfg: Config
    state: TrainState
    run_dir: Path
    overrides: list[str]
    data: Dataset
    ctx: EvalContext  # the metrics' view of the sampled generator (what `gankit sample` draws)
    figures: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0

    def settings(self) -> dict[str, Any]:
        return {
            "arm": self.arm.key,
            "preset": self.arm.preset,
            "overrides": self.overrides,
            "seed": self.seed,
            "steps": self.state.step,
            "run_dir": str(self.run_dir),
            "train_seconds": round(self.train_seconds, 1),
            "eval_seconds": round(self.eval_seconds, 1),
        }


@dataclass(frozen=True)
class Scored:
    """What a worker process hands back for the run it trained and scored."""

    train_seconds: float
    figures: dict[str, float]
    eval_seconds: float


@dataclass
class Summary:
    """What a reproduction makes of its trained arms: the figures for result.json (keys fixed
    per reproduction), the table, and a few lines of notes for the report."""

    result: dict[str, Any]
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    notes: Sequence[str] = ()
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reproduction:
    name: str
    title: str  # the report's heading
    description: str  # one line for `gankit reproduce list`
    arms: Callable[[Options], Sequence[Arm]]
    summarize: Callable[[list[Trained], Options], Summary]
    metrics: Sequence[str] = ()  # registered metrics scored on every trained arm
    full_metrics: Optional[Sequence[str]] = None  # the metrics under --full, where they differ (e.g. more samples)
    seeds: int = 1
    full_seeds: Optional[int] = None  # the default count under --full, where it differs
    options: tuple[str, ...] = ()  # extra flags it understands ("paper_exact")
    # training callbacks of one arm (e.g. a schedule or a tracker), from its config and data
    callbacks: Optional[Callable[[Config, Dataset, Path, Options], list[Callback]]] = None
    # figures beyond the registered metrics, from the trained arm (e.g. a stricter mode count)
    extra_figures: Optional[Callable[[Trained, Options], dict[str, float]]] = None
    jobs: int = 1  # runs trained and scored at once by default (each in its own process; see the module's docstring)


    def metrics_for(self, opts: Options) -> list[str]:
        """The metrics scored on every trained arm of this run of the reproduction."""
        return list(self.full_metrics if opts.full and self.full_metrics is not None else self.metrics)


REPRODUCTIONS: Registry[Reproduction] = Registry("reproduction", GankitError)


def register(rep: Reproduction) -> Reproduction:
    REPRODUCTIONS.add(rep.name, rep)
    return rep


def get_reproduction(name: str) -> Reproduction:
    import gankit.reproduce  # noqa: F401  (the built-in reproductions)

    return REPRODUCTIONS.get(name)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table that also reads in a terminal."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in cells)])


def run_dir_of(out: Path, arm: Arm, seed: int, single: bool) -> Path:
    """``DIR/train`` for a reproduction of one run; ``DIR/runs/ARM/seed-N`` otherwise."""
    return out / "train" if single else out / "runs" / arm.key / f"seed-{seed}"


def _overrides(arm: Arm, seed: int, opts: Options) -> list[str]:
    steps = arm.steps.full if opts.full else arm.steps.default
    out = [f"seed={seed}"] + ([f"train.steps={steps}"] if steps is not None else [])
    return out + (DRY_RUN_OVERRIDES if opts.dry_run else [])


def score_in_process(name: str, arm_key: str, seed: int, out: Path, opts: Options, single: bool,
                     threads: int) -> Scored:
    """Train and score one run of reproduction ``name`` (a worker process's job)."""
    import torch

    torch.set_num_threads(threads)
    rep = get_reproduction(name)
    arm = next(a for a in rep.arms(opts) if a.key == arm_key)
    done = train_arm(rep, arm, seed, out, opts, single)
    return Scored(done.train_seconds, done.figures, done.eval_seconds)


def end_with_parent(parent: int) -> None:
    """A worker's start: on Linux the kernel sends it SIGTERM when the process that spawned it
    ends, so a reproduction stopped by a signal leaves no worker training or scoring on its own
    (its writes are atomic: the run resumes from its last checkpoint)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the request took hold
        os.kill(os.getpid(), signal.SIGTERM)


def score_at_once(rep: Reproduction, runs: Sequence[tuple[Arm, int]], out: Path, opts: Options, single: bool,
                  jobs: int) -> list[Scored]:
    """Train and score ``runs`` ``jobs`` at a time in worker processes (spawned: no copy of
    this process's threads); returns what each found, in order."""
    import torch

    threads = max(1, torch.get_num_threads() // jobs)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn, initializer=end_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(score_in_process, rep.name, arm.key, seed, out, opts, single, threads): (arm, seed)
                   for arm, seed in runs}
        for f in as_completed(futures):  # a line as each run finishes
            (arm, seed), got = futures[f], f.result()
            say_scored(arm, seed, got.figures, got.train_seconds)
        return [f.result() for f in futures]


def say_scored(arm: Arm, seed: int, figures: dict[str, Any], train_seconds: float) -> None:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in figures.items() if isinstance(v, float))
    print(f"{arm.key} seed {seed}: {shown} ({train_seconds:.0f} s)", file=sys.stderr, flush=True)


def train_arm(rep: Reproduction, arm: Arm, seed: int, out: Path, opts: Options, single: bool,
              scored: Optional[Scored] = None) -> Trained:
    """Train one run and score it. With ``scored`` a worker process has done both already:
    the run's final checkpoint is loaded (a finished run resumes at its last step) and the
    worker's figures are kept."""
    overrides = _overrides(arm, seed, opts)
    cfg = load_config(arm.preset, overrides)
    run_dir = run_dir_of(out, arm, seed, single)
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download)
    if scored is None:
        callbacks = rep.callbacks(cfg, data, run_dir, opts) if rep.callbacks else []
        t0 = time.time()
        state = train(cfg, run_dir, callbacks=callbacks, progress=None if single else False)
        train_seconds = time.time() - t0
    else:
        state = train(cfg, run_dir, progress=False, say=lambda m: None)
        train_seconds = scored.train_seconds
    # evaluate what `gankit sample` draws: the saved generator (its weight average, with
    # batch-norm statistics of its own, where the run keeps one)
    G, _, context, _ = load_generator(run_dir, state.noise.device)  # metrics run where training did
    ctx = generator_context(G, cfg, context.get("num_classes", 0), data, seed + EVAL_NOISE_OFFSET, seed, opts.dry_run)
    ctx.options[CLASSIFY_OPTION] = run_classifier(run_dir, ctx.device)  # test_error: the run's D as a classifier
    done = Trained(arm, seed, out, cfg, state, run_dir, overrides, data, ctx, train_seconds=train_seconds)
    if scored is not None:
        done.figures, done.eval_seconds = dict(scored.figures), scored.eval_seconds
        return done
    t1 = time.time()
    done.figures = evaluate(rep.metrics_for(opts), ctx)
    if rep.extra_figures is not None:
        done.figures.update(rep.extra_figures(done, opts))
    done.eval_seconds = time.time() - t1
    return done


def run(rep: Reproduction, out: Path, opts: Options) -> dict[str, Any]:
    """Train, evaluate and report ``rep`` into ``out``; returns what result.json holds."""
    if opts.paper_exact and "paper_exact" not in rep.options:
        raise GankitError(f"--paper-exact: not an option of reproduction '{rep.name}'")
    check_metrics(rep.metrics_for(opts))
    arms = list(rep.arms(opts))
    for arm in arms:
        load_config(arm.preset)  # a bad preset fails before anything trains
    seeds = opts.seed_list(rep.full_seeds or rep.seeds if opts.full else rep.seeds)
    single = len(arms) == 1 and len(seeds) == 1
    out = Path(out)
    t0 = time.time()
    runs = [(arm, seed) for arm in arms for seed in seeds]
    # callbacks keep what they record in this process's memory: such runs train here, in turn
    jobs = 1 if rep.callbacks is not None else min(opts.jobs or rep.jobs, len(runs))
    scored: list[Optional[Scored]] = (
        list(score_at_once(rep, runs, out, opts, single, jobs)) if jobs > 1 else [None] * len(runs))
    trained = []
    for (arm, seed), by_worker in zip(runs, scored):
        done = train_arm(rep, arm, seed, out, opts, single, by_worker)
        trained.append(done)
        if by_worker is None and not single:
            say_scored(arm, seed, done.figures, done.train_seconds)
    summary = rep.summarize(trained, opts)
    wall = time.time() - t0
    tab = table(summary.headers, summary.rows)
    settings = {
        **summary.settings,
        "runs": [t.settings() for t in trained],
        "seeds": seeds,
        "dry_run": opts.dry_run,
        "full": opts.full,
        "paper_exact": opts.paper_exact,
        "jobs": jobs,
    }
    if single:  # one run: its settings at the top level, where readers of one-run results look
        settings = {**trained[0].settings(), **settings}
    result = {"reproduction": rep.name, "versions": versions(), **summary.result, "wall_seconds": round(wall, 1),
              "settings": settings}
    lines = [f"# {rep.title}", "", tab, "", *summary.notes, "", f"Wall time {wall:.0f} s (training and evaluation)."]
    lines += ["", "Runs:", ""] + [
        f"- `{t.arm.key}` seed {t.seed}: preset `{t.arm.preset}`, {t.state.step} steps, trained {t.train_seconds:.0f} s, "
        f"evaluated {t.eval_seconds:.0f} s (`{t.run_dir.relative_to(out) if t.run_dir.is_relative_to(out) else t.run_dir}`)"
        for t in trained
    ]
    if opts.dry_run:
        lines += ["", "**Dry run**: tiny data, a few steps and small sample counts; the figures mean nothing."]
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "result.json", result)
    write_text(out / "report.md", "\n".join(lines) + "\n")
    print(tab)
    print(f"\nwall time {wall:.0f} s; result in {out / 'result.json'}")
    report_after_training(out)  # report.html beside report.md: the table, pictures and every run
    return result


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n)); a non-finite value makes both
    infinite rather than hiding it."""
    import math

    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return math.inf, math.inf
    se = float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0
    return float(a.mean()), se
