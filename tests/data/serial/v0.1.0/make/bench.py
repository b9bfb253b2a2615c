"""A bench.json as 0.1.0 wrote it: run with PYTHONPATH set to the trt_export of an old commit."""

import sys

from trt_export.bench_report import (
    BenchReport,
    BenchSettings,
    Candidate,
    Failure,
    Memory,
    ModelInfo,
    ParitySummary,
    Recommendation,
    save_bench_report,
)
from trt_export.stats import LatencyStats, throughput

lat = LatencyStats.from_samples([0.003, 0.0031, 0.0029, 0.0035])
ok = Candidate(
    label="1x3x256x256",
    shape_nchw=[1, 3, 256, 256],
    status="ok",
    export_s=1.8,
    build_s=0.4,
    latency_ms=lat,
    noisy=lat.noisy,
    throughput=throughput(1, 256, 256, lat.median),
    memory=Memory(peak_rss_mb=512.3, rss_increase_mb=222.2),
    parity=ParitySummary(passed=True, backend="paddle-onednn", max_abs_error=1.2e-6),
    eligible=True,
)
failed = Candidate(
    label="1x3x1024x1024",
    shape_nchw=[1, 3, 1024, 1024],
    status="failed",
    failure=Failure("oom", "worker killed by the OOM killer"),
    excluded_reason="failed at oom: worker killed by the OOM killer",
)
report = BenchReport(
    tool_version="0.1.0",
    created_utc="2026-11-29T08:00:00Z",
    model=ModelInfo("paddle.vision.models:resnet18", "resnet18", "classifier"),
    backend="paddle-onednn",
    settings=BenchSettings(warmup=5, iters=20, duration_s=None, threads=2, max_memory_mb=4096.0, timeout_s=600.0),
    environment={"paddle_version": "3.3.1", "gpu_name": None, "cpu_count": 2},
    idle_rss_mb=290.1,
    candidates=[ok, failed],
    recommendation=Recommendation(
        label="1x3x256x256",
        runner_up=None,
        objective="throughput",
        reason="only eligible candidate",
        excluded={"1x3x1024x1024": failed.excluded_reason},
    ),
)
save_bench_report(report, sys.argv[1])
