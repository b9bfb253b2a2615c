"""Checks that run before any work: memory for the input tensors, disk space, output paths.

Everything here is cheap and Paddle-free, so a run that cannot finish is refused in one line
before minutes of exporting or sweeping, instead of failing at the end ("internal error:
MemoryError", "NotADirectoryError", a full disk) with the results lost.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from trt_export.errors import TrtExportError
from trt_export.model.shapes import FixedShape

# Crude peak-memory model of one run at a fixed shape, in multiples of the float32 input tensors:
# the seeded random draw is float64 (2x), the float32 copy (1x), Paddle's tensor (1x), and at least
# one activation as large as the input (1x; a real network's first feature maps are larger still).
MEMORY_FACTOR = 5
# Below this much free space nothing we write (reports, manifests, small exports) is safe.
MIN_FREE_BYTES = 16 << 20
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def input_bytes(shape: FixedShape, n_inputs: int = 1) -> int:
    """float32 bytes of the input tensors at ``shape``."""
    return shape.n * shape.c * shape.h * shape.w * 4 * max(n_inputs, 1)


def available_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(shapes: Iterable[FixedShape], n_inputs: int = 1, available: int | None = None) -> None:
    """Refuse shapes whose input tensors (and a crude allowance for activations) exceed free memory."""
    free = available_memory() if available is None else available
    too_big = [
        (s, input_bytes(s, n_inputs) * MEMORY_FACTOR) for s in shapes if input_bytes(s, n_inputs) * MEMORY_FACTOR > free
    ]
    if not too_big:
        return
    shape, need = max(too_big, key=lambda item: item[1])
    others = f" (and {len(too_big) - 1} more shape(s))" if len(too_big) > 1 else ""
    raise TrtExportError(
        f"{shape.describe()}{others} needs at least {_gib(need)} of memory ({n_inputs} input tensor(s) of "
        f"{_gib(input_bytes(shape))} each, plus activations), but only {_gib(free)} is available; choose a smaller shape"
    )


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(existing_ancestor(path)).free
    except OSError:
        return 0


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return True
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


def disk_full_error(where: Path, need: int | None = None) -> TrtExportError:
    free = free_bytes(where)
    wanted = f"; about {_gib(need)} is needed" if need else ""
    return TrtExportError(
        f"disk full at {where} ({_gib(free)} free{wanted}); free some space or choose a directory on another disk"
    )


def check_disk(where: Path, need: int, flag: str) -> None:
    """Refuse up front when ``where``'s filesystem has less than ``need`` bytes free."""
    free = free_bytes(where)
    if free < max(need, MIN_FREE_BYTES):
        raise TrtExportError(
            f"not enough disk space for {flag} at {existing_ancestor(where)}: {_gib(free)} free, about "
            f"{_gib(max(need, MIN_FREE_BYTES))} needed; free some space or choose a directory on another disk"
        )


def check_output_dir(out: Path, flag: str, entries: dict[str, str] | None = None) -> None:
    """Refuse an output dir that cannot be created or written, before any work.

    ``entries`` maps names the run will write in ``out`` to "file" or "dir": an existing entry of the
    other kind (a file named ``logs``, a directory named ``bench.json``) is refused now rather than
    after the run.
    """
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_dir():
        raise TrtExportError(f"{flag} {str(out)!r} is a file; give a directory")
    base = existing_ancestor(out)
    if not base.is_dir():
        raise TrtExportError(f"{flag} {str(out)!r} cannot be created: {str(base)!r} is a file; give a directory path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise TrtExportError(f"{flag} {str(out)!r} cannot be written: no write permission in {str(base)!r}")
    for name, kind in (entries or {}).items():
        item = out / name
        if kind == "dir" and item.exists() and not item.is_dir():
            raise TrtExportError(
                f"{flag} holds a file {str(item)!r} where the run writes its {name}/ directory; move it or choose another {flag}"
            )
        if kind == "file" and item.is_dir():
            raise TrtExportError(
                f"{flag} holds a directory {str(item)!r} where the run writes the file {name}; move it or choose another {flag}"
            )
