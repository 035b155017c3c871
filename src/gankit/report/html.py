"""HTML building blocks for report pages: escaping, embedded images, key/value tables and
the page shell (inline CSS and one small inline script; nothing is fetched)."""
from __future__ import annotations

import base64
import html
import json
from typing import Any, Iterable, Mapping

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}


def esc(value: Any) -> str:
    return html.escape(str(value))


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def img(data: bytes, mime: str, alt: str, cls: str = "", attrs: Mapping[str, Any] = {}) -> str:
    extra = "".join(f' {k}="{esc(v)}"' for k, v in attrs.items())
    c = f' class="{esc(cls)}"' if cls else ""
    return f'<img{c} alt="{esc(alt)}" src="{data_uri(data, mime)}"{extra}>'


def fmt(value: Any) -> str:
    """A number to 6 significant digits; lists and dicts as compact JSON; anything else as text."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


# Lists and dicts longer than this (as compact JSON) fold away, pretty-printed, so a
# per-seed list in result.json does not fill the screen.
FOLD_CHARS = 160


def cell(value: Any) -> str:
    """A value as table-cell markup."""
    if isinstance(value, Html):
        return value
    text = fmt(value)
    if isinstance(value, (list, dict)) and len(text) > FOLD_CHARS:
        what = f"{len(value)} item{'s' if len(value) != 1 else ''}"
        return f"<details><summary>{what}</summary><pre>{esc(json.dumps(value, indent=2, sort_keys=True))}</pre></details>"
    return esc(text)


def kv_table(items: Iterable[tuple[str, Any]], cls: str = "kv") -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{cell(v)}</td></tr>" for k, v in items)
    return f'<table class="{esc(cls)}">{rows}</table>' if rows else ""


def flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted keys (``a.b``), sorted; other values as they are."""
    out: list[tuple[str, Any]] = []
    for k, v in sorted(d.items(), key=lambda kv: str(kv[0])):
        if isinstance(v, dict) and v:
            out += flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


class Html(str):
    """Markup that kv_table puts into a cell as it is (already escaped by its maker)."""


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"


CSS = """
:root { --fg: #1d1f23; --muted: #5d636f; --line: #d9dce1; --soft: #f4f5f7; --accent: #2f6fb3; --ours: #fff6d6; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 1280px; background: #fff; }
h1 { font-size: 1.6rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
p.meta, .note { color: var(--muted); }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: var(--soft); padding: .8rem; overflow-x: auto; border-radius: 4px; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
table.kv th { background: var(--soft); font-weight: 600; white-space: nowrap; }
table.md thead th { background: var(--soft); }
table.md tr.ours td { background: var(--ours); font-weight: 600; }
nav a { margin-right: 1rem; color: var(--accent); }
.samples { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.samples figure { margin: 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: .2rem; }
img.grid-large { width: 560px; max-width: 100%; image-rendering: pixelated; border: 1px solid var(--line); }
.slider img { width: 420px; max-width: 100%; image-rendering: pixelated; border: 1px solid var(--line); display: block; }
.slider input { width: 420px; max-width: 100%; }
.filmstrip { display: flex; gap: .6rem; overflow-x: auto; padding: .4rem 0; }
.filmstrip figure { flex: 0 0 auto; margin: 0; text-align: center; }
.filmstrip img { width: 150px; image-rendering: pixelated; border: 1px solid var(--line); cursor: pointer; }
.curves { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1rem; }
.curves img { width: 100%; border: 1px solid var(--line); }
.pictures { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.pictures figure { margin: 0; max-width: 100%; }
.pictures img { max-width: 100%; border: 1px solid var(--line); }
details.run { border: 1px solid var(--line); border-radius: 4px; padding: .4rem .8rem; margin: .6rem 0; }
details.run > summary { cursor: pointer; font-weight: 600; }
"""

# Grid sliders: each .slider shows the filmstrip frame its range input points at. Without
# scripts the sliders stay hidden and the filmstrip alone shows the same frames.
SCRIPT = """
document.querySelectorAll('.slider').forEach(function (box) {
  var frames = box.parentNode.querySelectorAll('.filmstrip img');
  if (!frames.length) return;
  var view = box.querySelector('img'), range = box.querySelector('input'), label = box.querySelector('.slider-step');
  function show(i) { view.src = frames[i].src; label.textContent = 'step ' + frames[i].getAttribute('data-step'); range.value = i; }
  range.max = frames.length - 1;
  range.addEventListener('input', function () { show(Number(range.value)); });
  frames.forEach(function (f, i) { f.addEventListener('click', function () { show(i); }); });
  show(frames.length - 1);
  box.hidden = false;
});
"""


def page(title: str, body: str, generated: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="gankit report">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"{body}\n"
        f'<p class="meta">Written by <code>gankit report</code> at {esc(generated)}.</p>\n'
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )
