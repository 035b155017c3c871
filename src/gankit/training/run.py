"""A training run on disk: config, versions, metrics.jsonl, TensorBoard, sample grids and
checkpoints, with exact resume from the newest good checkpoint."""
from __future__ import annotations

import contextlib
import errno
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from gankit.atomic import write_json, write_text
from gankit.config import Config
from gankit.data.datasets import Dataset, load_dataset
from gankit.errors import CheckpointError, DivergenceError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training import parallel, rundir
from gankit.training.algorithm1 import Callback, algorithm1
from gankit.training.build import build_state
from gankit.training.callbacks import default_callbacks
from gankit.training.diagnostics import Diagnostics
from gankit.training.preflight import preflight
from gankit.training.resume import (
    DIAGNOSTICS_KEY,
    EXTRAS,
    Found,
    check_out_dir,
    check_payload,
    check_same_config,
    check_step,
    restore,
    resume_point,
)
from gankit.training.simultaneous import simultaneous
from gankit.training.state import TrainState
from gankit.versions import versions

# train.update -> the loop that trains: (state, until_step, callbacks) -> None
Loop = Callable[[TrainState, int, Iterable[Callback]], None]
LOOPS: dict[str, Loop] = {"alternating": algorithm1, "simultaneous": simultaneous}


def train(
    cfg: Config,
    out: str | Path,
    resume: str = "auto",
    callbacks: Iterable[Callback] = (),
    progress: Optional[bool] = None,
    say: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    data: Optional[Dataset] = None,
) -> TrainState:
    """Train ``cfg`` into run directory ``out``.

    ``resume="auto"`` continues a run directory from its newest good checkpoint (damaged
    newer ones are reported and set aside); ``resume="never"`` refuses a non-empty one.
    ``callbacks`` run after each step, once it is logged (see ``default_callbacks``).
    ``data`` replaces the dataset ``cfg.data`` names (the user's own, in memory; see
    ``gankit.data.convert``); ``cfg.data.limit`` still applies.
    One process at a time trains into a run directory (``rundir.owned``). Started by
    torchrun (several processes; see docs/usage/gpu-ddp.md), each process trains its slice
    of every global minibatch and the main one alone writes ``out``.
    """
    job = parallel.start(cfg.train.device, cfg.seed, cfg.train.sync_batchnorm)
    try:
        return _train(cfg, Path(out), job, resume, callbacks, progress, say if job.shard.main else lambda m: None, data)
    finally:
        job.close()


def _train(
    cfg: Config,
    run_dir: Path,
    job: parallel.Job,
    resume: str,
    callbacks: Iterable[Callback],
    progress: Optional[bool],
    say: Callable[[str], None],
    data: Optional[Dataset] = None,
) -> TrainState:
    shard = job.shard
    if shard.main:
        check_out_dir(run_dir, resume)
    # Data, nets and objective first: bad input leaves no file behind.
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit) if data is None else data.head(cfg.data.limit)
    state, context = build_state(cfg, data, job)
    preflight(cfg, state)
    if state.precision == "bf16" and not parallel.native_bf16(job.device):
        say(f"gankit: train.precision=bf16 on a {job.device.type} without bf16 in hardware: it is emulated and runs far "
            "slower than fp32; train.precision=auto takes bf16 only where the hardware has it")
    with rundir.owned(run_dir) if shard.main else contextlib.nullcontext():
        # The main process alone reads the run directory (and sets damaged checkpoints aside);
        # every process then loads the checkpoint it chose, so all resume from the same one.
        chosen: list[Optional[Found]] = []

        def choose() -> Optional[Path]:
            chosen.append(resume_point(run_dir, resume, say))
            return None if chosen[0] is None else chosen[0][0]

        path = shard.on_main(choose)
        existing = chosen[0] if chosen else None if path is None else (path, ckpt.load(path))
        diagnostics = Diagnostics(cfg, run_dir, state) if cfg.log.diagnostics and shard.main else None
        if existing is not None:
            path, payload = existing
            check_payload(path, payload, state)
            check_same_config(existing, cfg, run_dir)
            saved_diagnostics = payload.get(EXTRAS, {}).get(DIAGNOSTICS_KEY)
            if diagnostics is not None and saved_diagnostics is not None:
                try:
                    diagnostics.load_state_dict(saved_diagnostics)
                except ValueError as e:
                    raise CheckpointError(f"{path}: {EXTRAS}.{DIAGNOSTICS_KEY}: {e}") from None
        if shard.main:
            rundir.refuse_repeat_divergence(run_dir, cfg, check_step(existing[0], existing[1]) if existing else 0)
        if existing is not None:
            restore(state, existing[1])
            say(f"gankit: resuming {run_dir} from step {state.step} ({existing[0].name})")
            saved_by = int(existing[1].get("processes", 1))
            if saved_by != shard.world:
                say(f"gankit: {existing[0].name} was written by {saved_by} process(es) and this run has {shard.world}: the "
                    f"global minibatch of {cfg.data.batch_size} is the same, but the numbers are not bit-identical to a run "
                    f"that kept {saved_by}")
        elif shard.main:
            write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            write_json(run_dir / "run.json", {"seed": cfg.seed, "dry_run": cfg.dry_run, "versions": versions(), "data_source": data.source,
                                              "argv": sys.argv, "processes": shard.world, "device": str(job.device),
                                              "precision": state.precision})
        if shard.main:
            rundir.cut_logs(run_dir, state.step)  # what a killed run logged past its checkpoint is logged again
        return _train_owned(cfg, state, run_dir, context, existing is not None, callbacks, progress, say, diagnostics, data)


def _train_owned(
    cfg: Config,
    state: TrainState,
    run_dir: Path,
    context: dict,
    resumed: bool,
    callbacks: Iterable[Callback],
    progress: Optional[bool],
    say: Callable[[str], None],
    diagnostics: Optional[Diagnostics],
    data: Dataset,
) -> TrainState:
    shard = state.shard
    cbs = default_callbacks(
        cfg, state, run_dir, context, resumed=resumed, extra=callbacks,
        progress=(cfg.log.progress if progress is None else progress) and shard.main, say=say, diagnostics=diagnostics,
        data=data,
    )
    saver, grids, stop, guard = cbs.saver, cbs.grids, cbs.stop, cbs.guard
    assert stop is not None and guard is not None  # made for every run directory, in every process
    try:
        with stop.installed():
            LOOPS[cfg.train.update](state, cfg.train.steps, cbs.ordered)
        if saver is not None and saver.last() != ckpt.checkpoint_path(saver.dir, state.step):
            saver.save(state)
        if grids is not None:
            grids.render(state, "final.png")
    except DivergenceError:
        if guard.diverged is not None and saver is not None:
            last = saver.last()
            rundir.record_divergence(run_dir, cfg, *guard.diverged, last.name if last is not None else None)
        raise
    except OSError as e:  # metrics, sample grids, TensorBoard: e.g. a full disk
        why = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        where = e.filename or run_dir
        last = saver.last() if saver is not None else None
        kept = f"the last good checkpoint {last.name} is intact" if last is not None else "no checkpoint had been written yet"
        raise GankitError(f"{where}: could not write ({why}) at step {state.step}; {kept}; run the same command again to resume") from e
    finally:
        cbs.close()
    shard.barrier()  # the final checkpoint is on disk before any process reports the run done
    return state
