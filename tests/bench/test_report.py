"""bench.json: round trip, the documented example, and every way a file can be refused."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import REPO
from fixture_reports import example_report as make_report

from trt_export.bench.report import (
    SCHEMA,
    SCHEMA_VERSION,
    Failure,
    load_bench_report,
    save_bench_report,
)
from trt_export.errors import EXIT_USAGE, ReportError

SCHEMA_DOC = REPO / "docs" / "bench-report-schema.md"


def test_round_trip_preserves_everything(tmp_path: Path) -> None:
    report = make_report()
    path = save_bench_report(report, tmp_path / "sub" / "bench.json")
    loaded = load_bench_report(path)
    assert loaded == report
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["schema_version"] == SCHEMA_VERSION
    assert data["candidates"][1]["latency_ms"] is None  # "not measured" is null, never 0
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temp file behind


def test_documented_example_loads_and_round_trips(tmp_path: Path) -> None:
    """The schema doc is the contract: its example must be a valid report, key for key."""
    block = re.search(r"```json\n(.*?)```", SCHEMA_DOC.read_text(), re.S)
    assert block is not None
    data = json.loads(block.group(1))
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    report = load_bench_report(path)
    assert report.candidates[1].failure == Failure("timeout", "candidate exceeded 600 s")
    assert report.to_dict() == data


def test_save_refuses_nan(tmp_path: Path) -> None:
    report = make_report()
    report.idle_rss_mb = float("nan")
    with pytest.raises(ValueError):
        save_bench_report(report, tmp_path / "bench.json")


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "bench.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _mutated(change: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(make_report().to_dict())
    change(data)
    return data


def _load_error(path: Path) -> str:
    with pytest.raises(ReportError) as info:
        load_bench_report(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert info.value.exit_code == EXIT_USAGE
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in _load_error(tmp_path / "nope.json")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert "is a directory" in _load_error(tmp_path)


def test_not_json(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, "{not json"))
    assert "not valid JSON" in message and "line 1" in message


def test_top_level_not_an_object(tmp_path: Path) -> None:
    assert "expected a JSON object" in _load_error(_write(tmp_path, [1, 2]))


def test_wrong_schema(tmp_path: Path) -> None:
    path = _write(tmp_path, _mutated(lambda d: d.update(schema="trt-export/manifest")))
    message = _load_error(path)
    assert "'trt-export/manifest'" in message and "'trt-export/bench'" in message


def test_missing_schema(tmp_path: Path) -> None:
    assert "no 'schema' key" in _load_error(_write(tmp_path, _mutated(lambda d: d.pop("schema"))))


@pytest.mark.parametrize(
    ("version", "found", "hint"),
    [
        (0, "schema_version 0", "re-run bench with this version"),
        (3, "schema_version 3", "newer trt-export"),
        ("1", "schema_version '1'", "re-run bench with this version"),
        (True, "schema_version True", "re-run bench with this version"),
    ],
)
def test_unknown_schema_version(tmp_path: Path, version: Any, found: str, hint: str) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d.update(schema_version=version))))
    assert found in message and "reads schema_version 1 and 2" in message and hint in message


def test_missing_schema_version(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d.pop("schema_version"))))
    assert "no 'schema_version' key" in message


def test_missing_top_level_key(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d.pop("candidates"))))
    assert "missing required key(s) candidates" in message


def test_missing_candidate_key_names_the_candidate(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d["candidates"][1].pop("status"))))
    assert "candidates[1] (1x3x1024x1024) is missing required key 'status'" in message


def test_missing_nested_key_names_the_path(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d["candidates"][0]["latency_ms"].pop("p99"))))
    assert "'latency_ms.p99'" in message


def test_missing_settings_key(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d["settings"].pop("objective"))))
    assert "settings is missing required key 'objective'" in message


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["candidates"][0].update(latency_ms="fast"),
        lambda d: d["candidates"][0].update(status="maybe"),
        lambda d: d["candidates"][0].update(eligible="yes"),
        lambda d: d["candidates"][1]["failure"].update(stage="lunch"),
        lambda d: d["candidates"][0].update(shape_nchw=[1, 3, 256]),
        lambda d: d.update(candidates={"a": 1}),
    ],
)
def test_bad_values_are_report_errors(tmp_path: Path, change: Callable[[dict], None]) -> None:
    _load_error(_write(tmp_path, _mutated(change)))


def test_nan_in_file_is_refused(tmp_path: Path) -> None:
    # Python's json module accepts the non-standard NaN token; the loader must not
    text = json.dumps(make_report().to_dict()).replace('"idle_rss_mb": 290.1', '"idle_rss_mb": NaN')
    assert "NaN" in text
    assert "idle_rss_mb" in _load_error(_write(tmp_path, text))


def test_unknown_keys_are_ignored(tmp_path: Path) -> None:
    data = _mutated(lambda d: (d.update(future_key=1), d["candidates"][0].update(extra="x")))
    assert load_bench_report(_write(tmp_path, data)) == make_report()


# --- schema version 2: raw samples ----------------------------------------------------------------


def test_samples_round_trip_in_version_2(tmp_path: Path) -> None:
    data = json.loads(save_bench_report(make_report(), tmp_path / "bench.json").read_text())
    assert data["schema_version"] == 2
    assert data["candidates"][0]["samples_ms"] == [3.0, 3.1, 2.9, 3.5]
    assert data["candidates"][1]["samples_ms"] is None
    assert load_bench_report(tmp_path / "bench.json").has_samples


def test_version_1_file_still_loads_without_samples(tmp_path: Path) -> None:
    def to_v1(d: dict) -> None:
        d["schema_version"] = 1
        for cand in d["candidates"]:
            cand.pop("samples_ms")

    report = load_bench_report(_write(tmp_path, _mutated(to_v1)))
    assert report.schema_version == 1
    assert report.candidates[0].samples_ms is None and not report.has_samples
    assert report.candidates[0].latency_ms == make_report().candidates[0].latency_ms


def test_version_2_requires_the_samples_key(tmp_path: Path) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d["candidates"][0].pop("samples_ms"))))
    assert "candidates[0] (1x3x256x256) is missing required key 'samples_ms'" in message


@pytest.mark.parametrize(
    ("samples", "why"),
    [
        ("3.0", "must be a list"),
        ([3.0, "fast", 2.9, 3.5], "samples_ms[1]"),
        ([3.0, -1.0, 2.9, 3.5], "samples_ms[1]"),
        ([3.0, True, 2.9, 3.5], "samples_ms[1]"),
        ([3.0, 3.1, 2.9], "holds 3 samples but latency_ms.samples says 4"),
    ],
)
def test_bad_samples_are_report_errors(tmp_path: Path, samples: Any, why: str) -> None:
    message = _load_error(_write(tmp_path, _mutated(lambda d: d["candidates"][0].update(samples_ms=samples))))
    assert why in message


@pytest.mark.parametrize("token", ["NaN", "Infinity"])
def test_non_finite_sample_is_refused(tmp_path: Path, token: str) -> None:
    text = json.dumps(make_report().to_dict()).replace("[3.0, 3.1, 2.9, 3.5]", f"[3.0, {token}, 2.9, 3.5]")
    assert token in text
    assert "samples_ms[1]" in _load_error(_write(tmp_path, text))
