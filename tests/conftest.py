import os

import pytest
import torch

# Two cores for everyone: keep each test process to a predictable thread count, one per
# worker when the suite runs in two worker processes (scripts/test.sh).
torch.set_num_threads(int(os.environ.get("GANKIT_TEST_THREADS", "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2")))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches (FID statistics, downloads) go to a per-session temp dir, never ~/.cache."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
