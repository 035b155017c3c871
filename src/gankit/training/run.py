"""A training run on disk: config, versions, metrics.jsonl, TensorBoard, sample grids and
checkpoints, with exact resume from the newest good checkpoint."""
from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
import yaml

from gankit import __version__
from gankit.atomic import write_json, write_text
from gankit.config import Config, config_from_dict
from gankit.data.datasets import load_dataset
from gankit.errors import CheckpointError, DivergenceError, GankitError
from gankit.images import save_grid
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import Callback, StepStats, algorithm1
from gankit.training.build import build_nets, build_state, generate
from gankit.training.state import NoiseSampler, TrainState

CHECKPOINTS = "checkpoints"


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
        "rng": ckpt.rng_state(),
        "extras": {k: v.state_dict() for k, v in s.extras.items() if hasattr(v, "state_dict")},
    }


def restore(s: TrainState, payload: dict[str, Any]) -> None:
    s.G.load_state_dict(payload["G"])
    s.D.load_state_dict(payload["D"])
    s.opt_g.load_state_dict(payload["opt_g"])
    s.opt_d.load_state_dict(payload["opt_d"])
    s.data.load_state_dict(payload["data"])
    s.noise.load_state_dict(payload["noise"])
    for k, v in payload.get("extras", {}).items():
        if k in s.extras and hasattr(s.extras[k], "load_state_dict"):
            s.extras[k].load_state_dict(v)
    s.step = int(payload["step"])
    s.schedule.apply(s.step)
    ckpt.set_rng_state(payload["rng"])


def newest_good_checkpoint(folder: Path, say: Callable[[str], None] = print) -> Optional[tuple[Path, dict[str, Any]]]:
    """Newest checkpoint that loads; damaged ones are skipped with a message."""
    for path in reversed(ckpt.list_checkpoints(folder)):
        try:
            return path, ckpt.load(path)
        except CheckpointError as e:
            say(f"gankit: skipping damaged checkpoint: {e}")
    return None


# ---------------------------------------------------------------------------------------
# Callbacks


class MetricsLog:
    """metrics.jsonl and TensorBoard scalars every ``every`` steps; stops on non-finite losses."""

    def __init__(self, run_dir: Path, every: int, tensorboard: bool) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.every = every
        self.t0 = time.time()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"))
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
        for key in ("loss_d", "loss_g"):
            if not math.isfinite(row[key]):
                raise DivergenceError(
                    f"step {st.step}: {'discriminator' if key == 'loss_d' else 'generator'} loss is {row[key]}; "
                    "the run stopped and its last good checkpoint is kept. Try a lower learning rate "
                    "or the non-saturating objective."
                )
        self.latest = row
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("step", "seconds") and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, st.step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class SampleGrids:
    """The same 100 noise vectors rendered every ``every`` steps, so grids show progress."""

    def __init__(self, run_dir: Path, every: int, noise: NoiseSampler, pixel_range: str, writer=None) -> None:
        self.dir = run_dir / "samples"
        self.every, self.pixel_range, self.writer = every, pixel_range, writer
        fixed = NoiseSampler(noise.dim, noise.distribution, noise.scale, noise.num_classes, seed=1234)
        self.z, self.y = fixed.sample(100)
        if self.y is not None:
            self.y = torch.arange(100) % noise.num_classes

    @torch.no_grad()
    def render(self, s: TrainState, name: str) -> Path:
        was = s.G.training
        s.G.eval()
        x = s.G(self.z, self.y)
        s.G.train(was)
        x = x if self.pixel_range == "unit" else (x + 1) / 2
        path = self.dir / name
        save_grid(x, path, nrow=10)
        if self.writer is not None:
            from gankit.images import make_grid

            self.writer.add_image("samples", make_grid(x, 10), s.step, dataformats="HWC")
        return path

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every == 0:
            self.render(s, f"step-{st.step:08d}.png")


class Checkpointer:
    def __init__(self, run_dir: Path, cfg: Config, context: dict[str, Any], every: int, seconds: float, keep: int) -> None:
        self.dir = run_dir / CHECKPOINTS
        self.cfg, self.context, self.every, self.seconds, self.keep = cfg, context, every, seconds, keep
        self.last_time = time.time()

    def save(self, s: TrainState) -> Path:
        path = ckpt.checkpoint_path(self.dir, s.step)
        ckpt.save(path, state_payload(s, self.cfg, self.context))
        self.last_time = time.time()
        for old in ckpt.list_checkpoints(self.dir)[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def __call__(self, s: TrainState, st: StepStats) -> None:
        if st.step % self.every == 0 or time.time() - self.last_time >= self.seconds:
            self.save(s)


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
                f"loss_d={r['loss_d']:.3f} loss_g={r['loss_g']:.3f} D(x)={r['d_real']:.2f} D(G(z))={r['d_fake']:.2f}",
                refresh=False,
            )

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------------------
# The run


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
    """Train ``cfg`` into run directory ``out``; continue from its newest good checkpoint."""
    run_dir = Path(out)
    existing = newest_good_checkpoint(run_dir / CHECKPOINTS, say) if run_dir.exists() else None
    if run_dir.exists() and any(run_dir.iterdir()):
        if resume == "never":
            raise GankitError(f"{run_dir}: run directory exists and --resume never was given; choose another --out")
        if existing is None and (run_dir / "config.yaml").exists() and ckpt.list_checkpoints(run_dir / CHECKPOINTS):
            raise CheckpointError(f"{run_dir}: no loadable checkpoint to resume from")
    if existing is not None:
        saved = config_from_dict(json.loads(existing[1]["config"]), f"{existing[0]}: config")
        if saved.model_dump(exclude={"train", "log"}) != cfg.model_dump(exclude={"train", "log"}):
            raise GankitError(
                f"{run_dir}: holds a run with a different config; resume it with the same preset and overrides, or choose another --out"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit)
    state, context = build_state(cfg, data)
    if existing is not None:
        restore(state, existing[1])
        _truncate_metrics(run_dir / "metrics.jsonl", state.step)
        say(f"gankit: resuming {run_dir} from step {state.step} ({existing[0].name})")
    else:
        write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        write_json(run_dir / "run.json", {"seed": cfg.seed, "versions": versions(), "data_source": data.source, "argv": sys.argv})
    log = MetricsLog(run_dir, cfg.log.every, cfg.log.tensorboard)
    grids = SampleGrids(run_dir, cfg.log.samples_every, state.noise, cfg.data.pixel_range, log.writer)
    saver = Checkpointer(run_dir, cfg, context, cfg.log.checkpoint_every, cfg.log.checkpoint_seconds, cfg.log.keep_checkpoints)
    cbs: list[Callback] = [log, *callbacks, grids, saver]
    if cfg.log.diagnostics:
        from gankit.training.diagnostics import make_diagnostics

        cbs[1:1] = make_diagnostics(cfg, run_dir, state, log.writer)
    show = cfg.log.progress if progress is None else progress
    bar = ProgressBar(cfg.train.steps, state.step, cfg.log.every, log) if show else None
    if bar is not None:
        cbs.append(bar)
    try:
        algorithm1(state, cfg.train.steps, cbs)
        if not ckpt.list_checkpoints(saver.dir) or ckpt.list_checkpoints(saver.dir)[-1] != ckpt.checkpoint_path(saver.dir, state.step):
            saver.save(state)
        grids.render(state, "final.png")
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
    """(G in eval mode, config, net context, step) from a run directory or checkpoint file."""
    p = Path(path)
    if p.is_dir():
        found = newest_good_checkpoint(p / CHECKPOINTS if (p / CHECKPOINTS).is_dir() else p)
        if found is None:
            raise CheckpointError(f"{p}: no loadable checkpoint in this run directory")
        payload = found[1]
    else:
        payload = ckpt.load(resolve_checkpoint(p))
    cfg = config_from_dict(json.loads(payload["config"]), f"{p}: config")
    context = json.loads(payload["context"])
    G, _ = build_nets(cfg, context)
    key = "G_ema" if "G_ema" in payload.get("extras", {}) else None
    G.load_state_dict(payload["extras"][key]["weights"] if key else payload["G"])
    G.eval()
    return G, cfg, context, int(payload["step"])


def sample_noise(cfg: Config, context: dict[str, Any], seed: int) -> NoiseSampler:
    return NoiseSampler(cfg.noise.dim, cfg.noise.distribution, cfg.noise.scale, context.get("num_classes", 0), seed)


def sample_from(path: str | Path, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    G, cfg, context, _ = load_generator(path)
    return generate(G, n, sample_noise(cfg, context, seed), cfg.data.pixel_range, labels)
