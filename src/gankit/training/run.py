"""A training run on disk: config, versions, metrics.jsonl, TensorBoard, sample grids and
checkpoints, with exact resume from the newest good checkpoint."""
from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from gankit.atomic import write_json, write_text
from gankit.config import Config
from gankit.data.datasets import Dataset, load_dataset
from gankit.errors import GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.algorithm1 import Callback, algorithm1
from gankit.training.build import build_state
from gankit.training.callbacks import default_callbacks
from gankit.training import parallel
from gankit.training.resume import Found, check_same_config, restore, resume_point, truncate_metrics
from gankit.training.state import TrainState
from gankit.versions import versions


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

    Started by torchrun (several processes; see docs/usage/gpu-ddp.md), each process trains
    its slice of every global minibatch and the main one alone writes ``out``.
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
    # The main process alone reads the run directory (and sets damaged checkpoints aside);
    # every process then loads the checkpoint it chose, so all resume from the same one.
    chosen: list[Optional[Found]] = []

    def choose() -> Optional[Path]:
        chosen.append(resume_point(run_dir, resume, say))
        return None if chosen[0] is None else chosen[0][0]

    path = shard.on_main(choose)
    existing = chosen[0] if chosen else None if path is None else (path, ckpt.load(path))
    if existing is not None:
        check_same_config(existing, cfg, run_dir)
    # Data and nets first: a bad data file or net argument leaves no half-made run directory.
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit) if data is None else data.head(cfg.data.limit)
    state, context = build_state(cfg, data, job)
    if shard.main:
        run_dir.mkdir(parents=True, exist_ok=True)
    if existing is not None:
        restore(state, existing[1])
        saved_by = int(existing[1].get("processes", 1))
        if shard.main:
            truncate_metrics(run_dir / "metrics.jsonl", state.step)
        say(f"gankit: resuming {run_dir} from step {state.step} ({existing[0].name})")
        if saved_by != shard.world:
            say(f"gankit: {existing[0].name} was written by {saved_by} process(es) and this run has {shard.world}: the "
                f"global minibatch of {cfg.data.batch_size} is the same, but the numbers are not bit-identical to a run "
                f"that kept {saved_by}")
    elif shard.main:
        write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        write_json(run_dir / "run.json", {"seed": cfg.seed, "dry_run": cfg.dry_run, "versions": versions(), "data_source": data.source, "argv": sys.argv,
                                          "processes": shard.world, "device": str(job.device)})
    cbs = default_callbacks(
        cfg, state, run_dir, context, resumed=existing is not None, extra=callbacks,
        progress=(cfg.log.progress if progress is None else progress) and shard.main, say=say, data=data,
    )
    saver, grids, stop = cbs.saver, cbs.grids, cbs.stop
    assert stop is not None  # made for every run directory, in every process
    try:
        with stop.installed():
            algorithm1(state, cfg.train.steps, cbs.ordered)
        if saver is not None and saver.last() != ckpt.checkpoint_path(saver.dir, state.step):
            saver.save(state)
        if grids is not None:
            grids.render(state, "final.png")
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
