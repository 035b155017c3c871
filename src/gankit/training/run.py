"""A training run on disk: config, versions, metrics.jsonl, TensorBoard, sample grids and
checkpoints, with exact resume from the newest good checkpoint."""
from __future__ import annotations

import contextlib
import errno
import json
import math
import platform
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
import yaml

from gankit import __version__
from gankit.atomic import stale_temp_files, write_json, write_text
from gankit.config import Config, config_from_dict
from gankit.data.datasets import load_dataset
from gankit.errors import CheckpointError, DivergenceError, GankitError
from gankit.images import save_grid
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import Callback, StepStats, algorithm1
from gankit.training.build import build_nets, build_state, generate, sampling_generator
from gankit.training.ema import BN_RECALIBRATION_SEED, recalibrate_batchnorm
from gankit.training.state import NoiseSampler, TrainState

CHECKPOINTS = "checkpoints"
RESUME_MODES = ("auto", "never")


def versions() -> dict[str, str]:
    import numpy

    return {"gankit": __version__, "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version()}


# ---------------------------------------------------------------------------------------
# Checkpoint payloads


def state_payload(s: TrainState, cfg: Config, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "step": s.step,
        "config": json.dumps(cfg.to_dict()),
        "context": json.dumps(context),
        "G": s.G.state_dict(),
        "D": s.D.state_dict(),
        "opt_g": s.opt_g.state_dict(),
        "opt_d": s.opt_d.state_dict(),
        "data": s.data.state_dict(),
        "noise": s.noise.state_dict(),
        "conditions": s.conditions.state_dict(),
        "rng": ckpt.rng_state(),
        "extras": {k: v.state_dict() for k, v in s.extras.items() if hasattr(v, "state_dict")},
    }


def _state_like_params(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser state the strides of its parameter. Checkpoints hold contiguous
    copies; fused optimisers walk parameter, gradient and state memory in lockstep, so with
    channels_last weights a contiguous exp_avg would be combined with the wrong elements."""
    for p, st in opt.state.items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def restore(s: TrainState, payload: dict[str, Any]) -> None:
    s.G.load_state_dict(payload["G"])
    s.D.load_state_dict(payload["D"])
    s.opt_g.load_state_dict(payload["opt_g"])
    s.opt_d.load_state_dict(payload["opt_d"])
    _state_like_params(s.opt_g)
    _state_like_params(s.opt_d)
    s.data.load_state_dict(payload["data"])
    s.noise.load_state_dict(payload["noise"])
    s.conditions.load_state_dict(payload.get("conditions", {}))
    for k, v in payload.get("extras", {}).items():
        if k in s.extras and hasattr(s.extras[k], "load_state_dict"):
            s.extras[k].load_state_dict(v)
    s.step = int(payload["step"])
    s.schedule.apply(s.step)
    ckpt.set_rng_state(payload["rng"])


def newest_good_checkpoint(
    folder: Path, say: Callable[[str], None] = print, quarantine: bool = False
) -> Optional[tuple[Path, dict[str, Any]]]:
    """Newest checkpoint that loads and passes its checksum. Damaged ones are reported and,
    with ``quarantine`` (training only; sampling never renames files), renamed to
    ``*.damaged`` so they are neither counted among the kept checkpoints nor tried again."""
    damaged: list[Path] = []
    for path in reversed(ckpt.list_checkpoints(folder)):
        try:
            payload = ckpt.load(path)
        except CheckpointError as e:
            say(f"gankit: warning: {e}")
            damaged.append(path)
            continue
        if damaged:
            say(f"gankit: falling back to the previous good checkpoint {path.name}")
        if quarantine:
            _quarantine(damaged, say)
        return path, payload
    if quarantine:
        _quarantine(damaged, say)
    return None


def _quarantine(paths: list[Path], say: Callable[[str], None]) -> None:
    for p in paths:
        target = p.with_name(p.name + ckpt.DAMAGED_SUFFIX)
        p.replace(target)
        say(f"gankit: kept the damaged file as {target.name} for inspection")


# ---------------------------------------------------------------------------------------
# Callbacks


class DivergenceGuard:
    """Stops the run at the first step with a non-finite loss, and at logging steps and
    before every checkpoint if a weight is non-finite, so a diverged state is never saved.

    The loss check is one host sync per step on two scalars; the weight check reads
    every parameter, so it runs only every ``every`` steps.
    """

    ADVICE = (
        "Try a lower learning rate (optim_d.lr, optim_g.lr), the non-saturating objective, "
        "or a different seed"
    )

    def __init__(self, every: int, last_checkpoint: Callable[[], Optional[Path]]) -> None:
        self.every = every
        self.last_checkpoint = last_checkpoint

    def fail(self, step: int, what: str) -> None:
        last = self.last_checkpoint()
        kept = f"its last good checkpoint {last.name} is kept" if last is not None else "no checkpoint had been written yet"
        raise DivergenceError(f"diverged at step {step}: {what}; training stopped and {kept}. {self.ADVICE}.")

    def check_weights(self, s: TrainState, step: int) -> None:
        for net_name, net in (("generator", s.G), ("discriminator", s.D)):
            flags = [torch.isfinite(p).all() for p in net.parameters()]
            if flags and not bool(torch.stack(flags).all()):
                bad = next(n for n, p in net.named_parameters() if not bool(torch.isfinite(p).all()))
                self.fail(step, f"the {net_name}'s weights are not finite (first: {bad})")

    def __call__(self, s: TrainState, st: StepStats) -> None:
        losses = torch.stack([st.d_loss.float(), st.g_loss.float()])
        if not bool(torch.isfinite(losses).all()):
            d, g = losses.tolist()
            which = "discriminator" if not math.isfinite(d) else "generator"
            self.fail(st.step, f"the {which} loss is {d if which == 'discriminator' else g}")
        if st.step % self.every == 0:
            self.check_weights(s, st.step)


class MetricsLog:
    """metrics.jsonl and TensorBoard scalars every ``every`` steps (DivergenceGuard, which
    runs before it, has already stopped the run on non-finite numbers)."""

    def __init__(self, run_dir: Path, every: int, tensorboard: bool, resumed_at: Optional[int] = None) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.every = every
        self.t0 = time.time()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # On resume, drop the events logged after the checkpoint: they are logged again.
            self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=None if resumed_at is None else resumed_at + 1)
        self.latest: dict[str, float] = {}

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every and st.step != 1:
            return
        row = {
            "step": st.step,
            "loss_d": st.d_loss.item(),
            "loss_g": st.g_loss.item(),
            "d_real": torch.sigmoid(st.real_logits).mean().item(),
            "d_fake": torch.sigmoid(st.fake_logits).mean().item(),
            "lr_d": s.opt_d.param_groups[0]["lr"],
            "lr_g": s.opt_g.param_groups[0]["lr"],
            "seconds": round(time.time() - self.t0, 3),
        }
        row.update(s.extras.get("diagnostics_row", {}))
        self.latest = row
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:  # name the file: a failed write() does not
            raise OSError(e.errno, e.strerror or str(e), str(self.path)) from e
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("step", "seconds") and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, st.step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class SampleGrids:
    """The same 100 noise vectors rendered every ``every`` steps, so grids show progress.
    With ``pairs`` (fixed inputs and targets of paired data) each grid row shows three
    input | output | target triplets instead."""

    def __init__(self, run_dir: Path, every: int, noise: NoiseSampler, pixel_range: str, writer=None,
                 pairs: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> None:
        self.dir = run_dir / "samples"
        self.every, self.pixel_range, self.writer = every, pixel_range, writer
        fixed = NoiseSampler(noise.dim, noise.distribution, noise.scale, noise.num_classes, seed=1234)
        self.z, self.y = fixed.sample(100 if pairs is None else pairs[0].shape[0])
        self.target = None if pairs is None else pairs[1]
        if pairs is not None:
            self.y = pairs[0]
        elif self.y is not None:
            self.y = torch.arange(100) % noise.num_classes

    @torch.no_grad()
    def render(self, s: TrainState, name: str) -> Optional[Path]:
        G = sampling_generator(s)  # the EMA where the run keeps one: what `gankit sample` draws from
        was = G.training
        G.eval()
        x = G(self.z, self.y)
        G.train(was)
        if x.dim() != 4:  # not images (e.g. toy points [N, d]): no grid to draw
            return None
        unit = (lambda t: t) if self.pixel_range == "unit" else (lambda t: (t + 1) / 2)
        x, nrow = unit(x), 10
        if self.target is not None:
            from gankit.training.translation import columns

            x, nrow = columns(unit(self.y), x, unit(self.target)), 9
        path = self.dir / name
        save_grid(x, path, nrow=nrow)
        if self.writer is not None:
            from gankit.images import make_grid

            self.writer.add_image("samples", make_grid(x, nrow), s.step, dataformats="HWC")
        return path

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every == 0:
            self.render(s, f"step-{st.step:08d}.png")


class Checkpointer:
    """Saves every ``every`` steps or ``seconds`` of wall time, whichever comes first, and
    keeps the newest ``keep``. The weights are checked first: a diverged state is never saved."""

    def __init__(
        self,
        run_dir: Path,
        cfg: Config,
        context: dict[str, Any],
        every: int,
        seconds: float,
        keep: int,
        guard: Optional[DivergenceGuard] = None,
    ) -> None:
        self.dir = run_dir / CHECKPOINTS
        self.cfg, self.context, self.every, self.seconds, self.keep = cfg, context, every, seconds, keep
        self.guard = guard
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
            ckpt.save(path, state_payload(s, self.cfg, self.context), hook=hook)
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
    checkpoint, then stop with KeyboardInterrupt. A second Ctrl-C stops at once."""

    def __init__(self, saver: Checkpointer, say: Callable[[str], None]) -> None:
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
        if self.requested is None:
            return
        if self.saver.last() != ckpt.checkpoint_path(self.saver.dir, s.step):
            self.saver.save(s)
        self.say(f"gankit: {self.requested}: stopped after step {s.step} and saved {self.saver.last().name}; run the same command to continue")
        raise KeyboardInterrupt


class KillAtStep:
    """Fault injection for the resume tests: SIGKILL at the end of step N (see checkpoint.FAULT_ENV)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step == self.step:
            ckpt.kill_self()


class ProgressBar:
    def __init__(self, total: int, start: int, every: int, log: MetricsLog, desc: str = "train") -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=start, desc=desc, unit="step", dynamic_ncols=True, mininterval=1.0)
        self.every, self.log = every, log

    def __call__(self, s: TrainState, st: StepStats) -> None:
        self.bar.update(1)
        if st.step % self.every == 0 and self.log.latest:
            r = self.log.latest
            self.bar.set_postfix_str(
                f"loss_d={r['loss_d']:.3f} loss_g={r['loss_g']:.3f} D(x)={r['d_real']:.2f} D(G(z))={r['d_fake']:.2f}"
                + s.extras.get("diagnostics_postfix", ""),
                refresh=False,
            )

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------------------
# The run


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """'field x.y: saved 1, now 2' for the first field where two config dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
    return f"field '{prefix.rstrip('.')}': saved {a!r}, now {b!r}"


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a half-written last line from a crash
    write_text(path, "".join(l + "\n" for l in keep))


def train(
    cfg: Config,
    out: str | Path,
    resume: str = "auto",
    callbacks: Iterable[Callback] = (),
    progress: Optional[bool] = None,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> TrainState:
    """Train ``cfg`` into run directory ``out``.

    ``resume="auto"`` continues a run directory from its newest good checkpoint (damaged
    newer ones are reported and set aside); ``resume="never"`` refuses a non-empty one.
    """
    if resume not in RESUME_MODES:
        raise GankitError(f"--resume {resume}: expected one of {', '.join(RESUME_MODES)}")
    run_dir = Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise GankitError(f"--out {run_dir}: exists and is not a directory")
    existing = None
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if resume == "never":
            raise GankitError(f"--out {run_dir}: run directory exists and --resume never was given; choose another --out")
        found = ckpt.list_checkpoints(run_dir / CHECKPOINTS)
        if not found and not (run_dir / "config.yaml").exists():
            raise GankitError(f"--out {run_dir}: not empty and not a gankit run directory (no config.yaml); choose another --out")
        for tmp in stale_temp_files(run_dir / CHECKPOINTS):
            tmp.unlink(missing_ok=True)  # a write killed before its rename; never a checkpoint
        existing = newest_good_checkpoint(run_dir / CHECKPOINTS, say, quarantine=True)
        if existing is None and found:
            raise CheckpointError(
                f"{run_dir / CHECKPOINTS}: none of its {len(found)} checkpoint(s) can be loaded; "
                "nothing to resume from (choose another --out to start afresh)"
            )
    if existing is not None:
        saved = config_from_dict(json.loads(existing[1]["config"]), f"{existing[0]}: config")
        if saved.model_dump(exclude={"train", "log"}) != cfg.model_dump(exclude={"train", "log"}):
            diff = _first_difference(saved.model_dump(exclude={"train", "log"}), cfg.model_dump(exclude={"train", "log"}))
            raise GankitError(
                f"--out {run_dir}: holds a run with a different config ({diff}); resume it with the same "
                "preset and overrides (only train.* and log.* may change), or choose another --out"
            )
    # Data and nets first: a bad data file or net argument leaves no half-made run directory.
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit)
    state, context = build_state(cfg, data)
    run_dir.mkdir(parents=True, exist_ok=True)
    if existing is not None:
        restore(state, existing[1])
        _truncate_metrics(run_dir / "metrics.jsonl", state.step)
        say(f"gankit: resuming {run_dir} from step {state.step} ({existing[0].name})")
    else:
        write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        write_json(run_dir / "run.json", {"seed": cfg.seed, "versions": versions(), "data_source": data.source, "argv": sys.argv})
    log = MetricsLog(run_dir, cfg.log.every, cfg.log.tensorboard, resumed_at=state.step if existing is not None else None)
    from gankit.training.translation import preview_pairs

    grids = SampleGrids(run_dir, cfg.log.samples_every, state.noise, cfg.data.pixel_range, log.writer, preview_pairs(data, cfg))
    saver = Checkpointer(run_dir, cfg, context, cfg.log.checkpoint_every, cfg.log.checkpoint_seconds, cfg.log.keep_checkpoints)
    guard = DivergenceGuard(cfg.log.every, saver.last)
    saver.guard = guard
    cbs: list[Callback] = [guard, log, *callbacks, grids, saver]
    if "G_ema" in state.extras:
        cbs.insert(1, state.extras["G_ema"])  # update the average right after each G step
    if cfg.log.diagnostics:
        from gankit.training.diagnostics import make_diagnostics

        cbs[1:1] = make_diagnostics(cfg, run_dir, state, log.writer)  # before log: their row lands in the same step
    kill_at = ckpt.faults().get("kill-at-step")
    if kill_at:
        cbs.append(KillAtStep(int(kill_at)))
    show = cfg.log.progress if progress is None else progress
    bar = ProgressBar(cfg.train.steps, state.step, cfg.log.every, log) if show else None
    if bar is not None:
        cbs.append(bar)
    stop = StopOnSignal(saver, say)
    cbs.append(stop)
    try:
        with stop.installed():
            algorithm1(state, cfg.train.steps, cbs)
        if saver.last() != ckpt.checkpoint_path(saver.dir, state.step):
            saver.save(state)
        grids.render(state, "final.png")
    except OSError as e:  # metrics, sample grids, TensorBoard: e.g. a full disk
        why = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        where = e.filename or run_dir
        last = saver.last()
        kept = f"the last good checkpoint {last.name} is intact" if last is not None else "no checkpoint had been written yet"
        raise GankitError(f"{where}: could not write ({why}) at step {state.step}; {kept}; run the same command again to resume") from e
    finally:
        if bar is not None:
            bar.close()
        log.close()
    return state


# ---------------------------------------------------------------------------------------
# Loading a generator for sampling/evaluation (no optimiser state, no data needed)


def resolve_checkpoint(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        found = ckpt.list_checkpoints(p / CHECKPOINTS) or ckpt.list_checkpoints(p)
        if not found:
            raise CheckpointError(f"{p}: no checkpoints in this run directory")
        return found[-1]
    if not p.exists():
        raise CheckpointError(f"{p}: no such run directory or checkpoint")
    return p


def load_generator(path: str | Path) -> tuple[torch.nn.Module, Config, dict[str, Any], int]:
    """(G in eval mode, config, net context, step) from a run directory or checkpoint file.
    G is the weight average when the run keeps one, with batch-norm statistics of its own."""
    p = Path(path)
    if p.is_dir():
        problems: list[str] = []
        found = newest_good_checkpoint(p / CHECKPOINTS if (p / CHECKPOINTS).is_dir() else p, problems.append)
        if found is None:
            why = f" (newest: {problems[0].removeprefix('gankit: warning: ')})" if problems else ""
            raise CheckpointError(f"{p}: no loadable checkpoint in this run directory{why}")
        for line in problems:  # fell back past damaged ones: say so, on stderr
            print(line, file=sys.stderr)
        payload = found[1]
    else:
        payload = ckpt.load(resolve_checkpoint(p))
    cfg = config_from_dict(json.loads(payload["config"]), f"{p}: config")
    context = json.loads(payload["context"])
    G, _ = build_nets(cfg, context)
    key = "G_ema" if "G_ema" in payload.get("extras", {}) else None
    G.load_state_dict(payload["extras"][key]["weights"] if key else payload["G"])
    G.eval()
    if key:  # the average's weights came with the live G's batch-norm statistics: recompute them
        recalibrate_batchnorm(G, sample_noise(cfg, context, BN_RECALIBRATION_SEED))
    return G, cfg, context, int(payload["step"])


def sample_noise(cfg: Config, context: dict[str, Any], seed: int) -> NoiseSampler:
    return NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, context.get("num_classes", 0), seed)


def sample_from(path: str | Path, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    G, cfg, context, _ = load_generator(path)
    return generate(G, n, sample_noise(cfg, context, seed), cfg.data.pixel_range, labels)
