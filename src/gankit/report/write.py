"""Write one self-contained HTML page for a run directory or a reproduction directory."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Optional

from gankit.atomic import write_text
from gankit.errors import GankitError
from gankit.report.files import read_json_object, read_text
from gankit.report.html import esc, page
from gankit.report.markdown import first_heading
from gankit.report.reproduction_section import is_reproduction_dir, reproduction_body
from gankit.report.run_section import is_run_dir, run_facts, run_section

PAGE_NAME = "report.html"


def build_report(directory: Path) -> tuple[str, str]:
    """(kind, HTML) for ``directory``: kind is "reproduction" or "run"."""
    d = Path(directory)
    if not d.exists():
        raise GankitError(f"{d}: no such directory")
    if not d.is_dir():
        raise GankitError(f"{d}: not a directory (expected a run or a reproduction directory)")
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if is_reproduction_dir(d):
        result, problem = read_json_object(d / "result.json")
        report_md = read_text(d / "report.md")
        name = result.get("reproduction") if result else None
        title = (first_heading(report_md) if report_md else None) or f"Reproduction {name or d.name}"
        heading = "" if report_md and first_heading(report_md) else f"<h1>{esc(title)}</h1>"
        return "reproduction", page(title, heading + reproduction_body(d, result, problem, report_md), generated)
    if is_run_dir(d):
        title = f"Training run {d.name}"
        headline = run_facts(d).headline()
        body = f'<h1>{esc(title)}</h1><p class="meta">{esc(headline)}</p>' + run_section(d)
        return "run", page(title, body, generated)
    raise GankitError(
        f"{d}: neither a training run (no metrics.jsonl, config.yaml with run.json, or checkpoints/) "
        "nor a reproduction (no result.json or report.md)"
    )


def check_page_name(target: Path, what: str = "") -> None:
    """One error line naming ``what`` (e.g. "--out") when ``target`` cannot be the page."""
    name = f"{what} {target}" if what else str(target)
    if target.suffix.lower() not in (".html", ".htm"):
        raise GankitError(f"{name}: expected a file name ending in .html")
    if target.is_dir():
        raise GankitError(f"{name}: is a directory; expected an .html file name")


def write_report(directory: Path, out: Optional[Path] = None) -> Path:
    """Write the report page of a run or reproduction directory (default DIR/report.html)
    and return its path. Pictures and curves are embedded, so the page works on its own."""
    target = Path(out) if out is not None else Path(directory) / PAGE_NAME
    check_page_name(target)
    _, text = build_report(Path(directory))
    write_text(target, text)
    return target


def report_after_training(run_dir: Path) -> Optional[Path]:
    """Write a finished run's page and say where; the run is already safe on disk, so a
    page that cannot be written is a warning, not a failed command."""
    try:
        path = write_report(run_dir)
    except (GankitError, OSError) as e:
        print(f"gankit: warning: no report page for {run_dir}: {e}", file=sys.stderr)
        return None
    print(f"report: {path}")
    return path
