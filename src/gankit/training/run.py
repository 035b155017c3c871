"""A training run on disk: config, versions, metrics.jsonl, TensorBoard, sample grids and
checkpoints, with exact resume from the newest good checkpoint, one owner at a time."""
from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Callable, Iterable, Optional

import yaml

from gankit.atomic import write_json, write_text
from gankit.config import Config
from gankit.data.datasets import load_dataset
from gankit.errors import CheckpointError, DivergenceError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training import rundir
from gankit.training.algorithm1 import Callback, algorithm1
from gankit.training.build import build_state
from gankit.training.callbacks import default_callbacks
from gankit.training.diagnostics import Diagnostics
from gankit.training.preflight import preflight
from gankit.training.resume import (
    DIAGNOSTICS_KEY,
    EXTRAS,
    check_out_dir,
    check_payload,
    check_same_config,
    check_step,
    restore,
    resume_point,
)
from gankit.training.state import TrainState
from gankit.versions import versions


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
    ``callbacks`` run after each step, once it is logged (see ``default_callbacks``).
    One process at a time trains into a run directory (``rundir.owned``).
    """
    run_dir = Path(out)
    check_out_dir(run_dir, resume)
    # Data, nets and objective first: bad input leaves no file behind.
    data = load_dataset(cfg.data.name, cfg.data.root, cfg.data.download, cfg.data.limit)
    state, context = build_state(cfg, data)
    preflight(cfg, state)
    with rundir.owned(run_dir):
        existing = resume_point(run_dir, resume, say)
        diagnostics = Diagnostics(cfg, run_dir, state) if cfg.log.diagnostics else None
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
        rundir.refuse_repeat_divergence(run_dir, cfg, check_step(existing[0], existing[1]) if existing else 0)
        if existing is not None:
            restore(state, existing[1])
            say(f"gankit: resuming {run_dir} from step {state.step} ({existing[0].name})")
        else:
            write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            write_json(run_dir / "run.json", {"seed": cfg.seed, "versions": versions(), "data_source": data.source, "argv": sys.argv})
        rundir.cut_logs(run_dir, state.step)  # what a killed run logged past its checkpoint is logged again
        return _train_owned(cfg, state, run_dir, context, existing is not None, callbacks, progress, say, diagnostics)


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
) -> TrainState:
    cbs = default_callbacks(
        cfg, state, run_dir, context, resumed=resumed, extra=callbacks,
        progress=cfg.log.progress if progress is None else progress, say=say, diagnostics=diagnostics,
    )
    saver, grids, stop, guard = cbs.saver, cbs.grids, cbs.stop, cbs.guard
    assert saver is not None and grids is not None and stop is not None and guard is not None  # made for every run directory
    try:
        with stop.installed():
            algorithm1(state, cfg.train.steps, cbs.ordered)
        if saver.last() != ckpt.checkpoint_path(saver.dir, state.step):
            saver.save(state)
        grids.render(state, "final.png")
    except DivergenceError:
        if guard.diverged is not None:
            last = saver.last()
            rundir.record_divergence(run_dir, cfg, *guard.diverged, last.name if last is not None else None)
        raise
    except OSError as e:  # metrics, sample grids, TensorBoard: e.g. a full disk
        why = "no space left on device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        where = e.filename or run_dir
        last = saver.last()
        kept = f"the last good checkpoint {last.name} is intact" if last is not None else "no checkpoint had been written yet"
        raise GankitError(f"{where}: could not write ({why}) at step {state.step}; {kept}; run the same command again to resume") from e
    finally:
        cbs.close()
    return state
