"""Is a baseline comparable with this run? The one check, used by ``gate`` and before a sweep.

A baseline of another model is always refused. One of another environment (the fingerprint
fields below, and the backend) is refused unless the caller allows it, then it is a warning.
``bench --baseline`` calls :func:`check_comparable` as soon as the current machine's fingerprint is
known, before any candidate is exported or timed; ``gate`` calls it on two finished reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trt_export.bench.report import BenchReport
from trt_export.errors import ReportError
from trt_export.infer.backend_names import is_cpu_backend

ENV_FIELDS = (
    "gpu_name",
    "gpu_driver",
    "tensorrt_runtime_version",
    "tensorrt_compile_version",
    "paddle_version",
    "cuda_version",
)
"""Fingerprint fields that change what a latency number means on every backend."""

CPU_ENV_FIELDS = ("cpu_model", "cpu_count", "cpu_cores")
"""For CPU backends also: the processor, its logical CPUs and physical cores (``cpu_cores`` is
newer than the first reports: compared only when both reports have it). The math thread count
(``settings.threads``) is compared too."""


def fingerprint_diffs(base: Mapping[str, Any], other: Mapping[str, Any], cpu: bool) -> list[str]:
    """``field 'a' vs 'b'`` for each fingerprint field that differs (with ``cpu``, the CPU's too)."""
    keys = ENV_FIELDS + (CPU_ENV_FIELDS if cpu else ())
    return [
        f"{key} {base.get(key)!r} vs {other.get(key)!r}"
        for key in keys
        if base.get(key) != other.get(key) and not (key == "cpu_cores" and (key not in base or key not in other))
    ]


def environment_diffs(
    baseline: BenchReport, backend: str | None, environment: Mapping[str, Any], threads: int | None
) -> list[str]:
    """What differs between the baseline's fingerprint and this run's, as ``field 'a' vs 'b'``."""
    diffs: list[str] = []
    if backend is not None and baseline.backend != backend:
        diffs.append(f"backend {baseline.backend!r} vs {backend!r}")
    cpu = is_cpu_backend(backend or baseline.backend)
    diffs.extend(fingerprint_diffs(baseline.environment, environment, cpu))
    if cpu:
        if threads is not None and baseline.settings.threads is not None and baseline.settings.threads != threads:
            diffs.append(f"threads {baseline.settings.threads!r} vs {threads!r}")
    return diffs


def check_comparable(
    baseline: BenchReport,
    *,
    source: str,
    name: str,
    backend: str | None,
    environment: Mapping[str, Any],
    threads: int | None,
    allow_env_mismatch: bool = False,
    role: str = "baseline",
) -> list[str]:
    """Raise ReportError (exit 2) for another model, or another environment unless allowed.

    ``backend`` None skips the backend comparison (bench may still switch an automatically chosen
    backend; the gate after the sweep compares it). Returns warnings for what was allowed.
    """
    b = baseline.model
    if (b.source, b.name) != (source, name):
        raise ReportError(
            f"{role} and this run are of different models: {b.name} ({b.source}) vs {name} ({source}); "
            f"gate a sweep only against a {role} of the same model"
        )
    diffs = environment_diffs(baseline, backend, environment, threads)
    if not diffs:
        return []
    if not allow_env_mismatch:
        raise ReportError(
            f"environment differs ({role} vs current): {', '.join(diffs)}; "
            "run the baseline on this runner, or pass --allow-env-mismatch to compare anyway"
        )
    return [f"environment differs ({role} vs current): {', '.join(diffs)}; compared anyway (--allow-env-mismatch)"]


def check_reports_comparable(
    baseline: BenchReport, current: BenchReport, allow_env_mismatch: bool, role: str = "baseline"
) -> list[str]:
    """:func:`check_comparable` of two finished reports."""
    return check_comparable(
        baseline,
        source=current.model.source,
        name=current.model.name,
        backend=current.backend,
        environment=current.environment,
        threads=current.settings.threads,
        allow_env_mismatch=allow_env_mismatch,
        role=role,
    )
