"""Curves for a report page, drawn with matplotlib's object API on the Agg canvas (no
pyplot: no global figure state and no display backend to pick)."""
from __future__ import annotations

import io

from gankit.report.metrics import MetricsTable, Panel

# Fewer points than this: draw markers too, so a metric evaluated a few times is visible.
SPARSE = 30


def panel_png(table: MetricsTable, panel: Panel, dpi: int = 100) -> bytes:
    """One panel as PNG bytes: every column of the panel against the step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(5.2, 3.2), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for column in panel.columns:
        xs, ys = table.series(column)
        ax.plot(xs, ys, label=column, linewidth=1.2, marker="o" if len(xs) < SPARSE else None, markersize=3)
    if panel.log_y:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", useOffset=False)  # values as they are, not "+5e-1" offsets
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel("step")
    if panel.ylabel:
        ax.set_ylabel(panel.ylabel)
    ax.grid(True, alpha=0.3)
    if len(panel.columns) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
