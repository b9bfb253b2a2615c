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

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trt_export.bench.metrics import memory_mb
from trt_export.bench.scale_fields import ExecutionInfo, ShardInfo, from_json, to_json
from trt_export.bench.scene import AgreementSummary, SceneEstimate, SceneSettings
from trt_export.bench.stats import LatencyStats, Throughput
from trt_export.bench.time_accounting import PhaseTimes, SweepTime
from trt_export.bench.timing import TimingPolicy, TimingSummary
from trt_export.errors import ReportError

SCHEMA = "trt-export/bench"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Versions this reader loads; files are always written as :data:`SCHEMA_VERSION`."""

STATUSES = ("ok", "failed")
FAILURE_STAGES = ("export", "convert", "build", "run", "parity", "crash", "oom", "timeout")
OBJECTIVES = ("throughput", "latency", "scene")


@dataclass(frozen=True)
class Failure:
    """Why a candidate produced no usable measurement."""

    stage: str
    reason: str

    def __post_init__(self) -> None:
        if self.stage not in FAILURE_STAGES:
            raise ValueError(f"failure stage {self.stage!r} is not one of {', '.join(FAILURE_STAGES)}")

    def __str__(self) -> str:
        return f"failed at {self.stage}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        return cls(stage=str(data["stage"]), reason=str(data["reason"]))


@dataclass(frozen=True)
class Memory:
    """Memory figures in MiB; ``None`` means not measured on this machine, never zero."""

    peak_rss_mb: float | None
    rss_increase_mb: float | None = None
    gpu_peak_mb: float | None = None
    paddle_allocator_peak_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "peak_rss_mb": self.peak_rss_mb,
            "rss_increase_mb": self.rss_increase_mb,
            "gpu_peak_mb": self.gpu_peak_mb,
            "paddle_allocator_peak_mb": self.paddle_allocator_peak_mb,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        return cls(
            peak_rss_mb=_opt_float(data["peak_rss_mb"]),
            rss_increase_mb=_opt_float(data["rss_increase_mb"]),
            gpu_peak_mb=_opt_float(data["gpu_peak_mb"]),
            paddle_allocator_peak_mb=_opt_float(data["paddle_allocator_peak_mb"]),
        )


@dataclass(frozen=True)
class ParitySummary:
    """The candidate's parity check in one line; the full comparison lives in verify's report."""

    passed: bool
    backend: str
    max_abs_error: float | None
    failed_outputs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "backend": self.backend,
            "max_abs_error": self.max_abs_error,
            "failed_outputs": list(self.failed_outputs),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParitySummary:
        return cls(
            passed=_bool(data["passed"], "passed"),
            backend=str(data["backend"]),
            max_abs_error=_opt_float(data["max_abs_error"]),
            failed_outputs=[str(name) for name in data["failed_outputs"]],
        )


@dataclass
class Candidate:
    """One fixed input shape in the sweep. ``eligible``/``excluded_reason`` are set by recommend."""

    label: str
    shape_nchw: list[int]
    status: str
    failure: Failure | None = None
    export_s: float | None = None
    build_s: float | None = None
    latency_ms: LatencyStats | None = None
    noisy: bool = False
    throughput: Throughput | None = None
    memory: Memory | None = None
    parity: ParitySummary | None = None
    eligible: bool = False
    excluded_reason: str | None = None
    # Optional (absent in older files): the backend this row ran on (None: the report's `backend`),
    # FLOPs of one batch at this shape (flops.py) and the GFLOP/s achieved at the median latency.
    backend: str | None = None
    flops: int | None = None
    achieved_gflops: float | None = None
    # optional (absent in older files): how the timing loop went, and where this candidate's time went
    timing: TimingSummary | None = None
    time_s: PhaseTimes | None = None
    samples_ms: list[float] | None = None
    """Every timed iteration in ms, in the order run (schema v2; None in v1 files and when not timed)."""
    # Optional (absent in older files): what ran inside TensorRT on trt-* backends
    # (trt_coverage.TrtCoverage.to_dict()), and the warnings judging it produced.
    trt_coverage: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    # optional (issue 16): predicted time for --scene and tiling agreement; absent in older files
    scene: SceneEstimate | None = None
    agreement: AgreementSummary | None = None

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

    def to_dict(self) -> dict[str, Any]:
        data = {
            "label": self.label,
            "shape_nchw": list(self.shape_nchw),
            "status": self.status,
            "failure": self.failure.to_dict() if self.failure else None,
            "export_s": self.export_s,
            "build_s": self.build_s,
            "latency_ms": self.latency_ms.to_dict() if self.latency_ms else None,
            "noisy": self.noisy,
            "throughput": self.throughput.to_dict() if self.throughput else None,
            "memory": self.memory.to_dict() if self.memory else None,
            "parity": self.parity.to_dict() if self.parity else None,
            "eligible": self.eligible,
            "excluded_reason": self.excluded_reason,
            "backend": self.backend,
            "flops": self.flops,
            "achieved_gflops": self.achieved_gflops,
            "timing": self.timing.to_dict() if self.timing else None,
            "time_s": self.time_s.to_dict() if self.time_s else None,
            "samples_ms": None if self.samples_ms is None else list(self.samples_ms),
        }
        # Optional keys are written only when they say something (old readers and files agree).
        if self.trt_coverage is not None:
            data["trt_coverage"] = dict(self.trt_coverage)
        if self.warnings:
            data["warnings"] = list(self.warnings)
        # optional keys, written only when measured (a plain sweep's file is unchanged)
        if self.scene is not None:
            data["scene"] = self.scene.to_dict()
        if self.agreement is not None:
            data["agreement"] = self.agreement.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], schema_version: int = SCHEMA_VERSION) -> Candidate:
        shape = data["shape_nchw"]
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ValueError(f"shape_nchw must be a list of 4 integers, got {shape!r}")
        return cls(
            label=str(data["label"]),
            shape_nchw=list(shape),
            status=str(data["status"]),
            failure=_opt(Failure.from_dict, data["failure"], "failure"),
            export_s=_opt_float(data["export_s"]),
            build_s=_opt_float(data["build_s"]),
            latency_ms=_opt(LatencyStats.from_dict, data["latency_ms"], "latency_ms"),
            noisy=_bool(data["noisy"], "noisy"),
            throughput=_opt(Throughput.from_dict, data["throughput"], "throughput"),
            memory=_opt(Memory.from_dict, data["memory"], "memory"),
            parity=_opt(ParitySummary.from_dict, data["parity"], "parity"),
            eligible=_bool(data["eligible"], "eligible"),
            excluded_reason=None if data["excluded_reason"] is None else str(data["excluded_reason"]),
            backend=None if data.get("backend") is None else str(data["backend"]),
            flops=None if data.get("flops") is None else int(data["flops"]),
            achieved_gflops=_opt_float(data.get("achieved_gflops")),
            timing=_opt(TimingSummary.from_dict, data.get("timing"), "timing"),
            time_s=_opt(PhaseTimes.from_dict, data.get("time_s"), "time_s"),
            # required from version 2 on (null when nothing was timed); version 1 never had it
            samples_ms=_samples(data["samples_ms"]) if schema_version >= 2 else None,
            trt_coverage=_opt_coverage(data.get("trt_coverage")),
            warnings=[str(w) for w in data.get("warnings") or []],
            scene=_opt(SceneEstimate.from_dict, data.get("scene"), "scene"),
            agreement=_opt(AgreementSummary.from_dict, data.get("agreement"), "agreement"),
        )


@dataclass(frozen=True)
class Recommendation:
    """The chosen candidate, the next best, and why the others were left out."""

    label: str
    runner_up: str | None
    objective: str
    reason: str
    excluded: dict[str, str] = field(default_factory=dict)
    # Optional: the backends of the pick and the runner-up (None in single-backend files of old).
    backend: str | None = None
    runner_up_backend: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "runner_up": self.runner_up,
            "objective": self.objective,
            "reason": self.reason,
            "excluded": dict(self.excluded),
            "backend": self.backend,
            "runner_up_backend": self.runner_up_backend,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recommendation:
        excluded = data["excluded"]
        if not isinstance(excluded, Mapping):
            raise ValueError("recommendation.excluded must be an object of label -> reason")
        return cls(
            label=str(data["label"]),
            runner_up=None if data["runner_up"] is None else str(data["runner_up"]),
            objective=str(data["objective"]),
            reason=str(data["reason"]),
            excluded={str(k): str(v) for k, v in excluded.items()},
            backend=None if data.get("backend") is None else str(data["backend"]),
            runner_up_backend=None if data.get("runner_up_backend") is None else str(data["runner_up_backend"]),
        )


@dataclass(frozen=True)
class ModelInfo:
    source: str
    name: str
    model_type: str
    weights_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "name": self.name,
            "model_type": self.model_type,
            "weights_sha256": self.weights_sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        sha = data["weights_sha256"]
        return cls(str(data["source"]), str(data["name"]), str(data["model_type"]), None if sha is None else str(sha))


@dataclass(frozen=True)
class BenchSettings:
    """How the sweep was run; budgets are ``None`` when not set."""

    warmup: int
    iters: int | None
    duration_s: float | None
    threads: int | None
    objective: str = "throughput"
    latency_stat: str = "p99"
    max_latency_ms: float | None = None
    max_memory_mb: float | None = None
    timeout_s: float | None = None
    timing_policy: TimingPolicy | None = None  # optional: absent in older files
    # optional (issue 16): the scene the objective "scene" is judged on, and the agreement floor
    scene: SceneSettings | None = None
    min_agreement: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "warmup": self.warmup,
            "iters": self.iters,
            "duration_s": self.duration_s,
            "threads": self.threads,
            "objective": self.objective,
            "latency_stat": self.latency_stat,
            "max_latency_ms": self.max_latency_ms,
            "max_memory_mb": self.max_memory_mb,
            "timeout_s": self.timeout_s,
            "timing_policy": self.timing_policy.to_dict() if self.timing_policy else None,
        }
        if self.scene is not None:  # optional keys, written only for a scene sweep
            data["scene"] = self.scene.to_dict()
        if self.min_agreement is not None:
            data["min_agreement"] = self.min_agreement
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchSettings:
        return cls(
            warmup=int(data["warmup"]),
            iters=None if data["iters"] is None else int(data["iters"]),
            duration_s=_opt_float(data["duration_s"]),
            threads=None if data["threads"] is None else int(data["threads"]),
            objective=str(data["objective"]),
            latency_stat=str(data["latency_stat"]),
            max_latency_ms=_opt_float(data["max_latency_ms"]),
            max_memory_mb=_opt_float(data["max_memory_mb"]),
            timeout_s=_opt_float(data["timeout_s"]),
            timing_policy=_opt(TimingPolicy.from_dict, data.get("timing_policy"), "timing_policy"),
            scene=_opt(SceneSettings.from_dict, data.get("scene"), "scene"),
            min_agreement=_opt_float(data.get("min_agreement")),
        )


@dataclass
class BenchReport:
    """A whole ``bench.json``. ``environment`` is a plain dict from the fingerprint module."""

    tool_version: str
    created_utc: str
    model: ModelInfo
    backend: str
    settings: BenchSettings
    environment: dict[str, Any]
    idle_rss_mb: float | None
    candidates: list[Candidate]
    recommendation: Recommendation | None = None
    notes: list[str] = field(default_factory=list)
    time_s: SweepTime | None = None  # optional: where the sweep's wall time went (time_accounting.py)
    shard: ShardInfo | None = None  # optional: bench --shard K/N (bench/scale_fields.py)
    execution: ExecutionInfo | None = None  # optional: --devices, --ray, merge (bench/scale_fields.py)
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    # Optional: every backend swept (`backend` is the first), each one's compute roof
    # ({"gflops", "source", "method"}, roof.py) and how FLOPs were counted (flops.py).
    backends: list[str] = field(default_factory=list)
    roofs: dict[str, dict[str, Any]] = field(default_factory=dict)
    flops_method: str | None = None

    @property
    def all_backends(self) -> list[str]:
        return list(self.backends) or [self.backend]

    def candidate(self, label: str, backend: str | None = None) -> Candidate:
        for cand in self.candidates:
            if cand.label == label and (backend is None or (cand.backend or self.backend) == backend):
                return cand
        raise KeyError(label if backend is None else f"{label} on {backend}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "created_utc": self.created_utc,
            "model": self.model.to_dict(),
            "backend": self.backend,
            "settings": self.settings.to_dict(),
            "environment": dict(self.environment),
            "idle_rss_mb": self.idle_rss_mb,
            "candidates": [cand.to_dict() for cand in self.candidates],
            "recommendation": self.recommendation.to_dict() if self.recommendation else None,
            "notes": list(self.notes),
            "backends": list(self.backends),
            "roofs": {k: dict(v) for k, v in self.roofs.items()},
            "flops_method": self.flops_method,
            "time_s": self.time_s.to_dict() if self.time_s else None,
            # optional (scale-out): only when set, so a plain sweep's file is unchanged
            **{
                key: to_json(value)
                for key, value in (("shard", self.shard), ("execution", self.execution))
                if value is not None
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "bench report") -> BenchReport:
        """Build a report from parsed JSON, raising ReportError naming ``source`` and the bad key."""
        if not isinstance(data, Mapping):
            raise ReportError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
        version = _check_schema(data, source)
        missing = [key for key in _TOP_KEYS if key not in data]
        if missing:
            raise ReportError(
                f"{source}: missing required key(s) {', '.join(missing)}; the file is incomplete or was not written by trt-export bench"
            )
        if not isinstance(data["candidates"], list):
            raise ReportError(f"{source}: 'candidates' must be a list")

        def candidate(item: Mapping[str, Any]) -> Candidate:
            return Candidate.from_dict(item, schema_version=version)

        candidates = [_parse(candidate, item, f"candidates[{i}]", source) for i, item in enumerate(data["candidates"])]
        environment = data["environment"]
        if not isinstance(environment, Mapping):
            raise ReportError(f"{source}: 'environment' must be an object")
        return cls(
            tool_version=str(data["tool_version"]),
            created_utc=str(data["created_utc"]),
            model=_parse(ModelInfo.from_dict, data["model"], "model", source),
            backend=str(data["backend"]),
            settings=_parse(BenchSettings.from_dict, data["settings"], "settings", source),
            environment=dict(environment),
            idle_rss_mb=_parse(_opt_float, data["idle_rss_mb"], "idle_rss_mb", source, is_object=False),
            candidates=candidates,
            recommendation=None
            if data["recommendation"] is None
            else _parse(Recommendation.from_dict, data["recommendation"], "recommendation", source),
            # optional in version 1 (added after the first files were written): absent means none
            notes=[str(note) for note in data.get("notes") or []],
            backends=[str(b) for b in data.get("backends") or []],
            roofs={str(k): dict(v) for k, v in (data.get("roofs") or {}).items() if isinstance(v, Mapping)},
            flops_method=None if data.get("flops_method") is None else str(data["flops_method"]),
            time_s=None
            if data.get("time_s") is None
            else _parse(SweepTime.from_dict, data["time_s"], "time_s", source),
            schema_version=version,
            # optional (scale-out): absent means a plain, unsharded sweep
            shard=from_json(data.get("shard"), ShardInfo, "shard", source),
            execution=from_json(data.get("execution"), ExecutionInfo, "execution", source),
        )

    @property
    def has_samples(self) -> bool:
        """Every measured candidate carries its raw samples (schema v2 written by bench)."""
        return all(cand.samples_ms is not None for cand in self.candidates if cand.latency_ms is not None)


_TOP_KEYS = (
    "tool_version",
    "created_utc",
    "model",
    "backend",
    "settings",
    "environment",
    "idle_rss_mb",
    "candidates",
    "recommendation",
)


def save_bench_report(report: BenchReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report`` as indented JSON, atomically so a reader never sees half a file."""
    target = Path(path)
    # allow_nan=False: NaN is not JSON; "not measured" must be written as null.
    text = json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
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
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"bench report {source} cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"bench report {source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
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


def _parse(fn: Any, value: Any, where: str, source: str, *, is_object: bool = True) -> Any:
    """Run a from_dict and turn a missing key or bad value into a ReportError naming the spot."""
    try:
        if is_object and not isinstance(value, Mapping):
            raise ValueError(f"expected an object, got {type(value).__name__}")
        return fn(value)
    except KeyError as exc:
        label = value.get("label") if isinstance(value, Mapping) else None
        at = f"{where} ({label})" if isinstance(label, str) else where
        raise ReportError(f"{source}: {at} is missing required key {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        label = value.get("label") if isinstance(value, Mapping) else None
        at = f"{where} ({label})" if isinstance(label, str) else where
        raise ReportError(f"{source}: {at} has a bad value: {exc}") from exc


def _opt(fn: Any, value: Any, key: str) -> Any:
    """Parse an optional nested object; a missing key inside it is reported as ``key.inner``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be an object or null, got {type(value).__name__}")
    try:
        return fn(value)
    except KeyError as exc:
        raise KeyError(f"{key}.{exc.args[0]}") from exc


def _opt_coverage(value: Any) -> dict[str, Any] | None:
    """An optional trt_coverage object, checked by parsing it (and kept as the plain dict)."""
    if value is None:
        return None
    from trt_export.infer.trt_coverage import TrtCoverage

    if not isinstance(value, Mapping):
        raise ValueError("trt_coverage must be an object or null")
    return TrtCoverage.from_dict(value).to_dict()


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number or null, got {value!r}")
    return float(value)


def _samples(value: Any) -> list[float] | None:
    """``samples_ms``: null, or a list of finite non-negative numbers (ms)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"samples_ms must be a list of numbers or null, got {type(value).__name__}")
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) or item < 0:
            raise ValueError(f"samples_ms[{i}] must be a finite non-negative number of ms, got {item!r}")
    return [float(item) for item in value]


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value
