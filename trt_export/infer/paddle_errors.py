"""Paddle Inference's exceptions as one-line errors naming the cause and the fix.

Known failures (measured, shared/PADDLE-FACTS.md) map to a fixed message and error class; any
other becomes "Paddle Inference failed while <doing>: <the informative line>".
"""

from __future__ import annotations

import re
from typing import Any

from trt_export.errors import BackendUnavailable, TrtExportError

# Paddle's C++ errors surface as RuntimeError, ValueError, NotImplementedError ("(Unimplemented)"),
# OSError...; runners catch Exception around Paddle calls and translate it here.
# Known Paddle failures -> (exception class, one-line message with the fix).
_KNOWN_FAILURES: tuple[tuple[str, type[TrtExportError], str], ...] = (
    (
        "ConvertPirAttribute2RuntimeAttribute",
        TrtExportError,
        "oneDNN cannot run this PIR .json model: Paddle 3.x fails on bilinear interpolate attributes "
        "(Paddle issue 79749); use --format legacy or --backend paddle-cpu",
    ),
    (
        "please compile with TENSORRT first",
        BackendUnavailable,
        'this Paddle build has no TensorRT ("To use Paddle-TensorRT, please compile with TENSORRT first"); '
        "install a TensorRT-enabled paddlepaddle-gpu or use --backend paddle-gpu",
    ),
    (
        "memory_optimize_pass",
        TrtExportError,
        "enable_memory_optim fails with PIR .json models in Paddle 3.x; drop --memory-optim or use --format legacy",
    ),
    (
        "libnvinfer",
        BackendUnavailable,
        "libnvinfer (TensorRT) cannot be loaded; set FLAGS_tensorrt_dir or LD_LIBRARY_PATH to TensorRT's lib dir",
    ),
    (
        "Cannot load cudnn",
        BackendUnavailable,
        "cuDNN cannot be loaded; install the cuDNN this Paddle was built with or fix LD_LIBRARY_PATH",
    ),
)

_PADDLE_ERROR_LINE = re.compile(r"\((?:[A-Z][A-Za-z]+)\)\s+\S.*")


def _paddle_error_line(text: str) -> str:
    """The informative line of a multi-line Paddle error ('(InvalidArgument) ...'), shortened."""
    match = _PADDLE_ERROR_LINE.search(text)
    line = match.group(0) if match else next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return line if len(line) <= 300 else line[:297] + "..."


ONEDNN_PIR_ONLY = (
    "oneDNN cannot run this PIR .json model: Paddle 3.x fails on bilinear interpolate attributes "
    "(Paddle issue 79749), and this export has no legacy format (this Paddle cannot save the network as "
    ".pdmodel); use --backend paddle-cpu"
)


def advice_for_export(error: TrtExportError, manifest: Any) -> TrtExportError:
    """Known failures whose generic fix does not apply to this export (--format legacy for a PIR-only one)."""
    pir_only = any(
        str(note).startswith("legacy .pdmodel export is not possible") for note in getattr(manifest, "notes", [])
    )
    if str(error) == _KNOWN_FAILURES[0][2] and pir_only:
        return TrtExportError(ONEDNN_PIR_ONLY)
    return error


def translate_paddle_error(exc: BaseException, doing: str) -> TrtExportError:
    """Turn a Paddle exception into a one-line TrtExportError naming the cause and the fix."""
    if isinstance(exc, TrtExportError):
        return exc
    text = str(exc)
    for needle, cls, message in _KNOWN_FAILURES:
        if needle in text:
            return cls(message)
    return TrtExportError(f"Paddle Inference failed while {doing}: {type(exc).__name__}: {_paddle_error_line(text)}")
