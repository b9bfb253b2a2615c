"""The files themselves: today's writers give the golden bytes, and every file 0.1.0 wrote still loads.

tests/data/serial/*.json: written from tests/serial_builders.py by the hand-written to_dict code
that serial.py replaced (key order, float formatting and omitted keys are the contract).
tests/data/serial/v0.1.0/: files written by 0.1.0's own code at the commits in their names (each
module's first commit, the last schema-v1 bench and the first v2 one; see its README.md).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import TESTS
from serial_builders import EXPORT_DIR, full_bench_report, manifest, plain_bench_report, verify_report

from trt_export.bench.report import BenchReport, load_bench_report, save_bench_report
from trt_export.errors import EXIT_USAGE, ModelSourceError, ReportError
from trt_export.export.manifest import MANIFEST_NAME, Manifest, load_manifest, save_manifest
from trt_export.parity.verify import write_verify_report
from trt_export.parity.verify_report import load_verify_report, save_verify_record

DATA = TESTS / "data" / "serial"
OLD = DATA / "v0.1.0"
BENCH_GOLDEN = {"bench_full.json": full_bench_report, "bench_plain.json": plain_bench_report}


@pytest.mark.parametrize("name", sorted(BENCH_GOLDEN))
def test_bench_report_bytes_are_the_golden_ones(tmp_path: Path, name: str) -> None:
    written = save_bench_report(BENCH_GOLDEN[name](), tmp_path / name)
    assert written.read_text(encoding="utf-8") == (DATA / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(BENCH_GOLDEN))
def test_bench_report_golden_loads_to_the_same_object(tmp_path: Path, name: str) -> None:
    loaded = load_bench_report(DATA / name)
    assert loaded == BENCH_GOLDEN[name]()
    again = save_bench_report(loaded, tmp_path / name)
    assert again.read_text(encoding="utf-8") == (DATA / name).read_text(encoding="utf-8")


def test_manifest_bytes_are_the_golden_ones(tmp_path: Path) -> None:
    path = save_manifest(manifest(), tmp_path)
    assert path.read_text(encoding="utf-8") == (DATA / MANIFEST_NAME).read_text(encoding="utf-8")


def test_manifest_golden_loads_to_the_same_object() -> None:
    data = json.loads((DATA / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert Manifest.from_dict(data) == manifest()


def test_verify_report_bytes_are_the_golden_ones(tmp_path: Path) -> None:
    path = write_verify_report(verify_report(EXPORT_DIR), tmp_path / "verify.json")
    assert path.read_text(encoding="utf-8") == (DATA / "verify.json").read_text(encoding="utf-8")


# --- files written by 0.1.0 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"),
    [("bench_v1_4142207.json", 1), ("bench_v1_9c5d737.json", 1), ("bench_v2_73b991f.json", 2)],
)
def test_old_bench_reports_load(name: str, version: int) -> None:
    report = load_bench_report(OLD / name)
    assert isinstance(report, BenchReport) and report.schema_version == version
    ok, failed = report.candidates
    assert ok.ok and ok.latency_ms is not None and ok.latency_ms.samples == 4 and ok.samples_ms is None
    assert failed.failure is not None and failed.failure.stage == "oom"
    assert report.recommendation is not None and report.recommendation.label == "1x3x256x256"
    assert report.model.weights_sha256 is None and report.notes == [] and report.shard is None


def test_old_manifest_loads(tmp_path: Path) -> None:
    shutil.copy(OLD / "manifest_c0c0537.json", tmp_path / MANIFEST_NAME)
    for name in ("model.pdmodel", "model.pdiparams"):
        (tmp_path / name).write_bytes(b"")
    loaded = load_manifest(tmp_path)
    assert loaded.fixed_shape.nchw == (1, 3, 224, 320) and loaded.output_names == ["logits"]
    assert loaded.notes == [] and loaded.formats["legacy"].model_sha256 is None


def test_verify_report_golden_loads_and_writes_the_same_bytes(tmp_path: Path) -> None:
    record = load_verify_report(DATA / "verify.json")
    expected = verify_report(EXPORT_DIR).record()
    assert record.comparison.outputs[1] == expected.comparison.outputs[1] and record.model == expected.model
    assert json.dumps(record.to_dict()) == json.dumps(expected.to_dict())  # NaN is never equal to itself
    written = save_verify_record(record, tmp_path / "verify.json")
    assert written.read_text(encoding="utf-8") == (DATA / "verify.json").read_text(encoding="utf-8")
    logits = record.comparison.outputs[0]
    assert math.isinf(logits.max_rel_error or 0) and math.isnan(logits.mean_rel_error or 0)
    assert record.trt_coverage is not None and record.trt_coverage.engines == 2


def test_old_verify_report_loads() -> None:
    record = load_verify_report(OLD / "verify_3eece6c.json")
    assert record.passed and record.backend == "paddle-cpu" and record.fixed_input_shape == [1, 3, 224, 320]
    assert record.polygraphy is None and record.trt_coverage is None
    (out,) = record.comparison.outputs
    assert out.name == "logits" and out.reference_shape == (1, 10) and out.max_rel_error == math.inf


def test_bad_verify_report_is_one_line_naming_the_path(tmp_path: Path) -> None:
    data = json.loads((OLD / "verify_3eece6c.json").read_text(encoding="utf-8"))
    data["comparison"]["outputs"][0]["candidate_nan"] = 1.5
    path = tmp_path / "verify.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportError) as info:
        load_verify_report(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and info.value.exit_code == EXIT_USAGE
    assert "$.comparison.outputs[0].candidate_nan: expected an integer, got 1.5" in message


@pytest.mark.parametrize(
    ("name", "load", "error"),
    [("bench.json", load_bench_report, ReportError), ("verify.json", load_verify_report, ReportError)],
)
def test_invalid_json_is_one_line_with_the_position(tmp_path: Path, name: str, load: Any, error: type) -> None:
    path = tmp_path / name
    path.write_text('{"schema": \n  oops', encoding="utf-8")
    with pytest.raises(error) as info:
        load(path)
    assert f"{path} is not valid JSON (line 2, column 3: " in str(info.value) and "\n" not in str(info.value)


def test_invalid_manifest_json_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{", encoding="utf-8")
    with pytest.raises(
        ModelSourceError, match=r"export manifest .* is not valid JSON \(line 1, .*; re-export the model$"
    ):
        load_manifest(tmp_path)


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (
            lambda d: d["candidates"][0]["latency_ms"].update(p99="slow"),
            "candidates[0] (1x3x256x256) has a bad value at $.candidates[0].latency_ms.p99: expected a finite number, got 'slow'",
        ),
        (
            lambda d: d["settings"].update(warmup=2.5),
            "settings has a bad value at $.settings.warmup: expected an integer, got 2.5",
        ),
        (
            lambda d: d["candidates"][0]["memory"].update(peak_rss_mb=True),
            "candidates[0] (1x3x256x256) has a bad value at $.candidates[0].memory.peak_rss_mb: expected a finite number, got True",
        ),
        (
            lambda d: d["candidates"][0]["scene"].pop("tiles"),
            "candidates[0] (1x3x256x256) is missing required key 'scene.tiles' ($.candidates[0].scene.tiles)",
        ),
        (
            lambda d: d["candidates"][0]["trt_coverage"].update(engines="two"),
            "$.candidates[0].trt_coverage.engines: expected an integer, got 'two'",
        ),
    ],
)
def test_bench_report_errors_name_the_file_and_json_path(tmp_path: Path, change: Any, text: str) -> None:
    data = json.loads((DATA / "bench_full.json").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportError) as info:
        load_bench_report(path)
    message = str(info.value)
    assert message.startswith(f"bench report {path}: ") and text in message and "\n" not in message
    assert info.value.exit_code == EXIT_USAGE
