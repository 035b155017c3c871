"""The part of a report page that shows one training run directory: sample grids over
training, curves from metrics.jsonl, config, versions, seed, wall time and checkpoint."""
from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from gankit.report.files import read_json_object, read_picture, read_text
from gankit.report.html import Html, duration, esc, flatten, img, kv_table
from gankit.report.metrics import MetricsTable, panels, read_metrics
from gankit.report.plots import panel_png

_STEP_GRID = re.compile(r"^step-(\d+)\.png$")
_CHECKPOINT = re.compile(r"^ckpt-(\d+)\.safetensors$")


def is_run_dir(d: Path) -> bool:
    """A training run directory: metrics, config with run.json, or checkpoints of its own."""
    if (d / "metrics.jsonl").is_file():
        return True
    if (d / "config.yaml").is_file() and (d / "run.json").is_file():
        return True
    ckpts = d / "checkpoints"
    return ckpts.is_dir() and any(_CHECKPOINT.match(p.name) for p in ckpts.iterdir())


def step_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """samples/step-XXXXXXXX.png, oldest first."""
    folder = run_dir / "samples"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_GRID.match(p.name))]
    return sorted(found)


def newest_checkpoint(run_dir: Path) -> Optional[tuple[int, Path]]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name))]
    return max(found) if found else None


def spread(items: list, n: int) -> list:
    """At most ``n`` items, evenly spaced, the first and the last always among them."""
    if len(items) <= n:
        return list(items)
    if n == 1:
        return [items[-1]]
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


def _total_steps(config_text: Optional[str]) -> Optional[int]:
    if not config_text:
        return None
    try:
        cfg = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return None
    steps = cfg.get("train", {}).get("steps") if isinstance(cfg, dict) and isinstance(cfg.get("train"), dict) else None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def _utc(path: Path) -> str:
    t = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class RunFacts:
    """What a run's summary line says (also used for a collapsed run's title)."""

    last_step: Optional[int]
    total_steps: Optional[int]
    checkpoint: Optional[tuple[int, Path]]
    wall_seconds: Optional[float]
    has_final: bool

    def headline(self) -> str:
        parts = []
        if self.last_step is not None:
            of = f" of {self.total_steps}" if self.total_steps else ""
            parts.append(f"step {self.last_step}{of} logged")
        if self.wall_seconds is not None:
            parts.append(duration(self.wall_seconds))
        parts.append("finished" if self.finished() else "not finished (in progress or stopped)")
        return ", ".join(parts)

    def finished(self) -> bool:
        """The configured steps are done (a resume may raise them), or, without a config, the
        final grid is there."""
        done = max(s for s in (self.last_step, self.checkpoint[0] if self.checkpoint else None, -1) if s is not None)
        return done >= self.total_steps if self.total_steps else self.has_final


def run_facts(run_dir: Path, metrics: Optional[MetricsTable] = None) -> RunFacts:
    metrics = metrics if metrics is not None else read_metrics(run_dir / "metrics.jsonl")
    return RunFacts(
        last_step=metrics.last_step() if metrics else None,
        total_steps=_total_steps(read_text(run_dir / "config.yaml")),
        checkpoint=newest_checkpoint(run_dir),
        wall_seconds=metrics.wall_seconds() if metrics else None,
        has_final=(run_dir / "samples" / "final.png").is_file(),
    )


def _h(level: int, text: str) -> str:
    return f"<h{level}>{esc(text)}</h{level}>"


def command_line(argv: list) -> str:
    """run.json's argv as a shell line: gankit's own entry points (the ``gankit`` script,
    ``python -m gankit.cli.main``) as ``gankit``, any other program (a test runner, a
    script calling the API) by its file name."""
    program = str(argv[0])
    name = "gankit" if "gankit" in Path(program).parts or Path(program).name == "gankit" else Path(program).name
    return " ".join([name, *(shlex.quote(str(a)) for a in argv[1:])])


def _summary(run_dir: Path, facts: RunFacts, meta: Optional[dict[str, Any]], metrics: Optional[MetricsTable]) -> str:
    items: list[tuple[str, Any]] = [("directory", str(run_dir))]
    if meta and isinstance(meta.get("argv"), list) and meta["argv"]:
        items.append(("command line", Html(f"<code>{esc(command_line(meta['argv']))}</code>")))
    if meta and "seed" in meta:
        items.append(("seed", meta["seed"]))
    if facts.last_step is not None:
        items.append(("last logged step", f"{facts.last_step}" + (f" of {facts.total_steps}" if facts.total_steps else "")))
    if facts.wall_seconds is not None:
        restarts = metrics.restarts() if metrics else 0
        note = f" ({restarts} resume{'s' if restarts != 1 else ''})" if restarts else ""
        items.append(("wall time", duration(facts.wall_seconds) + note))
    if facts.checkpoint is not None:
        step, path = facts.checkpoint
        try:
            when = f", written {_utc(path)}"
        except FileNotFoundError:
            when = ""
        items.append(("checkpoint drawn from", Html(f"<code>{esc(path.name)}</code> (step {step}{esc(when)})")))
    else:
        items.append(("checkpoint drawn from", "none yet"))
    if meta and meta.get("data_source"):
        items.append(("data", meta["data_source"]))
    return kv_table(items)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _samples(run_dir: Path, level: int, max_frames: int, frame_bytes: int) -> str:
    grids = step_grids(run_dir)
    final = run_dir / "samples" / "final.png"
    large_data, large_caption, kind = read_picture(final), "final samples", "final"
    if large_data is None and grids:
        step, path = grids[-1]
        large_data, large_caption, kind = read_picture(path), f"latest samples (step {step}; no final grid yet)", "latest"
    picked = spread(grids, max_frames)
    while len(picked) > 1 and sum(_size(p) for _, p in picked) > frame_bytes:
        picked = spread(grids, len(picked) - 1)
    frames = []
    for step, path in picked:
        data = read_picture(path)
        if data is not None:
            frames.append(f'<figure>{img(data, "image/png", f"samples at step {step}", "frame", {"data-step": step})}<figcaption>step {step}</figcaption></figure>')
    if large_data is None and not frames:
        return ""
    parts = [_h(level, "Samples"), '<div class="samples">']
    if large_data is not None:
        parts.append(f'<figure>{img(large_data, "image/png", large_caption, "grid-large", {"data-kind": kind})}<figcaption>{esc(large_caption)}</figcaption></figure>')
    if frames:
        parts.append(
            '<div class="over-training"><div class="slider" hidden><img alt="samples over training">'
            '<input type="range" min="0" value="0" aria-label="training step"> <span class="slider-step"></span></div>'
            f'<div class="filmstrip">{"".join(frames)}</div>'
            f'<p class="note">{len(frames)} of {len(grids)} grids over training, the same noise in each.</p></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def _curves(metrics: Optional[MetricsTable], level: int) -> str:
    if metrics is None:
        return ""
    notes = []
    if metrics.partial_last_line:
        notes.append("the last line of metrics.jsonl is incomplete (still being written) and is left out")
    if metrics.skipped:
        notes.append(f"unreadable line(s) {', '.join(map(str, metrics.skipped[:10]))} of metrics.jsonl left out")
    note = f'<p class="note">{esc("; ".join(notes))}.</p>' if notes else ""
    if not metrics.rows:
        return _h(level, "Curves") + '<p class="note">metrics.jsonl holds no rows yet.</p>' + note
    imgs = [
        img(panel_png(metrics, p), "image/png", p.title, "curve", {"data-panel": p.key})
        for p in panels(metrics)
    ]
    return _h(level, "Curves") + f'<div class="curves">{"".join(imgs)}</div>' + note


def _config(run_dir: Path, level: int) -> str:
    text = read_text(run_dir / "config.yaml")
    if text is None:
        return ""
    return _h(level, "Config") + f"<details open><summary>config.yaml (resolved)</summary><pre>{esc(text)}</pre></details>"


def _versions(meta: Optional[dict[str, Any]], level: int) -> str:
    versions = meta.get("versions") if meta else None
    if not isinstance(versions, dict) or not versions:
        return ""
    return _h(level, "Versions") + kv_table(sorted(versions.items()))


# Records other tools leave at a run's top level (evaluations, the best checkpoint) are
# shown when small; run.json has its own sections.
MAX_RECORD_BYTES = 1 << 20


def _records(run_dir: Path, level: int) -> str:
    parts = []
    for path in sorted(run_dir.glob("*.json")):
        try:
            if path.name == "run.json" or path.stat().st_size > MAX_RECORD_BYTES:
                continue
        except FileNotFoundError:  # replaced or removed while the page is built
            continue
        obj, problem = read_json_object(path)
        if obj is not None:
            parts.append(f"<h{level + 1}>{esc(path.name)}</h{level + 1}>" + kv_table(flatten(obj)))
        elif problem:
            parts.append(f'<p class="note">{esc(problem)}</p>')
    return _h(level, "Records") + "".join(parts) if parts else ""


# Grids over training embedded per run page at most (large colour grids are ~0.5 MB each);
# fewer, still evenly spaced, when they would take more.
FRAME_BYTES = 8 << 20


def run_section(run_dir: Path, level: int = 2, max_frames: int = 12, frame_bytes: int = FRAME_BYTES) -> str:
    """HTML for one run directory; headings start at ``level``. Missing files leave their
    part out."""
    metrics = read_metrics(run_dir / "metrics.jsonl")
    meta, meta_problem = read_json_object(run_dir / "run.json")
    facts = run_facts(run_dir, metrics)
    parts = [_summary(run_dir, facts, meta, metrics)]
    if meta_problem:
        parts.append(f'<p class="note">{esc(meta_problem)}</p>')
    parts += [_samples(run_dir, level, max_frames, frame_bytes), _curves(metrics, level), _records(run_dir, level), _config(run_dir, level), _versions(meta, level)]
    return "\n".join(p for p in parts if p)
