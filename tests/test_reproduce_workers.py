"""The reproduction runner's worker processes (``--jobs N``)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gankit

PARENT = """
import multiprocessing, os, sys, time
from gankit.reproduce.runner import end_with_parent

def worker(parent, path):
    end_with_parent(parent)
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(120)

if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(target=worker, args=(os.getpid(), sys.argv[1])).start()
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; only its exit status is left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_worker_ends_with_the_process_that_spawned_it(tmp_path) -> None:
    # a reproduction stopped by a signal leaves no worker training or scoring on its own:
    # the worker here would sleep two minutes; killing its parent ends it within seconds
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    pid_file = tmp_path / "worker.pid"
    env = {**os.environ, "PYTHONPATH": str(Path(gankit.__file__).parents[1])}
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)], env=env)
    worker = None
    try:
        deadline = time.time() + 120
        while not pid_file.is_file() and time.time() < deadline and parent.poll() is None:
            time.sleep(0.2)
        assert pid_file.is_file(), "the worker did not start"
        worker = int(pid_file.read_text())
        assert _alive(worker)
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.time() + 15
        while _alive(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, 9)
