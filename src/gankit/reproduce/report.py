"""Markdown tables and result files for function-style reproductions."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.atomic import write_json, write_text
from gankit.reproduce.runner import table  # noqa: F401
from gankit.versions import versions


def write_result(out: Path, name: str, result: dict[str, Any], report_md: str) -> None:
    result = {"reproduction": name, "versions": versions(), **result}
    write_json(out / "result.json", result)
    write_text(out / "report.md", report_md)
