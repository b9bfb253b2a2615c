"""Bench reports built by hand, for the tests that need one without a sweep.

``candidate`` and ``failed`` are the one builder of ``Candidate`` rows: the shape gives the label and the
throughput, the latency its noise flag; every other field is passed through. ``candidate_dict`` /
``report_dict`` are a schema-v1 bench.json as a dict (the gate reads files), ``v2_candidate`` /
``v2_report`` the same with raw samples (schema v2), ``example_report`` the documented example.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trt_export.bench.report import (
    BenchReport,
    BenchSettings,
    Candidate,
    Failure,
    Memory,
    ModelInfo,
    ParitySummary,
    Recommendation,
)
from trt_export.bench.stats import LatencyStats, throughput


def _nchw(shape: str | Sequence[int]) -> list[int]:
    return [int(x) for x in shape.split("x")] if isinstance(shape, str) else [int(x) for x in shape]


def candidate(
    shape: str | Sequence[int], latency: LatencyStats | None = None, *, label: str | None = None, **fields: Any
) -> Candidate:
    """A measured row: ``shape`` is a label ("1x3x256x256") or NCHW; throughput follows the latency."""
    nchw = _nchw(shape)
    n, _, h, w = nchw
    return Candidate(
        label=label or "x".join(map(str, nchw)),
        shape_nchw=nchw,
        status="ok",
        latency_ms=latency,
        throughput=None if latency is None else throughput(n, h, w, latency.median),
        **fields,
    )


def failed(shape: str | Sequence[int], stage: str, reason: str, **fields: Any) -> Candidate:
    """A row that failed at ``stage``."""
    nchw = _nchw(shape)
    return Candidate(
        label="x".join(map(str, nchw)), shape_nchw=nchw, status="failed", failure=Failure(stage, reason), **fields
    )


def latency_dict(median: float, std: float) -> dict[str, Any]:
    # iqr consistent with a normal distribution of this std, so p50 and tail stats agree on noise
    return {
        "samples": 50,
        "min": median - std,
        "mean": median,
        "median": median,
        "p90": median + 1.28 * std,
        "p95": median + 1.64 * std,
        "p99": median + 2.33 * std,
        "max": median + 3 * std,
        "std": std,
        "cv": std / median,
        "iqr": 1.349 * std,
    }


def candidate_dict(
    label: str,
    median: float = 10.0,
    std: float = 0.1,
    rss: float = 500.0,
    gpu: float | None = None,
    parity: bool | None = True,
) -> dict[str, Any]:
    n, c, h, w = (int(x) for x in label.split("x"))
    return {
        "label": label,
        "shape_nchw": [n, c, h, w],
        "status": "ok",
        "failure": None,
        "export_s": 1.0,
        "build_s": 0.5,
        "latency_ms": latency_dict(median, std),
        "noisy": std / median > 0.10,
        "throughput": {"samples_per_s": 1000.0 / median, "megapixels_per_s": h * w / 1e6 * 1000.0 / median},
        "memory": {
            "peak_rss_mb": rss,
            "rss_increase_mb": rss - 290.0,
            "gpu_peak_mb": gpu,
            "paddle_allocator_peak_mb": None,
        },
        "parity": None
        if parity is None
        else {
            "passed": parity,
            "backend": "trt-fp16",
            "max_abs_error": 1e-6 if parity else 0.5,
            "failed_outputs": [] if parity else ["output_0"],
        },
        "eligible": bool(parity is not False),
        "excluded_reason": None,
    }


def failed_dict(label: str, stage: str = "oom") -> dict[str, Any]:
    n, c, h, w = (int(x) for x in label.split("x"))
    return {
        "label": label,
        "shape_nchw": [n, c, h, w],
        "status": "failed",
        "failure": {"stage": stage, "reason": "out of memory"},
        "export_s": None,
        "build_s": None,
        "latency_ms": None,
        "noisy": False,
        "throughput": None,
        "memory": None,
        "parity": None,
        "eligible": False,
        "excluded_reason": f"failed at {stage}: out of memory",
    }


def report_dict(*candidates: dict[str, Any], gpu_name: str = "L4") -> dict[str, Any]:
    return {
        "schema": "trt-export/bench",
        "schema_version": 1,
        "tool_version": "0.1.0",
        "created_utc": "2026-11-29T08:00:00Z",
        "model": {
            "source": "paddle.vision.models:resnet18",
            "name": "resnet18",
            "model_type": "classifier",
            "weights_sha256": None,
        },
        "backend": "trt-fp16",
        "settings": {
            "warmup": 10,
            "iters": 50,
            "duration_s": None,
            "threads": 2,
            "objective": "throughput",
            "latency_stat": "p99",
            "max_latency_ms": None,
            "max_memory_mb": None,
            "timeout_s": 600.0,
        },
        "environment": {
            "paddle_version": "3.3.1",
            "paddle_commit": "abc",
            "cuda_version": "12.6",
            "cudnn_version": "9.0",
            "tensorrt_compile_version": "10.3.0",
            "tensorrt_runtime_version": "10.3.0",
            "gpu_name": gpu_name,
            "gpu_driver": "560.35",
            "gpu_count": 1,
            "cpu_model": "Xeon",
            "cpu_count": 8,
            "python": "3.11.7",
            "platform": "Linux",
            "onednn": True,
        },
        "idle_rss_mb": 290.0,
        "candidates": list(candidates),
        "recommendation": None,
    }


def samples(median: float, cv: float = 0.14, n: int = 116, seed: int = 0) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).lognormal(math.log(median), cv, n)]


def v2_candidate(label: str, ms: list[float], **kw: Any) -> dict[str, Any]:
    cand = candidate_dict(label, **kw)
    stats = LatencyStats.from_samples([x / 1000 for x in ms])
    cand["latency_ms"] = stats.to_dict()
    cand["noisy"] = stats.noisy
    cand["samples_ms"] = list(ms)
    return cand


def v2_report(*candidates: dict[str, Any], **kw: Any) -> dict[str, Any]:
    report = report_dict(*candidates, **kw)
    report["schema_version"] = 2
    return report


def example_report() -> BenchReport:
    """The report of docs/bench-report-schema.md: one measured candidate, one out of memory."""
    lat = LatencyStats.from_samples([0.003, 0.0031, 0.0029, 0.0035])
    ok = candidate(
        "1x3x256x256",
        lat,
        export_s=1.8,
        build_s=0.4,
        samples_ms=[3.0, 3.1, 2.9, 3.5],
        noisy=lat.noisy,
        memory=Memory(peak_rss_mb=512.3, rss_increase_mb=222.2),
        parity=ParitySummary(passed=True, backend="paddle-onednn", max_abs_error=1.2e-6),
        eligible=True,
    )
    oom = failed(
        "1x3x1024x1024",
        "oom",
        "worker killed by the OOM killer",
        excluded_reason="failed at oom: worker killed by the OOM killer",
    )
    return BenchReport(
        tool_version="0.1.0",
        created_utc="2026-11-29T08:00:00Z",
        model=ModelInfo("paddle.vision.models:resnet18", "resnet18", "classifier"),
        backend="paddle-onednn",
        settings=BenchSettings(warmup=5, iters=20, duration_s=None, threads=2, max_memory_mb=4096.0, timeout_s=600.0),
        environment={"paddle_version": "3.3.1", "gpu_name": None, "cpu_count": 2},
        idle_rss_mb=290.1,
        candidates=[ok, oom],
        recommendation=Recommendation(
            label="1x3x256x256",
            runner_up=None,
            objective="throughput",
            reason="only eligible candidate",
            excluded={"1x3x1024x1024": oom.excluded_reason or ""},
        ),
    )
