"""A/B of two gankit configurations in one process, timed in ABBA order.

    python bench/ab.py --set train.precision=bf16 --b train.joint_d_batch=true
    python bench/ab.py --case conv --set train.precision=bf16 --b train.channels_last=true
    python bench/ab.py --case ssl --set train.joint_d_batch=false --b train.joint_d_batch=true
    python bench/ab.py --case ssl-mbd --b train.precision=bf16

This host is shared and noisy: one configuration's steps/s drifts by 10-30% within a
process, and whichever of two runs goes second was seen up to ~8% faster. Each round
times A, B, B, A (the next round B, A, A, B), and the result is the median over rounds of
B's speed relative to A's in that round, so drift and position cancel. Run it once with no
--b (A against itself) to see the noise floor of the day.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from _common import LoadMonitor, emit, environment, median, timed
from speed import CASES, _gankit, synthetic

from gankit.data.datasets import Dataset, Split
from gankit.training.algorithm1 import algorithm1

AB_CASES = {
    **CASES,
    # the semi-supervised MNIST nets of Salimans et al. with feature matching (its preset's
    # settings), 10 labelled examples per class of 10
    "ssl": {"preset": "ssl-mnist-fm", "shape": (1, 28, 28), "overrides": [], "classes": 10},
    # the same nets with minibatch discrimination (its preset's settings)
    "ssl-mbd": {"preset": "ssl-mnist-mbd", "shape": (1, 28, 28), "overrides": [], "classes": 10},
}


def case_data(case: dict, n: int = 5000) -> Dataset:
    """Synthetic images of the case's shape, with balanced class labels where it needs them."""
    data = synthetic(case["shape"], n)
    if not case.get("classes"):
        return data
    split = Split(data.train.x, torch.arange(n) % case["classes"])
    return Dataset(data.name, split, split, split, num_classes=case["classes"])


def abba(time_a: Callable[[], float], time_b: Callable[[], float], rounds: int) -> dict:
    """Rounds of A B B A / B A A B; each callable runs one timed chunk and returns seconds.
    Returns B's speed over A's per round (median, min, max) and the chunks' medians."""
    ta: list[float] = []
    tb: list[float] = []
    ratios: list[float] = []
    for r in range(rounds):
        order = (time_a, time_b, time_b, time_a) if r % 2 == 0 else (time_b, time_a, time_a, time_b)
        got = [(fn is time_a, fn()) for fn in order]
        a = [t for is_a, t in got if is_a]
        b = [t for is_a, t in got if not is_a]
        ta += a
        tb += b
        ratios.append(sum(a) / sum(b))
    return {"b_over_a": round(median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3),
            "a_median_s": median(ta), "b_median_s": median(tb), "rounds": rounds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=list(AB_CASES), default="mlp")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], help="override for both A and B")
    p.add_argument("--b", action="append", default=[], help="override for B only (none: A against itself)")
    p.add_argument("--steps", type=int, default=20, help="iterations per timed chunk")
    p.add_argument("--rounds", type=int, default=16)
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    mon = LoadMonitor().start()
    t0 = time.time()
    case = AB_CASES[a.case]
    data = case_data(case)
    _, A, _ = _gankit(case, data, a.set)
    _, B, _ = _gankit(case, data, a.set + a.b)
    for s in (A, B):
        algorithm1(s, s.step + 5)  # warm-up
    res = abba(lambda: timed(lambda: algorithm1(A, A.step + a.steps)),
               lambda: timed(lambda: algorithm1(B, B.step + a.steps)), a.rounds)
    res["a_steps_per_s"] = round(a.steps / res.pop("a_median_s"), 2)
    res["b_steps_per_s"] = round(a.steps / res.pop("b_median_s"), 2)
    emit({"benchmark": "ab", "case": a.case, "common": case["overrides"] + a.set, "b_only": a.b, **res,
          "steps_per_chunk": a.steps, "wall_s": round(time.time() - t0, 1), "machine_load": mon.stop(),
          "environment": environment()}, a.out)


if __name__ == "__main__":
    main()
