"""The callbacks of a training run, and the one place that sets the order they run in.

Each runs after every generator step (``algorithm1``'s ``callbacks``): the divergence
guard, the weight average, diagnostics, metrics.jsonl and TensorBoard, sample grids,
checkpoints, fault injection, the progress bar and a clean stop on SIGTERM or Ctrl-C.
"""
from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import Tensor

from gankit.config import Config
from gankit.data.datasets import Dataset
from gankit.errors import CheckpointError, DivergenceError
from gankit.images import save_grid
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import Callback, StepStats
from gankit.training.build import net_context, sampling_generator
from gankit.training.diagnostics import Diagnostics
from gankit.training.evaluate import EvalDuringTraining
from gankit.training.refit import CriticRefit
from gankit.training.resume import CHECKPOINTS, DIAGNOSTICS_KEY, state_payload
from gankit.training.rundir import TENSORBOARD, json_row
from gankit.training.noise import NoiseSampler
from gankit.training.state import Conditions, TrainState
from gankit.training.translation import PREVIEW, columns


class DivergenceGuard:
    """Stops the run at the first step with a non-finite loss or diagnostic measurement, and
    at logging steps and before every checkpoint if a weight, an optimiser state entry or
    the weight average is non-finite, so a diverged state is never saved.

    The loss check is one host sync per step on two scalars; the state check reads every
    parameter and optimiser tensor, so it runs only every ``every`` steps (and before each
    checkpoint). ``diverged`` holds (step, what) once it has stopped a run.
    """

    ADVICE = (
        "Try a lower learning rate (optim_d.lr, optim_g.lr), the non-saturating objective, "
        "or a different seed"
    )

    def __init__(
        self,
        every: int,
        last_checkpoint: Callable[[], Optional[Path]] = lambda: None,
    ) -> None:
        self.every = every
        self.last_checkpoint = last_checkpoint
        self.diverged: Optional[tuple[int, str]] = None

    def fail(self, step: int, what: str) -> None:
        self.diverged = (step, what)
        last = self.last_checkpoint()
        kept = (f"its last checkpoint (all of whose state is finite) {last.name} is kept" if last is not None
                else "no checkpoint had been written yet")
        raise DivergenceError(f"diverged at step {step}: {what}; training stopped and {kept}. {self.ADVICE}.")

    @staticmethod
    def _first_bad(named: Iterator[tuple[str, torch.Tensor]]) -> Optional[str]:
        named = [(n, t) for n, t in named if t.is_floating_point()]
        if not named:
            return None
        if bool(torch.stack([torch.isfinite(t).all() for _, t in named]).all()):
            return None
        return next(n for n, t in named if not bool(torch.isfinite(t).all()))

    @staticmethod
    def _optimizer_tensors(net: torch.nn.Module, opt: torch.optim.Optimizer) -> Iterator[tuple[str, torch.Tensor]]:
        names = {id(p): n for n, p in net.named_parameters()}
        for p, st in opt.state.items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    yield f"{names.get(id(p), '?')} {k}", v

    def check_weights(self, s: TrainState, step: int) -> None:
        """Weights, optimiser state and weight average: everything a checkpoint saves that can diverge."""
        parts = [
            ("the generator's weights", s.G.named_parameters()),
            ("the discriminator's weights", s.D.named_parameters()),
            ("the generator optimiser's state tensors", self._optimizer_tensors(s.G, s.opt_g)),
            ("the discriminator optimiser's state tensors", self._optimizer_tensors(s.D, s.opt_d)),
        ]
        if s.ema is not None:
            parts.append(("the weights of the generator's average", s.ema.module.named_parameters()))
        if s.d_ema is not None:
            parts.append(("the weights of the discriminator's average", s.d_ema.module.named_parameters()))
        for what, named in parts:
            bad = self._first_bad(named)
            if bad is not None:
                self.fail(step, f"{what} are not finite (first: {bad})")

    def check_measurements(self, step: int, row: dict[str, float]) -> None:
        """Diagnostics call this with each measurement (``Diagnostics.on_measured``): a
        non-finite one (e.g. G's gradient norm) is a divergence, never logged."""
        for k, v in row.items():
            if not math.isfinite(v):
                self.fail(step, f"the diagnostic {k} is {v}")

    def __call__(self, s: TrainState, st: StepStats) -> None:
        losses = torch.stack([st.d_loss.float(), st.g_loss.float()])
        if not bool(torch.isfinite(losses).all()):
            d, g = losses.tolist()
            which = "discriminator" if not math.isfinite(d) else "generator"
            self.fail(st.step, f"the {which} loss is {d if which == 'discriminator' else g}")
        if st.step % self.every == 0:
            self.check_weights(s, st.step)


def d_outputs(probability: bool, real: Tensor, fake: Tensor) -> dict[str, float]:
    """D's mean output on real and generated examples, as the objective means it: a
    probability sigmoid(logit) for the value function's D, the raw score for a critic
    (WGAN, hinge, least squares), where a sigmoid would mean nothing."""
    if probability:
        return {"d_real": torch.sigmoid(real).mean().item(), "d_fake": torch.sigmoid(fake).mean().item()}
    return {"critic_real": real.float().mean().item(), "critic_fake": fake.float().mean().item()}


# metrics.jsonl key -> TensorBoard tag: groups (Loss/, D/, LR/, ...) keep related curves together
TENSORBOARD_TAGS = {
    "loss_d": "Loss/D",
    "loss_g": "Loss/G",
    "d_real": "D/real",
    "d_fake": "D/fake",
    "critic_real": "Critic/real",
    "critic_fake": "Critic/fake",
    "lr_d": "LR/D",
    "lr_g": "LR/G",
}


def tensorboard_tag(key: str) -> str:
    """The grouped tag of a metrics.jsonl key; the rest (diagnostics) under ``Diagnostics/``."""
    return TENSORBOARD_TAGS.get(key, key if "/" in key else f"Diagnostics/{key}")


class MetricsLog:
    """metrics.jsonl and TensorBoard scalars every ``every`` steps (DivergenceGuard, which
    runs before it, has already stopped the run on non-finite losses), with the
    measurements of ``diagnostics`` (which run before it too) in the same row. Rows are
    strict JSON: a non-finite number is written as null.

    ``start`` is the step the run starts from (0, or the resumed checkpoint's): the
    TensorBoard writer begins with a purge of every event after it, so events a killed
    run logged past its last checkpoint are replaced, not duplicated (metrics.jsonl is cut
    by ``rundir.cut_logs`` before training goes on)."""

    def __init__(
        self,
        run_dir: Path,
        every: int,
        tensorboard: bool,
        start: int = 0,
        diagnostics: Optional[Diagnostics] = None,
    ) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.every = every
        self.diagnostics = diagnostics
        self.t0 = time.time()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / TENSORBOARD), purge_step=start + 1)
        self.latest: dict[str, float] = {}

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every and st.step != 1:
            return
        row = {
            "step": st.step,
            "loss_d": st.d_loss.item(),
            "loss_g": st.g_loss.item(),
            **d_outputs(s.objective.d_probability, st.real_logits, st.fake_logits),
            "lr_d": s.opt_d.param_groups[0]["lr"],
            "lr_g": s.opt_g.param_groups[0]["lr"],
            "seconds": round(time.time() - self.t0, 3),
        }
        if self.diagnostics is not None:
            row.update(self.diagnostics.log_row)
        self.latest = row
        try:
            with open(self.path, "a") as f:
                f.write(json_row(row) + "\n")
        except OSError as e:  # name the file: a failed write() does not
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from e
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("step", "seconds") and isinstance(v, (int, float)) and math.isfinite(v):
                    self.writer.add_scalar(tensorboard_tag(k), v, st.step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class SampleGrids:
    """The same 100 noise vectors rendered every ``every`` steps, so grids show progress.
    With ``pairs`` (fixed inputs and targets of paired data) each grid row shows three
    input | output | target triplets instead."""

    def __init__(self, run_dir: Path, every: int, noise: NoiseSampler, pixel_range: str, writer=None,
                 pairs: Optional[Conditions] = None) -> None:
        self.dir = run_dir / "samples"
        self.every, self.pixel_range, self.writer = every, pixel_range, writer
        self.logged_step: Optional[int] = None
        fixed = NoiseSampler(noise.dim, noise.distribution, noise.scale, noise.num_classes, seed=1234)
        self.z, self.y = fixed.sample(100 if pairs is None or pairs.y is None else pairs.y.shape[0])
        self.target = None if pairs is None else pairs.target
        if pairs is not None:
            self.y = pairs.y
        elif self.y is not None:
            self.y = torch.arange(100) % noise.num_classes

    @torch.no_grad()
    def render(self, s: TrainState, name: str) -> Optional[Path]:
        G = sampling_generator(s)  # the EMA where the run keeps one: what `gankit sample` draws from
        device = s.noise.device
        was = G.training
        G.eval()
        x = G(self.z.to(device), None if self.y is None else self.y.to(device)).float().cpu()
        G.train(was)
        if x.dim() != 4:  # not images (e.g. toy points [N, d]): no grid to draw
            return None
        unit = (lambda t: t) if self.pixel_range == "unit" else (lambda t: (t + 1) / 2)
        x, nrow = unit(x), 10
        if self.target is not None:
            x, nrow = columns(unit(self.y), x, unit(self.target)), 9
        path = self.dir / name
        save_grid(x, path, nrow=nrow)
        if self.writer is not None and self.logged_step != s.step:  # the final grid repeats the last step's
            from gankit.images import make_grid

            self.writer.add_image("Samples/grid", make_grid(x, nrow), s.step, dataformats="HWC")
            self.logged_step = s.step
        return path

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every == 0:
            self.render(s, f"step-{st.step:08d}.png")


class Checkpointer:
    """Saves every ``every`` steps or ``seconds`` of wall time, whichever comes first, and
    keeps the newest ``keep``. Weights, optimiser state and weight average are checked
    first: a non-finite state is never saved, so every kept checkpoint is finite."""

    def __init__(
        self,
        run_dir: Path,
        cfg: Config,
        context: dict[str, Any],
        every: int,
        seconds: float,
        keep: int,
        guard: Optional[DivergenceGuard] = None,
        extras: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.dir = run_dir / CHECKPOINTS
        self.cfg, self.context, self.every, self.seconds, self.keep = cfg, context, every, seconds, keep
        self.guard = guard
        self.extras = extras  # the callbacks' own state (diagnostics), saved with the training state
        self.last_time = time.monotonic()

    def last(self) -> Optional[Path]:
        found = ckpt.list_checkpoints(self.dir)
        return found[-1] if found else None

    def save(self, s: TrainState) -> Path:
        if self.guard is not None:
            self.guard.check_weights(s, s.step)
        path = ckpt.checkpoint_path(self.dir, s.step)
        previous = self.last()
        hook = ckpt.write_fault_hook()
        try:
            ckpt.save(path, state_payload(s, self.cfg, self.context, self.extras()), hook=hook)
        except CheckpointError as e:
            kept = f"the last good checkpoint {previous.name} is intact" if previous is not None else "no earlier checkpoint exists"
            raise CheckpointError(f"{e}; {kept}; free some space and run the same command again to resume") from None
        self.last_time = time.monotonic()
        if hook is not None:
            hook("pruning")
        for old in ckpt.list_checkpoints(self.dir)[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every == 0 or time.monotonic() - self.last_time >= self.seconds:
            self.save(s)


class StopOnSignal:
    """SIGTERM (a scheduler's preemption) or a first Ctrl-C: finish the current step, save a
    checkpoint, then stop with KeyboardInterrupt. A second Ctrl-C stops at once.

    In a data-parallel job every process runs one; they agree after each step whether any
    was asked to stop (one tiny all-reduce), so all stop after the same step, and the main
    process (the one with a ``saver``) saves it."""

    def __init__(self, saver: Optional[Checkpointer], say: Callable[[str], None]) -> None:
        self.saver, self.say = saver, say
        self.requested: Optional[str] = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if not s.shard.any(self.requested is not None, s.noise.device):
            return
        if self.saver is None:
            raise KeyboardInterrupt
        if self.saver.last() != ckpt.checkpoint_path(self.saver.dir, s.step):
            self.saver.save(s)
        self.say(f"gankit: {self.requested or 'stop'}: stopped after step {s.step} and saved {self.saver.last().name}; run the same command to continue")
        raise KeyboardInterrupt


class KillAtStep:
    """Fault injection for the resume tests: SIGKILL at the end of step N (see checkpoint.FAULT_ENV)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step == self.step:
            ckpt.kill_self()


class ProgressBar:
    def __init__(
        self, total: int, start: int, every: int, log: MetricsLog, diagnostics: Optional[Diagnostics] = None, desc: str = "train"
    ) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=start, desc=desc, unit="step", dynamic_ncols=True, mininterval=1.0)
        self.every, self.log, self.diagnostics = every, log, diagnostics

    def __call__(self, s: TrainState, st: StepStats) -> None:
        self.bar.update(1)
        if st.step % self.every == 0 and self.log.latest:
            r = self.log.latest
            if "d_real" in r:
                d_text = f"D(x)={r['d_real']:.2f} D(G(z))={r['d_fake']:.2f}"
            else:  # a critic's raw scores
                d_text = f"f(x)={r['critic_real']:.3g} f(G(z))={r['critic_fake']:.3g}"
            self.bar.set_postfix_str(
                f"loss_d={r['loss_d']:.3f} loss_g={r['loss_g']:.3f} {d_text}"
                + (self.diagnostics.bar_text if self.diagnostics is not None else ""),
                refresh=False,
            )

    def close(self) -> None:
        self.bar.close()


@dataclass
class TrainingCallbacks:
    """A run's callbacks: ``ordered`` is what runs after each iteration (its G steps), in that order;
    the named ones are those ``train`` also uses outside the loop (None when not made)."""

    ordered: list[Callback]
    log: Optional[MetricsLog] = None
    grids: Optional[SampleGrids] = None
    saver: Optional[Checkpointer] = None
    bar: Optional[ProgressBar] = None
    stop: Optional[StopOnSignal] = None
    guard: Optional[DivergenceGuard] = None
    diagnostics: Optional[Diagnostics] = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.log is not None:
            self.log.close()


def default_callbacks(
    cfg: Config,
    state: TrainState,
    run_dir: Optional[Path] = None,
    context: Optional[dict[str, Any]] = None,
    *,
    resumed: bool = False,
    extra: Iterable[Callback] = (),
    progress: bool = False,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    diagnostics: Optional[Diagnostics] = None,
    data: Optional[Dataset] = None,
) -> TrainingCallbacks:
    """The callbacks every training of ``cfg`` runs with. With ``run_dir`` (``gankit train``)
    they also write the run's files: metrics, TensorBoard, grids and checkpoints (holding
    ``context``); ``resumed`` drops TensorBoard events after the resumed step (a fresh
    start drops all), ``extra`` are the caller's callbacks, ``diagnostics`` one made (and
    restored) by the caller. Without it (training in memory, e.g. the Figure 1
    reproduction) they are the guard, the weight average and diagnostics. In a data-parallel
    job only the main process writes and measures; the others keep the guard, the average,
    evaluation (whose samples all processes share) and the stop signal (all processes must
    take part in its vote)."""
    main = state.shard.main
    if diagnostics is None and cfg.log.diagnostics and main:
        diagnostics = Diagnostics(cfg, run_dir, state)
    log: Optional[MetricsLog] = None
    grids: Optional[SampleGrids] = None
    saver: Optional[Checkpointer] = None
    kill: Optional[KillAtStep] = None
    bar: Optional[ProgressBar] = None
    stop: Optional[StopOnSignal] = None
    evaluation: Optional[EvalDuringTraining] = None
    guard = DivergenceGuard(cfg.log.every)
    if diagnostics is not None:
        diagnostics.on_measured = guard.check_measurements
    if run_dir is not None and not main:
        stop = StopOnSignal(None, say)
    elif run_dir is not None:
        log = MetricsLog(run_dir, cfg.log.every, cfg.log.tensorboard, state.step if resumed else 0, diagnostics)
        grids = SampleGrids(run_dir, cfg.log.samples_every, state.noise, cfg.data.pixel_range, log.writer,
                            state.conditions.fixed(PREVIEW))
        saver = Checkpointer(run_dir, cfg, context or {}, cfg.log.checkpoint_every, cfg.log.checkpoint_seconds,
                             cfg.log.keep_checkpoints, guard,  # checks the state first: a diverged state is never saved
                             extras=lambda: {DIAGNOSTICS_KEY: diagnostics.state_dict()} if diagnostics is not None else {})
        guard.last_checkpoint = saver.last  # its message names the checkpoint the run keeps
        kill_at = ckpt.faults().get("kill-at-step")
        kill = KillAtStep(int(kill_at)) if kill_at else None
        bar = ProgressBar(cfg.train.steps, state.step, cfg.log.every, log, diagnostics) if progress else None
        stop = StopOnSignal(saver, say)
    if run_dir is not None and cfg.log.eval_every is not None and data is not None:  # every process: they share the work
        evaluation = EvalDuringTraining(cfg, run_dir, data, context or {}, log.writer if log is not None else None)
    refit = None
    if cfg.train.critic_refit_every:
        refit = CriticRefit(cfg, state, context or net_context(cfg, tuple(state.data.x.shape[1:]), 0))
    # One order for every run; each entry says why it sits where it does.
    ordered = [
        guard,  # first: a step with a non-finite loss is never averaged, measured, logged or saved
        state.ema,  # right after G's step: everything after it sees the updated average
        state.d_ema,  # likewise D's
        diagnostics,  # before the log: their measurements land in the same step's metrics row
        log,
        evaluation,  # after the log, like it: its row follows the step's; before the checkpoint, as the grids
        *extra,  # the caller's, once the step is logged
        refit,  # prepares D for the next step; before the checkpoint, which then holds the re-fitted D
        grids,  # before the checkpoint, like the log: a step's files are on disk by the time its checkpoint is,
        saver,  # so a resume from it lacks none of them (rows logged after it are dropped and logged again)
        kill,  # fault injection (resume tests): SIGKILL once step N is complete on disk
        bar,  # counts the steps that are complete
        stop,  # last: a requested stop saves the finished step, then ends the run
    ]
    return TrainingCallbacks([c for c in ordered if c is not None], log, grids, saver, bar, stop, guard, diagnostics)
