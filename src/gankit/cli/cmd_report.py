"""``gankit report DIR``: one self-contained HTML page for a training run or a reproduction
(pictures and curves embedded; opens from file:// and anywhere it is copied)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="one self-contained HTML page for a run or reproduction directory")
    p.add_argument("directory", help="a training run directory or a reproduction directory")
    p.add_argument("--out", default=None, help="HTML file to write (default DIR/report.html)")
    p.add_argument("--dry-run", action="store_true", help="build the whole page but write nothing; print its size")


def run(args: argparse.Namespace) -> int:
    from gankit.report import PAGE_NAME, build_report, check_page_name, write_report

    directory = Path(args.directory)
    out = Path(args.out) if args.out else directory / PAGE_NAME
    if args.out:
        check_page_name(out, "--out")
    if args.dry_run:
        kind, text = build_report(directory)
        print(f"dry run: the {kind} page of {directory} is {len(text.encode()) / 1024:.0f} KiB; nothing written to {out}")
        return 0
    print(f"wrote {write_report(directory, out)}")
    return 0
