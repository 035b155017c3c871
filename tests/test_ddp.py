"""Data-parallel training on the CPU (gloo): 2 processes started by torchrun compute what 1
process computes with the same global minibatch, only the main process writes, a killed
process ends the job and the same command resumes it exactly; devices and precisions that
this machine lacks are one error line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import gankit
from gankit.cli.main import main
from gankit.config import load_config
from gankit.data.batches import MinibatchSource
from gankit.errors import ConfigError
from gankit.training import checkpoint as ckpt
from gankit.training.parallel import Shard, check_precision, resolve_device
from gankit.training.noise import NoiseSampler

# Deterministic: MLPs without batch norm or dropout, no packing (pack=2 would still be exact
# with an even slice per process, but pack=1 is the brief's command).
STEPS = 20
ARGS = ["toy-ring8", "discriminator.args.pack=1", f"train.steps={STEPS}", "log.every=5",
        "log.checkpoint_every=10", "log.keep_checkpoints=5", "log.tensorboard=true", "log.diagnostics=false"]  # fmt: skip


def _env(fault: str | None = None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(gankit.__file__).parents[1])}
    env.pop(ckpt.FAULT_ENV, None)
    if fault:
        env[ckpt.FAULT_ENV] = fault
    return env


def torchrun(args: list[str], out: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    """The documented command: torchrun --standalone --nproc_per_node 2 -m gankit train ..."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gankit", "train", *args, "--out", str(out), "--no-progress"]  # fmt: skip
    return subprocess.run(cmd, env=_env(fault), capture_output=True, text=True, timeout=180)


def one_process(args: list[str], out: Path) -> None:
    assert main(["train", *args, "--out", str(out), "--no-progress"]) == 0


def final_weights(run: Path, steps: int) -> dict[str, torch.Tensor]:
    payload = ckpt.load(ckpt.list_checkpoints(run / "checkpoints")[-1])
    assert payload["step"] == steps
    return {f"{net}.{k}": v for net in ("G", "D") for k, v in payload[net].items()}


def assert_close_weights(a: Path, b: Path, rel: float, steps: int = STEPS) -> None:
    wa, wb = final_weights(a, steps), final_weights(b, steps)
    assert wa.keys() == wb.keys()
    for k in wa:
        scale = wa[k].abs().max().clamp_min(1e-12)
        assert float((wa[k] - wb[k]).abs().max() / scale) <= rel, k


def layout(run: Path) -> list[str]:
    # TensorBoard names its event file after the host, pid and time: compare the folder only
    return sorted(str(p.relative_to(run)) if p.parent.name != "tensorboard" else "tensorboard/<events>"
                  for p in run.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddp")
    out = {"one": root / "one", "two": root / "two"}
    one_process(ARGS + ["objective.r1=0"], out["one"])
    done = torchrun(ARGS + ["objective.r1=0"], out["two"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained") == 1  # the main process alone reports
    return out


def test_two_processes_compute_what_one_computes(runs):
    # The same global batch of 256, split 128 + 128: only the order of float sums differs. Over
    # 20 Adam steps that moves a weight by up to 1.01e-5 of its tensor's largest (measured on 2
    # AVX-512 Xeon cores; under 1e-5 on AMD Zen 3 and Zen 4), hence 5e-5.
    assert_close_weights(runs["one"], runs["two"], rel=5e-5)
    rows = [[json.loads(line) for line in (runs[k] / "metrics.jsonl").read_text().splitlines()] for k in ("one", "two")]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == [1, 5, 10, 15, 20]
    for a, b in zip(*rows):  # the logged losses are global means
        assert a["loss_d"] == pytest.approx(b["loss_d"], rel=1e-5) and a["loss_g"] == pytest.approx(b["loss_g"], rel=1e-5)
        assert a["d_real"] == pytest.approx(b["d_real"], rel=1e-5) and a["d_fake"] == pytest.approx(b["d_fake"], rel=1e-5)


def test_only_the_main_process_writes_the_same_layout(runs):
    assert layout(runs["one"]) == layout(runs["two"])
    assert len(list((runs["two"] / "tensorboard").iterdir())) == 1


def test_r1_through_d_is_averaged_like_one_process(tmp_path):
    # R1 differentiates D's output by its input (double backward); a process that averaged
    # only part of D's gradient would differ from step 1 on. 10 steps: later, Adam's
    # normalisation magnifies rounding-order differences on units whose gradient is ~0
    # (a ReLU crossing zero), which no split of a float sum avoids.
    args = [a if not a.startswith("train.steps") else "train.steps=10" for a in ARGS] + ["objective.r1=0.1"]
    one_process(args, tmp_path / "one")
    done = torchrun(args, tmp_path / "two")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_close_weights(tmp_path / "one", tmp_path / "two", rel=1e-5, steps=10)


def test_a_killed_process_ends_the_job_and_the_same_command_resumes_exactly(runs, tmp_path):
    run = tmp_path / "killed"
    killed = torchrun(ARGS + ["objective.r1=0"], run, fault="kill-at-step=15")  # the main process, after checkpoint 10
    assert killed.returncode != 0
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == ["ckpt-00000010.safetensors"]
    resumed = torchrun(ARGS + ["objective.r1=0"], run)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr and "from step 10" in resumed.stderr
    a = ckpt.flat_state(ckpt.load(ckpt.list_checkpoints(run / "checkpoints")[-1]))
    b = ckpt.flat_state(ckpt.load(ckpt.list_checkpoints(runs["two"] / "checkpoints")[-1]))
    assert a == b  # byte for byte: the same world size replays the same operations
    assert set(layout(run)) == set(layout(runs["two"]))  # (the resumed run adds a TensorBoard events file, as one process does)


def test_a_run_of_two_processes_resumes_in_one_and_says_so(runs, tmp_path, capsys):
    import shutil

    run = tmp_path / "moved"
    shutil.copytree(runs["two"], run)
    args = [a if not a.startswith("train.steps") else f"train.steps={STEPS + 5}" for a in ARGS] + ["objective.r1=0"]
    one_process(args, run)
    err = capsys.readouterr().err
    assert f"from step {STEPS}" in err and "written by 2 process(es) and this run has 1" in err
    assert ckpt.load(ckpt.list_checkpoints(run / "checkpoints")[-1])["processes"] == 1


# A process that ends with the group's worker threads still running can abort in interpreter
# exit (one of them frees a finished collective's tensors, which needs the Python it is tearing
# down). torch.optim's first use imports torch._dynamo, which keeps the group alive unless it
# is imported before the group exists (parallel.start).
THREADS_LEFT = """
import os, sys
from gankit.cli.main import main

def threads():
    return sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))

before = threads()
rc = main(["train", *sys.argv[2:], "--out", sys.argv[1], "--no-progress"])
print(f"rank {os.environ['RANK']} rc {rc} threads left {sorted(set(threads()) - set(before))}")
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads a process's threads from Linux's /proc")
def test_a_finished_job_leaves_no_thread_of_the_group_running(tmp_path):
    script = tmp_path / "threads_left.py"
    script.write_text(THREADS_LEFT)
    args = [a if not a.startswith("train.steps") else "train.steps=5" for a in ARGS]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           str(tmp_path / "run"), *args]  # fmt: skip
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(l for l in done.stdout.splitlines() if l.startswith("rank ")) == [f"rank {r} rc 0 threads left []" for r in (0, 1)]


def test_nproc_checks_the_config_before_it_starts_processes(tmp_path, capsys):
    out = tmp_path / "x"
    # SyncBatchNorm is CUDA-only: refused once, before torchrun starts 2 processes that would each refuse it
    assert main(["train", "toy-ring8", "train.sync_batchnorm=true", "--out", str(out), "--nproc", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.sync_batchnorm" in err
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# One process: slicing, devices, precisions


def test_each_process_takes_its_slice_of_the_same_global_minibatch():
    x = torch.arange(40.0).reshape(20, 2)
    whole = MinibatchSource(x, None, 8, seed=3)
    parts = [MinibatchSource(x, None, 8, seed=3, rank=r, world=2) for r in range(2)]
    for _ in range(6):  # across an epoch boundary (20 // 8 = 2 batches an epoch)
        assert torch.equal(torch.cat([p.next()[0] for p in parts]), whole.next()[0])
    z = NoiseSampler(3, "gaussian", 1.0, 10, seed=5).sample(8)
    zs = [NoiseSampler(3, "gaussian", 1.0, 10, seed=5, shard=Shard(r, 4)).sample(8) for r in range(4)]
    assert torch.equal(torch.cat([p[0] for p in zs]), z[0]) and torch.equal(torch.cat([p[1] for p in zs]), z[1])


def test_a_global_batch_that_does_not_split_is_refused():
    with pytest.raises(ConfigError, match="data.batch_size"):
        MinibatchSource(torch.zeros(20, 2), None, 9, seed=0, world=2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_cuda_is_one_line_naming_the_field(tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["train", "toy-ring8", "train.device=cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.device" in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="train.device"):
        resolve_device("cuda:1")
    assert resolve_device("auto") == torch.device("cpu")


def test_fp16_needs_cuda():
    with pytest.raises(ConfigError, match="train.precision"):
        check_precision("fp16", torch.device("cpu"))
    assert load_config("toy-ring8", ["train.precision=fp16"]).train.precision == "fp16"  # valid config, wrong device
