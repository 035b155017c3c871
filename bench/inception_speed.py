"""Inception feature extraction speed (the cost of FID/KID), fp32.

    python bench/inception_speed.py --quick   # 2 batches of 8 (< 60 s on an idle 2-core machine)
    python bench/inception_speed.py           # 5 batches of 50

Times gankit's InceptionFeatures (quantise, TF1 bilinear resize to 299, the Inception
rebuilt as plain modules by gankit.metrics.inception_net) on 28x28 grayscale images,
alternating with a matmul peak probe. "% of peak" uses 5.71 GMAC = 11.4 GFLOP per 299x299 image (Inception-v3's published multiply-adds).
"""
from __future__ import annotations

import argparse
import time

import torch

from _common import LoadMonitor, emit, environment, matmul_peak, median, timed

from gankit.metrics.fid import InceptionFeatures

GFLOP_PER_IMAGE = 2 * 5.71


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--nchw", action="store_true", help="plain NCHW input instead of the default channels_last")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    batch, repeats = (8, 2) if a.quick else (50, 5)
    batch = a.batch or batch
    ext = InceptionFeatures(batch_size=batch, channels_last=not a.nchw)
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    mon = LoadMonitor().start()
    t0 = time.time()
    ext(x[:2])
    ext(x[:2])  # TorchScript profiles the first calls
    times, peaks = [], []
    for _ in range(repeats):
        times.append(timed(lambda: ext(x)))
        peaks.append(matmul_peak())
    ips = batch / median(times)
    peak = median(peaks)
    emit({
        "benchmark": "inception_speed",
        "batch": batch, "repeats": repeats, "channels_last": ext.channels_last,
        "images_per_s": round(ips, 2),
        "gflops": round(ips * GFLOP_PER_IMAGE, 1),
        "peak_gflops": round(peak, 1),
        "pct_of_peak": round(100 * ips * GFLOP_PER_IMAGE / peak, 1),
        "fid10k_minutes_estimate": round(20_000 / ips / 60, 1),
        "wall_s": round(time.time() - t0, 1),
        "machine_load": mon.stop(),
        "environment": environment(),
    }, a.out)


if __name__ == "__main__":
    main()
