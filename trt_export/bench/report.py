"""The bench report (``bench.json``): dataclasses, JSON save and a checking loader.

The file format is the contract in docs/bench-report-schema.md; these classes mirror it key for
key. ``bench`` writes it, ``gate`` and ``render`` read it. The loader refuses, with a one-line
:class:`~trt_export.errors.ReportError`, anything it cannot read with certainty: a missing file,
text that is not JSON, another schema, a schema version it does not know, a missing key. A report
from another tool version silently misread would make a regression gate lie.

Readers ignore keys they do not know, so adding a key is not a version bump; removing or renaming
one, or changing its meaning or unit, is.

Version 2 added each candidate's raw timed samples (``samples_ms``), which the gate's statistics
need. Version 1 files still load (``samples_ms`` is then None and ``schema_version`` stays 1, so
readers can say what a verdict rests on).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from trt_export.bench.metrics import memory_mb
from trt_export.bench.scale_fields import ExecutionInfo, ShardInfo
from trt_export.bench.scene import AgreementSummary, SceneEstimate, SceneSettings
from trt_export.bench.stats import LatencyStats, Throughput
from trt_export.bench.time_accounting import PhaseTimes, SweepTime
from trt_export.bench.timing import TimingPolicy, TimingSummary
from trt_export.errors import ReportError
from trt_export.serial import JsonRecord, converter, dumps, optional, read_json, required, required_keys, structure

if TYPE_CHECKING:
    from trt_export.parity.compare import ComparisonResult

SCHEMA = "trt-export/bench"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Versions this reader loads; files are always written as :data:`SCHEMA_VERSION`."""

# The closed sets of bench.json: a candidate's status, the stage a failure happened in, the
# recommendation's objective. Literal types (the strings themselves, so JSON and text are
# unchanged), checked by mypy at every use and by the serialiser when a file is read.
Status = Literal["ok", "failed"]
FailureStage = Literal["export", "convert", "build", "run", "parity", "crash", "oom", "timeout"]
Objective = Literal["throughput", "latency", "scene"]
STATUSES: tuple[Status, ...] = get_args(Status)
FAILURE_STAGES: tuple[FailureStage, ...] = get_args(FailureStage)
OBJECTIVES: tuple[Objective, ...] = get_args(Objective)


def failure_stage(stage: str) -> FailureStage:
    """A stage named at run time (a worker's failure) as bench.json's closed set; ValueError otherwise."""
    for known in FAILURE_STAGES:
        if stage == known:
            return known
    raise ValueError(f"failure stage {stage!r} is not one of {', '.join(FAILURE_STAGES)}")


@dataclass(frozen=True)
class Failure(JsonRecord):
    """Why a candidate produced no usable measurement."""

    stage: FailureStage
    reason: str

    def __post_init__(self) -> None:
        if self.stage not in FAILURE_STAGES:
            raise ValueError(f"failure stage {self.stage!r} is not one of {', '.join(FAILURE_STAGES)}")

    def __str__(self) -> str:
        return f"failed at {self.stage}: {self.reason}"


@dataclass(frozen=True)
class Memory(JsonRecord):
    """Memory figures in MiB; ``None`` means not measured on this machine, never zero."""

    peak_rss_mb: float | None
    rss_increase_mb: float | None = required()
    gpu_peak_mb: float | None = required()
    paddle_allocator_peak_mb: float | None = required()


@dataclass(frozen=True)
class ParitySummary(JsonRecord):
    """The candidate's parity check in one line; the full comparison lives in verify's report."""

    passed: bool
    backend: str
    max_abs_error: float | None
    failed_outputs: list[str] = required(default_factory=list)

    @classmethod
    def of(cls, comparison: ComparisonResult, backend: str) -> ParitySummary:
        """The one-line form of a comparison that a bench candidate carries."""
        return cls(
            passed=comparison.passed,
            backend=backend,
            max_abs_error=comparison.max_abs_error,
            failed_outputs=comparison.failed_outputs,
        )


@dataclass
class Candidate(JsonRecord):
    """One fixed input shape in the sweep. ``eligible``/``excluded_reason`` are set by recommend."""

    label: str
    shape_nchw: list[int]
    status: Status
    # Written in every file (null when not applicable), so required when read
    failure: Failure | None = required()
    export_s: float | None = required()
    build_s: float | None = required()
    latency_ms: LatencyStats | None = required()
    noisy: bool = required(False)
    throughput: Throughput | None = required()
    memory: Memory | None = required()
    parity: ParitySummary | None = required()
    eligible: bool = required(False)
    excluded_reason: str | None = required()
    # Optional (absent in older files): the backend this row ran on (None: the report's `backend`),
    # FLOPs of one batch at this shape (flops.py) and the GFLOP/s achieved at the median latency.
    backend: str | None = None
    flops: int | None = None
    achieved_gflops: float | None = None
    # optional (absent in older files): how the timing loop went, and where this candidate's time went
    timing: TimingSummary | None = None
    time_s: PhaseTimes | None = None
    samples_ms: list[float] | None = required()
    """Every timed iteration in ms, in the order run (schema v2, where the key is required; None in v1
    files, whose loader sets it, and when not timed)."""
    # Optional keys, written only when they say something (old readers and files agree): what ran
    # inside TensorRT on trt-* backends (trt_coverage.TrtCoverage.to_dict()), and the warnings judging it.
    trt_coverage: dict[str, Any] | None = optional(load=lambda value: _coverage(value))  # defined below
    warnings: list[str] = optional(default_factory=list)
    # optional (issue 16): predicted time for --scene and tiling agreement; absent in older files
    scene: SceneEstimate | None = optional()
    agreement: AgreementSummary | None = optional()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"candidate status {self.status!r} is not one of {', '.join(STATUSES)}")
        if len(self.shape_nchw) != 4:
            raise ValueError(f"candidate {self.label}: shape_nchw needs 4 dims, got {self.shape_nchw!r}")
        if (
            self.samples_ms is not None
            and self.latency_ms is not None
            and len(self.samples_ms) != self.latency_ms.samples
        ):
            raise ValueError(
                f"samples_ms holds {len(self.samples_ms)} samples but latency_ms.samples says {self.latency_ms.samples}"
            )
        for i, sample in enumerate(self.samples_ms or ()):
            if sample < 0:
                raise ValueError(f"samples_ms[{i}] must be a non-negative number of ms, got {sample!r}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> str:
        """Unique within a report: the label, qualified by the backend when one is recorded."""
        return f"{self.label} on {self.backend}" if self.backend else self.label

    @property
    def pixels(self) -> int:
        """Input pixels per batch, n*h*w: the size axis of plots and the tie-breaker."""
        n, _, h, w = self.shape_nchw
        return n * h * w

    @property
    def peak_memory_mb(self) -> float | None:
        """The figure a memory budget applies to: device memory when measured (NVML, else Paddle's
        allocator peak), else host RSS (:func:`trt_export.bench.metrics.memory_mb`)."""
        return memory_mb(self.memory)


@dataclass(frozen=True)
class Recommendation(JsonRecord):
    """The chosen candidate, the next best, and why the others were left out."""

    label: str
    runner_up: str | None
    objective: Objective
    reason: str
    excluded: dict[str, str] = required(default_factory=dict)
    # Optional: the backends of the pick and the runner-up (None in single-backend files of old).
    backend: str | None = None
    runner_up_backend: str | None = None


@dataclass(frozen=True)
class ModelInfo(JsonRecord):
    source: str
    name: str
    model_type: str
    weights_sha256: str | None = required()


@dataclass(frozen=True)
class BenchSettings(JsonRecord):
    """How the sweep was run; budgets are ``None`` when not set."""

    warmup: int
    iters: int | None
    duration_s: float | None
    threads: int | None
    objective: Objective = required("throughput")
    latency_stat: str = required("p99")
    max_latency_ms: float | None = required()
    max_memory_mb: float | None = required()
    timeout_s: float | None = required()
    timing_policy: TimingPolicy | None = None  # optional: absent in older files
    # optional keys (issue 16), written only for a scene sweep: the scene the objective "scene" is
    # judged on, and the agreement floor
    scene: SceneSettings | None = optional()
    min_agreement: float | None = optional()


@dataclass
class BenchReport(JsonRecord):
    """A whole ``bench.json``. ``environment`` is a plain dict from the fingerprint module."""

    json_keys: ClassVar[tuple[str, ...]] = ("schema", "schema_version")  # first in the file

    tool_version: str
    created_utc: str
    model: ModelInfo
    backend: str
    settings: BenchSettings
    environment: dict[str, Any]
    idle_rss_mb: float | None
    candidates: list[Candidate]
    recommendation: Recommendation | None = required()
    # optional in version 1 (added after the first files were written): absent means none
    notes: list[str] = field(default_factory=list)
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    # Optional: every backend swept (`backend` is the first), each one's compute roof
    # ({"gflops", "source", "method"}, roof.py) and how FLOPs were counted (flops.py).
    backends: list[str] = field(default_factory=list)
    roofs: dict[str, dict[str, Any]] = field(default_factory=dict)
    flops_method: str | None = None
    time_s: SweepTime | None = None  # optional: where the sweep's wall time went (time_accounting.py)
    # optional keys (scale-out), written only when set, so a plain sweep's file is unchanged
    shard: ShardInfo | None = optional()  # bench --shard K/N (scale/report.py)
    execution: ExecutionInfo | None = optional()  # --devices, --ray, merge (scale/report.py)

    @property
    def all_backends(self) -> list[str]:
        return list(self.backends) or [self.backend]

    def candidate(self, label: str, backend: str | None = None) -> Candidate:
        for cand in self.candidates:
            if cand.label == label and (backend is None or (cand.backend or self.backend) == backend):
                return cand
        raise KeyError(label if backend is None else f"{label} on {backend}")

    @classmethod
    def from_dict(cls, data: Any, source: str = "bench report") -> BenchReport:
        """Build a report from parsed JSON, raising ReportError naming ``source`` and the bad key."""
        if not isinstance(data, Mapping):
            raise ReportError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
        version = _check_schema(data, source)
        missing = [key for key in required_keys(cls) if key not in data]
        if missing:
            raise ReportError(
                f"{source}: missing required key(s) {', '.join(missing)}; the file is incomplete or was not written by trt-export bench"
            )
        if version < 2 and isinstance(data["candidates"], list):
            # version 1 never had samples_ms (it is required from version 2 on): read it as none
            data = {**data, "candidates": [_without_samples(item) for item in data["candidates"]]}
        return structure(data, cls, source=source)

    @property
    def has_samples(self) -> bool:
        """Every measured candidate carries its raw samples (schema v2 written by bench)."""
        return all(cand.samples_ms is not None for cand in self.candidates if cand.latency_ms is not None)


def save_bench_report(report: BenchReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report`` as indented JSON, atomically so a reader never sees half a file."""
    target = Path(path)
    # allow_nan=False: NaN is not JSON; "not measured" must be written as null.
    text = dumps(report)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_bench_report(path: str | os.PathLike[str]) -> BenchReport:
    """Read and check a ``bench.json``; every problem is one ReportError line naming the file."""
    source = Path(path)
    if not source.is_file():
        what = "is a directory, not a bench.json file" if source.is_dir() else "does not exist"
        raise ReportError(f"bench report {source} {what}; run 'trt-export bench --out DIR' and pass DIR/bench.json")
    data = read_json(source, what="bench report")
    return BenchReport.from_dict(data, source=f"bench report {source}")


def _check_schema(data: Mapping[str, Any], source: str) -> int:
    """The file's schema version, when this reader can read it; else a ReportError."""
    schema = data.get("schema")
    if schema != SCHEMA:
        found = "no 'schema' key" if schema is None else f"schema {schema!r}"
        raise ReportError(
            f"{source} has {found}, expected {SCHEMA!r}; pass the bench.json written by 'trt-export bench'"
        )
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version in READABLE_VERSIONS:
        return version
    if version is None:
        found = "no 'schema_version' key"
    else:
        found = f"schema_version {version!r}"
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        hint = "it was written by a newer trt-export; upgrade trt-export or re-run bench with this version"
    else:
        hint = "re-run bench with this version of trt-export"
    readable = " and ".join(str(v) for v in READABLE_VERSIONS)
    raise ReportError(f"{source} has {found}; this trt-export reads schema_version {readable}: {hint}")


def _without_samples(item: Any) -> Any:
    return {**item, "samples_ms": None} if isinstance(item, Mapping) else item


def _coverage(value: Any) -> dict[str, Any] | None:
    """An optional trt_coverage object, checked by parsing it (and kept as the plain dict)."""
    if value is None:
        return None
    from trt_export.infer.trt_coverage import TrtCoverage

    return TrtCoverage.to_dict(converter.structure(value, TrtCoverage))
