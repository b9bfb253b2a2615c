"""Errors that the CLI turns into one line and an exit code.

Exit codes are part of the contract: 0 pass, 1 a check failed (parity, regression),
2 usage or environment error (bad shape, missing model, backend not available), 3 internal error
(a bug: anything that is not one of these classes).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
# A bug of ours or an unexpected failure (not the user's input): told apart from 2 so a CI script
# does not read "fix your arguments" into it.
EXIT_INTERNAL = 3


class TrtExportError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = EXIT_USAGE


class ShapeError(TrtExportError):
    """A fixed input shape that is malformed or breaks a model-type rule."""


class ModelSourceError(TrtExportError):
    """A model source that cannot be loaded (missing dir, corrupt yml, bad factory)."""


class ExportError(TrtExportError):
    """Export failed or produced something other than what was asked."""


class BackendUnavailable(TrtExportError):
    """The machine lacks what a backend needs (CUDA, TensorRT, ...)."""


class InputError(TrtExportError):
    """Inputs that do not match the exported model (shape, dtype, names) or unreadable data."""


class ReportError(TrtExportError):
    """A report file that is missing, not JSON, of another schema version or model."""


class OutOfMemory(TrtExportError):
    """Host or device memory ran out (Paddle's ResourceExhausted, MemoryError): a bench candidate's `oom`."""


class CheckFailed(TrtExportError):
    """A check ran and failed: parity mismatch, regression. Exit code 1."""

    exit_code = EXIT_CHECK_FAILED
