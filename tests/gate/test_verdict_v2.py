"""The gate on schema v2 reports (raw samples): intervals, history, v1 fallback, CPU fingerprint, bad input."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fixture_reports import candidate_dict as _candidate
from fixture_reports import report_dict as _report
from fixture_reports import samples, v2_candidate, v2_report

from trt_export.bench.report import BenchReport
from trt_export.errors import ReportError
from trt_export.gate.verdict import (
    GateSettings,
    Verdict,
    check_baselines,
    run_gate,
)
from trt_export.report.gate_output import gate_markdown, render_gate_table, write_junit_xml

A = "1x3x224x224"


def gate(base: dict, cur: dict, history: tuple[dict, ...] = (), **settings: Any):
    return run_gate(
        BenchReport.from_dict(base),
        BenchReport.from_dict(cur),
        GateSettings(**settings),
        history=[BenchReport.from_dict(h) for h in history],
    )


def latency_row(result):
    return next(r for r in result.rows if r.metric.startswith("latency"))


def test_the_issues_copy_made_1_5x_now_fails() -> None:
    """The issue: cv 0.14 over 116 samples, every figure x1.5, passed the old gate. With samples it fails."""
    base = samples(10.0)
    result = gate(v2_report(v2_candidate(A, base)), v2_report(v2_candidate(A, [x * 1.5 for x in base])))
    row = latency_row(result)
    assert row.verdict is Verdict.FAIL and not result.passed
    assert row.interval is not None and row.interval.method == "bootstrap" and row.interval.low > 1.1
    assert "ratio 1.500" in row.reason
    # the same two reports without their samples (v1): the old noise band, with a note saying so
    v1 = [
        copy.deepcopy(r)
        for r in (v2_report(v2_candidate(A, base)), v2_report(v2_candidate(A, [x * 1.5 for x in base])))
    ]
    for r in v1:
        r["schema_version"] = 1
        r["candidates"][0].pop("samples_ms")
    old = gate(*v1)
    assert latency_row(old).interval is None and latency_row(old).noise is not None
    assert any("schema version 1" in n for n in old.notes)


def test_identical_v2_runs_pass_with_interval_shown(tmp_path: Path) -> None:
    report = v2_report(v2_candidate(A, samples(10.0)))
    result = gate(report, copy.deepcopy(report))
    row = latency_row(result)
    assert result.passed and row.interval is not None and row.interval.low <= 1.0 <= row.interval.high
    assert "1.000 [" in render_gate_table(result)
    md = gate_markdown(result)
    assert "confidence interval" in md and "1.000 [" in md
    suite = ET.parse(write_junit_xml(result, tmp_path / "j.xml")).getroot()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["latency_ratio"] == "1.0" and props["latency_ratio_method"] == "bootstrap"
    assert float(props["latency_ratio_low"]) <= 1.0 <= float(props["latency_ratio_high"])


def test_verdicts_are_reproducible_and_seeded() -> None:
    base, cur = v2_report(v2_candidate(A, samples(10.0, seed=1))), v2_report(v2_candidate(A, samples(11.0, seed=2)))
    assert latency_row(gate(base, cur)).interval == latency_row(gate(base, cur)).interval
    assert latency_row(gate(base, cur, seed=5)).interval != latency_row(gate(base, cur)).interval


def test_history_turns_a_drift_false_alarm_into_a_pass() -> None:
    cur = v2_report(v2_candidate(A, samples(11.0, cv=0.05, n=200, seed=9)))
    primary = v2_report(v2_candidate(A, samples(9.0, cv=0.05, n=200, seed=1)))
    older = [v2_report(v2_candidate(A, samples(m, cv=0.05, n=200, seed=2 + i))) for i, m in enumerate((12.0, 10.0))]
    assert not gate(primary, cur).passed  # one stored baseline: drift reads as a regression
    result = gate(primary, cur, history=tuple(older))
    row = latency_row(result)
    assert result.passed and row.interval is not None and row.interval.method == "history"
    assert any("3 baselines" in n for n in result.notes)


def test_test_summary_forces_the_noise_band() -> None:
    report = v2_report(v2_candidate(A, samples(10.0)))
    row = latency_row(gate(report, copy.deepcopy(report), test="summary"))
    assert row.interval is None and row.noise is not None


# --- bad input: one line, exit 2 ---------------------------------------------------------------


def _write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def _one_line_exit_2(argv: list[str], cli, *hints: str) -> str:
    code, _, err = cli(*argv)
    assert code == 2, err
    assert err.startswith("trt-export: error:") and err.count("\n") == 1 and "internal error" not in err
    for hint in hints:
        assert hint in err, err
    return err


def test_too_few_samples_in_the_baseline(tmp_path: Path, cli) -> None:
    base = _write(tmp_path / "b.json", v2_report(v2_candidate(A, samples(10.0, n=8))))
    cur = _write(tmp_path / "c.json", v2_report(v2_candidate(A, samples(10.0))))
    _one_line_exit_2(["gate", "--baseline", base, "--current", cur], cli, "8 timed samples", "at least 20", "--iters")


def test_too_few_samples_in_the_current_report(tmp_path: Path, cli) -> None:
    base = _write(tmp_path / "b.json", v2_report(v2_candidate(A, samples(10.0))))
    cur = _write(tmp_path / "c.json", v2_report(v2_candidate(A, samples(10.0, n=5))))
    _one_line_exit_2(["gate", "--baseline", base, "--current", cur], cli, "current", "5 timed samples")


def test_v1_baseline_with_test_bootstrap(tmp_path: Path, cli) -> None:
    base = _write(tmp_path / "b.json", _report(_candidate(A)))
    cur = _write(tmp_path / "c.json", v2_report(v2_candidate(A, samples(10.0))))
    _one_line_exit_2(
        ["gate", "--baseline", base, "--current", cur, "--test", "bootstrap"],
        cli,
        "schema version 1 without raw latency samples",
        "--test bootstrap",
    )
    code, out, _ = cli("gate", "--baseline", base, "--current", cur)
    assert code in (0, 1)  # auto: gated on what it has
    assert "schema version 1" in out


def test_v1_baseline_in_a_history(tmp_path: Path, cli) -> None:
    v2 = _write(tmp_path / "b.json", v2_report(v2_candidate(A, samples(10.0))))
    v1 = _write(tmp_path / "old.json", _report(_candidate(A)))
    _one_line_exit_2(["gate", "--baseline", v2, v1, "--current", v2], cli, "baseline 2", "history")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_sample_in_the_baseline(tmp_path: Path, cli, token: str) -> None:
    data = v2_report(v2_candidate(A, samples(10.0)))
    text = json.dumps(data).replace(str(data["candidates"][0]["samples_ms"][3]), token, 1)
    base = tmp_path / "b.json"
    base.write_text(text)
    cur = _write(tmp_path / "c.json", v2_report(v2_candidate(A, samples(10.0))))
    _one_line_exit_2(["gate", "--baseline", str(base), "--current", cur], cli, "samples_ms[3]")


def test_baseline_of_another_model(tmp_path: Path, cli) -> None:
    other = v2_report(v2_candidate(A, samples(10.0)))
    other["model"].update(source="paddle.vision.models:resnet50", name="resnet50")
    base = _write(tmp_path / "b.json", other)
    cur = _write(tmp_path / "c.json", v2_report(v2_candidate(A, samples(10.0))))
    _one_line_exit_2(
        ["gate", "--baseline", base, "--current", cur, "--allow-env-mismatch"], cli, "different models", "resnet50"
    )


def _cpu(report: dict, **env: Any) -> dict:
    report["backend"] = "paddle-onednn"
    report["environment"].update(
        gpu_name=None,
        gpu_driver=None,
        cuda_version=None,
        cudnn_version=None,
        tensorrt_compile_version=None,
        tensorrt_runtime_version=None,
        gpu_count=0,
        cpu_model="AMD EPYC 7B13",
        cpu_count=2,
        cpu_cores=1,
    )
    report["environment"].update(env)
    return report


def test_cpu_fingerprint_refuses_a_baseline_claiming_a_112_core_xeon(tmp_path: Path, cli) -> None:
    base = _write(
        tmp_path / "b.json",
        _cpu(
            v2_report(v2_candidate(A, samples(10.0))),
            cpu_model="Intel(R) Xeon(R) Platinum 8480+",
            cpu_count=112,
            cpu_cores=56,
        ),
    )
    cur = _write(tmp_path / "c.json", _cpu(v2_report(v2_candidate(A, samples(10.0)))))
    err = _one_line_exit_2(
        ["gate", "--baseline", base, "--current", cur], cli, "cpu_model", "cpu_count 112 vs 2", "cpu_cores 56 vs 1"
    )
    assert "--allow-env-mismatch" in err


def test_cpu_thread_count_is_part_of_the_fingerprint() -> None:
    base = _cpu(v2_report(v2_candidate(A, samples(10.0))))
    cur = copy.deepcopy(base)
    cur["settings"]["threads"] = 1
    with pytest.raises(ReportError, match="threads 2 vs 1"):
        gate(base, cur)
    # a GPU backend's timings do not hang on the host threads: a warning there (gate/test_verdict.py)


def test_cpu_cores_missing_in_an_older_report_is_not_a_mismatch() -> None:
    base = _cpu(v2_report(v2_candidate(A, samples(10.0))))
    del base["environment"]["cpu_cores"]
    assert gate(base, _cpu(v2_report(v2_candidate(A, samples(10.0))))).passed


def test_check_baselines_refuses_before_any_measuring() -> None:
    few = BenchReport.from_dict(v2_report(v2_candidate(A, samples(10.0, n=3))))
    with pytest.raises(ReportError, match="3 timed samples"):
        check_baselines([few], GateSettings())
    check_baselines([few], GateSettings(test="summary"))  # the noise band needs no samples


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        (lambda r: r["model"].update(source="paddle.vision.models:resnet50", name="resnet50"), "different models"),
        (
            lambda r: r["environment"].update(cpu_model="Intel(R) Xeon(R) Platinum 8480+", cpu_count=112),
            "cpu_count 112 vs",
        ),
    ],
)
def test_bench_refuses_an_incomparable_baseline_before_sweeping(tmp_path: Path, cli, change, hint: str) -> None:
    from trt_export.env.fingerprint import environment_fingerprint

    base = _cpu(v2_report(v2_candidate("1x3x32x32", samples(10.0))), **environment_fingerprint())
    base["model"].update(source="trt_export.zoo:tiny_segnet", name="tiny_segnet", model_type="segmenter")
    base["settings"]["threads"] = 1
    change(base)
    path = _write(tmp_path / "base.json", base)
    out = tmp_path / "out"
    argv = [
        "bench",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--shapes",
        "[32,32]",
        "--backend",
        "paddle-cpu",
        "--threads",
        "1",
        "--iters",
        "20",
        "--out",
        str(out),
        "--no-progress",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--baseline",
        path,
    ]
    _one_line_exit_2(argv, cli, hint)
    assert not (out / "bench.json").exists()
    assert not any((tmp_path / "cache").rglob("trt_export_manifest.json"))  # nothing was exported
