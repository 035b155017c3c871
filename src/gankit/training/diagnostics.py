"""Progress and collapse diagnostics during training (issue: theory and toy lab).

``make_diagnostics(cfg, run_dir, state, writer)`` returns the callbacks to run every step;
they may put numbers in ``state.extras['diagnostics_row']`` for metrics.jsonl/TensorBoard.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.config import Config
from gankit.training.state import TrainState


def make_diagnostics(cfg: Config, run_dir: Path, state: TrainState, writer: Any) -> list:
    return []  # filled in by the diagnostics work
