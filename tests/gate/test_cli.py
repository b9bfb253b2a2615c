"""`trt-export gate` from the command line: exit codes, table, files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fixture_reports import candidate_dict as _candidate
from fixture_reports import report_dict as _report


def _write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def baseline(tmp_path: Path) -> str:
    return _write(tmp_path / "base.json", _report(_candidate("1x3x256x256", 10.0), _candidate("1x3x512x512", 40.0)))


def test_identical_runs_exit_0_with_junit_and_markdown(tmp_path: Path, baseline: str, cli) -> None:
    junit = tmp_path / "junit.xml"
    markdown = tmp_path / "gate.md"
    code, out, _ = cli(
        "gate", "--baseline", baseline, "--current", baseline, "--junit", str(junit), "--markdown", str(markdown)
    )
    assert code == 0
    assert "1x3x256x256" in out
    cases = ET.parse(junit).getroot().iter("testcase")
    assert sorted(c.get("name") for c in cases) == ["1x3x256x256", "1x3x512x512"]
    assert markdown.read_text().strip()


def test_latency_regression_exits_1(tmp_path: Path, baseline: str, cli) -> None:
    current = _write(tmp_path / "cur.json", _report(_candidate("1x3x256x256", 12.0), _candidate("1x3x512x512", 40.0)))
    run = cli("gate", "--baseline", baseline, "--current", current)
    assert run.returncode == 1, run.stderr
    out = run.stdout
    assert "FAIL" in out and "1x3x256x256" in out
    assert cli("gate", "--baseline", baseline, "--current", current, "--latency-tolerance", "25%").returncode == 0


def test_environment_mismatch_exits_2_unless_allowed(tmp_path: Path, baseline: str, cli) -> None:
    current = _write(
        tmp_path / "cur.json", _report(_candidate("1x3x256x256", 10.0), _candidate("1x3x512x512", 40.0), gpu_name="A10")
    )
    run = cli("gate", "--baseline", baseline, "--current", current)
    assert run.returncode == 2, run.stderr
    err = run.stderr
    assert "gpu_name" in err and err.count("\n") == 1
    assert cli("gate", "--baseline", baseline, "--current", current, "--allow-env-mismatch").returncode == 0


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"schema": "trt-export/bench", "schema_version": 0})])
def test_bad_baseline_exits_2_in_one_line(tmp_path: Path, content: str | None, baseline: str, cli) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    run = cli("gate", "--baseline", str(bad), "--current", baseline)
    assert run.returncode == 2, run.stderr
    err = run.stderr
    assert err.startswith("trt-export: error:") and err.count("\n") == 1


@pytest.mark.parametrize("flag", ["--junit", "--markdown"])
@pytest.mark.parametrize("target", ["dir", "under_a_file"])
def test_unwritable_gate_output_is_one_line_exit_2(tmp_path: Path, baseline: str, flag: str, target: str, cli) -> None:
    # A directory given as --junit/--markdown used to end in "internal error: IsADirectoryError".
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    path = tmp_path if target == "dir" else blocker / "out.xml"
    run = cli("gate", "--baseline", baseline, "--current", baseline, flag, str(path))
    assert run.returncode == 2, run.stderr
    err = run.stderr
    assert err.startswith("trt-export: error:") and "internal error" not in err and err.count("\n") == 1


def test_bad_tolerance_exits_2(baseline: str, cli) -> None:
    run = cli("gate", "--baseline", baseline, "--current", baseline, "--latency-tolerance=-5%")
    assert run.returncode == 2 and "tolerance" in run.stderr, run.stderr


def test_real_sweeps_a_heavier_model_is_caught_as_a_latency_regression(tmp_path: Path, cli) -> None:
    """End to end: two real CPU sweeps of the "same" model, the second one 4x wider (a commit that
    made the network heavier); the gate must fail it on latency, and pass the baseline against itself."""
    from trt_export.bench.sweep import BenchOptions, parse_shapes, run_bench
    from trt_export.infer.backends import BackendSettings

    def sweep(name: str, width: int) -> str:
        options = BenchOptions(
            model="trt_export.zoo:tiny_segnet",
            model_kwargs={"width": width},
            shapes=parse_shapes(["[128,128]"]),
            settings=BackendSettings(backend="paddle-cpu"),
            warmup=3,
            iters=40,
            duration_s=None,
            out_dir=tmp_path / name,
            cache_dir=tmp_path / "cache",
            progress=False,
            keep_exports=True,
        )
        run_bench(options)
        return str(tmp_path / name / "bench.json")

    base, heavy = sweep("base", 16), sweep("heavy", 64)
    junit = tmp_path / "junit.xml"
    run = cli("gate", "--baseline", base, "--current", heavy, "--junit", str(junit))
    assert run.returncode == 1, run.stderr
    out = run.stdout
    assert "FAIL" in out and "latency" in out
    assert ET.parse(junit).getroot().find(".//failure") is not None
    assert cli("gate", "--baseline", base, "--current", base).returncode == 0
    # A/B re-measured from the kept exports (bench --keep-exports): 4x wider is far beyond any noise
    assert (tmp_path / "heavy" / "exports" / "1x3x128x128" / "trt_export_manifest.json").is_file()
    run = cli("gate", "--baseline", base, "--current", heavy, "--rerun", "--pairs", "10", "--block-ms", "5")
    assert run.returncode == 1, run.stderr
    out = run.stdout
    assert "latency p50 ms (A/B)" in out and "FAIL" in out and "paired" in out
