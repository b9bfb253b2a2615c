"""`trt-export gate` from the command line: exit codes, table, files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fixture_reports import candidate_dict as _candidate
from fixture_reports import report_dict as _report

from trt_export.cli.commands import main


def _write(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def baseline(tmp_path: Path) -> str:
    return _write(tmp_path / "base.json", _report(_candidate("1x3x256x256", 10.0), _candidate("1x3x512x512", 40.0)))


def test_identical_runs_exit_0_with_junit_and_markdown(tmp_path: Path, baseline: str, capsys) -> None:
    junit = tmp_path / "junit.xml"
    markdown = tmp_path / "gate.md"
    code = main(
        ["gate", "--baseline", baseline, "--current", baseline, "--junit", str(junit), "--markdown", str(markdown)]
    )
    assert code == 0
    assert "1x3x256x256" in capsys.readouterr().out
    cases = ET.parse(junit).getroot().iter("testcase")
    assert sorted(c.get("name") for c in cases) == ["1x3x256x256", "1x3x512x512"]
    assert markdown.read_text().strip()


def test_latency_regression_exits_1(tmp_path: Path, baseline: str, capsys) -> None:
    current = _write(tmp_path / "cur.json", _report(_candidate("1x3x256x256", 12.0), _candidate("1x3x512x512", 40.0)))
    assert main(["gate", "--baseline", baseline, "--current", current]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "1x3x256x256" in out
    assert main(["gate", "--baseline", baseline, "--current", current, "--latency-tolerance", "25%"]) == 0


def test_environment_mismatch_exits_2_unless_allowed(tmp_path: Path, baseline: str, capsys) -> None:
    current = _write(
        tmp_path / "cur.json", _report(_candidate("1x3x256x256", 10.0), _candidate("1x3x512x512", 40.0), gpu_name="A10")
    )
    assert main(["gate", "--baseline", baseline, "--current", current]) == 2
    err = capsys.readouterr().err
    assert "gpu_name" in err and err.count("\n") == 1
    assert main(["gate", "--baseline", baseline, "--current", current, "--allow-env-mismatch"]) == 0


@pytest.mark.parametrize("content", [None, "not json", json.dumps({"schema": "trt-export/bench", "schema_version": 0})])
def test_bad_baseline_exits_2_in_one_line(tmp_path: Path, content: str | None, baseline: str, capsys) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    assert main(["gate", "--baseline", str(bad), "--current", baseline]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trt-export: error:") and err.count("\n") == 1


@pytest.mark.parametrize("flag", ["--junit", "--markdown"])
@pytest.mark.parametrize("target", ["dir", "under_a_file"])
def test_unwritable_gate_output_is_one_line_exit_2(
    tmp_path: Path, baseline: str, flag: str, target: str, capsys
) -> None:
    # A directory given as --junit/--markdown used to end in "internal error: IsADirectoryError".
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    path = tmp_path if target == "dir" else blocker / "out.xml"
    assert main(["gate", "--baseline", baseline, "--current", baseline, flag, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trt-export: error:") and "internal error" not in err and err.count("\n") == 1


def test_bad_tolerance_exits_2(baseline: str, capsys) -> None:
    assert main(["gate", "--baseline", baseline, "--current", baseline, "--latency-tolerance=-5%"]) == 2
    assert "tolerance" in capsys.readouterr().err


def test_real_sweeps_a_heavier_model_is_caught_as_a_latency_regression(tmp_path: Path, capsys) -> None:
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
    assert main(["gate", "--baseline", base, "--current", heavy, "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "latency" in out
    assert ET.parse(junit).getroot().find(".//failure") is not None
    assert main(["gate", "--baseline", base, "--current", base]) == 0
    # A/B re-measured from the kept exports (bench --keep-exports): 4x wider is far beyond any noise
    assert (tmp_path / "heavy" / "exports" / "1x3x128x128" / "trt_export_manifest.json").is_file()
    assert main(["gate", "--baseline", base, "--current", heavy, "--rerun", "--pairs", "10", "--block-ms", "5"]) == 1
    out = capsys.readouterr().out
    assert "latency p50 ms (A/B)" in out and "FAIL" in out and "paired" in out
