"""Kills in the middle of checkpoint writes: train the paper preset (tiny nets, real MNIST)
in a subprocess and SIGKILL it inside a checkpoint write, 50 times, at a random phase of a
random write:

  partial   half the bytes are in the temporary file
  written   the temporary file is complete and fsynced, not yet renamed
  renamed   the new checkpoint is in place, its directory not yet fsynced
  pruning   the new checkpoint is in place, older ones not yet removed

After every kill the newest checkpoint on disk must load and pass its checksum, and the
next run resumes from it. At the end the run is finished and its final state compared
byte for byte with an uninterrupted run.

    .venv/bin/python bench/checkpoint_kill.py --kills 50 --out /tmp/checkpoint-kill
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # before torch loads: no thread pool to break across fork()
sys.path.insert(0, str(Path(__file__).resolve().parent))

from resume_kill import compare, prepare_data, resumed_from, train_args, versions  # noqa: E402

from gankit.errors import CheckpointError  # noqa: E402
from gankit.training import checkpoint as ckpt  # noqa: E402


class Result:
    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


def _child(args: list[str], out: Path, fault: str | None, err_path: Path) -> None:
    if fault:
        os.environ[ckpt.FAULT_ENV] = fault
    fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    from gankit.cli.main import main as cli

    os._exit(cli([*args, "--out", str(out)]))


def run(args: list[str], out: Path, fault: str | None = None) -> Result:
    """Train in a forked child (torch already imported: each kill costs a fraction of a
    second instead of a fresh interpreter); the child is really SIGKILLed."""
    import multiprocessing

    err_path = out.parent / "stderr.txt"
    p = multiprocessing.get_context("fork").Process(target=_child, args=(args, out, fault, err_path))
    p.start()
    p.join()
    return Result(p.exitcode, err_path.read_text() if err_path.exists() else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--every", type=int, default=2, help="log.checkpoint_every")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points (training uses the preset's seed 0)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/gankit-checkpoint-kill"))
    a = ap.parse_args()
    # Each kill lets at most 2 new checkpoints through, so this many steps outlast the kills.
    steps = a.every * (2 * a.kills + 10)
    rng = random.Random(a.seed)
    base, killed = a.out / "uninterrupted", a.out / "killed"
    for d in (base, killed):
        shutil.rmtree(d, ignore_errors=True)
    a.out.mkdir(parents=True, exist_ok=True)
    prepare_data(a.out)
    t0 = time.time()
    r = run(train_args(steps, a.every), base)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    t_base = time.time() - t0
    rows, failures = [], 0
    t1 = time.time()
    for i in range(a.kills):
        # the first kill spares one write, so there is a "last good checkpoint" to keep
        nth, phase = rng.choice([1, 2]) if i else 2, rng.choice(ckpt.WRITE_PHASES)
        r = run(train_args(steps, a.every), killed, fault=f"kill-in-write={nth}:{phase}")
        found = ckpt.list_checkpoints(killed / "checkpoints")
        temps = [p.name for p in (killed / "checkpoints").iterdir() if p.name.endswith(".tmp")] if found else []
        try:
            newest_ok = bool(found) and ckpt.load(found[-1]) is not None
            problem = None if found else "no checkpoint at all"
        except CheckpointError as e:
            newest_ok, problem = False, str(e)
        ok = r.returncode == -signal.SIGKILL and newest_ok
        failures += not ok
        row = {
            "write": nth, "phase": phase, "returncode": r.returncode, "resumed_from": resumed_from(r.stderr),
            "newest": found[-1].name if found else None, "newest_loads": newest_ok, "temp_files_left": len(temps),
            "problem": problem,
        }  # fmt: skip
        rows.append(row)
        print(
            f"kill {i + 1:2d}/{a.kills} in write {nth} at {phase:8s}: rc {r.returncode}, "
            f"newest {row['newest']} loads: {newest_ok}{'' if problem is None else ' (' + problem + ')'}",
            flush=True,
        )
    r = run(train_args(steps, a.every), killed)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    t_killed = time.time() - t1
    cmp = compare(ckpt.checkpoint_path(base / "checkpoints", steps), ckpt.checkpoint_path(killed / "checkpoints", steps))
    result = {
        "command": " ".join([sys.executable, *sys.argv]),
        "train_args": train_args(steps, a.every),
        "kill_seed": a.seed,
        "kills": rows,
        "kills_leaving_a_loadable_checkpoint": sum(r["newest_loads"] for r in rows),
        "by_phase": {p: sum(r["phase"] == p for r in rows) for p in ckpt.WRITE_PHASES},
        "final": cmp,
        "wall_seconds": {"uninterrupted": round(t_base, 1), "killed_and_resumed": round(t_killed, 1)},
        "versions": versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared; timings under load)",
    }
    (a.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['kills_leaving_a_loadable_checkpoint']}/{a.kills} kills left a loadable newest checkpoint "
        f"(phases {result['by_phase']}); final state identical to the uninterrupted run: {cmp['identical']}"
    )
    return 0 if failures == 0 and cmp["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
