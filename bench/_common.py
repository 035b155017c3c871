"""Shared pieces of the benchmarks: the matmul peak probe, the machine-load monitor, timing."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def matmul_peak(n: int = 1024, reps: int = 10) -> float:
    """Best fp32 GFLOP/s of an n x n matrix product over ``reps`` tries (the machine's peak
    as torch's BLAS reaches it with the current thread count)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def _cpu_ticks_by_pid() -> dict[int, int]:
    """utime + stime by pid, leaving out this process's children (e.g. the reference loop's
    worker): they are part of the benchmark, not other load."""
    out, parent = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                out[int(d)] = int(fields[11]) + int(fields[12])  # utime + stime
                parent[int(d)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    me = os.getpid()
    return {p: v for p, v in out.items() if parent.get(p) != me}


class LoadMonitor:
    """What else ran during the benchmark: load average, and the CPU the other processes used
    (in cores) between start() and stop(), from /proc. Linux only; empty elsewhere."""

    def start(self) -> "LoadMonitor":
        self.t0, self.ticks0 = time.time(), _cpu_ticks_by_pid() if Path("/proc/stat").exists() else {}
        return self

    def stop(self) -> dict:
        if not self.ticks0:
            return {}
        dt = time.time() - self.t0
        hz = os.sysconf("SC_CLK_TCK")
        me = os.getpid()
        now = _cpu_ticks_by_pid()
        other = sum(v - self.ticks0.get(p, 0) for p, v in now.items() if p != me)
        return {
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "other_processes_cores": round(other / hz / dt, 2),
            "cpus": os.cpu_count(),
        }


def environment() -> dict:
    import numpy

    return {
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "argv": sys.argv,
    }


def emit(result: dict, out: str | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        from gankit.atomic import write_text

        write_text(out, text + "\n")
