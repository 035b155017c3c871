"""What a run directory holds besides checkpoints, kept true under kills, reruns and
concurrent trainers: the owner lock, the logs cut back to the step a run continues
from, and the record of a divergence.

- ``train.lock``: ``fcntl.flock`` on it marks the one process training into the
  directory. The kernel drops the lock when that process ends, however it ends, so a
  killed trainer never leaves a stale lock behind.
- ``metrics.jsonl``, ``diagnostics.log`` and TensorBoard events: rows for steps after the
  step a run continues from are dropped before training goes on (they are logged again),
  so any history of kills leaves each step logged once.
- ``diverged.json``: the step and reason of a divergence, so that rerunning the same
  command does not silently repeat it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from gankit.atomic import write_json, write_text
from gankit.config import Config
from gankit.errors import DivergenceError, GankitError

LOCK = "train.lock"
METRICS = "metrics.jsonl"
DIAGNOSTICS_LOG = "diagnostics.log"
TENSORBOARD = "tensorboard"
DIVERGED = "diverged.json"


class RunDirBusy(GankitError):
    """Another process is training into the run directory."""


@contextlib.contextmanager
def owned(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block; a second owner gets :class:`RunDirBusy`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            who = f"process {owner}" if owner.isdigit() else "another process"
            raise RunDirBusy(
                f"--out {run_dir}: {who} is training into this run directory; wait for it to finish "
                "(or stop it) before starting another trainer there, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def bookkeeping(name: str) -> bool:
    """Files a run directory may hold before its config: the lock."""
    return name == LOCK


# ---------------------------------------------------------------------------------------
# Logs


def json_row(row: dict[str, Any]) -> str:
    """One metrics row as strict JSON: a non-finite number becomes null (JSON has no inf)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    return json.dumps(clean, allow_nan=False)


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the rows of steps up to ``step``, each once (the first), in one atomic rewrite;
    a half-written line from a kill is dropped."""
    if not path.exists():
        return
    keep, seen = [], set()
    for line in path.read_text().splitlines():
        try:
            s = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(s, int) and s <= step and s not in seen:
            seen.add(s)
            keep.append(line)
    write_text(path, "".join(l + "\n" for l in keep))


_WARNING_STEP = re.compile(r"^gankit: warning at step (\d+):")


def truncate_diagnostics_log(path: Path, step: int) -> None:
    """Keep the warnings of steps up to ``step`` (the checkpoint remembers they were given)."""
    if not path.exists():
        return
    keep = [l for l in path.read_text().splitlines() if (m := _WARNING_STEP.match(l)) and int(m.group(1)) <= step]
    write_text(path, "".join(l + "\n" for l in keep))


def cut_logs(run_dir: Path, step: int) -> None:
    """Drop everything logged after ``step`` (0: a fresh start). TensorBoard events are cut
    by the writer the run opens: it starts with a purge of the steps after ``step``."""
    truncate_metrics(run_dir / METRICS, step)
    truncate_diagnostics_log(run_dir / DIAGNOSTICS_LOG, step)


# ---------------------------------------------------------------------------------------
# Divergence


@dataclass
class Divergence:
    step: int
    reason: str
    checkpoint: Optional[str]  # the checkpoint kept (the last with finite state), by name
    config: dict[str, Any]


def _trajectory(cfg: Config) -> dict[str, Any]:
    """The parts of a config that decide the numbers a run computes (not its length or logging)."""
    d = cfg.model_dump(mode="json", exclude={"log"})
    d["train"].pop("steps", None)
    d["train"].pop("threads", None)
    return d


def record_divergence(run_dir: Path, cfg: Config, step: int, reason: str, checkpoint: Optional[str]) -> None:
    write_json(run_dir / DIVERGED, {"step": step, "reason": reason, "checkpoint": checkpoint, "config": _trajectory(cfg)})


def read_divergence(run_dir: Path) -> Optional[Divergence]:
    path = run_dir / DIVERGED
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
        return Divergence(int(d["step"]), str(d["reason"]), d.get("checkpoint"), dict(d["config"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise GankitError(f"{path}: unreadable record of a divergence; delete it to train on") from None


def refuse_repeat_divergence(run_dir: Path, cfg: Config, resume_step: int) -> None:
    """Training is deterministic: the same config resumed from before a recorded divergence
    diverges again at the same step. Say so, and what to change, instead of repeating it."""
    d = read_divergence(run_dir)
    if d is None or resume_step >= d.step or cfg.train.steps < d.step or d.config != _trajectory(cfg):
        return
    shorter = f", or stop before step {d.step} (train.steps={d.step - 1})" if d.step > 1 else ""
    raise DivergenceError(
        f"--out {run_dir}: this run diverged at step {d.step} ({d.reason}) and would diverge there again "
        f"from {'its checkpoint ' + d.checkpoint if d.checkpoint else 'the start'}; start a new run (another --out) "
        f"with a lower learning rate (optim_d.lr, optim_g.lr), a different objective or seed{shorter}, "
        f"or delete {run_dir / DIVERGED} to repeat it as it is"
    )
