"""The sweep's settings: :class:`BenchOptions`, their defaults, and the checks every caller gets.

The CLI fills a BenchOptions from its flags and relies on the checks here (one line naming the
flag, exit 2); a Python caller of ``run_bench`` gets the same refusals. bench.json's
``settings`` (:class:`~trt_export.bench.report.BenchSettings`) is derived from it by
:meth:`BenchOptions.report_settings`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trt_export.bench.report import OBJECTIVES, BenchSettings
from trt_export.bench.roof import DEFAULT_ROOF_N
from trt_export.bench.scene import SceneSettings
from trt_export.bench.scene_sweep import SceneOptions
from trt_export.bench.stats import LATENCY_STATS
from trt_export.bench.timing import (
    DEFAULT_MIN_RUNS,
    DEFAULT_MIN_TIME_S,
    DEFAULT_WARMUP,
    TimingPolicy,
    policy_from_budget,
)
from trt_export.errors import TrtExportError
from trt_export.infer.backends import BackendSettings
from trt_export.model.shapes import FixedShape, parse_fixed_shape
from trt_export.model.sources import ModelSource

DEFAULT_SHAPES = ("[256,256]", "[512,512]", "[768,768]", "[1024,1024]")
DEFAULT_OUT = "trt-export-out"
DEFAULT_OBJECTIVE = "throughput"
DEFAULT_LATENCY_STAT = "p99"
DEFAULT_TIMEOUT_S = 600.0
SEED_LIMIT = 2**32  # numpy's generators take seeds in [0, 2**32)
# bench.json settings that the sweep decides (or names differently) rather than copies from the options
_DECIDED_SETTINGS = ("threads", "timing_policy", "scene", "min_agreement")


@dataclass
class BenchOptions:
    model: str | None = None
    weights: str | None = None
    model_kwargs: str | dict[str, Any] | None = None
    model_type: str | None = None
    shapes: list[FixedShape] = field(default_factory=lambda: [parse_fixed_shape(s) for s in DEFAULT_SHAPES])
    settings: BackendSettings | None = None  # None: best available backend, default settings
    model_format: str = "auto"
    warmup: int = DEFAULT_WARMUP
    # The timing policy (trt_export/bench/timing.py). None: built from warmup/iters/duration_s, where
    # neither iters nor duration_s means the default policy and iters alone exactly that many runs.
    iters: int | None = None
    duration_s: float | None = None
    timing: TimingPolicy | None = None
    objective: str = DEFAULT_OBJECTIVE
    latency_stat: str = DEFAULT_LATENCY_STAT
    max_latency_ms: float | None = None
    max_memory_mb: float | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    out_dir: Path = Path(DEFAULT_OUT)
    cache_dir: Path | None = None  # None: the user cache dir; see sweep.default_cache_dir()
    use_cache: bool = True
    seed: int = 0
    auto_backend: bool = False  # the backend was picked for the user (best available), not named
    progress: bool = True
    # More backends swept side by side with `settings` (same settings, another backend each),
    # every candidate on each; see sweep.sweep_backends().
    extra_backends: list[str] = field(default_factory=list)
    roof: bool = True  # measure each CPU backend's matmul roof (roof.py) once per sweep
    roof_n: int = DEFAULT_ROOF_N
    shard: Any = None  # trt_export.scale.shards.Shard: measure only this shard's candidates (bench --shard K/N)
    executor: Any = None  # a trt_export.scale.executors.CandidateExecutor (--devices, --ray); None: one at a time here
    exported: Path | None = None  # a ready export dir (ours or PaddleRS's): measured as it is, its own shape
    keep_exports: bool = False  # copy each measured candidate's export to out_dir/exports/<label> (gate --rerun)
    # Called with (source, backend or None when bench may still switch it, environment, threads)
    # once the fingerprint is known and before any candidate is swept: the baseline check.
    before_sweep: Callable[[ModelSource, str | None, dict[str, Any], int], None] | None = None
    scene: SceneOptions | None = None  # --scene / --scene-image / --agreement-images (scene_sweep.py)
    # Fork every worker from one pre-imported server (trt_export/bench/forkserver.py) instead of starting
    # a fresh interpreter that imports Paddle for each one. Falls back to exec where fork is missing.
    fork_workers: bool = True
    started_at: float | None = None  # time.monotonic() when the caller started (the CLI: its process start)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse what would waste minutes of sweeping or break bench.json; one line naming the flag.

        run_bench calls it again: the fields may have been changed since construction."""
        timing_budget(self.iters, self.duration_s)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise TrtExportError(f"--warmup must be >= 0, got {self.warmup}")
        # A negative, NaN or infinite figure would be swept against (minutes), then excluded every
        # candidate or broke writing bench.json.
        for flag, value in (
            ("--max-latency-ms", self.max_latency_ms),
            ("--max-memory-mb", self.max_memory_mb),
            ("--timeout", self.timeout_s),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise TrtExportError(f"{flag} must be a positive finite number, got {value}")
        if self.duration_s is not None and self.duration_s >= self.timeout_s:
            raise TrtExportError(
                f"--duration {self.duration_s:g} s is not shorter than --timeout {self.timeout_s:g} s: every "
                "candidate would time out in its timing loop; raise --timeout or lower --duration"
            )
        for flag, name, choices in (
            ("--objective", self.objective, OBJECTIVES),
            ("--latency-stat", self.latency_stat, LATENCY_STATS),
        ):
            if name not in choices:
                raise TrtExportError(f"{flag} {name!r} is not one of {', '.join(choices)}")
        if not 0 <= self.seed < SEED_LIMIT:
            raise TrtExportError(f"--seed {self.seed} is outside [0, 2**32); give a non-negative seed")
        if self.roof_n < 1:
            raise TrtExportError(f"roof_n (the roof's matmul size) must be a positive integer, got {self.roof_n}")
        if not self.shapes:
            raise TrtExportError("give at least one candidate shape with --shapes")

    def timing_policy(self) -> TimingPolicy:
        return self.timing or policy_from_budget(self.warmup, self.iters, self.duration_s)

    def report_settings(
        self, threads: int, scene: SceneSettings | None = None, min_agreement: float | None = None
    ) -> BenchSettings:
        """bench.json's ``settings``: the options' own fields by name, with what the sweep decided."""
        copied = {f.name: getattr(self, f.name) for f in fields(BenchSettings) if f.name not in _DECIDED_SETTINGS}
        return BenchSettings(
            **copied,
            threads=threads,
            scene=scene,
            min_agreement=min_agreement,
            timing_policy=self.timing_policy(),
        )


def timing_budget(iters: int | None, duration_s: float | None) -> tuple[int, float | None]:
    """(minimum runs, minimum seconds) from --iters/--duration. Neither: at least DEFAULT_MIN_RUNS runs
    and DEFAULT_MIN_TIME_S, then the timing policy (timing.py) stops at a tight median CI or the time
    cap; --iters alone means exactly that many runs."""
    if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int) or iters < 1):
        raise TrtExportError(f"--iters must be at least 1, got {iters}")
    if duration_s is not None and not duration_s > 0:
        raise TrtExportError(f"--duration must be a positive number of seconds, got {duration_s}")
    if iters is None and duration_s is None:
        return DEFAULT_MIN_RUNS, DEFAULT_MIN_TIME_S
    return (iters if iters is not None else 1), duration_s
