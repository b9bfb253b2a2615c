"""Rendering a synthetic bench report: terminal table, CSV, Markdown and PNG plots."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from fixture_reports import candidate, failed

from trt_export.bench.recommend import recommend_report
from trt_export.bench.report import BenchReport, BenchSettings, Candidate, Memory, ModelInfo, ParitySummary
from trt_export.bench.stats import LatencyStats
from trt_export.report.render import CSV_COLUMNS, render_bench_table, write_csv, write_markdown, write_plots


def ok(h: int, median_ms: float, rss_mb: float, spread: float = 0.03, parity: bool = True) -> Candidate:
    rng = np.random.default_rng(h)
    lat = LatencyStats.from_samples(np.abs(rng.normal(median_ms, median_ms * spread, 40)) / 1000)
    return candidate(
        [1, 3, h, h],
        lat,
        export_s=1.0,
        build_s=0.2,
        noisy=lat.noisy,
        memory=Memory(peak_rss_mb=rss_mb, rss_increase_mb=rss_mb - 290.0),
        parity=ParitySummary(parity, "paddle-onednn", 2e-6 if parity else 0.4, [] if parity else ["score_map"]),
    )


def make_report(candidates: list[Candidate], **settings: float) -> BenchReport:
    report = BenchReport(
        tool_version="0.1.0",
        created_utc="2026-11-29T08:00:00Z",
        model=ModelInfo("paddleseg.models:UNet", "unet", "segmenter"),
        backend="paddle-onednn",
        settings=BenchSettings(warmup=5, iters=40, duration_s=None, threads=2, **settings),
        environment={"paddle_version": "3.3.1", "cpu_count": 2, "gpu_name": None},
        idle_rss_mb=290.0,
        candidates=candidates,
    )
    recommend_report(report)
    return report


@pytest.fixture
def report() -> BenchReport:
    return make_report(
        [
            ok(512, 12.0, 900.0),
            ok(256, 2.5, 500.0),  # 26 MP/s, ahead of 384 (23 MP/s) and 512 (22 MP/s)
            ok(384, 6.0, 700.0, spread=0.3),  # noisy; about 24 MP/s
            ok(768, 30.0, 1500.0, parity=False),
            failed("1x3x1024x1024", "timeout", "candidate exceeded 600 s"),
        ],
        max_latency_ms=25.0,
        max_memory_mb=1200.0,
    )


def test_terminal_table(report: BenchReport) -> None:
    text = render_bench_table(report)
    lines = text.splitlines()
    best = next(line for line in lines if "1x3x256x256" in line and "BEST" in line)
    assert "yes" in best
    assert any("1x3x384x384" in line and "2nd" in line for line in lines)
    assert "failed (timeout)" in text and "parity failed on score_map" in text
    assert "Recommended: 1x3x256x256: highest throughput" in text
    assert "Runner-up: 1x3x384x384" in text
    assert "warning: 1x3x384x384 timing is noisy" in text
    # rows in order of input size, whatever the sweep order
    row_of = {
        label: next(i for i, line in enumerate(lines) if f" {label} " in line)
        for label in ("1x3x256x256", "1x3x512x512", "1x3x1024x1024")
    }
    assert row_of["1x3x256x256"] < row_of["1x3x512x512"] < row_of["1x3x1024x1024"]


def test_table_when_nothing_is_eligible() -> None:
    report = make_report([ok(256, 3.0, 500.0, parity=False)])
    assert report.recommendation is None
    text = render_bench_table(report)
    assert "No candidate is eligible" in text and "1x3x256x256: parity failed" in text


def test_csv_one_row_per_candidate(report: BenchReport, tmp_path: Path) -> None:
    path = write_csv(report, tmp_path / "bench.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(report.candidates)
    assert list(rows[0]) == CSV_COLUMNS
    by_label = {row["label"]: row for row in rows}
    best = by_label["1x3x256x256"]
    assert best["pick"] == "BEST" and best["eligible"] == "True"
    assert float(best["latency_median_ms"]) == pytest.approx(report.candidate("1x3x256x256").latency_ms.median)
    assert float(best["pixels"]) == 256 * 256
    timeout = by_label["1x3x1024x1024"]
    assert timeout["status"] == "failed" and timeout["failure_stage"] == "timeout"
    assert timeout["latency_p99_ms"] == ""  # not measured: empty, not zero
    assert by_label["1x3x768x768"]["parity_failed_outputs"] == "score_map"


def test_markdown_report(report: BenchReport, tmp_path: Path) -> None:
    plots = [tmp_path / "plots" / name for name in ("latency.png", "memory.png")]  # links only; drawing is tested below
    path = write_markdown(report, tmp_path / "bench.md", plots)
    text = path.read_text()
    assert text.startswith("# Bench: unet on paddle-onednn")
    assert report.recommendation is not None and report.recommendation.reason in text
    assert "**1x3x256x256**" in text and "Runner-up: **1x3x384x384**" in text
    assert "| latency budget        | 25 ms" in text
    assert "- `1x3x1024x1024`: failed at timeout: candidate exceeded 600 s" in text
    assert "- `1x3x768x768`: parity failed" in text
    assert "## Warnings" in text and "1x3x384x384 timing is noisy" in text
    assert "![latency](plots/latency.png)" in text
    assert "paddle_version" in text and "gpu_name" not in text  # null environment items are left out


def test_plots_are_valid_pngs(report: BenchReport, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    paths = write_plots(report, tmp_path)
    assert [p.name for p in paths] == ["latency.png", "memory.png", "throughput.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 20_000, f"{path.name} is suspiciously small ({len(data)} bytes)"
        pixels = mpimg.imread(path)
        assert pixels.shape[0] >= 500 and pixels.shape[1] >= 900
        assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_plots_with_only_failed_candidates(tmp_path: Path) -> None:
    report = make_report([failed("1x3x512x512", "oom", "killed")])
    paths = write_plots(report, tmp_path)
    assert all(p.stat().st_size > 10_000 for p in paths)
