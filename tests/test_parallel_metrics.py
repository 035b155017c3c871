"""Metrics in a data-parallel job: each process generates its share of the evaluation
samples and extracts their features, the rows are gathered in order, and the figures equal
one process's. Two gloo processes on the CPU (torch.multiprocessing spawn, and torchrun for
evaluation during training)."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.errors import DataError
from gankit.metrics.registry import evaluate
from gankit.training.evaluate import generator_context
from gankit.training.parallel import Shard

from test_ddp import one_process, torchrun

# 10k-sample metrics draw 1503 samples: an odd count (shares 752 + 751) whose second share
# crosses generate's 1000-row batch; fid2k then reads the first 301 of them, all in rank 0's
# share, so rank 1 extracts no features at all. cacc10k draws 1503 more, for given labels.
SCALE = 0.1503
METRICS = ["parzen10k", "fid2k", "classes10k", "cfd10k", "cacc10k"]
NOISE_SEED = 7


class CountingG(nn.Module):
    """A small conditional generator of 28x28 images that counts the samples it makes."""

    def __init__(self, noise_dim: int = 8, classes: int = 10) -> None:
        super().__init__()
        torch.manual_seed(0)  # the same weights in every process
        self.classes = classes
        self.net = nn.Sequential(nn.Linear(noise_dim + classes, 64), nn.ReLU(), nn.Linear(64, 784), nn.Tanh())
        self.rows = 0

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.rows += z.shape[0]
        return self.net(torch.cat([z, nn.functional.one_hot(y, self.classes).float()], 1)).view(-1, 1, 28, 28)


def _data() -> Dataset:
    g = torch.Generator().manual_seed(3)
    split = lambda n: Split(torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 10)  # noqa: E731
    return Dataset("mnist", split(200), split(200), split(1600), num_classes=10)


def _figures(shard: Shard) -> tuple[dict[str, float], int]:
    """The metrics of CountingG as ``shard`` computes them, and the samples it generated."""
    cfg = load_config("cgan-mnist", ["noise.dim=8"])
    G = CountingG()
    ctx = generator_context(G, cfg, 10, _data(), NOISE_SEED, 0, dry_run=True, shard=shard)
    ctx.scale = SCALE
    return evaluate(METRICS, ctx), G.rows


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        shard = Shard(rank, world)
        figures, rows = _figures(shard)

        def fails_on_rank_1() -> torch.Tensor:
            if rank == 1:
                raise DataError("rank 1's part failed")
            return torch.zeros(3)

        try:
            shard.gather_rows(fails_on_rank_1)
            error = ""
        except DataError as e:
            error = str(e)
        Path(out, f"rank{rank}.json").write_text(json.dumps({"figures": figures, "rows": rows, "error": error}))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def one() -> tuple[dict[str, float], int]:
    return _figures(Shard())


def test_shares_tile_the_rows_in_rank_order():
    for world in (1, 2, 3, 4):
        for n in (1, 2, 5, 1503, 2000):
            spans = [Shard(r, world).span(n) for r in range(world)]
            assert spans[0][0] == 0 and spans[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
            sizes = [hi - lo for lo, hi in spans]
            assert max(sizes) - min(sizes) <= 1


def test_two_processes_give_one_process_figures(two, one):
    one = one[0]
    a, b = two[0]["figures"], two[1]["figures"]
    assert a == b  # every process holds the same figures
    assert a.keys() == one.keys()
    # the per-class accuracies and histogram are counts: equal; the rest within rounding
    for k, v in one.items():
        assert a[k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    assert a["parzen10k_sigma"] == one["parzen10k_sigma"]
    assert a["classes10k_covered"] == one["classes10k_covered"] and a["cacc10k"] == one["cacc10k"]


def test_each_process_generates_its_share(two, one):
    rows_one = one[1]
    n = round(10_000 * SCALE)
    assert rows_one == 2 * n  # the 10k samples once (shared by the metrics), then cacc10k's
    assert [two[r]["rows"] for r in range(2)] == [2 * (Shard(r, 2).span(n)[1] - Shard(r, 2).span(n)[0]) for r in range(2)]
    assert two[0]["rows"] + two[1]["rows"] == rows_one


def test_an_error_in_one_process_is_raised_in_every_process(two):
    assert two[0]["error"] == two[1]["error"] == "rank 1's part failed"


# Deterministic toy run (as test_ddp's): evaluation every 5 steps, the best by Parzen.
EVAL_ARGS = ["toy-ring8", "discriminator.args.pack=1", "objective.r1=0", "train.steps=10", "log.every=5",
             "log.checkpoint_every=10", "log.diagnostics=false", "log.eval_every=5",
             "log.eval_metrics=[parzen10k,modes2500,hq_fraction2500]", "log.best_metric=parzen10k_mean"]  # fmt: skip


def test_evaluation_during_a_two_process_run_logs_one_process_figures(tmp_path):
    one_process(EVAL_ARGS, tmp_path / "one")
    done = torchrun(EVAL_ARGS, tmp_path / "two")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [[json.loads(l) for l in (tmp_path / k / "metrics.jsonl").read_text().splitlines() if '"eval": true' in l]
            for k in ("one", "two")]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == [5, 10]  # written once, by rank 0
    for a, b in zip(*rows):
        assert a.keys() == b.keys()
        assert a["modes2500"] == b["modes2500"] and a["parzen10k_sigma"] == b["parzen10k_sigma"]
        for k in ("parzen10k_mean", "parzen10k_se", "hq_fraction2500"):
            assert b[k] == pytest.approx(a[k], rel=1e-5), k
    best = [json.loads((tmp_path / k / "best.json").read_text()) for k in ("one", "two")]
    assert best[0]["step"] == best[1]["step"] and best[1]["value"] == pytest.approx(best[0]["value"], rel=1e-5)
    assert (tmp_path / "two" / "best.safetensors").is_file()
