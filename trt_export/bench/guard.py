"""Reliability of the sweep around its workers: nothing left running, nothing half-written.

- Parent side (bench.py): pre-flight checks of --out, the caches and memory before any worker
  starts; stale scratch/staging dirs of dead runs removed; the result set swapped into --out all
  or nothing; ``ResultsNotWritten`` so the table is still printed when the files cannot be.
- Worker side (bench_worker.py): ``die_with_parent`` (PR_SET_PDEATHSIG, so kill -9 of the parent
  leaves no orphan), ``StageRecord`` (the step a worker is in, in a file, so a timeout names it).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trt_export.errors import TrtExportError

if TYPE_CHECKING:
    from trt_export.bench.options import BenchOptions
    from trt_export.bench.report import BenchReport
    from trt_export.model.sources import ModelSource

# The bench parent's PID, given to every worker so it can die with it.
PARENT_PID_ENV = "TRT_EXPORT_PARENT_PID"


def stage_path(result_file: Path) -> Path:
    """Where a worker records the step it is in (read by the parent when the worker times out)."""
    return result_file.with_name(result_file.name + ".stage")


SCRATCH_NAME = "trt-export-bench"
# What write_outputs puts in --out, by kind: checked before the sweep (see preflight.check_output_dir).
RESULT_ENTRIES = {
    "bench.json": "file",
    "bench.csv": "file",
    "bench.md": "file",
    "latency.png": "file",
    "memory.png": "file",
    "throughput.png": "file",
    "logs": "dir",
}


def _log_lines(log_file: Path) -> list[str]:
    try:
        return [
            line.strip() for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
    except OSError:
        return []


def last_log_line(log_file: Path) -> str:
    return (_log_lines(log_file) or ["(nothing logged yet)"])[-1][:200]


def crash_inline(returncode: int, log_file: Path, stage: str) -> str:
    """A crash reason quoting the log's last lines, for a log that will not be kept."""
    detail = "; ".join(_log_lines(log_file)[-3:]) or "no output"
    sig = f"signal {-returncode}" if returncode < 0 else f"exit {returncode}"
    return f"worker ended ({sig}) during {stage}: {detail[:400]}"


class ResultsNotWritten(TrtExportError):
    """The sweep finished but its result files could not be written; carries the report so the
    CLI can still print the table (the numbers are not lost with the files)."""

    def __init__(self, message: str, report: BenchReport) -> None:
        super().__init__(message)
        self.report = report


def preflight_sweep(options: BenchOptions, source: ModelSource, out_dir: Path, cache_dir: Path) -> None:
    """Everything about --out, the cache and memory that can be refused before the sweep."""
    from trt_export.export.preflight import MIN_FREE_BYTES, check_disk, check_memory, check_output_dir
    from trt_export.export.savedir import check_name, clean_stale

    # Leftovers of killed runs: scratch dirs in the temp dir, staging dirs in --out and the cache.
    clean_stale(Path(tempfile.gettempdir()), SCRATCH_NAME)
    if out_dir.is_dir():
        clean_stale(out_dir, "bench")
    if options.use_cache and cache_dir.is_dir():
        for entry in cache_dir.iterdir():
            if entry.is_dir():
                clean_stale(entry)
    check_name(out_dir.resolve(), "--out")
    check_output_dir(out_dir, "--out", RESULT_ENTRIES)
    check_disk(out_dir, MIN_FREE_BYTES, "--out")
    if options.use_cache:
        check_output_dir(cache_dir, "--cache-dir")
    trt_cache = options.settings.trt_cache_dir if options.settings is not None else None
    if trt_cache:
        check_output_dir(Path(trt_cache), "--trt-cache-dir")
    check_memory(options.shapes, len(source.input_names))


def swap_in(staging: Path, out_dir: Path, stale: tuple[str, ...] = ()) -> list[Path]:
    """Move every entry of ``staging`` into ``out_dir``, all or nothing.

    The entries they replace (and ``stale`` ones) are first moved aside into ``.bench.old-PID``;
    if any move fails, what was moved in goes back out and the old entries back in, so ``out_dir``
    holds either the whole new result set or exactly what it held before.
    """
    from trt_export.export.savedir import signals_deferred

    with signals_deferred():  # a signal half-way would leave a mixed result set
        return _swap_entries(staging, out_dir, stale)


def _swap_entries(staging: Path, out_dir: Path, stale: tuple[str, ...]) -> list[Path]:
    items = sorted(staging.iterdir())
    aside_dir = out_dir / f".bench.old-{os.getpid()}"
    aside_dir.mkdir(exist_ok=True)
    moved_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for name in [item.name for item in items] + [n for n in stale if n not in {i.name for i in items}]:
            target = out_dir / name
            if target.exists() or target.is_symlink():
                aside = aside_dir / name
                os.replace(target, aside)
                moved_aside.append((target, aside))
        for item in items:
            os.replace(item, out_dir / item.name)
            placed.append(out_dir / item.name)
    except OSError:
        for target in reversed(placed):
            os.replace(target, staging / target.name)
        for target, aside in reversed(moved_aside):
            os.replace(aside, target)
        shutil.rmtree(aside_dir, ignore_errors=True)
        raise
    shutil.rmtree(aside_dir, ignore_errors=True)
    return placed


class StageRecord(list):  # type: ignore[type-arg]
    """``stage[0]``, the step a job is in, also written to a file as it changes, so the parent
    can name the step that ran out of --timeout (it kills the worker, so no result says it)."""

    def __init__(self, initial: str, path: Path | None = None) -> None:
        super().__init__([initial])
        self.path = path
        self._write()

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            try:
                self.path.write_text(str(self[0]), encoding="utf-8")
            except OSError:
                pass  # only a better timeout message is lost


def die_with_parent(expected_parent: int | None = None) -> None:
    """Linux: have the kernel SIGKILL this worker when the bench parent dies (even by kill -9),
    so no orphan keeps running for --timeout holding CPU, memory or a GPU. Elsewhere nothing."""
    import os
    import signal

    parent = str(expected_parent) if expected_parent is not None else os.environ.get(PARENT_PID_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)
