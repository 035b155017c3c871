"""Reading ``metrics.jsonl`` for a report: tolerant of a run still being written, and
grouping its columns into the panels the page draws."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

# Columns that are axes or bookkeeping, never curves of their own.
AXES = ("step", "seconds")


@dataclass
class MetricsTable:
    """The readable rows of a metrics.jsonl, in file order."""

    rows: list[dict[str, float]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # 1-based line numbers that could not be read
    partial_last_line: bool = False  # the last line has no newline and does not parse: a write in progress

    def columns(self) -> list[str]:
        """Numeric columns in order of first appearance, axes excluded."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for k in row:
                if k not in AXES:
                    seen.setdefault(k)
        return list(seen)

    def series(self, column: str) -> tuple[list[float], list[float]]:
        """(steps, values) of the rows that hold ``column``."""
        xs, ys = [], []
        for row in self.rows:
            if column in row and "step" in row:
                xs.append(row["step"])
                ys.append(row[column])
        return xs, ys

    def last_step(self) -> int | None:
        steps = [r["step"] for r in self.rows if "step" in r]
        return int(max(steps)) if steps else None

    def wall_seconds(self) -> float | None:
        """Training wall time: ``seconds`` counts from each (re)start of the process, so a drop
        marks a resume and the time is the sum of each stretch's last value."""
        total, last = 0.0, None
        for row in self.rows:
            s = row.get("seconds")
            if s is None or not math.isfinite(s):
                continue
            if last is not None and s < last:
                total += last
            last = s
        return None if last is None else total + last

    def restarts(self) -> int:
        """How many times ``seconds`` starts again from a smaller value (resumes)."""
        times = [r["seconds"] for r in self.rows if "seconds" in r]
        return sum(1 for a, b in zip(times, times[1:]) if b < a)


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_metrics(text: str) -> MetricsTable:
    """Parse metrics.jsonl text. Rows keep their numeric fields only. A last line without its
    newline that does not parse is a row still being written: it is left out and flagged; any
    other unreadable line is left out and its number kept."""
    table = MetricsTable()
    lines = text.split("\n")
    ends_open = not text.endswith("\n")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            if i == len(lines) and ends_open:
                table.partial_last_line = True
            else:
                table.skipped.append(i)
            continue
        table.rows.append({k: float(v) for k, v in row.items() if _numeric(v)})
    return table


def read_metrics(path: Path) -> MetricsTable | None:
    """The table in ``path``, or None when there is no such file."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    return parse_metrics(text)


@dataclass(frozen=True)
class Panel:
    """One chart: a title, the columns drawn on it and the y-axis label."""

    key: str  # stable id for the page ("losses", "metric-fid10k", ...)
    title: str
    columns: tuple[str, ...]
    ylabel: str = ""
    log_y: bool = False


def _is_grad_norm(column: str) -> bool:
    return "grad_norm" in column or column.startswith("grad")


def panels(table: MetricsTable) -> list[Panel]:
    """The charts for a run: losses, mean D outputs, learning rates, gradient norms, collapse
    diagnostics, then one chart for every other numeric column (evaluated metrics)."""
    cols = table.columns()
    taken: set[str] = set()

    def group(pred) -> tuple[str, ...]:
        picked = tuple(c for c in cols if c not in taken and pred(c))
        taken.update(picked)
        return picked

    out: list[Panel] = []
    losses = group(lambda c: c.startswith("loss"))
    if losses:
        out.append(Panel("losses", "Losses (D and G)", losses, "loss"))
    d_out = group(lambda c: c in ("d_real", "d_fake"))
    if d_out:
        out.append(Panel("d-outputs", "Mean D(x) and D(G(z))", d_out, "mean D output"))
    critic = group(lambda c: c in ("critic_real", "critic_fake"))  # objectives whose D outputs are scores
    if critic:
        out.append(Panel("critic-outputs", "Mean critic score f(x) and f(G(z))", critic, "mean score"))
    lrs = group(lambda c: c.startswith("lr"))
    if lrs:
        values = [v for c in lrs for v in table.series(c)[1]]
        spread = min(values) > 0 and max(values) / min(values) > 10
        out.append(Panel("learning-rates", "Learning rates", lrs, "learning rate", log_y=spread))
    grads = group(_is_grad_norm)
    if grads:
        out.append(Panel("grad-norms", "Gradient norms", grads, "norm"))
    diags = group(lambda c: c.startswith("diag_"))
    if diags:
        out.append(Panel("diagnostics", "Collapse diagnostics", diags))
    for c in cols:
        if c not in taken:
            out.append(Panel(f"metric-{c}", c, (c,)))
    return out
