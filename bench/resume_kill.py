"""Exact resume under SIGKILL: train the paper preset (tiny nets, real MNIST) in a
subprocess, SIGKILL it at random points, resume each time, and compare with an
uninterrupted run: the final state (G, D, both optimisers, RNGs, data order, diagnostics)
byte for byte, every row of metrics.jsonl but its wall time, and every TensorBoard scalar.

The first kills land before the first checkpoint exists (so each rerun starts afresh),
one of them inside the first checkpoint write; the rest alternate between two kinds:
  step      GANKIT_FAULT=kill-at-step=N: SIGKILL right after step N (exact and repeatable)
  external  the parent sends SIGKILL from outside at a random moment once metrics.jsonl
            shows step >= N (lands anywhere: mid-step, mid-write, mid-log)

    .venv/bin/python bench/resume_kill.py --kills 20 --out /tmp/resume-kill

Writes OUT/result.json and prints one line per kill and a summary.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from gankit import __version__
from gankit.training import checkpoint as ckpt

# The paper preset on 500 MNIST digits, batches of 50, small nets. The digits are written
# once as PNGs (data.name=folder-28) so each of the many processes loads them in
# milliseconds instead of unpacking all of MNIST.
TRAIN = [
    "train", "goodfellow2014", "data.name=folder-28", "data.batch_size=50", "train.threads=1",
    "generator.args.hidden=[64,64]", "discriminator.args.units=32",
    "log.every=1", "log.samples_every=100000", "log.keep_checkpoints=3",
    "log.tensorboard=true", "log.progress=false", "log.diagnostics_every=7",
]  # fmt: skip


DATA_ROOT: Path | None = None


def prepare_data(out: Path, n: int = 500) -> Path:
    """The first ``n`` MNIST training digits as PNG files in ``out/mnist{n}``."""
    global DATA_ROOT
    root = out / f"mnist{n}"
    if not (root.is_dir() and len(list(root.glob("*.png"))) == n):
        from PIL import Image

        from gankit.data.datasets import load_dataset

        root.mkdir(parents=True, exist_ok=True)
        x = load_dataset("mnist", limit=n).train.x.mul(255).round().to(torch.uint8)
        for i in range(n):
            Image.fromarray(x[i, 0].numpy(), mode="L").save(root / f"{i:05d}.png")
    DATA_ROOT = root
    return root


def train_args(steps: int, every: int, extra: list[str] = ()) -> list[str]:
    assert DATA_ROOT is not None, "call prepare_data first"
    return [*TRAIN, f"data.root={DATA_ROOT}", f"train.steps={steps}", f"log.checkpoint_every={every}", *extra]


def _env(fault: str | None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(ckpt.FAULT_ENV, None)
    if fault:
        env[ckpt.FAULT_ENV] = fault
    return env


def run(args: list[str], out: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gankit.cli.main", *args, "--out", str(out)],
        env=_env(fault), capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def last_logged_step(out: Path) -> int:
    try:
        lines = (out / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return -1
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError):
            continue
    return -1


def run_and_kill_externally(args: list[str], out: Path, at_step: int, rng: random.Random) -> tuple[int, str, int]:
    """Start training, SIGKILL it from outside a random 0-40 ms after it logs step >= at_step.
    Returns (return code, stderr, the step last logged before the kill)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "gankit.cli.main", *args, "--out", str(out)],
        env=_env(None), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    while p.poll() is None and last_logged_step(out) < at_step:
        time.sleep(0.002)
    if p.poll() is None:
        time.sleep(rng.uniform(0, 0.04))
        p.send_signal(signal.SIGKILL)
    _, err = p.communicate()
    return p.returncode, err, last_logged_step(out)


flatten = ckpt.flat_state  # every leaf by path, tensors as raw bytes


def compare(a: Path, b: Path) -> dict:
    fa, fb = flatten(ckpt.load(a)), flatten(ckpt.load(b))
    differ = sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))
    tensors = [k for k, v in fa.items() if isinstance(v, tuple) and len(v) == 3 and isinstance(v[2], bytes)]
    return {
        "identical": not differ,
        "differing_entries": differ[:20],
        "tensors_compared": len(tensors),
        "bytes_compared": sum(len(fa[k][2]) for k in tensors),
        "parts": sorted({k.split(".")[1] for k in fa}),
    }


def metrics_rows(out: Path) -> list[dict]:
    """metrics.jsonl without wall times, parsed as strict JSON."""

    def refuse(c: str):
        raise ValueError(f"{out / 'metrics.jsonl'}: {c} is not JSON")

    rows = [json.loads(line, parse_constant=refuse) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def tensorboard_scalars(out: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar as TensorBoard reads it (purges applied): tag -> [(step, value)]."""
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # each purge is expected here, not news
    acc = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def compare_logs(a: Path, b: Path) -> dict:
    ra, rb = metrics_rows(a), metrics_rows(b)
    ta, tb = tensorboard_scalars(a), tensorboard_scalars(b)
    steps = [r["step"] for r in rb]
    return {
        "metrics_identical": ra == rb,
        "metrics_rows": len(rb),
        "metrics_duplicated_steps": len(steps) - len(set(steps)),
        "tensorboard_identical": ta == tb,
        "tensorboard_tags": len(tb),
        "tensorboard_events": sum(len(v) for v in tb.values()),
    }


def resumed_from(stderr: str) -> int | None:
    if "resuming" not in stderr:
        return None
    return int(stderr.split("from step ")[1].split()[0])


def versions() -> dict[str, str]:
    import numpy

    return {"gankit": __version__, "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--every", type=int, default=5, help="log.checkpoint_every")
    ap.add_argument("--early", type=int, default=3, help="kills before the first checkpoint (one inside its write)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points (training uses the preset's seed 0)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/gankit-resume-kill"))
    a = ap.parse_args()
    if a.kills - a.early > a.steps - a.every or a.early < 1 or a.early > a.every:
        ap.error("need 1 <= --early <= --every and --kills - --early <= --steps - --every")
    rng = random.Random(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    prepare_data(a.out)
    base, killed = a.out / "uninterrupted", a.out / "killed"
    for d in (base, killed):
        if d.exists():
            import shutil

            shutil.rmtree(d)
    t0 = time.time()
    r = run(train_args(a.steps, a.every), base)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    t_base = time.time() - t0
    # Before the first checkpoint: kills after steps 1..every-1 and one inside the first
    # checkpoint's write; each rerun finds no checkpoint and starts afresh.
    early = sorted(rng.sample(range(1, a.every), a.early - 1)) + [a.every]
    points = [(s, "step") for s in early[:-1]] + [(a.every, "write")]
    points += [(s, "step" if i % 2 == 0 else "external") for i, s in enumerate(sorted(rng.sample(range(a.every, a.steps), a.kills - a.early)))]
    rows = []
    t1 = time.time()
    for i, (step, kind) in enumerate(points):
        # An external kill lands some steps after its target: keep each target past every
        # step logged so far, so each kill lands in steps the run has yet to make.
        step = max(step, last_logged_step(killed) + 1)
        if step >= a.steps:
            ap.error(f"kill {i + 1} has no steps left to land in; give more --steps")
        if kind == "write":
            r = run(train_args(a.steps, a.every), killed, fault="kill-in-write=1:partial")
            rc, err, logged = r.returncode, r.stderr, last_logged_step(killed)
        elif kind == "step":
            r = run(train_args(a.steps, a.every), killed, fault=f"kill-at-step={step}")
            rc, err, logged = r.returncode, r.stderr, last_logged_step(killed)
        else:
            rc, err, logged = run_and_kill_externally(train_args(a.steps, a.every), killed, step, rng)
        row = {"kind": kind, "target_step": step, "returncode": rc, "resumed_from": resumed_from(err), "last_logged": logged}
        rows.append(row)
        print(f"kill {i + 1:2d}/{a.kills} {kind:8s} at step {step:3d}: rc {rc}, resumed from {row['resumed_from']}, last logged {logged}", flush=True)
    r = run(train_args(a.steps, a.every), killed)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    t_killed = time.time() - t1
    cmp = compare(ckpt.checkpoint_path(base / "checkpoints", a.steps), ckpt.checkpoint_path(killed / "checkpoints", a.steps))
    logs = compare_logs(base, killed)
    result = {
        "command": " ".join([sys.executable, *sys.argv]),
        "train_args": train_args(a.steps, a.every),
        "kill_seed": a.seed,
        "kills": rows,
        "kills_landed": sum(r["returncode"] == -signal.SIGKILL for r in rows),
        "kills_before_first_checkpoint": a.early,
        "final": cmp,
        "logs": logs,
        "wall_seconds": {"uninterrupted": round(t_base, 1), "killed_and_resumed": round(t_killed, 1)},
        "versions": versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared; timings under load)",
    }
    (a.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['kills_landed']}/{a.kills} kills landed ({a.early} before the first checkpoint); "
        f"final state identical: {cmp['identical']} ({cmp['tensors_compared']} tensors, {cmp['bytes_compared']} bytes; "
        f"parts {', '.join(cmp['parts'])}); metrics.jsonl identical: {logs['metrics_identical']} "
        f"({logs['metrics_rows']} rows, {logs['metrics_duplicated_steps']} duplicated); TensorBoard identical: "
        f"{logs['tensorboard_identical']} ({logs['tensorboard_tags']} tags, {logs['tensorboard_events']} events)"
    )
    ok = cmp["identical"] and logs["metrics_identical"] and logs["tensorboard_identical"]
    return 0 if ok and result["kills_landed"] == a.kills else 1


if __name__ == "__main__":
    sys.exit(main())
