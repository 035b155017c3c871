"""Training throughput: gankit's Algorithm 1 vs the popular reference loop, same nets and batch.

    python bench/speed.py --quick          # < 60 s
    python bench/speed.py                  # the full run for BENCHMARKS.md
    python bench/speed.py --case mlp --threads 2 --out bench-mlp.json
    python bench/speed.py --set train.precision=bf16                  # gankit with a fast option
    python bench/speed.py --variant bf16=train.precision=bf16 \
        --variant bf16-cl=train.precision=bf16,train.channels_last=true  # several, same run

Each repeat times gankit (plain config plus --set), each --variant, then the reference (in
its own fresh process, as users run it: gankit's process-wide settings do not help it),
in turn (every other repeat in the reverse order), then a matmul peak probe, so all see the
same machine state; the figures are medians
over repeats. "% of peak" counts the FLOPs Algorithm 1 needs per iteration (k = 1), the
same count for every loop, against the fp32 matmul peak of the same run:
  D step: G forward + D forward/backward on real and fake = F_G + 6 F_D
  G step: G forward, D forward, D backward to its input only, G backward = 3 F_G + 2 F_D
with F_net = 2 * batch * (sum of in*out over the net's linear layers) (MLP case only).
With bf16 the matmuls run on bf16 units, so "% of fp32 peak" can pass 100%.
Other load on the machine is reported: numbers taken while other work runs are indicative.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import time

import torch
from torch import nn

from _common import LoadMonitor, emit, environment, matmul_peak, median, timed
from reference_loop import ReferenceLoop

from gankit.config import load_config
from gankit.data.datasets import Dataset, Split
from gankit.training.algorithm1 import algorithm1
from gankit.training.build import build_nets, build_state

CASES = {
    # the paper's MNIST nets (1200-1200 ReLU G, 240x5 maxout D) with Adam, batch 100
    "mlp": {"preset": "goodfellow2014-fast", "shape": (1, 28, 28), "overrides": ["optim_g.name=adam", "optim_d.name=adam", "train.precision=fp32"]},
    # DCGAN nets at 32x32x3, width 32, batch 64, pixels in [-1, 1]
    "conv": {"preset": "dcgan-mnist", "shape": (3, 32, 32), "overrides": []},
}


def linear_flops(net: nn.Module, batch: int) -> int:
    return 2 * batch * sum(m.in_features * m.out_features for m in net.modules() if isinstance(m, nn.Linear))


def synthetic(shape: tuple[int, ...], n: int) -> Dataset:
    g = torch.Generator().manual_seed(0)
    sp = Split(torch.rand(n, *shape, generator=g))
    return Dataset("synthetic", sp, sp, sp)


def _gankit(case: dict, data: Dataset, extra: list[str]):
    cfg = load_config(case["preset"], case["overrides"] + ["log.tensorboard=false", "log.diagnostics=false"] + extra)
    state, context = build_state(cfg, data)
    return cfg, state, context


def _reference_worker(conn, name: str, extra: list[str], threads: int, context: dict, weights: tuple[dict, dict]) -> None:
    """The reference loop in a fresh interpreter, as a user runs it: default allocator and
    settings (gankit's build_state changes process-wide ones), the same nets and weights."""
    torch.set_num_threads(threads)
    case = CASES[name]
    cfg = load_config(case["preset"], case["overrides"] + extra)
    G, D = build_nets(cfg, context)
    G.load_state_dict(weights[0])
    D.load_state_dict(weights[1])
    ref = ReferenceLoop(G, D, synthetic(case["shape"], 5000).train.x, cfg.data.batch_size, cfg.noise.dim,
                        lr=cfg.optim_g.lr, betas=tuple(cfg.optim_g.betas), symmetric=cfg.data.pixel_range == "symmetric")
    while (steps := conn.recv()) is not None:
        conn.send(timed(lambda: ref.run(steps)))


class ReferenceProcess:
    def __init__(self, name: str, extra: list[str], context: dict, G: nn.Module, D: nn.Module) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        weights = ({k: v.detach().clone() for k, v in G.state_dict().items()}, {k: v.detach().clone() for k, v in D.state_dict().items()})
        self.proc = ctx.Process(target=_reference_worker, args=(child, name, extra, torch.get_num_threads(), context, weights), daemon=True)
        self.proc.start()

    def run(self, steps: int) -> float:
        """Seconds the reference took for ``steps`` iterations (timed inside the child)."""
        self.conn.send(steps)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join(timeout=30)


def bench_case(name: str, steps: int, repeats: int, extra: list[str], variants: dict[str, list[str]] | None = None) -> dict:
    case = CASES[name]
    data = synthetic(case["shape"], 5000)
    cfg, state, context = _gankit(case, data, extra)
    # the reference starts from the same weights (before any fast option's layout change
    # matters: state_dict values are the same numbers)
    ref = ReferenceProcess(name, extra, context, state.G, state.D)
    others = {label: _gankit(case, data, extra + ov)[1] for label, ov in (variants or {}).items()}
    try:
        # warm-up: allocator, first-call overheads, compilation where enabled
        for s in (state, *others.values()):
            algorithm1(s, s.step + 3)
        ref.run(3)
        t_g, t_r, peaks = [], [], []
        t_v: dict[str, list[float]] = {label: [] for label in others}
        jobs = [(t_g, lambda: timed(lambda: algorithm1(state, state.step + steps)))]
        jobs += [(t_v[label], lambda s=s: timed(lambda: algorithm1(s, s.step + steps))) for label, s in others.items()]
        jobs.append((t_r, lambda: ref.run(steps)))
        for r in range(repeats):
            # every other repeat in reverse order: on this host the run that goes second
            # was seen up to ~8% faster (bench/ab.py), so no loop keeps one position
            for times, run in jobs if r % 2 == 0 else jobs[::-1]:
                times.append(run())
            peaks.append(matmul_peak())
    finally:
        ref.close()
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
    flops = None
    if name == "mlp":
        m = cfg.data.batch_size
        flops = 4 * linear_flops(state.G, m) + 8 * linear_flops(state.D, m)
        out["gflop_per_iteration"] = round(flops / 1e9, 3)
        out["gankit_pct_of_peak"] = round(100 * gk * flops / 1e9 / out["peak_gflops"], 1)
        out["reference_pct_of_peak"] = round(100 * rf * flops / 1e9 / out["peak_gflops"], 1)
    if others:
        out["variants"] = {}
        for label, ts in t_v.items():
            v = steps / median(ts)
            row = {"overrides": extra + variants[label], "steps_per_s": round(v, 2), "ratio": round(v / rf, 2)}
            if flops is not None:
                row["pct_of_fp32_peak"] = round(100 * v * flops / 1e9 / out["peak_gflops"], 1)
            out["variants"][label] = row
    return out


def parse_variant(text: str) -> tuple[str, list[str]]:
    """'bf16=train.precision=bf16,train.channels_last=true' -> ('bf16', [overrides])."""
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise SystemExit(f"--variant {text!r}: expected LABEL=key=value[,key=value...]")
    return label, [o for o in rest.split(",") if o]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few steps and repeats (< 60 s)")
    p.add_argument("--case", choices=[*CASES, "all"], default="all")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--set", action="append", default=[], help="extra gankit config override, e.g. train.channels_last=true")
    p.add_argument("--variant", action="append", default=[],
                   help="another gankit configuration timed in the same run: LABEL=key=value[,key=value]")
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    steps, repeats = (10, 3) if a.quick else (50, 7)
    mon = LoadMonitor().start()
    t0 = time.time()
    variants = dict(parse_variant(v) for v in a.variant)
    results = [bench_case(c, steps, repeats, a.set, variants) for c in (CASES if a.case == "all" else [a.case])]
    emit({"benchmark": "speed", "results": results, "wall_s": round(time.time() - t0, 1),
          "machine_load": mon.stop(), "environment": environment()}, a.out)


if __name__ == "__main__":
    main()
