"""Parzen-window scoring speed: gankit's batched estimator vs a per-example numpy loop.

    python bench/parzen_speed.py --quick   # 2,000 x 2,000 (< 60 s)
    python bench/parzen_speed.py           # 10,000 samples x 10,000 test images x 784 dims

gankit scores all test examples for one sigma (the test-set pass of parzen10k). The
numpy loop (what a direct transcription of the formula does: one example at a time,
squared distances to every sample, scipy's logsumexp) is timed on a slice of the test
set and its per-example time scaled to the whole set; the two alternate over repeats and
their answers on the slice are compared. A matmul peak probe runs in the same repeats.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from scipy.special import logsumexp

from _common import LoadMonitor, emit, environment, matmul_peak, median, timed

from gankit.metrics.parzen import parzen_log_likelihood


def numpy_loop(x: np.ndarray, mu: np.ndarray, sigma: float) -> np.ndarray:
    d = mu.shape[1]
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        sq = ((mu - x[i]) ** 2).sum(1)
        out[i] = logsumexp(-sq / (2 * sigma**2)) - math.log(mu.shape[0]) - d * math.log(sigma * math.sqrt(2 * math.pi))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    n, loop_n, repeats = (2000, 20, 3) if a.quick else (10_000, 100, 5)
    g = torch.Generator().manual_seed(0)
    samples = torch.rand(n, 784, generator=g)
    test = torch.rand(n, 784, generator=g)
    sigma = 0.2
    mon = LoadMonitor().start()
    t0 = time.time()
    parzen_log_likelihood(test[:100], samples, [sigma])  # warm-up
    t_g, t_l, peaks = [], [], []
    ours = None
    for _ in range(repeats):
        t_g.append(timed(lambda: globals().__setitem__("_ours", parzen_log_likelihood(test, samples, [sigma])[0])))
        ref_slice = {}
        t_l.append(timed(lambda: ref_slice.setdefault("v", numpy_loop(test[:loop_n].double().numpy(), samples.double().numpy(), sigma))))
        peaks.append(matmul_peak())
        ours = globals()["_ours"]
    rel = float(np.max(np.abs(ours[:loop_n].numpy() - ref_slice["v"]) / np.abs(ref_slice["v"])))
    gk = median(t_g)
    loop_full = median(t_l) / loop_n * n
    emit({
        "benchmark": "parzen_speed",
        "samples": n, "test": n, "dims": 784, "sigma": sigma, "repeats": repeats,
        "gankit_seconds": round(gk, 3),
        "numpy_loop_seconds_scaled": round(loop_full, 1),
        "numpy_loop_examples_timed": loop_n,
        "speedup": round(loop_full / gk, 1),
        "max_rel_diff_vs_loop": rel,
        "gflops_gankit_matmul_part": round(2 * n * n * 784 / gk / 1e9, 1),
        "peak_gflops": round(median(peaks), 1),
        "wall_s": round(time.time() - t0, 1),
        "machine_load": mon.stop(),
        "environment": environment(),
    }, a.out)


if __name__ == "__main__":
    main()
