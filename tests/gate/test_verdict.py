"""Regression gate: verdicts per shape, refusals, JUnit, Markdown and step summary."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fixture_reports import candidate_dict as _candidate
from fixture_reports import failed_dict as _failed
from fixture_reports import report_dict as _report

from trt_export.bench.report import BenchReport
from trt_export.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, ReportError, TrtExportError
from trt_export.gate.verdict import (
    GateSettings,
    Verdict,
    gate_files,
    parse_tolerance,
    run_gate,
)
from trt_export.report.gate_output import (
    append_github_step_summary,
    gate_markdown,
    render_gate_table,
    write_gate_outputs,
    write_junit_xml,
)


def _gate(base: dict[str, Any], cur: dict[str, Any], **settings: Any):
    return run_gate(BenchReport.from_dict(base), BenchReport.from_dict(cur), GateSettings(**settings))


def _row(result, label: str, metric_prefix: str):
    rows = [r for r in result.rows_for(label) if r.metric.startswith(metric_prefix)]
    assert len(rows) == 1, result.rows
    return rows[0]


A, B = "1x3x224x224", "1x3x512x512"


def test_identical_runs_pass() -> None:
    report = _report(_candidate(A), _candidate(B, median=30.0, std=0.3), _failed("1x3x2048x2048"))
    result = _gate(report, copy.deepcopy(report))
    assert result.passed and result.exit_code == EXIT_OK
    assert {r.verdict for r in result.rows} == {Verdict.PASS}
    assert result.warnings == []
    assert _row(result, A, "latency").change_pct == pytest.approx(0.0)


def test_latency_20_percent_worse_with_small_noise_fails() -> None:
    result = _gate(_report(_candidate(A, median=10.0, std=0.1)), _report(_candidate(A, median=12.0, std=0.1)))
    row = _row(result, A, "latency p50")
    assert row.verdict is Verdict.FAIL
    assert row.change_pct == pytest.approx(20.0)
    assert row.noise == pytest.approx(2.0 * (2 * 0.1**2) ** 0.5)
    assert not result.passed and result.exit_code == EXIT_CHECK_FAILED
    assert "+20.0%" in row.reason


def test_small_change_with_large_noise_passes() -> None:
    result = _gate(_report(_candidate(A, median=10.0, std=2.0)), _report(_candidate(A, median=10.3, std=2.0)))
    assert _row(result, A, "latency").verdict is Verdict.PASS
    assert result.passed


def test_15_percent_within_huge_noise_passes() -> None:
    result = _gate(_report(_candidate(A, median=10.0, std=3.0)), _report(_candidate(A, median=11.5, std=3.0)))
    row = _row(result, A, "latency")
    assert row.verdict is Verdict.PASS
    assert "within noise band" in row.reason
    assert any("noisy" in w for w in result.warnings)


def test_tail_stat_uses_that_percentile() -> None:
    # p99 grows 30 % while the median stays put: gating on p99 catches it, p50 does not.
    base = _report(_candidate(A, median=10.0, std=0.1))
    cur = copy.deepcopy(base)
    cur["candidates"][0]["latency_ms"]["p99"] = base["candidates"][0]["latency_ms"]["p99"] * 1.3
    assert _gate(base, cur, stat="p50").passed
    assert _row(_gate(base, cur, stat="p99"), A, "latency p99").verdict is Verdict.FAIL


def test_latency_improvement_reported() -> None:
    result = _gate(_report(_candidate(A, median=10.0)), _report(_candidate(A, median=7.0)))
    assert _row(result, A, "latency").verdict is Verdict.IMPROVED
    assert result.passed


def test_memory_growth_beyond_tolerance_fails() -> None:
    result = _gate(_report(_candidate(A, rss=500.0)), _report(_candidate(A, rss=540.0)))
    row = _row(result, A, "peak_rss_mb")
    assert row.verdict is Verdict.FAIL and row.change_pct == pytest.approx(8.0)
    assert _gate(_report(_candidate(A, rss=500.0)), _report(_candidate(A, rss=520.0))).passed  # 4 % < 5 %


def test_gpu_memory_preferred_when_both_runs_have_it() -> None:
    result = _gate(_report(_candidate(A, rss=500.0, gpu=1000.0)), _report(_candidate(A, rss=500.0, gpu=1200.0)))
    assert _row(result, A, "gpu_peak_mb").verdict is Verdict.FAIL
    assert not [r for r in result.rows if r.metric == "peak_rss_mb"]


def test_current_parity_failure_fails() -> None:
    result = _gate(_report(_candidate(A)), _report(_candidate(A, parity=False)))
    row = _row(result, A, "status")
    assert row.verdict is Verdict.FAIL
    assert "output_0" in row.reason and not result.passed


def test_passed_before_now_failed_fails() -> None:
    result = _gate(_report(_candidate(A)), _report(_failed(A, "timeout")))
    row = _row(result, A, "status")
    assert row.verdict is Verdict.FAIL and "timeout" in row.reason


def test_passed_before_now_missing_fails() -> None:
    result = _gate(_report(_candidate(A), _candidate(B)), _report(_candidate(A)))
    row = _row(result, B, "status")
    assert row.verdict is Verdict.FAIL and "missing" in row.reason
    assert row.current == "missing"


def test_failed_in_both_runs_is_not_a_regression() -> None:
    result = _gate(_report(_candidate(A), _failed(B)), _report(_candidate(A), _failed(B)))
    assert result.passed
    assert _row(result, B, "status").verdict is Verdict.PASS


def test_failed_before_now_ok_is_improved() -> None:
    result = _gate(_report(_failed(A)), _report(_candidate(A)))
    assert _row(result, A, "status").verdict is Verdict.IMPROVED and result.passed


def test_new_candidate_is_new_not_failure() -> None:
    result = _gate(_report(_candidate(A)), _report(_candidate(A), _candidate(B)))
    assert result.passed
    assert [r.verdict for r in result.rows_for(B)] == [Verdict.NEW]
    assert "1 new" in result.summary()


def test_new_candidate_with_parity_failure_fails() -> None:
    # wrong outputs are a defect even without a baseline to compare against
    result = _gate(_report(_candidate(A)), _report(_candidate(A), _candidate(B, parity=False)))
    row = _row(result, B, "status")
    assert row.verdict is Verdict.FAIL and "new shape" in row.reason


def test_environment_mismatch_refuses_naming_field() -> None:
    with pytest.raises(ReportError) as info:
        _gate(_report(_candidate(A), gpu_name="A10"), _report(_candidate(A), gpu_name="L4"))
    message = str(info.value)
    assert "gpu_name 'A10' vs 'L4'" in message and "--allow-env-mismatch" in message
    assert "\n" not in message and info.value.exit_code == EXIT_USAGE


def test_backend_and_tensorrt_mismatch_named() -> None:
    base, cur = _report(_candidate(A)), _report(_candidate(A))
    cur["backend"] = "trt-fp32"
    cur["environment"]["tensorrt_runtime_version"] = "10.4.0"
    with pytest.raises(
        ReportError, match=r"backend 'trt-fp16' vs 'trt-fp32'.*tensorrt_runtime_version '10.3.0' vs '10.4.0'"
    ):
        _gate(base, cur)


def test_allow_env_mismatch_compares_with_warning() -> None:
    result = _gate(
        _report(_candidate(A), gpu_name="A10"),
        _report(_candidate(A, median=12.0), gpu_name="L4"),
        allow_env_mismatch=True,
    )
    assert any("gpu_name 'A10' vs 'L4'" in w for w in result.warnings)
    assert _row(result, A, "latency").verdict is Verdict.FAIL


def test_different_model_refuses_naming_both() -> None:
    base, cur = _report(_candidate(A)), _report(_candidate(A))
    cur["model"].update(source="paddle.vision.models:resnet50", name="resnet50")
    with pytest.raises(ReportError) as info:
        _gate(base, cur, allow_env_mismatch=True)  # not an environment question: still refused
    assert "resnet18" in str(info.value) and "resnet50" in str(info.value)


def test_settings_difference_is_a_warning() -> None:
    base, cur = _report(_candidate(A)), _report(_candidate(A))
    cur["settings"]["threads"] = 4
    result = _gate(base, cur)
    assert result.passed and any("threads 2 vs 4" in w for w in result.warnings)


def _mixed_result():
    base = _report(_candidate(A), _candidate(B, median=30.0, rss=800.0), _candidate("1x3x768x768"))
    cur = _report(
        _candidate(A), _candidate(B, median=40.0, rss=900.0), _failed("1x3x768x768"), _candidate("1x3x128x128")
    )
    return _gate(base, cur)


def test_junit_one_testcase_per_shape_with_correct_counts(tmp_path: Path) -> None:
    result = _mixed_result()
    path = write_junit_xml(result, tmp_path / "sub" / "gate-junit.xml")
    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [A, B, "1x3x768x768", "1x3x128x128"]
    assert {c.get("classname") for c in cases} == {"trt_export.gate.trt-fp16"}
    assert suite.get("tests") == "4" and suite.get("failures") == "2" and suite.get("skipped") == "1"
    failing = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failing) == {B, "1x3x768x768"}
    # every failing metric of the shape is in the one failure message
    assert "latency p50 ms" in failing[B].get("message") and "peak_rss_mb" in failing[B].get("message")
    assert cases[3].find("skipped") is not None


def test_table_and_markdown_show_what_moved() -> None:
    result = _mixed_result()
    table = render_gate_table(result)
    assert table.splitlines()[0].startswith("gate FAILED")
    assert "+33.3%" in table and "FAIL" in table
    md = gate_markdown(result)
    assert md.startswith("### ❌ trt-export gate: resnet18 on trt-fp16")
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert "FAIL" in table_lines[2]  # failures sorted first, right under header + separator


def test_step_summary_appended_when_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert append_github_step_summary("### gate\n") == summary
    assert summary.read_text(encoding="utf-8") == "earlier step\n### gate\n"
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert append_github_step_summary("ignored") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10%", 0.10),
        ("0.1", 0.1),
        (" 5 % ", 0.05),
        ("0", 0.0),
        ("150%", 1.5),
        (".2", 0.2),
        ("1e-1", 0.1),
        ("5E-2", 0.05),
    ],
)
def test_parse_tolerance_good(text: str, value: float) -> None:
    assert parse_tolerance(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("-5%", "negative"),
        ("abc", "not a number"),
        ("", "not a number"),
        ("10", "ambiguous"),
        ("1e1", "ambiguous"),
        ("nan", "not a number"),
    ],
)
def test_parse_tolerance_bad(text: str, hint: str) -> None:
    with pytest.raises(TrtExportError, match=hint):
        parse_tolerance(text)


def test_settings_reject_bad_values() -> None:
    with pytest.raises(TrtExportError, match="p75"):
        GateSettings(stat="p75")
    with pytest.raises(TrtExportError, match="latency_tolerance"):
        GateSettings(latency_tolerance=-0.1)


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_gate_files_writes_outputs_and_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    base = _write(tmp_path / "base.json", _report(_candidate(A)))
    cur = _write(tmp_path / "cur.json", _report(_candidate(A, median=13.0)))
    out = tmp_path / "out"
    result = gate_files(base, cur, GateSettings())
    write_gate_outputs(result, junit_path=out / "j.xml", markdown_path=out / "g.md")
    assert result.exit_code == EXIT_CHECK_FAILED
    assert ET.parse(out / "j.xml").getroot().get("failures") == "1"
    assert (out / "g.md").read_text(encoding="utf-8") == summary.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        (json.dumps({**_report(), "schema_version": 0}), "schema_version 0"),
        (
            json.dumps(
                {
                    **_report(),
                    "model": {"source": "x:y", "name": "other", "model_type": "generic", "weights_sha256": None},
                }
            ),
            "different models",
        ),
    ],
)
def test_bad_baseline_files_give_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, hint: str
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content, encoding="utf-8")
    current = _write(tmp_path / "cur.json", _report(_candidate(A)))
    with pytest.raises(ReportError, match=hint) as info:
        gate_files(baseline, current, GateSettings())
    assert info.value.exit_code == EXIT_USAGE and "\n" not in str(info.value)
    if hint != "different models":  # a file problem says which of the two files it was
        assert str(info.value).startswith("baseline:")
