"""Reading a run or reproduction directory that may still be changing: a file that is
absent (or gone by the time it is read) is None, never an error."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

# Larger pictures are listed by name instead of embedded, so a page stays openable.
MAX_EMBED_BYTES = 25 << 20


def read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


def read_json_object(path: Path) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """(object, None), (None, why it is unreadable), or (None, None) when the file is absent."""
    text = read_text(path)
    if text is None:
        return None, None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return None, f"{path.name}: not valid JSON ({e})"
    if not isinstance(obj, dict):
        return None, f"{path.name}: expected a JSON object"
    return obj, None


def read_picture(path: Path) -> Optional[bytes]:
    """The bytes of a picture to embed, or None when it is gone (a run still writing
    rotates files) or too large to embed."""
    try:
        if path.stat().st_size > MAX_EMBED_BYTES:
            return None
        return path.read_bytes()
    except FileNotFoundError:
        return None
