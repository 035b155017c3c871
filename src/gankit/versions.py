"""The versions a run or a reproduction records next to its results."""
from __future__ import annotations

import platform

import numpy
import torch

from gankit import __version__


def versions() -> dict[str, str]:
    return {"gankit": __version__, "torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version()}
