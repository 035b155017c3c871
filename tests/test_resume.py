"""Exact resume: a real training subprocess is SIGKILLed at random steps and in the middle
of checkpoint writes, resumed each time, and its final state must equal, byte for byte,
the state of an uninterrupted run with the same seed."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.training import checkpoint as ckpt

STEPS = 40


def _make_images(root: Path, n: int = 120) -> None:
    # A tiny folder dataset: loads in milliseconds, unlike the 50k MNIST images.
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(root / f"{i:04d}.png")


def train_args(data_root: Path, steps: int = STEPS) -> list[str]:
    """The paper preset (SGD with momentum, maxout D with dropout, so the torch RNG,
    the data order, the noise and the optimiser state all matter), with tiny nets."""
    return [
        "train", "goodfellow2014",
        "data.name=folder-28", f"data.root={data_root}", "data.batch_size=20",
        f"train.steps={steps}", "train.threads=1",
        "generator.args.hidden=[32,32]", "discriminator.args.units=16", "discriminator.args.pieces=2",
        "log.every=4", "log.checkpoint_every=4", "log.samples_every=1000", "log.keep_checkpoints=2",
        "log.tensorboard=false", "log.progress=false", "log.diagnostics=false",
    ]  # fmt: skip


def run_cli(args: list[str], out: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(ckpt.FAULT_ENV, None)
    if fault:
        env[ckpt.FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "gankit.cli.main", *args, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


flatten = ckpt.flat_state  # every leaf by path, tensors as raw bytes


def assert_same_state(a: Path, b: Path) -> None:
    fa, fb = flatten(ckpt.load(a)), flatten(ckpt.load(b))
    assert fa.keys() == fb.keys()
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"resumed run differs from the uninterrupted one at {differ[:5]}"
    for part in (".G", ".D", ".opt_g", ".opt_d"):  # the comparison really covered these
        assert any(k.startswith(part + ".") for k in fa), part


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    _make_images(root)
    return root


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, data_root) -> Path:
    out = tmp_path_factory.mktemp("base") / "run"
    r = run_cli(train_args(data_root), out)
    assert r.returncode == 0, r.stderr
    return ckpt.checkpoint_path(out / "checkpoints", STEPS)


def test_sigkill_at_random_steps_then_resume_is_bit_identical(tmp_path, data_root, baseline):
    out = tmp_path / "run"
    kills = sorted(random.Random(2014).sample(range(1, STEPS), 5))
    resumed_from = []
    for k in kills:
        r = run_cli(train_args(data_root), out, fault=f"kill-at-step={k}")
        assert r.returncode == -signal.SIGKILL, (k, r.returncode, r.stderr)
        if "resuming" in r.stderr:
            resumed_from.append(int(r.stderr.split("from step ")[1].split()[0]))
    r = run_cli(train_args(data_root), out)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    assert len(resumed_from) >= 3  # later kills really did resume from a checkpoint
    assert_same_state(baseline, ckpt.checkpoint_path(out / "checkpoints", STEPS))


def _sigterm_when_logged(args: list[str], out: Path, at_step: int) -> tuple[int, str]:
    """Start training and send SIGTERM once metrics.jsonl shows step >= at_step."""
    import json
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(ckpt.FAULT_ENV, None)
    p = subprocess.Popen(
        [sys.executable, "-m", "gankit.cli.main", *args, "--out", str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = out / "metrics.jsonl"
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        rows = log.read_text().splitlines() if log.exists() else []
        if rows and json.loads(rows[-1])["step"] >= at_step:
            break
        time.sleep(0.002)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


def test_kills_in_writes_sigterm_and_a_damaged_checkpoint_then_exact_resume(tmp_path, data_root, baseline):
    """One interrupted history (subprocesses are the expensive part of this file):
    3 SIGKILLs inside checkpoint writes, a SIGTERM, a flipped bit in the newest checkpoint."""
    out, ckdir = tmp_path / "run", tmp_path / "run" / "checkpoints"
    # half-written temp file; complete temp file not yet renamed; new file in place, old ones not pruned
    for phase in ("partial", "written", "pruning"):
        r = run_cli(train_args(data_root), out, fault=f"kill-in-write=2:{phase}")  # each process's 2nd write
        assert r.returncode == -signal.SIGKILL, (phase, r.stderr)
        found = ckpt.list_checkpoints(ckdir)
        assert found, phase
        ckpt.load(found[-1])  # the newest complete checkpoint verifies (raises otherwise)
        temps = [p for p in ckdir.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == (phase in ("partial", "written")), (phase, temps)  # the next run removes it
    assert found[-1].name == "ckpt-00000016.safetensors"

    # SIGTERM: the step finishes, a checkpoint of that very step is written, exit 130
    rc, err = _sigterm_when_logged(train_args(data_root), out, at_step=20)
    assert rc == 130, err
    stopped = int(err.split("stopped after step ")[1].split()[0])
    assert 20 <= stopped < STEPS
    found = ckpt.list_checkpoints(ckdir)
    assert found[-1] == ckpt.checkpoint_path(ckdir, stopped) and len(found) == 2

    # one flipped bit in the newest: reported, set aside, the previous one is used
    raw = bytearray(found[-1].read_bytes())
    raw[-5] ^= 0x40
    found[-1].write_bytes(bytes(raw))
    r = run_cli(train_args(data_root), out)
    assert r.returncode == 0, r.stderr
    assert "sha256 checksum does not match" in r.stderr and found[-1].name in r.stderr
    assert f"falling back to the previous good checkpoint {found[-2].name}" in r.stderr
    assert (ckdir / (found[-1].name + ".damaged")).is_file()
    assert_same_state(baseline, ckpt.checkpoint_path(ckdir, STEPS))


def test_resume_never_refuses_an_existing_run(data_root, baseline, capsys):
    from gankit.cli.main import main

    run_dir = baseline.parent.parent
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    assert main(train_args(data_root) + ["--resume", "never", "--out", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume never" in err and "Traceback" not in err
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before  # nothing touched


def test_sample_from_a_checkpoint_file_alone(tmp_path, baseline):
    """No run directory, no data, no optimiser state: only G, the config and the step."""
    full = ckpt.load(baseline)
    slim = {k: full[k] for k in ("step", "config", "context", "G")}
    lone = tmp_path / "elsewhere" / "g-only.safetensors"
    ckpt.save(lone, slim)
    from gankit.cli.main import main

    npy = tmp_path / "s.npy"
    assert main(["sample", str(lone), "--n", "7", "--out", str(npy)]) == 0
    x = np.load(npy)
    assert x.shape == (7, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert main(["sample", str(baseline), "--n", "7", "--out", str(tmp_path / "t.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "t.npy"), x)  # same G, same seed: same samples
