"""Interleaved A/B re-measurement (duet benchmarking) of a baseline export and the current one.

Between two runs on a shared machine the speed of the machine itself moves by more than any
tolerance (measured here: one unchanged net at p50 24.6, 9.7 and 4.8 ms in three back-to-back
benches), so a number stored last week cannot tell drift from regression. This module measures
both exports in the same job, in one worker process, on the same backend and device, in short
alternating blocks (Bulej et al., "Duet Benchmarking: Improving Measurement Accuracy in the
Cloud", 2020): whatever the machine does hits both builds alike, and the ratio of two adjacent
blocks cancels it. The gate's verdict then comes from the paired block ratios
(:func:`trt_export.gate.ratio_stats.paired_ratio`).

Which build goes first within a pair is drawn from a seeded generator, so a systematic
"the second block is faster" effect (caches, clock ramps) averages out instead of biasing the
ratio. Both predictors are warmed up before the first pair.

The exports come from the bench runs' ``--keep-exports`` (``OUT/exports/<label>/``), which is
what a CI job keeps as an artifact of the baseline run (see docs/ci-gate.md). They are checked
(manifest, sha256 of the files, shape) before anything is measured.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trt_export.bench.report import BenchReport
from trt_export.bench.stats import MIN_PAIRS
from trt_export.errors import ReportError, TrtExportError

if TYPE_CHECKING:
    from trt_export.bench.protocol import InterleaveJob, InterleaveResult

EXPORTS_DIRNAME = "exports"
"""``bench --keep-exports`` puts each candidate's export in ``OUT/exports/<label>/``."""

DEFAULT_PAIRS = 60
DEFAULT_BLOCK_MS = 50.0
# 30 pairs of 20 ms blocks caught a 29 % slowdown in only 15 of 20 trials at load average 6-15 on
# 2 cores (interval half-width ~0.15); 60 pairs of 50 ms narrow it (docs/ci-gate.md).
DEFAULT_WARMUP = 10
MIN_BLOCK_ITERS = 3
CLOCKS = ("wall", "cpu")
"""wall: perf_counter, what bench reports; cpu: this process's CPU time (all its threads), which
time slices lost to other processes on an oversubscribed runner do not inflate (CPU backends only)."""


@dataclass(frozen=True)
class RerunOptions:
    """How to re-measure: where the exports are, how many pairs of how long blocks."""

    baseline_exports: Path | None = None  # None: "exports" next to the baseline bench.json
    current_exports: Path | None = None  # None: "exports" next to the current bench.json
    pairs: int = DEFAULT_PAIRS
    block_ms: float = DEFAULT_BLOCK_MS
    warmup: int = DEFAULT_WARMUP
    timeout_s: float = 600.0
    seed: int = 0
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.clock not in CLOCKS:
            raise TrtExportError(f"--ab-clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")

        if isinstance(self.pairs, bool) or not isinstance(self.pairs, int) or self.pairs < MIN_PAIRS:
            raise TrtExportError(
                f"--pairs must be an integer of at least {MIN_PAIRS} (the paired interval needs them), got {self.pairs!r}"
            )
        if not (isinstance(self.block_ms, (int, float)) and math.isfinite(self.block_ms) and self.block_ms > 0):
            raise TrtExportError(f"--block-ms must be a positive number of milliseconds, got {self.block_ms!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise TrtExportError(f"--warmup must be a non-negative integer, got {self.warmup!r}")


@dataclass
class PairedRun:
    """One shape's A/B measurement: per pair, a block of baseline and a block of current timings (ms)."""

    label: str
    base_blocks: list[list[float]]
    cur_blocks: list[list[float]]
    base_first: list[bool] = field(default_factory=list)
    block_iters: int = 0
    clock: str = "wall"

    @property
    def pair_ratios(self) -> list[float]:
        """current / baseline, ratio of the two block medians of each pair."""
        return [float(np.median(c) / np.median(b)) for b, c in zip(self.base_blocks, self.cur_blocks, strict=True)]

    @property
    def base_median_ms(self) -> float:
        return float(np.median(np.concatenate(self.base_blocks)))

    @property
    def cur_median_ms(self) -> float:
        return float(np.median(np.concatenate(self.cur_blocks)))


# --- the parent: checks, then one worker per shape ----------------------------------------------------


def exports_root(report_path: str | os.PathLike[str], given: Path | None) -> Path:
    return Path(given) if given is not None else Path(report_path).resolve().parent / EXPORTS_DIRNAME


def check_export(root: Path, label: str, role: str, shape_nchw: Sequence[int]) -> Path:
    """The export of ``label`` under ``root``, intact and at that shape; else a one-line ReportError."""
    from trt_export.export.manifest import load_manifest

    directory = root / label
    if not directory.is_dir():
        raise ReportError(
            f"{role} export of {label} is missing ({directory} does not exist); run that bench with --keep-exports "
            f"and keep its --out directory (bench.json + exports/) as the CI artifact, or point --{role}-exports at it"
        )
    try:
        manifest = load_manifest(directory)
        manifest.check_files()
    except TrtExportError as exc:
        raise ReportError(f"{role} export of {label} is damaged: {exc}") from None
    if list(manifest.fixed_shape.nchw) != list(shape_nchw):
        raise ReportError(
            f"{role} export of {label} is fixed at {manifest.fixed_shape.label}, not {label}; "
            f"point --{role}-exports at the exports of that bench run"
        )
    return directory


def comparable_labels(baseline: BenchReport, current: BenchReport) -> list[str]:
    """Shapes measured in both reports, in the baseline's order."""
    cur_ok = {cand.label for cand in current.candidates if cand.ok and cand.latency_ms is not None}
    return [
        cand.label for cand in baseline.candidates if cand.ok and cand.latency_ms is not None and cand.label in cur_ok
    ]


def rerun_ab(
    baseline: BenchReport,
    current: BenchReport,
    baseline_path: str | os.PathLike[str],
    current_path: str | os.PathLike[str],
    options: RerunOptions,
    progress: Callable[[str], None] | None = None,
) -> dict[str, PairedRun]:
    """Check every export, then measure each shape measured in both reports, A/B interleaved."""
    from trt_export.infer.backends import BackendSettings, backend_availability

    labels = comparable_labels(baseline, current)
    if not labels:
        raise ReportError(
            "no shape was measured in both reports, so there is nothing to re-measure; check --baseline and --current"
        )
    base_root = exports_root(baseline_path, options.baseline_exports)
    cur_root = exports_root(current_path, options.current_exports)
    shapes = {cand.label: cand.shape_nchw for cand in current.candidates}
    dirs = {
        label: (
            check_export(base_root, label, "baseline", shapes[label]),
            check_export(cur_root, label, "current", shapes[label]),
        )
        for label in labels
    }
    backend = current.backend
    if options.clock == "cpu":
        from trt_export.infer.backend_names import is_cpu_backend

        if not is_cpu_backend(backend):
            raise ReportError(f"--ab-clock cpu times CPU work, but {backend} runs on the GPU; use --ab-clock wall")
    availability = backend_availability(backend, None)
    if not availability.available:
        raise ReportError(
            f"backend {backend} of the current report is not available here: {availability.reason}; re-measure on the runner that made it"
        )
    threads = current.settings.threads or 1
    settings = BackendSettings(backend=backend, cpu_threads=threads)
    return {label: _measure(label, *dirs[label], settings, options, progress) for label in labels}


def _measure(
    label: str,
    base_dir: Path,
    cur_dir: Path,
    settings: Any,
    options: RerunOptions,
    progress: Callable[[str], None] | None,
) -> PairedRun:
    from trt_export.bench.protocol import InterleaveJob, InterleaveResult
    from trt_export.bench.sweep import WorkerPool

    scratch = Path(tempfile.mkdtemp(prefix="trt-export-ab-"))
    try:
        pool = WorkerPool(scratch, options.timeout_s)
        if progress is not None:
            progress(f"A/B {label}: {options.pairs} pairs of ~{options.block_ms:g} ms blocks on {settings.backend}")
        job = InterleaveJob(
            baseline_export=base_dir,
            current_export=cur_dir,
            settings=settings,
            pairs=options.pairs,
            block_ms=options.block_ms,
            warmup=options.warmup,
            seed=options.seed,
            clock=options.clock,
        )
        outcome = pool.run(job, f"{label}-ab", "build")
        if outcome.failure is not None or not isinstance(outcome.result, InterleaveResult):
            log = (scratch / f"{label}-ab.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
            tail = f" ({log[-1][:200]})" if log else ""
            raise TrtExportError(f"A/B re-measurement of {label} failed: {outcome.failure}{tail}")
        result = outcome.result
        return PairedRun(
            label, result.base_blocks, result.cur_blocks, result.base_first, result.block_iters, options.clock
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- the worker ---------------------------------------------------------------------------------


def block_iterations(step_s: float, block_ms: float) -> int:
    """Iterations per block so that one block takes about ``block_ms`` (at least MIN_BLOCK_ITERS)."""
    if step_s <= 0:
        return MIN_BLOCK_ITERS
    return max(MIN_BLOCK_ITERS, int(math.ceil(block_ms / 1000.0 / step_s)))


def timed_block(step: Callable[[], Any], iters: int, clock: str = "wall") -> list[float]:
    """Seconds per call of ``step``, ``iters`` calls, on the wall clock or this process's CPU clock."""
    read = time.perf_counter if clock == "wall" else time.process_time
    samples = []
    for _ in range(iters):
        start = read()
        step()
        samples.append(read() - start)
    return samples


def interleave_blocks(
    step_base: Callable[[], Any],
    step_cur: Callable[[], Any],
    pairs: int,
    iters: int,
    seed: int,
    clock: str = "wall",
) -> dict[str, Any]:
    """Alternate timed blocks of the two steps; which goes first in a pair is a seeded coin flip."""
    rng = np.random.default_rng(seed)
    base_blocks: list[list[float]] = []
    cur_blocks: list[list[float]] = []
    base_first: list[bool] = []
    for _ in range(pairs):
        first = bool(rng.integers(2))
        order = (step_base, step_cur) if first else (step_cur, step_base)
        times = [timed_block(step, iters, clock) for step in order]
        b, c = (times[0], times[1]) if first else (times[1], times[0])
        base_blocks.append([t * 1000.0 for t in b])
        cur_blocks.append([t * 1000.0 for t in c])
        base_first.append(first)
    return {"base_blocks": base_blocks, "cur_blocks": cur_blocks, "base_first": base_first, "block_iters": iters}


def job_interleave(job: InterleaveJob, stage: list[str]) -> InterleaveResult:
    """The ``interleave`` worker job: both predictors in this process, blocks alternated."""
    from trt_export.bench.protocol import InterleaveResult
    from trt_export.bench.worker import timed_loop
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.inputs import random_inputs
    from trt_export.infer.runners import PaddleInferenceRunner

    settings = job.settings
    runners = []
    for export_dir in (job.baseline_export, job.current_export):
        manifest = load_manifest(export_dir)
        assert manifest.export_dir is not None  # load_manifest records where it read the manifest
        runners.append(PaddleInferenceRunner(manifest.export_dir, manifest, settings))
    stage[0] = "build"
    base, cur = runners
    with base, cur:
        stage[0] = "run"
        for runner in runners:
            runner.infer(random_inputs(runner.manifest.inputs, seed=job.seed))
        step_base, step_cur = base.timed_step, cur.timed_step
        probe = [
            float(np.median(timed_loop(step, job.warmup, MIN_BLOCK_ITERS, None))) for step in (step_base, step_cur)
        ]
        iters = block_iterations(max(probe), job.block_ms)
        return InterleaveResult(**interleave_blocks(step_base, step_cur, job.pairs, iters, job.seed, job.clock))
