"""The Markdown that reproductions write (report.md) as HTML: headings, pipe tables,
lists, fenced code, paragraphs and inline code/bold/links. Everything else is shown as
escaped text, so nothing in a report.md can inject markup into the page."""
from __future__ import annotations

import html
import re

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SEPARATOR_CELL = re.compile(r"^:?-{1,}:?$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\((https?://[^)\s]+)\)")
# A row of ours in a table beside a paper's: its first cell says "ours".
_OURS = re.compile(r"\bours\b|^gankit\b", re.IGNORECASE)


def inline(text: str) -> str:
    """Escape ``text`` and render `code`, **bold** and [links](https://...)."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        code, bold, label, url = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        else:
            out.append(f'<a href="{html.escape(url)}">{html.escape(label)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def split_row(line: str) -> list[str]:
    """Cells of a pipe-table row; ``\\|`` and pipes inside `code` do not split."""
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    cells, cur, in_code, i = [], [], False, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] == "|":
            cur.append("|")
            i += 2
            continue
        if c == "`":
            in_code = not in_code
        if c == "|" and not in_code:
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    cells.append("".join(cur).strip())
    return cells


def aligned_split(line: str, separator: str) -> list[str] | None:
    """Cells of a row of a padded table (as reproductions write it), cut at the separator
    line's pipes, so a cell may hold a bare ``|`` (``JSD(p||q)``); None when the row is not
    aligned with the separator."""
    cuts = [i for i, c in enumerate(separator.rstrip()) if c == "|"]
    row = line.rstrip()
    if len(cuts) < 2 or len(row) != cuts[-1] + 1 or any(row[i] != "|" for i in cuts):
        return None
    return [row[a + 1 : b].strip() for a, b in zip(cuts, cuts[1:])]


def table_rows(lines: list[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """(header, separator cells, body rows) of a table's lines (header, separator, body...).
    Rows aligned with the separator are cut at its pipes; others split like GFM."""
    sep = lines[1]
    cells = [aligned_split(l, sep) or split_row(l) for l in (lines[0], *lines[2:])]
    return cells[0], split_row(sep), cells[1:]


def is_separator(line: str) -> bool:
    cells = split_row(line)
    return "|" in line and bool(cells) and all(_SEPARATOR_CELL.match(c.replace(" ", "")) for c in cells)


def _align(cell: str) -> str:
    c = cell.replace(" ", "")
    if c.startswith(":") and c.endswith(":"):
        return "center"
    if c.endswith(":"):
        return "right"
    return ""


def table_html(header: list[str], separator: list[str], body: list[list[str]]) -> str:
    aligns = [_align(c) for c in separator] + [""] * max(0, len(header) - len(separator))

    def cell(tag: str, text: str, i: int) -> str:
        a = aligns[i] if i < len(aligns) else ""
        style = f' style="text-align:{a}"' if a else ""
        return f"<{tag}{style}>{inline(text)}</{tag}>"

    n = len(header)
    head = "".join(cell("th", h, i) for i, h in enumerate(header))
    rows = []
    for r in body:
        r = (r + [""] * n)[:n]  # GFM: short rows are padded, long ones cut to the header
        cls = ' class="ours"' if r and _OURS.search(r[0]) else ""
        rows.append(f"<tr{cls}>" + "".join(cell("td", c, i) for i, c in enumerate(r)) + "</tr>")
    return f'<table class="md"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def markdown_to_html(text: str) -> str:
    """Render report.md-style Markdown as an HTML fragment."""
    lines = text.splitlines()
    out: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            # report.md is also read in a terminal: its line breaks are kept
            out.append("<p>" + "<br>".join(inline(s.strip()) for s in para) + "</p>")
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            flush()
            i += 1
        elif line.lstrip().startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].lstrip().startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1 : j])) + "</code></pre>")
            i = j + 1
        elif m := _HEADING.match(line):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{inline(m.group(2))}</h{level}>")
            i += 1
        elif "|" in line and i + 1 < len(lines) and is_separator(lines[i + 1]):
            flush()
            j = i + 2
            while j < len(lines) and lines[j].strip() and "|" in lines[j]:
                j += 1
            out.append(table_html(*table_rows(lines[i:j])))
            i = j
        elif _LIST_ITEM.match(line):
            flush()
            items = []
            ordered = bool(re.match(r"^\s*\d", line))
            while i < len(lines) and (m := _LIST_ITEM.match(lines[i])):
                items.append(f"<li>{inline(m.group(1))}</li>")
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>{''.join(items)}</{tag}>")
        else:
            para.append(line)
            i += 1
    flush()
    return "\n".join(out)


def first_heading(text: str) -> str | None:
    for line in text.splitlines():
        if m := _HEADING.match(line):
            return m.group(2)
    return None
