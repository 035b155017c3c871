"""gankit: generative adversarial nets, from the 2014 paper to its variants."""
from __future__ import annotations

__version__ = "0.1.0"

from gankit.errors import GankitError

__all__ = ["GankitError", "__version__"]
