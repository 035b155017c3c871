"""Shared pieces of the reproduce contract: result.json, report.md, a plain-text table."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from gankit.atomic import write_json, write_text
from gankit.versions import versions


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(r) for r in cells)])


def write_result(out: Path, name: str, result: dict[str, Any], report_md: str) -> None:
    result = {"reproduction": name, "versions": versions(), **result}
    write_json(out / "result.json", result)
    write_text(out / "report.md", report_md)
