"""Stored bench reports and their rendered output, for the byte-for-byte rendering test.

``python -m tests.render_golden_reports`` rebuilds the reports under tests/data/render_golden/ and
captures what today's renderers print for them (terminal table, Markdown, CSV, gate table, gate
Markdown and JUnit). Run it only when an output change is intended, and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trt_export.bench.recommend import recommend_report
from trt_export.bench.report import (
    BenchReport,
    BenchSettings,
    Candidate,
    Failure,
    Memory,
    ModelInfo,
    ParitySummary,
    load_bench_report,
    save_bench_report,
)
from trt_export.bench.scene import AgreementSummary, SceneEstimate, SceneSettings
from trt_export.bench.stats import LatencyStats, throughput

GOLDEN = Path(__file__).parent / "data" / "render_golden"
REPORTS = ("plain", "multi", "scene")
"""Report names: ``<name>.bench.json`` and its renderings ``<name>.table.txt``, ``.md`` and ``.csv``."""
GATE_PAIRS = (("plain", "plain-current"), ("multi", "multi-current"))
"""(baseline, current) pairs whose gate output is stored as ``gate-<current>.txt/.md/.xml``."""


def _cand(
    h: int,
    median_ms: float,
    memory: Memory,
    *,
    n: int = 1,
    spread: float = 0.03,
    parity: bool | None = True,
    backend: str | None = None,
    flops: int | None = None,
) -> Candidate:
    rng = np.random.default_rng(h + n)
    samples = [float(s) for s in np.abs(rng.normal(median_ms, median_ms * spread, 40)) / 1000]
    lat = LatencyStats.from_samples(samples)
    par = (
        None
        if parity is None
        else ParitySummary(parity, "paddle-onednn", 2e-6 if parity else 0.4, [] if parity else ["score_map"])
    )
    return Candidate(
        label=f"{n}x3x{h}x{h}",
        shape_nchw=[n, 3, h, h],
        status="ok",
        export_s=1.0,
        build_s=0.2,
        latency_ms=lat,
        noisy=lat.noisy,
        throughput=throughput(n, h, h, lat.median),
        memory=memory,
        parity=par,
        backend=backend,
        flops=flops,
        achieved_gflops=flops / lat.median / 1e6 if flops else None,
        samples_ms=[float(s * 1000) for s in samples],
    )


def _report(candidates: list[Candidate], backend: str = "paddle-onednn", **settings: object) -> BenchReport:
    report = BenchReport(
        tool_version="0.1.0",
        created_utc="2026-11-29T08:00:00Z",
        model=ModelInfo("paddleseg.models:UNet", "unet", "segmenter", "ab" * 32),
        backend=backend,
        settings=BenchSettings(warmup=5, iters=40, duration_s=None, threads=2, **settings),  # type: ignore[arg-type]
        environment={"paddle_version": "3.3.1", "cpu_count": 2, "gpu_name": None},
        idle_rss_mb=290.0,
        candidates=candidates,
        notes=["a note the table carries"],
    )
    recommend_report(report)
    return report


def plain(scale: float = 1.0) -> BenchReport:
    return _report(
        [
            _cand(512, 12.0 * scale, Memory(900.0 * scale, 610.0)),
            _cand(256, 2.5 * scale, Memory(500.0, 210.0)),
            _cand(384, 6.0 * scale, Memory(700.0, 410.0), spread=0.3),
            _cand(768, 30.0, Memory(1500.0, 1210.0), parity=False),
            _cand(128, 1.0, Memory(400.0), parity=None),
            Candidate(
                label="1x3x1024x1024",
                shape_nchw=[1, 3, 1024, 1024],
                status="failed",
                failure=Failure("timeout", "candidate exceeded 600 s"),
            ),
        ],
        max_latency_ms=25.0,
        max_memory_mb=1200.0,
    )


def multi(scale: float = 1.0) -> BenchReport:
    cands = []
    for backend, factor in (("paddle-gpu", 1.0), ("trt-fp16", 0.4)):
        for h, ms in ((256, 2.0), (512, 7.5)):
            mem = Memory(1800.0, 300.0, gpu_peak_mb=ms * 100 * scale, paddle_allocator_peak_mb=ms * 80)
            cands.append(_cand(h, ms * factor * scale, mem, n=2, backend=backend, flops=int(h * h * 2 * 3.5e4)))
    cands.append(_cand(768, 20.0, Memory(2000.0, paddle_allocator_peak_mb=1600.0), n=2, backend="trt-fp16"))
    report = _report(cands, backend="paddle-gpu", objective="latency", latency_stat="p90", max_memory_mb=1000.0)
    report.backends = ["paddle-gpu", "trt-fp16"]
    report.roofs = {"paddle-gpu": {"gflops": 9000.0, "source": "measured", "method": "matmul"}}
    report.flops_method = "counted from the exported program"
    recommend_report(report)
    return report


def scene() -> BenchReport:
    cands = []
    for h, ms, agree in ((256, 3.0, 0.991), (512, 11.0, 0.996), (1024, 48.0, None)):
        cand = _cand(h, ms, Memory(800.0 + h))
        tiles = (2048 // h) ** 2
        cand.scene = SceneEstimate(
            tiles=tiles,
            batches=tiles,
            batch_size=1,
            merge="overlap",
            redundancy=1.12,
            batch_latency_ms=ms,
            host_ms_per_tile=0.8,
            probe_tiles=4,
            scene_s=tiles * (ms + 0.8) / 1000,
            effective_mp_per_s=2048 * 2048 / 1e6 / (tiles * (ms + 0.8) / 1000),
            noise=0.02,
        )
        if agree is not None:
            cand.agreement = AgreementSummary(agree, agree - 0.05, {"0": agree, "1": agree - 0.1}, 2048 * 2048)
        cands.append(cand)
    return _report(
        cands, objective="scene", scene=SceneSettings(2048, 2048, ["a.tif"], 32, "overlap"), min_agreement=0.99
    )


def _without(report: BenchReport, label: str) -> BenchReport:
    """The report less one shape: the gate then says the shape is missing."""
    report.candidates = [c for c in report.candidates if c.label != label]
    recommend_report(report)
    return report


def _write_renderings(name: str) -> None:
    from trt_export.report.render import render_bench_table, write_csv, write_markdown

    report = load_bench_report(GOLDEN / f"{name}.bench.json")
    (GOLDEN / f"{name}.table.txt").write_text(render_bench_table(report) + "\n", encoding="utf-8")
    write_markdown(report, GOLDEN / f"{name}.md")
    write_csv(report, GOLDEN / f"{name}.csv")


def _write_gate(baseline: str, current: str) -> None:
    from trt_export.gate.verdict import GateSettings, gate_files
    from trt_export.report.gate_output import render_gate_table, write_gate_outputs

    result = gate_files(
        GOLDEN / f"{baseline}.bench.json", GOLDEN / f"{current}.bench.json", GateSettings(test="bootstrap")
    )
    write_gate_outputs(result, junit_path=GOLDEN / f"gate-{current}.xml", markdown_path=GOLDEN / f"gate-{current}.md")
    (GOLDEN / f"gate-{current}.txt").write_text(render_gate_table(result) + "\n", encoding="utf-8")


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, report in (
        ("plain", plain()),
        ("multi", multi()),
        ("scene", scene()),
        ("plain-current", _without(plain(1.3), "1x3x128x128")),
        ("multi-current", multi(1.2)),
    ):
        save_bench_report(report, GOLDEN / f"{name}.bench.json")
    for name in REPORTS:
        _write_renderings(name)
    for baseline, current in GATE_PAIRS:
        _write_gate(baseline, current)


if __name__ == "__main__":
    main()
