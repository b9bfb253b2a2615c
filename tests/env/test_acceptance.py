"""The GPU acceptance results file, assembled from a run dir like scripts/gpu-acceptance.sh leaves."""

from __future__ import annotations

import json
from pathlib import Path

from trt_export.env.acceptance import main, render_markdown, summarize

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3">
<testcase classname="tests.test_gpu_backends" name="test_fp16_engine_is_not_fp32[legacy]"><failure message="x">fp16 did not run</failure></testcase>
<testcase classname="tests.test_gpu_backends" name="test_ok"/>
<testcase classname="tests.test_gpu_backends" name="test_pir"><skipped message="trt-fp16 with pir models is not available here"/></testcase>
</testsuite></testsuites>"""


def make_run(tmp_path: Path, verify_code: int = 0) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "doctor.json").write_text(
        json.dumps(
            {
                "paddle": {"version": "3.3.1", "commit": "abc", "cuda_version": "12.6", "cudnn_version": "9.5"},
                "gpu": {"count": 1, "names": ["NVIDIA A10"]},
                "tensorrt": {"compile_version": "10.5.0", "runtime_version": "10.5.0", "python_package": "10.5.0"},
            }
        )
    )
    (run / "pytest-gpu.xml").write_text(JUNIT)
    coverage = {"trt_path": "legacy", "engines": 2, "ops_total": 40, "ops_in_engines": 38, "fraction": 0.95}
    (run / "verify-seg-legacy-trt-fp16.json").write_text(
        json.dumps(
            {
                "passed": verify_code == 0,
                "timing": {"predictor_ms": 3.2},
                "comparison": {"max_abs_error": 0.004},
                "trt_coverage": coverage,
            }
        )
    )
    (run / "verify-seg-legacy-trt-fp16.log").write_text("verify: PASSED\n")
    (run / "bench-seg-legacy-trt-fp16").mkdir()
    (run / "bench-seg-legacy-trt-fp16" / "bench.json").write_text(
        json.dumps(
            {
                "candidates": [
                    {
                        "label": "1x3x256x256",
                        "status": "ok",
                        "latency_ms": {"p50": 1.5},
                        "parity": {"passed": True},
                        "trt_coverage": coverage,
                        "failure": None,
                    }
                ],
                "recommendation": {"label": "1x3x256x256"},
            }
        )
    )
    (run / "steps.tsv").write_text(
        "doctor\tdoctor\t0\t2\n"
        f"verify-seg-legacy-trt-fp16\tverify\t{verify_code}\t12\n"
        "bench-seg-legacy-trt-fp16\tbench\t0\t30\n"
    )
    return run


def test_summary_collects_every_step(tmp_path):
    summary = summarize(make_run(tmp_path))
    assert summary["passed"] is True
    assert summary["pytest_gpu"]["tests"] == 3 and summary["pytest_gpu"]["failed"] == [
        "tests.test_gpu_backends::test_fp16_engine_is_not_fp32[legacy]"
    ]
    verify = summary["steps"][1]
    assert verify["passed"] is True and verify["trt_coverage"]["engines"] == 2
    bench = summary["steps"][2]
    assert bench["candidates"][0]["p50_ms"] == 1.5 and bench["candidates"][0]["coverage"] == 0.95
    text = render_markdown(summary)
    assert "NVIDIA A10" in text and "engines 2" in text and "FAILED tests.test_gpu_backends" in text


def test_a_failed_step_fails_the_run_and_shows_its_last_line(tmp_path):
    run = make_run(tmp_path, verify_code=1)
    (run / "verify-seg-legacy-trt-fp16.log").write_text("...\nverify: FAILED\n")
    assert main([str(run)]) == 1
    summary = json.loads((run / "acceptance.json").read_text())
    assert summary["passed"] is False and summary["steps"][1]["last_line"] == "verify: FAILED"
    assert "verify: FAILED" in (run / "acceptance.md").read_text()


def test_no_run_dir_is_a_usage_error(tmp_path):
    assert main([str(tmp_path / "missing")]) == 2


def test_int8_timing_steps_accept_a_parity_failure_but_not_an_error(tmp_path):
    run = make_run(tmp_path)
    with (run / "steps.tsv").open("a") as tsv:
        tsv.write("verify-seg-legacy-trt-int8\tverify-timing\t1\t10\n")
    summary = summarize(run)
    assert (
        summary["passed"] is True and summary["steps"][-1]["timing_only"] and summary["steps"][-1]["kind"] == "verify"
    )
    with (run / "steps.tsv").open("a") as tsv:
        tsv.write("bench-seg-legacy-trt-int8\tbench-timing\t2\t10\n")
    assert summarize(run)["passed"] is False
