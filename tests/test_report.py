"""gankit report: metrics.jsonl and report.md parsing, run/reproduction pages, and a real
headless Chromium loading a page written after a dry-run training."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gankit.cli.main import main
from gankit.errors import GankitError
from gankit.report import build_report, write_report
from gankit.report.markdown import markdown_to_html
from gankit.report.metrics import panels, parse_metrics
from gankit.report.run_section import command_line, run_section, spread

# ---------------------------------------------------------------------------------------
# A small HTML reader for the pages (the standard library's parser; no extra dependency)


class Dom(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.rows: list[tuple[str, list[str]]] = []  # (tr class, cell texts)
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._row_class = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "tr":
            self._row, self._row_class = [], a.get("class", "")
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append((self._row_class, self._row))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def with_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and cls in a.get("class", "").split()]


# ---------------------------------------------------------------------------------------
# metrics.jsonl


def _row(step: int, seconds: float, **extra: float) -> str:
    return json.dumps({"step": step, "loss_d": 1.0 / step, "loss_g": 0.5 * step, "seconds": seconds, **extra})


def test_half_written_last_line_is_left_out_and_flagged():
    text = _row(1, 0.1) + "\n" + _row(2, 0.2) + "\n" + '{"step": 3, "loss_d": 0.'
    table = parse_metrics(text)
    assert [r["step"] for r in table.rows] == [1, 2]
    assert table.partial_last_line and table.skipped == []
    assert table.series("loss_g") == ([1.0, 2.0], [0.5, 1.0])


def test_a_damaged_middle_line_is_skipped_by_number_and_a_complete_last_line_is_kept():
    text = _row(1, 0.1) + "\n" + "garbage{\n" + "[1, 2]\n" + _row(4, 0.4)  # last line whole, newline not yet written
    table = parse_metrics(text)
    assert [r["step"] for r in table.rows] == [1, 4]
    assert table.skipped == [2, 3] and not table.partial_last_line


def test_wall_time_adds_the_stretches_between_resumes():
    # seconds counts from each process start: 3.0 s before the resume, then 1.5 s after it
    rows = [_row(s, t) for s, t in [(1, 1.0), (2, 2.0), (3, 3.0), (4, 0.5), (5, 1.5)]]
    table = parse_metrics("\n".join(rows) + "\n")
    assert table.wall_seconds() == pytest.approx(4.5)
    assert table.restarts() == 1
    assert table.last_step() == 5


def test_non_numeric_fields_are_dropped_and_columns_keep_first_appearance_order():
    table = parse_metrics(json.dumps({"step": 1, "note": "x", "flag": True, "b": 2, "a": 1}) + "\n" + json.dumps({"step": 2, "c": 3.0}) + "\n")
    assert table.columns() == ["b", "a", "c"]


def test_panels_group_losses_outputs_rates_grads_diagnostics_then_each_metric():
    rows = [
        {"step": 1, "loss_d": 1.3, "loss_g": 0.7, "d_real": 0.5, "d_fake": 0.5, "lr_d": 0.1, "lr_g": 0.1,
         "seconds": 0.1, "diag_g_grad_norm": 3.0, "diag_diversity": 0.2, "diag_d_real": 0.5},
        {"step": 2, "loss_d": 1.2, "loss_g": 0.8, "d_real": 0.6, "d_fake": 0.4, "lr_d": 0.001, "lr_g": 0.001, "seconds": 0.2},
        {"step": 2, "fid10k": 40.0, "parzen10k_mean": 210.0},
    ]
    got = panels(parse_metrics("\n".join(map(json.dumps, rows)) + "\n"))
    assert [p.key for p in got] == [
        "losses", "d-outputs", "learning-rates", "grad-norms", "diagnostics", "metric-fid10k", "metric-parzen10k_mean",
    ]
    by = {p.key: p for p in got}
    assert by["grad-norms"].columns == ("diag_g_grad_norm",)
    assert by["diagnostics"].columns == ("diag_diversity", "diag_d_real")
    assert by["learning-rates"].log_y  # 0.1 -> 0.001 spans two decades
    assert not any("seconds" in p.columns or "step" in p.columns for p in got)


def test_command_line_names_gankit_entry_points_and_quotes_arguments():
    assert command_line(["/x/.venv/bin/gankit", "train", "p", "a=[1, 2]"]) == "gankit train p 'a=[1, 2]'"
    assert command_line(["/w/src/gankit/cli/main.py", "train", "p"]) == "gankit train p"
    assert command_line(["/usr/lib/python3/pytest", "-q"]) == "pytest -q"


def test_spread_keeps_first_and_last_and_at_most_n():
    items = list(range(100))
    picked = spread(items, 6)
    assert picked[0] == 0 and picked[-1] == 99 and len(picked) == 6 and picked == sorted(picked)
    assert spread([1, 2], 6) == [1, 2]


# ---------------------------------------------------------------------------------------
# report.md


ALIGNED = """# Title with `code`

| run                        | JSD(p||q) (nats) | max|D - 1/2| |
|----------------------------|------------------|--------------|
| paper                      | -                | -            |
| gankit: Algorithm 1, k = 3 | 0.23092          | 0.0585       |

First line.
Second line with **bold** and <script>alert(1)</script>.
"""


def test_aligned_table_keeps_bare_pipes_inside_cells_and_marks_our_rows():
    dom = Dom(markdown_to_html(ALIGNED))
    assert dom.rows[0] == ("", ["run", "JSD(p||q) (nats)", "max|D - 1/2|"])
    assert dom.rows[1] == ("", ["paper", "-", "-"])
    assert dom.rows[2] == ("ours", ["gankit: Algorithm 1, k = 3", "0.23092", "0.0585"])
    assert len(dom.find("h1")) == 1 and len(dom.find("code")) == 1 and len(dom.find("strong")) == 1
    assert not dom.find("script")  # markup in report.md is shown as text
    assert "&lt;script&gt;" in markdown_to_html(ALIGNED)


def test_gfm_table_escaped_and_code_pipes_short_rows_and_alignment():
    text = "a | b | c\n:-- | :-: | --:\nx \\| y | `p|q` | 3\nonly one |\n\n10,000 training images (ours) | 2 | 3\n"
    html = markdown_to_html(text)
    dom = Dom(html)
    assert dom.rows[0][1] == ["a", "b", "c"]
    assert dom.rows[1][1] == ["x | y", "p|q", "3"]
    assert dom.rows[2][1] == ["only one", "", ""]  # a short row is padded to the header
    assert 'style="text-align:center"' in html and 'style="text-align:right"' in html
    assert len(dom.find("table")) == 1  # the line after the blank is a paragraph, not a row
    assert "10,000 training images (ours)" in html


# ---------------------------------------------------------------------------------------
# Pages from synthetic directories (no training)


def _png(path: Path, seed: int, size: int = 62) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(path)


def _fake_run(d: Path, steps=(100, 200, 300), final: bool = True, partial: bool = False) -> Path:
    rows = [_row(s, s / 100.0, d_real=0.6, d_fake=0.4, lr_d=2e-4, lr_g=2e-4) for s in steps]
    text = "\n".join(rows) + "\n" + ('{"step": 40' if partial else "")
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.jsonl").write_text(text)
    (d / "config.yaml").write_text("seed: 3\ntrain:\n  steps: 1000\n")
    (d / "run.json").write_text(json.dumps({"seed": 3, "versions": {"torch": "x.y"}, "argv": ["gankit", "train", "p"]}))
    for s in steps:
        _png(d / "samples" / f"step-{s:08d}.png", s)
    if final:
        _png(d / "samples" / "final.png", 0)
    (d / "checkpoints").mkdir(exist_ok=True)
    for s in steps[-2:]:
        (d / "checkpoints" / f"ckpt-{s:08d}.safetensors").write_bytes(b"x")
    return d


def test_run_page_in_progress_shows_latest_grid_curves_and_newest_checkpoint(tmp_path):
    run = _fake_run(tmp_path / "run", final=False, partial=True)
    kind, html = build_report(run)
    dom = Dom(html)
    assert kind == "run"
    large = dom.with_class("img", "grid-large")
    assert len(large) == 1 and large[0]["data-kind"] == "latest"
    assert [f["data-step"] for f in dom.with_class("img", "frame")] == ["100", "200", "300"]
    assert {c["data-panel"] for c in dom.with_class("img", "curve")} == {"losses", "d-outputs", "learning-rates"}
    assert "ckpt-00000300.safetensors" in html and "ckpt-00000200.safetensors" not in html
    assert "300 of 1000" in html and "incomplete" in html and "not finished" in html
    done = _fake_run(tmp_path / "done", steps=(500, 1000), final=False)  # toy data: no final grid, all steps done
    assert "not finished" not in build_report(done)[1]


def test_grids_over_training_stay_within_the_byte_budget_and_keep_the_newest(tmp_path):
    run = _fake_run(tmp_path / "run", steps=tuple(range(100, 1100, 100)))
    one = (run / "samples" / "step-00000100.png").stat().st_size
    dom = Dom(run_section(run, max_frames=12, frame_bytes=int(3.5 * one)))
    steps = [f["data-step"] for f in dom.with_class("img", "frame")]
    assert steps == ["100", "500", "1000"]  # three fit; evenly spaced, first and last kept
    assert len(Dom(run_section(run, max_frames=4)).with_class("img", "frame")) == 4


def test_missing_files_leave_their_sections_out(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(_row(1, 0.1) + "\n")
    dom = Dom(build_report(run)[1])
    assert not dom.with_class("img", "grid-large") and not dom.with_class("img", "frame")
    assert [c["data-panel"] for c in dom.with_class("img", "curve")] == ["losses"]
    headings = [a for t, a in dom.elements if t == "h2"]
    assert len(headings) == 1  # Curves only: no Samples, Config or Versions


def test_neither_run_nor_reproduction_is_one_error_naming_the_directory(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GankitError, match=str(tmp_path)):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0] and "neither" in err[0]
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert main(["report", str(_fake_run(tmp_path / "r")), "--out", str(tmp_path / "page.png")]) == 2
    assert "--out" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_dry_run_builds_but_writes_nothing(tmp_path, capsys):
    run = _fake_run(tmp_path / "run")
    assert main(["report", str(run), "--dry-run"]) == 0
    assert "KiB" in capsys.readouterr().out and not (run / "report.html").exists()
    assert main(["report", str(run), "--out", str(tmp_path / "elsewhere" / "r.html")]) == 0
    assert (tmp_path / "elsewhere" / "r.html").stat().st_size > 10_000


def test_reproduction_page_table_figures_pictures_and_each_run(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "report.md").write_text(ALIGNED)
    (rep / "result.json").write_text(json.dumps({
        "reproduction": "demo", "jsd_final": 0.25, "variant": {"k": 3, "jsd": 0.1},
        "settings": {"seed": 0, "nested": {"steps": 20}}, "versions": {"torch": "x.y"},
    }))
    _png(rep / "samples.png", 1)
    Image.new("P", (8, 8)).save(rep / "walk.gif")
    _png(rep / "variant-a" / "curves.png", 2)  # a folder of pictures, not a run
    _png(rep / "variant-a" / "frames" / "f0.png", 3)  # deeper: not embedded
    _fake_run(rep / "runs" / "seed0")
    _fake_run(rep / "runs" / "seed1", final=False)
    out = write_report(rep)
    html = out.read_text()
    dom = Dom(html)
    assert out == rep / "report.html"
    assert ("ours", ["gankit: Algorithm 1, k = 3", "0.23092", "0.0585"]) in dom.rows
    assert ("", ["jsd_final", "0.25"]) in dom.rows and ("", ["nested.steps", "20"]) in dom.rows
    assert [p["alt"] for p in dom.with_class("img", "picture")] == ["samples.png", "walk.gif", "variant-a/curves.png"]
    runs = dom.find("details", **{"class": "run"})
    assert [r["id"] for r in runs] == ["run-0", "run-1"]
    assert [g["data-kind"] for g in dom.with_class("img", "grid-large")] == ["final", "latest"]
    assert all(a["src"].startswith("data:image/") for a in dom.find("img") if "src" in a)


# ---------------------------------------------------------------------------------------
# A real browser: a page written after a dry-run training, opened by headless Chromium

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Appended to a copy of the page under test: after load, record on <body> whether each
# image decoded (the page itself carries no test code).
IMAGE_PROBE = (
    "<script>window.addEventListener('load', function () {"
    "document.body.setAttribute('data-images', Array.prototype.map.call(document.images,"
    " function (i) { return i.complete && i.naturalWidth > 0 ? 'ok' : 'broken'; }).join(','));"
    "});</script>"
)


def _chromium() -> str:
    found = os.environ.get("GANKIT_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if not found:
        pytest.fail(
            "headless Chromium is needed to check report pages in a browser and was not found: "
            "install it with `apt-get install chromium` (scripts/setup.sh does this where it runs as root) "
            "or point GANKIT_CHROMIUM at a Chrome/Chromium binary"
        )
    return found


def _browse(chromium: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
        *args, page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def test_page_after_dry_run_training_renders_in_headless_chromium(tmp_path, capsys):
    chromium = _chromium()
    run = tmp_path / "run"
    assert main(["train", "dcgan-mnist", "--dry-run", "--no-progress", "--out", str(run)]) == 0
    assert f"report: {run / 'report.html'}" in capsys.readouterr().out
    page_text = (run / "report.html").read_text()

    # Copied away from the run directory it must still be whole: nothing refers outside it.
    away = tmp_path / "copied" / "page.html"
    away.parent.mkdir()
    away.write_text(page_text.replace("</body>", IMAGE_PROBE + "</body>"))
    shutil.rmtree(run)

    dom_run = _browse(chromium, away, tmp_path / "profile", "--dump-dom")
    assert dom_run.returncode == 0, dom_run.stderr[-2000:]
    console = [l for l in dom_run.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    assert console == [], console  # the page logs nothing: no errors, no warnings
    dom = Dom(dom_run.stdout)
    body = dom.find("body")[0]
    images = dom.find("img")
    assert body["data-images"].split(",") == ["ok"] * len(images)
    final = dom.with_class("img", "grid-large")
    assert len(final) == 1 and final[0]["data-kind"] == "final"
    assert [f["data-step"] for f in dom.with_class("img", "frame")] == ["6", "12"]
    curves = {c["data-panel"] for c in dom.with_class("img", "curve")}
    assert {"losses", "d-outputs", "learning-rates", "grad-norms", "diagnostics"} <= curves
    slider = dom.with_class("div", "slider")
    assert len(slider) == 1 and "hidden" not in slider[0]  # the inline script ran and showed it
    assert all(a["src"].startswith("data:image/") for a in images)
    assert not dom.find("link") and all("src" not in s for s in dom.find("script"))
    assert all(a.get("href", "#").startswith("#") for a in dom.find("a"))

    shot = tmp_path / "shot.png"
    shot_run = _browse(chromium, away, tmp_path / "profile", "--window-size=1280,1600", f"--screenshot={shot}")
    assert shot_run.returncode == 0 and shot.is_file(), shot_run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (1600, 1280)
    assert pixels.std() > 10  # text, grids and curves: far from a blank page
    # grids and curves cover a real area of the first screen, not only lines of text
    assert (pixels < 240).mean() > 0.1
