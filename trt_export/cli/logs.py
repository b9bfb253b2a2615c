"""The `trt_export` logger, configured once by the CLI from -v/--verbose and -q/--quiet.

Library modules log through ``logging.getLogger(__name__)`` and never configure anything; a
program that imports trt_export keeps its own logging setup. At the default level (WARNING) a
record prints as its bare message, exactly what Python's last-resort handler printed before the
CLI configured logging, so no visible text changes. Warnings that are data (a candidate's
warnings, parity notes) stay in the reports; logging carries diagnostics only.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOGGER_NAME = "trt_export"
BOTH_FLAGS_ERROR = "-v/--verbose and -q/--quiet contradict each other; give one of them"


def log_level(verbose: bool, quiet: bool) -> int:
    """INFO with --verbose, ERROR with --quiet, else WARNING. The CLI refuses both together."""
    if verbose and quiet:
        raise ValueError(BOTH_FLAGS_ERROR)
    if verbose:
        return logging.INFO
    if quiet:
        return logging.ERROR
    return logging.WARNING


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to sys.stderr as it is when a record is emitted (tests and callers may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # the base class stores the stream; this handler reads the current one
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the handler always writes to the current sys.stderr."""


def configure_logging(verbose: bool, quiet: bool) -> logging.Logger:
    """Set the `trt_export` logger's level and its one stderr handler (again on each call: idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(log_level(verbose, quiet))
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger
