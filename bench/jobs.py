"""Steps per second on all cores: one run with every thread against runs side by side with
a share each, as ``gankit reproduce --jobs`` trains them.

    python bench/jobs.py --case ssl --threads 2 --jobs 2 --rounds 4

Each round times the one run ("alone", ``--threads`` threads) and ``--jobs`` runs at once
(``--threads // --jobs`` threads each, started together at a barrier), in the order A B B A
(the next round B A A B; ab.py's ``abba``). A run is a fresh spawned process that builds
the case's state, warms up and then times ``--steps`` steps; "together" counts every run's
steps over the slowest one's time. The result is the median over rounds of together's steps
per second over alone's in that round.
"""
from __future__ import annotations

import argparse
import multiprocessing
import time

from _common import LoadMonitor, emit, environment


def time_steps(case_name: str, threads: int, steps: int, barrier) -> float:
    """Seconds for ``steps`` training steps of the case in this (worker) process."""
    import torch

    from ab import AB_CASES, case_data
    from speed import _gankit

    from gankit.training.algorithm1 import algorithm1

    torch.set_num_threads(threads)
    case = AB_CASES[case_name]
    _, state, _ = _gankit(case, case_data(case), [])
    algorithm1(state, state.step + 5)  # warm-up
    barrier.wait()
    t = time.perf_counter()
    algorithm1(state, state.step + steps)
    return time.perf_counter() - t


def seconds_per_step(case: str, runs: int, threads: int, steps: int) -> float:
    """Seconds per step of all ``runs`` processes together (``threads`` torch threads each):
    the slowest one's time over every process's steps."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, spawn.Pool(runs) as pool:
        barrier = manager.Barrier(runs)
        seconds = pool.starmap(time_steps, [(case, threads, steps, barrier)] * runs)
    return max(seconds) / (runs * steps)


def main() -> None:
    from ab import AB_CASES, abba

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", choices=list(AB_CASES), default="ssl")
    p.add_argument("--threads", type=int, default=2, help="threads of the run alone, shared by the runs together")
    p.add_argument("--jobs", type=int, default=2, help="runs side by side")
    p.add_argument("--steps", type=int, default=200, help="timed steps per run")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--out", default=None, help="also write the JSON here")
    a = p.parse_args()
    mon = LoadMonitor().start()
    t0 = time.time()
    share = max(1, a.threads // a.jobs)
    res = abba(lambda: seconds_per_step(a.case, 1, a.threads, a.steps),
               lambda: seconds_per_step(a.case, a.jobs, share, a.steps), a.rounds)
    emit({"benchmark": "jobs", "case": a.case, "threads": a.threads, "jobs": a.jobs, "threads_per_job": share,
          "together_over_alone": res["b_over_a"], "min": res["min"], "max": res["max"],
          "alone_steps_per_s": round(1 / res["a_median_s"], 2), "together_steps_per_s": round(1 / res["b_median_s"], 2),
          "rounds": a.rounds, "steps_per_run": a.steps, "wall_s": round(time.time() - t0, 1),
          "machine_load": mon.stop(), "environment": environment()}, a.out)


if __name__ == "__main__":
    main()
