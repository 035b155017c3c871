"""Atomic file writes: a crash leaves either the old file or the new one, never half of one.

Every writer goes through :func:`atomic_path`: a temporary file in the target's own
directory (so the rename never crosses file systems), flushed and fsynced, then renamed
over the target, then the directory fsynced so the rename itself survives a power cut.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

# hook(phase) is called at named points of a write ("partial", "written", "renamed");
# fault-injection tests use it to kill the process at exactly those points.
PhaseHook = Callable[[str], None]

TMP_SUFFIX = ".tmp"


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_file_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], hook: Optional[PhaseHook] = None) -> Iterator[Path]:
    """Yield a temporary path in the same directory; on success fsync it and rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; give the file the mode open() would
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        if hook is not None:
            hook("written")
        os.replace(tmp_path, path)
        if hook is not None:
            hook("renamed")
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink()


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview,
    hook: Optional[PhaseHook] = None,
    chunk: int = 8 << 20,
) -> None:
    """Atomically write ``data`` to ``path``, in chunks (so a kill can land mid-write),
    and check the size on disk before the rename."""
    view = memoryview(data).cast("B")
    with atomic_path(path, hook) as tmp:
        mid = len(view) // 2
        with open(tmp, "wb") as f:
            for lo, hi in ((0, mid), (mid, len(view))):
                for start in range(lo, hi, chunk):
                    f.write(view[start : min(start + chunk, hi)])
                if lo == 0 and hook is not None:
                    f.flush()
                    hook("partial")  # half the bytes are in the file
            f.flush()
            os.fsync(f.fileno())
        size = tmp.stat().st_size
        if size != len(view):  # a short write that raised nothing (e.g. a full quota on some NFS)
            raise OSError(errno.EIO, f"wrote {size} of {len(view)} bytes", str(tmp))


def stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Temporary files left in ``folder`` by writes that were killed before their rename."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX))


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Atomically create ``path`` by calling ``writer(tmp_path)``."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
