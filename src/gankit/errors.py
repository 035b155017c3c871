"""User-facing errors: one line that names the field or file and what was expected.

The CLI prints these without a traceback and exits with code 2 (``--debug`` shows it).
"""
from __future__ import annotations


class GankitError(Exception):
    """A problem with something the user handed us (config, data file, checkpoint, argument)."""


class ConfigError(GankitError):
    """A config value is unknown, of the wrong type or out of range."""


class DataError(GankitError):
    """A data file is missing, truncated or not in the expected format."""


class CheckpointError(GankitError):
    """A checkpoint is missing, damaged or not a gankit checkpoint."""


class DivergenceError(GankitError):
    """Training produced non-finite losses or weights."""
