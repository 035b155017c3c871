"""A run directory stays true around its weights: logs after kills and resumes, the
diagnostics' state, one trainer at a time, nothing non-finite saved, hostile input files
and checkpoints, the checkpoint header under its checksum, `sample` into files of any
size, and a closed stdout."""
from __future__ import annotations

import errno
import gzip
import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.cli.main import main
from gankit.config import load_config
from gankit.errors import CheckpointError, DataError, DivergenceError
from gankit.training import checkpoint as ckpt
from gankit.training.run import train

# toy-ring8 with small nets on one thread: a step takes about a millisecond.
TOY = [
    "train.threads=1", "data.batch_size=64", "generator.args.hidden=[32,32]", "discriminator.args.hidden=[32,32]",
    "log.progress=false", "log.tensorboard=false", "log.samples_every=100000",
]  # fmt: skip


def toy_cfg(*extra: str):
    return load_config("toy-ring8", TOY + list(extra))


def quiet(_msg: str) -> None:
    pass


SRC = str(Path(__file__).resolve().parents[1] / "src")


def cli(args: list[str], out: Path, fault: str | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC}
    env.pop(ckpt.FAULT_ENV, None)
    if fault:
        env[ckpt.FAULT_ENV] = fault
    return subprocess.run([sys.executable, "-m", "gankit.cli.main", *args, "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def strict_rows(path: Path) -> list[dict]:
    def refuse(c: str):
        raise ValueError(f"not JSON: {c}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


class Stop(Exception):
    pass


class StopAt:
    """Raises after step ``n`` is logged (an in-process stand-in for a kill: nothing after it runs)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, s, st) -> None:
        if st.step == self.n:
            raise Stop


def without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# ---------------------------------------------------------------------------------------
# 1. Logs after kills: each step once, in metrics.jsonl and TensorBoard


def tensorboard_steps(run: Path, tag: str = "Loss/D") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def test_kills_before_and_after_the_first_checkpoint_leave_each_step_logged_once(tmp_path):
    args = ["train", "toy-ring8", *TOY, "log.tensorboard=true", "train.steps=60", "log.every=10",
            "log.checkpoint_every=40", "--no-progress"]  # fmt: skip
    base, run = tmp_path / "base", tmp_path / "run"
    assert cli(args, base).returncode == 0
    r = cli(args, run, fault="kill-at-step=25")  # before the first checkpoint: the rerun starts afresh
    assert r.returncode == -signal.SIGKILL and not ckpt.list_checkpoints(run / "checkpoints")
    r = cli(args, run, fault="kill-at-step=55")  # after it: the rerun resumes from step 40
    assert r.returncode == -signal.SIGKILL
    r = cli(args, run)
    assert r.returncode == 0 and "resuming" in r.stderr and "from step 40" in r.stderr
    want = [1, 10, 20, 30, 40, 50, 60]
    assert [row["step"] for row in strict_rows(run / "metrics.jsonl")] == want
    assert without_time(strict_rows(run / "metrics.jsonl")) == without_time(strict_rows(base / "metrics.jsonl"))
    assert tensorboard_steps(run) == want == tensorboard_steps(base)


# ---------------------------------------------------------------------------------------
# 2. Diagnostics' state is in the checkpoint


def test_a_resumed_run_logs_the_diagnostics_of_an_uninterrupted_one(tmp_path):
    cfg = toy_cfg("train.steps=100", "log.every=50", "log.checkpoint_every=70", "log.diagnostics_every=60")
    train(cfg, tmp_path / "base", say=quiet)
    with pytest.raises(Stop):
        train(cfg, tmp_path / "run", callbacks=[StopAt(75)], say=quiet)
    train(cfg, tmp_path / "run", say=quiet)
    base, run = strict_rows(tmp_path / "base" / "metrics.jsonl"), strict_rows(tmp_path / "run" / "metrics.jsonl")
    assert "diag_diversity" in base[-1]  # measured at step 60, logged at step 100
    assert without_time(run) == without_time(base)


def test_a_checkpoint_without_diagnostics_state_resumes_with_fresh_diagnostics(tmp_path):
    cfg = toy_cfg("train.steps=20", "log.every=10", "log.checkpoint_every=10")
    with pytest.raises(Stop):
        train(cfg, tmp_path / "run", callbacks=[StopAt(15)], say=quiet)
    path = ckpt.checkpoint_path(tmp_path / "run" / "checkpoints", 10)
    payload = ckpt.load(path)
    payload["extras"].pop("diagnostics")  # as checkpoints without it hold
    ckpt.save(path, payload)
    assert train(cfg, tmp_path / "run", say=quiet).step == 20


# ---------------------------------------------------------------------------------------
# 3. One trainer per run directory


def test_a_second_trainer_on_a_busy_run_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "toy-ring8", *TOY, "log.every=1", "train.steps=1000000", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC}
    first = subprocess.Popen([sys.executable, "-m", "gankit.cli.main", *args, "--out", str(out)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (out / "metrics.jsonl").exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, "the first trainer ended early"
        rows_before = (out / "metrics.jsonl").read_text().count("\n")
        assert main(["train", "toy-ring8", *TOY, "train.steps=5", "--no-progress", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(out) in err[0] and f"process {first.pid}" in err[0]
    finally:
        first.kill()
        first.wait()
    assert rows_before > 0
    # The lock went with its process: the directory can be trained into again.
    assert main(["train", "toy-ring8", *TOY, "train.steps=5", "--no-progress", "--out", str(out)]) == 0


# ---------------------------------------------------------------------------------------
# 4. Nothing non-finite is checkpointed; a rerun does not repeat a divergence


class PoisonAdam:
    """At step ``at`` (after its row is logged), sets one entry of D's Adam state to inf,
    as an overflowing gradient does."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, s, st) -> None:
        if st.step == self.at:
            p = next(iter(s.D.parameters()))
            s.opt_d.state[p]["exp_avg_sq"].view(-1)[0] = float("inf")


def all_finite(path: Path) -> bool:
    stack = [ckpt.load(path)]
    while stack:
        t = stack.pop()
        if isinstance(t, torch.Tensor):
            if t.is_floating_point() and not torch.isfinite(t).all():
                return False
        elif isinstance(t, dict):
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
        elif isinstance(t, float) and not np.isfinite(t):
            return False
    return True


def test_non_finite_optimiser_state_is_never_checkpointed_and_not_repeated(tmp_path):
    cfg = toy_cfg("train.steps=30", "log.every=5", "log.checkpoint_every=4", "train.ema_decay=0.9")
    out = tmp_path / "run"
    with pytest.raises(DivergenceError) as e:
        train(cfg, out, callbacks=[PoisonAdam(9)], say=quiet)
    msg = str(e.value)
    assert "diverged at step 10" in msg and "optimiser's state" in msg and "exp_avg_sq" in msg
    kept = ckpt.list_checkpoints(out / "checkpoints")
    assert kept and kept[-1].name == "ckpt-00000008.safetensors" and kept[-1].name in msg
    assert all(all_finite(p) for p in kept)
    rows = strict_rows(out / "metrics.jsonl")
    # The same run again would diverge at the same step: refused, with what to change, before training.
    with pytest.raises(DivergenceError, match=r"diverged at step 10 .* would diverge there again .*optim_d\.lr"):
        train(cfg, out, say=quiet)
    assert strict_rows(out / "metrics.jsonl") == rows
    # A change that avoids it trains on.
    assert train(toy_cfg("train.steps=9", "log.every=5", "log.checkpoint_every=4", "train.ema_decay=0.9"), out, say=quiet).step == 9


def test_a_diverging_run_exits_3_with_finite_checkpoints_and_strict_json(tmp_path):
    args = ["train", "toy-ring8", *TOY, "optim_d.lr=1e4", "optim_g.lr=1e4", "train.steps=300", "log.every=1",
            "log.checkpoint_every=1", "--no-progress"]  # fmt: skip
    out = tmp_path / "run"
    r = cli(args, out)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "diverged at step" in r.stderr
    assert all(all_finite(p) for p in ckpt.list_checkpoints(out / "checkpoints"))
    strict_rows(out / "metrics.jsonl")
    again = cli(args, out)
    assert again.returncode == 3 and "would diverge there again" in again.stderr and "optim_d.lr" in again.stderr


def test_non_finite_numbers_in_a_row_are_written_as_null(tmp_path):
    from gankit.training.rundir import json_row

    assert json.loads(json_row({"step": 3, "a": float("inf"), "b": float("nan"), "c": 1.5})) == {
        "step": 3, "a": None, "b": None, "c": 1.5}


# ---------------------------------------------------------------------------------------
# 5. Bad input: one line naming the field or file, exit 2, nothing written


@pytest.mark.parametrize(
    "override, field",
    [("objective.args.d_scale=abc", "objective.args"), ("seed=99999999999999999999999", "seed"),
     ("data.limit=1", "data.limit")],
)  # fmt: skip
def test_bad_config_values_are_one_line_before_any_file(tmp_path, capsys, override, field):
    out = tmp_path / "run"
    assert main(["train", "toy-ring8", *TOY, "train.steps=3", override, "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"field '{field}'" in err[0]
    assert not out.exists()


def test_an_idx_header_whose_shape_overflows_is_a_data_error(tmp_path):
    from gankit.data.idx import read_idx

    path = tmp_path / "train-images-idx3-ubyte"
    # 2^16 to the 4th elements: 2^64, which wraps to 0 in int64 arithmetic, as long as the empty body
    path.write_bytes(struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", *[2**16] * 4))
    with pytest.raises(DataError, match=str(path)):
        read_idx(path)


def _mnist_pickle(path: Path, train_y) -> Path:
    x = np.zeros((10, 784), np.float32)
    y = np.zeros(10, np.int64)
    with gzip.open(path, "wb") as f:
        pickle.dump(((x, train_y), (x, y), (x, y)), f)
    return path


@pytest.mark.parametrize("labels, what", [(list(range(10)), "train labels"), (np.zeros(7, np.int64), "7 labels for 10 images")])
def test_mnist_pickle_labels_are_checked(tmp_path, labels, what):
    from gankit.data.mnist import read_mnist_pickle

    path = _mnist_pickle(tmp_path / "mnist.pkl.gz", labels)
    with pytest.raises(DataError, match=what):
        read_mnist_pickle(path)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "run"
    train(toy_cfg("train.steps=4", "log.every=2", "log.checkpoint_every=4"), out, say=quiet)
    return out


RUN_ARGS = ["toy-ring8", *TOY, "train.steps=4", "log.every=2", "log.checkpoint_every=4"]


def _g_from_d(p):
    p["G"] = p["D"]


def _step(p):
    p["step"] = "abc"


def _no_g(p):
    del p["G"]


def _config(p):
    p["config"] = "{not json"


def _rng(p):
    p["rng"]["torch"] = torch.zeros(3, dtype=torch.uint8)


CONTENT = {"G holds D's tensors": (_g_from_d, "G"), "step is text": (_step, "step"), "no G": (_no_g, "G"),
           "config is not JSON": (_config, "config"), "RNG state of 3 bytes": (_rng, "rng.torch")}  # fmt: skip


@pytest.mark.parametrize("case", list(CONTENT))
def test_checkpoint_content_is_checked_on_resume(tmp_path, good_run, capsys, case):
    change, entry = CONTENT[case]
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    path = ckpt.list_checkpoints(run / "checkpoints")[-1]
    payload = ckpt.load(path)
    change(payload)
    ckpt.save(path, payload)  # a valid checksum over the wrong content
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", *RUN_ARGS, "train.steps=8", "--no-progress", "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and f": {entry}" in err[0], err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("case", [c for c in CONTENT if c != "RNG state of 3 bytes"])  # sampling reads no RNG state
def test_checkpoint_content_is_checked_by_sample(tmp_path, good_run, capsys, case):
    change, entry = CONTENT[case]
    payload = ckpt.load(ckpt.list_checkpoints(good_run / "checkpoints")[-1])
    change(payload)
    path = tmp_path / "bad.safetensors"
    ckpt.save(path, payload)
    out = tmp_path / "x.npy"
    assert main(["sample", str(path), "--n", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and f": {entry}" in err[0], err
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# 6. The whole header is under the checksum


@pytest.mark.parametrize("other", ["gankit-checkpoint/1", "gankit-checkpoint/2", "gankit-checkpoint/9"])
def test_a_changed_format_name_and_a_flipped_bit_are_caught(tmp_path, good_run, other):
    data = bytearray(ckpt.list_checkpoints(good_run / "checkpoints")[-1].read_bytes())
    at = data.index(ckpt.FORMAT.encode())
    data[at : at + len(ckpt.FORMAT)] = other.encode()
    data[-1] ^= 1  # one bit of the last tensor
    path = tmp_path / "ckpt-00000004.safetensors"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path)):
        ckpt.load(path)


def test_format_2_checkpoints_are_still_read(tmp_path, good_run):
    from safetensors.torch import save as st_save

    payload = ckpt.load(ckpt.list_checkpoints(good_run / "checkpoints")[-1])
    tensors: dict = {}
    tree = json.dumps(ckpt._split(payload, "s", tensors), allow_nan=False)
    path = tmp_path / "old.safetensors"
    path.write_bytes(st_save(tensors, metadata={"format": "gankit-checkpoint/2", "tree": tree, "sha256": ckpt.digest(tree, tensors)}))
    assert ckpt.flat_state(ckpt.load(path)) == ckpt.flat_state(payload)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        ckpt.load(path)


# ---------------------------------------------------------------------------------------
# 7. sample streams to .npy and refuses what does not fit


def test_sample_refuses_a_file_larger_than_the_free_space(tmp_path, good_run, capsys):
    out = tmp_path / "x.npy"
    t0 = time.time()
    assert main(["sample", str(good_run), "--n", "1000000000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "free" in err[0]
    assert not out.exists() and time.time() - t0 < 30


def test_sample_streams_the_same_samples_as_in_memory(tmp_path, good_run, monkeypatch):
    import gankit.training.generator as generator
    from gankit.training.generator import sample_from

    writes: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, f) -> None:
            self.f = f

        def write(self, b) -> int:
            writes.append(len(b))
            return self.f.write(b)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(generator, "open", lambda p, mode="r", *a, **k: Counting(real_open(p, mode, *a, **k)), raising=False)
    out = tmp_path / "x.npy"
    assert main(["sample", str(good_run), "--n", "2500", "--seed", "3", "--out", str(out)]) == 0
    assert np.array_equal(np.load(out), sample_from(good_run, 2500, seed=3).numpy())
    assert max(writes) <= 1000 * 2 * 4  # one batch at a time


def test_a_full_disk_while_sampling_names_the_file(tmp_path, good_run, monkeypatch, capsys):
    import gankit.training.generator as generator

    real_open = open

    class Full:
        def __init__(self, f) -> None:
            self.f, self.room = f, 5000

        def write(self, b) -> int:
            if len(b) > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= len(b)
            return self.f.write(b)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    monkeypatch.setattr(generator, "open", lambda p, mode="r", *a, **k: Full(real_open(p, mode, *a, **k)), raising=False)
    out = tmp_path / "x.npy"
    assert main(["sample", str(good_run), "--n", "5000", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "no space left on device" in err[0]
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# 8. A closed stdout ends quietly


def test_a_closed_pipe_on_stdout_ends_quietly():
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "gankit.cli.main", "presets"], stdout=w, stderr=subprocess.PIPE,
                           text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    finally:
        os.close(w)
    assert p.returncode in (0, 141) and p.stderr == ""
