"""Training throughput: gankit's Algorithm 1 vs the popular reference loop, same nets and batch.

    python bench/speed.py --quick          # < 60 s
    python bench/speed.py                  # the full run for BENCHMARKS.md
    python bench/speed.py --case mlp --threads 2 --out bench-mlp.json

Each repeat times gankit, then the reference, then a matmul peak probe, in turn, so both
see the same machine state; the figures are medians over repeats. "% of peak" counts the
FLOPs Algorithm 1 needs per iteration (k = 1), the same count for both loops:
  D step: G forward + D forward/backward on real and fake = F_G + 6 F_D
  G step: G forward, D forward, D backward to its input only, G backward = 3 F_G + 2 F_D
with F_net = 2 * batch * (sum of in*out over the net's linear layers) (MLP case only).
Other load on the machine is reported: numbers taken while other work runs are indicative.
"""
from __future__ import annotations

import argparse
import copy
import math
import time

import torch
from torch import nn

from _common import LoadMonitor, emit, environment, matmul_peak, median, timed
from reference_loop import ReferenceLoop

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_state

CASES = {
    # the paper's MNIST nets (1200-1200 ReLU G, 240x5 maxout D) with Adam, batch 100
    "mlp": {"preset": "goodfellow2014-fast", "shape": (1, 28, 28), "overrides": ["optim_g.name=adam", "optim_d.name=adam"]},
    # DCGAN nets at 32x32x3, width 32, batch 64, pixels in [-1, 1]
    "conv": {"preset": "dcgan-mnist", "shape": (3, 32, 32), "overrides": []},
}


def linear_flops(net: nn.Module, batch: int) -> int:
    return 2 * batch * sum(m.in_features * m.out_features for m in net.modules() if isinstance(m, nn.Linear))


def synthetic(shape: tuple[int, ...], n: int) -> Dataset:
    g = torch.Generator().manual_seed(0)
    sp = Split(torch.rand(n, *shape, generator=g))
    return Dataset("synthetic", sp, sp, sp)


def bench_case(name: str, steps: int, repeats: int, extra: list[str]) -> dict:
    case = CASES[name]
    data = synthetic(case["shape"], 5000)
    cfg = load_config(case["preset"], case["overrides"] + ["log.tensorboard=false", "log.diagnostics=false"] + extra)
    state, _ = build_state(cfg, data)
    G0, D0 = copy.deepcopy(state.G), copy.deepcopy(state.D)  # the reference starts from the same weights
    ref = ReferenceLoop(G0, D0, data.train.x, cfg.data.batch_size, cfg.noise.dim,
                        lr=cfg.optim_g.lr, betas=tuple(cfg.optim_g.betas), symmetric=cfg.data.pixel_range == "symmetric")
    # warm-up: allocator, first-call overheads, compilation where enabled
    algorithm1(state, state.step + 3)
    ref.run(3)
    t_g, t_r, peaks = [], [], []
    for _ in range(repeats):
        t_g.append(timed(lambda: algorithm1(state, state.step + steps)))
        t_r.append(timed(lambda: ref.run(steps)))
        peaks.append(matmul_peak())
    gk, rf = steps / median(t_g), steps / median(t_r)
    out = {
        "case": name,
        "preset": case["preset"],
        "overrides": case["overrides"] + extra,
        "batch": cfg.data.batch_size,
        "steps_per_repeat": steps,
        "repeats": repeats,
        "gankit_steps_per_s": round(gk, 2),
        "reference_steps_per_s": round(rf, 2),
        "ratio": round(gk / rf, 2),
        "peak_gflops": round(median(peaks), 1),
    }
    if name == "mlp":
        m = cfg.data.batch_size
        flops = 4 * linear_flops(state.G, m) + 8 * linear_flops(state.D, m)
        out["gflop_per_iteration"] = round(flops / 1e9, 3)
        out["gankit_pct_of_peak"] = round(100 * gk * flops / 1e9 / out["peak_gflops"], 1)
        out["reference_pct_of_peak"] = round(100 * rf * flops / 1e9 / out["peak_gflops"], 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few steps and repeats (< 60 s)")
    p.add_argument("--case", choices=[*CASES, "all"], default="all")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--set", action="append", default=[], help="extra gankit config override, e.g. train.channels_last=true")
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    steps, repeats = (10, 3) if a.quick else (50, 7)
    mon = LoadMonitor().start()
    t0 = time.time()
    results = [bench_case(c, steps, repeats, a.set) for c in (CASES if a.case == "all" else [a.case])]
    emit({"benchmark": "speed", "results": results, "wall_s": round(time.time() - t0, 1),
          "machine_load": mon.stop(), "environment": environment()}, a.out)


if __name__ == "__main__":
    main()
