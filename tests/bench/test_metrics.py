"""The metric registry (trt_export/bench/metrics.py): memory precedence, lookups, ranking, and
that one registry entry is all a new column needs to reach the table, Markdown and CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from render_golden_reports import GOLDEN

from trt_export.bench import metrics
from trt_export.bench.metrics import (
    METRICS,
    TABLE,
    Metric,
    gate_status_text,
    memory_figure,
    memory_name,
    metric,
    objective_metric,
    parity_exclusion,
    parity_regression,
    shared_memory_figure,
)
from trt_export.bench.report import BenchReport, Candidate, Failure, Memory, ParitySummary, load_bench_report
from trt_export.report.render import CSV_COLUMNS, render_bench_table, write_csv, write_markdown


def _report(name: str) -> BenchReport:
    return load_bench_report(GOLDEN / f"{name}.bench.json")


def test_memory_precedence_is_gpu_then_allocator_then_rss() -> None:
    assert memory_figure(Memory(900.0, gpu_peak_mb=300.0, paddle_allocator_peak_mb=250.0)) == ("gpu_peak_mb", 300.0)
    assert memory_figure(Memory(900.0, paddle_allocator_peak_mb=250.0)) == ("paddle_allocator_peak_mb", 250.0)
    assert memory_figure(Memory(900.0)) == ("peak_rss_mb", 900.0)
    assert memory_figure(Memory(None)) is None and memory_figure(None) is None
    assert memory_name(Memory(900.0, paddle_allocator_peak_mb=250.0)) == "Paddle GPU allocator peak"
    assert memory_name(Memory(900.0)) == "peak RSS"


def test_the_gate_compares_the_first_memory_figure_both_runs_measured() -> None:
    base = Memory(900.0, gpu_peak_mb=300.0, paddle_allocator_peak_mb=250.0)
    assert shared_memory_figure(base, Memory(950.0, paddle_allocator_peak_mb=260.0)) == (
        "paddle_allocator_peak_mb",
        250.0,
        260.0,
    )
    assert shared_memory_figure(Memory(None), Memory(950.0)) is None


def test_the_candidate_memory_number_is_the_registry_figure() -> None:
    for cand in _report("multi").candidates:
        figure = memory_figure(cand.memory)
        assert cand.peak_memory_mb == (figure[1] if figure else None)
        assert metric("peak_mb").value(cand) == cand.peak_memory_mb


def test_keys_are_unique_and_the_table_and_csv_come_from_the_registry() -> None:
    keys = [m.key for m in METRICS]
    assert len(keys) == len(set(keys))
    assert set(TABLE) <= set(keys)
    assert CSV_COLUMNS == [m.key for m in METRICS if m.csv]
    assert all(m.label for m in METRICS if m.key in TABLE)


def test_unknown_metric_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'p42'; known metrics: label, n, ") as info:
        metric("p42")
    assert "\n" not in str(info.value)


def test_objectives_rank_in_their_better_direction() -> None:
    cand = _report("plain").candidate("1x3x256x256")
    assert cand.throughput is not None and cand.latency_ms is not None
    assert objective_metric("throughput", "p99").score(cand) == -cand.throughput.megapixels_per_s
    assert objective_metric("latency", "p50").score(cand) == cand.latency_ms.median
    assert objective_metric("latency", "p90").key == "latency_p90_ms"
    with pytest.raises(ValueError, match="not ranked"):
        metric("label").score(cand)


def test_status_and_parity_texts() -> None:
    failed = Candidate("1x3x8x8", [1, 3, 8, 8], "failed", failure=Failure("oom", "out of memory"))
    assert gate_status_text(None) == "missing"
    assert gate_status_text(failed) == "failed (oom)"
    assert metric("status").cell(_report("plain"), failed) == "failed (oom)"
    parity = ParitySummary(False, "paddle-cpu", 0.5, [])
    assert parity_exclusion(parity) == "parity failed on unnamed outputs (max abs error 0.5) against paddle-cpu"
    assert parity_regression(parity) == "parity failed on paddle-cpu: unnamed outputs, max abs error 0.5"


def test_ms_per_sample_is_in_the_csv_always_and_in_the_table_when_batched(tmp_path: Path) -> None:
    batched, single = _report("multi"), _report("plain")
    assert "ms/sample" in render_bench_table(batched) and "ms/sample" not in render_bench_table(single)
    assert "ms/sample: p50 latency per batch item" in write_markdown(batched, tmp_path / "b.md").read_text()
    with write_csv(single, tmp_path / "s.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    ok = next(r for r in rows if r["label"] == "1x3x256x256")
    assert float(ok["ms_per_sample"]) == pytest.approx(float(ok["latency_median_ms"]))


def test_one_registry_entry_reaches_the_table_markdown_and_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = Metric("export_min", "export min", "min", "lower", lambda c: c.export_s and c.export_s / 60, spec=".3f")
    monkeypatch.setattr(metrics, "METRICS", (*METRICS, extra))
    monkeypatch.setattr(metrics, "BY_KEY", {m.key: m for m in (*METRICS, extra)})
    monkeypatch.setattr(metrics, "TABLE", (*TABLE[:-1], "export_min", TABLE[-1]))
    report = _report("plain")
    header = render_bench_table(report).splitlines()[0]
    assert header.index("build s") < header.index("export min") < header.index("eligible / why not")
    assert "| export min" in write_markdown(report, tmp_path / "x.md").read_text()
    with write_csv(report, tmp_path / "x.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["export_min"] for r in rows if r["label"] == "1x3x256x256"] == [
        str(1.0 / 60)
    ]  # export_s 1.0 in the stored report
