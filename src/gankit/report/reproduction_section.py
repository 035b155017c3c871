"""The parts of a report page that show a reproduction directory: report.md (its table of
our rows beside the paper's), result.json figures and settings, pictures, and its runs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from gankit.report.files import read_picture
from gankit.report.html import MIME, esc, flatten, img, kv_table
from gankit.report.markdown import markdown_to_html
from gankit.report.run_section import FRAME_BYTES, is_run_dir, run_facts, run_section

# result.json keys shown in their own sections rather than among the figures.
_OWN_SECTIONS = ("settings", "versions", "reproduction")
# How deep below a reproduction its run directories are looked for (e.g. DIR/runs/ring8/seed3).
MAX_RUN_DEPTH = 4


def is_reproduction_dir(d: Path) -> bool:
    return (d / "result.json").is_file() or (d / "report.md").is_file()


def find_runs(root: Path) -> list[Path]:
    """Run directories below ``root`` (not ``root`` itself), in path order; a run's own
    subfolders are not searched."""
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            children = sorted(c for c in d.iterdir() if c.is_dir() and not c.is_symlink() and not c.name.startswith("."))
        except OSError:
            return
        for c in children:
            if is_run_dir(c):
                found.append(c)
            elif depth < MAX_RUN_DEPTH:
                walk(c, depth + 1)

    walk(root, 1)
    return found


def pictures(root: Path, runs: list[Path]) -> list[Path]:
    """PNG/GIF/JPEG files at the top level and in the top-level folders that are not runs
    and hold no runs (e.g. one folder per variant with its GIF and curves)."""
    def images_in(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in MIME and p.suffix.lower() != ".svg")

    out = images_in(root)
    for d in sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")):
        if any(r == d or d in r.parents for r in runs):
            continue
        out += images_in(d)
    return out


def _figures(result: dict[str, Any]) -> str:
    scalars = [(k, v) for k, v in sorted(result.items()) if k not in _OWN_SECTIONS and not isinstance(v, (dict, list))]
    nested = [(k, v) for k, v in sorted(result.items()) if k not in _OWN_SECTIONS and isinstance(v, (dict, list))]
    parts = []
    if scalars:
        parts.append(kv_table(scalars))
    for k, v in nested:
        if isinstance(v, dict) and all(not isinstance(x, (dict, list)) for x in v.values()):
            parts.append(f"<h3>{esc(k)}</h3>" + kv_table(sorted(v.items())))
        else:
            text = json.dumps(v, indent=2, sort_keys=True)
            parts.append(f"<details><summary>{esc(k)}</summary><pre>{esc(text)}</pre></details>")
    return '<h2 id="figures">Figures (result.json)</h2>' + "".join(parts) if parts else ""


def _pictures(root: Path, found: list[Path]) -> str:
    figs, too_big = [], []
    for p in found:
        data = read_picture(p)
        if data is None:
            if p.exists():
                too_big.append(p)
            continue
        rel = p.relative_to(root).as_posix()
        figs.append(f'<figure>{img(data, MIME[p.suffix.lower()], rel, "picture")}<figcaption>{esc(rel)}</figcaption></figure>')
    note = f'<p class="note">Too large to embed: {esc(", ".join(p.relative_to(root).as_posix() for p in too_big))}.</p>' if too_big else ""
    if not figs and not note:
        return ""
    return f'<h2 id="pictures">Pictures</h2><div class="pictures">{"".join(figs)}</div>{note}'


def _runs(root: Path, runs: list[Path]) -> str:
    if not runs:
        return ""
    parts = [f'<h2 id="runs">Training runs ({len(runs)})</h2>']
    # A few runs open; many (one per seed and arm) closed, so the page starts with the table.
    open_attr = " open" if len(runs) <= 2 else ""
    max_frames = 12 if len(runs) <= 2 else 6
    frame_bytes = min(FRAME_BYTES, max(1 << 20, (16 << 20) // len(runs)))  # the whole page stays openable
    for i, r in enumerate(runs):
        rel = r.relative_to(root).as_posix()
        parts.append(
            f'<details class="run" id="run-{i}"{open_attr}><summary>{esc(rel)}: {esc(run_facts(r).headline())}</summary>'
            f"{run_section(r, level=3, max_frames=max_frames, frame_bytes=frame_bytes)}</details>"
        )
    return "".join(parts)


def reproduction_body(root: Path, result: Optional[dict[str, Any]], problem: Optional[str], report_md: Optional[str]) -> str:
    runs = find_runs(root)
    found = pictures(root, runs)
    nav = [("#report", "report.md", report_md is not None), ("#figures", "figures", result is not None),
           ("#pictures", "pictures", bool(found)), ("#runs", "training runs", bool(runs))]
    parts = ["<nav>" + "".join(f'<a href="{h}">{esc(t)}</a>' for h, t, present in nav if present) + "</nav>"]
    if report_md is not None:
        parts.append(f'<div id="report">{markdown_to_html(report_md)}</div>')
    if problem:
        parts.append(f'<p class="note">{esc(problem)}</p>')
    if result is not None:
        parts.append(_figures(result))
        settings = result.get("settings")
        if isinstance(settings, dict) and settings:
            parts.append('<h2 id="settings">Settings</h2>' + kv_table(flatten(settings)))
        versions = result.get("versions")
        if isinstance(versions, dict) and versions:
            parts.append('<h2 id="versions">Versions</h2>' + kv_table(sorted(versions.items())))
    parts.append(_pictures(root, found))
    parts.append(_runs(root, runs))
    return "\n".join(p for p in parts if p)
