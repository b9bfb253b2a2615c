"""serial.py: the one converter's rules (finite floats, strict ints, enums, paths, tuples) and its errors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from trt_export.errors import EXIT_USAGE, ModelSourceError, ReportError
from trt_export.serial import (
    JsonRecord,
    dumps,
    finite_or_none,
    json_field,
    nonfinite_as_text,
    nonfinite_from_text,
    optional,
    read_json,
    register_layout,
    required,
    rounded,
    structure,
    unstructure,
)


class Kind(StrEnum):
    PLAIN = "plain"
    FANCY = "fancy"


@dataclass(frozen=True)
class Stats:
    p50_ms: float
    samples: int


@dataclass
class Item:
    label: str
    shape: list[int]
    latency: Stats | None = required()
    kind: Kind = Kind.PLAIN
    where: Path | None = None
    dims: tuple[int, ...] = ()
    note: str | None = optional()
    tags: list[str] = optional(default_factory=list)
    ci: float | None = json_field(default=None, key="ci_halfwidth", load=finite_or_none)
    flag: bool = False

    def __post_init__(self) -> None:
        if self.shape and self.shape[0] < 1:
            raise ValueError(f"shape[0] must be >= 1, got {self.shape[0]}")


@dataclass
class File:
    candidates: list[Item]
    environment: dict[str, Any] = field(default_factory=dict)
    idle_mb: float | None = None
    schema: str = field(default="test/file", kw_only=True)


def _item(**change: Any) -> dict[str, Any]:
    base = {"label": "a", "shape": [1, 3], "latency": {"p50_ms": 2.5, "samples": 4}}
    return {**base, **change}


def _error(data: Any, cls: type = File) -> str:
    with pytest.raises(ReportError) as info:
        structure(data, cls, source="test.json")
    message = str(info.value)
    assert "\n" not in message and message.startswith("test.json: ")
    assert info.value.exit_code == EXIT_USAGE
    return message


def test_round_trip_and_layout() -> None:
    item = Item("a", [1, 3], Stats(2.5, 4), Kind.FANCY, Path("/x/y"), (2, 3), ci=0.01, flag=True)
    data = unstructure(File([item], {"cpu": 2}, 1.5))
    assert data == {
        "candidates": [
            {
                "label": "a",
                "shape": [1, 3],
                "latency": {"p50_ms": 2.5, "samples": 4},
                "kind": "fancy",
                "where": "/x/y",
                "dims": [2, 3],
                "ci_halfwidth": 0.01,
                "flag": True,
            }
        ],
        "environment": {"cpu": 2},
        "idle_mb": 1.5,
        "schema": "test/file",
    }
    assert list(data["candidates"][0]) == ["label", "shape", "latency", "kind", "where", "dims", "ci_halfwidth", "flag"]
    back = structure(json.loads(json.dumps(data)), File, source="test.json")
    assert back == File([item], {"cpu": 2}, 1.5)
    assert isinstance(back.candidates[0].kind, Kind) and isinstance(back.candidates[0].where, Path)


def test_optional_keys_are_written_only_when_set() -> None:
    data = unstructure(Item("a", [1], None, note="n", tags=["t"]))
    assert data["note"] == "n" and data["tags"] == ["t"]
    assert "note" not in unstructure(Item("a", [1], None)) and "tags" not in unstructure(Item("a", [1], None))


def test_dumps_refuses_nan_and_ends_with_newline() -> None:
    assert dumps(Stats(1.0, 2)) == '{\n  "p50_ms": 1.0,\n  "samples": 2\n}\n'
    with pytest.raises(ValueError):
        dumps(Stats(float("nan"), 2))


def test_unknown_keys_are_ignored_and_ints_read_as_floats() -> None:
    data = {"candidates": [_item(future=1, latency={"p50_ms": 3, "samples": 4})], "later": True}
    loaded = structure(data, File, source="test.json")
    assert loaded.candidates[0].latency == Stats(3.0, 4) and isinstance(loaded.candidates[0].latency.p50_ms, float)


def test_nonfinite_as_none_only_where_declared() -> None:
    assert structure(_item(ci_halfwidth=float("inf")), Item, source="x").ci is None
    message = _error({"candidates": [], "idle_mb": float("nan")})
    assert "idle_mb has a bad value at $.idle_mb: expected a finite number, got nan" in message


@pytest.mark.parametrize(
    ("latency", "path", "why"),
    [
        ({"p50_ms": "fast", "samples": 4}, "$.candidates[0].latency.p50_ms", "expected a finite number, got 'fast'"),
        ({"p50_ms": float("inf"), "samples": 4}, "$.candidates[0].latency.p50_ms", "got inf"),
        ({"p50_ms": True, "samples": 4}, "$.candidates[0].latency.p50_ms", "got True"),
        ({"p50_ms": 1.0, "samples": 1.5}, "$.candidates[0].latency.samples", "expected an integer, got 1.5"),
        ({"p50_ms": 1.0, "samples": True}, "$.candidates[0].latency.samples", "expected an integer, got True"),
        ({"p50_ms": 1.0, "samples": "4"}, "$.candidates[0].latency.samples", "expected an integer, got '4'"),
        ("fast", "$.candidates[0].latency", "must be an object"),
    ],
)
def test_bad_values_name_the_json_path(latency: Any, path: str, why: str) -> None:
    message = _error({"candidates": [_item(latency=latency)]})
    assert f"candidates[0] (a) has a bad value at {path}: " in message and why in message


@pytest.mark.parametrize(
    ("change", "path", "why"),
    [
        ({"kind": "odd"}, "$.candidates[0].kind", "expected one of 'plain', 'fancy', got 'odd'"),
        ({"shape": "13"}, "$.candidates[0].shape", "must be a list (a JSON array), got str"),
        ({"shape": [1, True]}, "$.candidates[0].shape[1]", "expected an integer, got True"),
        ({"dims": {"a": 1}}, "$.candidates[0].dims", "must be a list (a JSON array), got dict"),
        ({"where": 3}, "$.candidates[0].where", "expected a string, got 3"),
        ({"flag": "yes"}, "$.candidates[0].flag", "expected true or false, got 'yes'"),
        ({"label": 7}, "$.candidates[0].label", "expected a string, got 7"),
        ({"shape": [0, 3]}, "$.candidates[0]", "shape[0] must be >= 1, got 0"),  # the class's own check
    ],
)
def test_strict_kinds(change: dict[str, Any], path: str, why: str) -> None:
    assert f"has a bad value at {path}: {why}" in _error({"candidates": [_item(**change)]})


def test_missing_keys() -> None:
    assert "the top level is missing required key 'candidates' ($.candidates)" in _error({})
    message = _error({"candidates": [_item(), {"label": "b", "shape": [1]}]})
    assert "candidates[1] (b) is missing required key 'latency' ($.candidates[1].latency)" in message
    message = _error({"candidates": [_item(latency={"samples": 1})]})
    assert "candidates[0] (a) is missing required key 'latency.p50_ms' ($.candidates[0].latency.p50_ms)" in message


def test_every_problem_in_one_line() -> None:
    message = _error({"candidates": [_item(flag=1), _item(label="b", kind="x")], "environment": []})
    assert message.count("has a bad value") == 3 and message.count("; ") == 2


def test_error_type_and_hint() -> None:
    with pytest.raises(ModelSourceError, match=r"^m\.json: .*; re-export the model$"):
        structure({"p50_ms": 1.0}, Stats, source="m.json", error=ModelSourceError, hint="re-export the model")
    assert "the top level has a bad value at $: must be an object" in _error([1, 2])


@dataclass(frozen=True)
class Record(JsonRecord):
    json_keys: ClassVar[tuple[str, ...]] = ("total", "ratio")

    ratio: float | None = json_field(default=None, dump=rounded(2, nonfinite_as_none=True), load=finite_or_none)
    error: float | None = json_field(default=None, dump=nonfinite_as_text, load=nonfinite_from_text)
    hidden: str = json_field(default="x", omit=True)

    def json_derived(self) -> dict[str, Any]:
        return {"total": 3}


def test_record_layout_derived_keys_and_order() -> None:
    data = Record(ratio=1.23456, error=float("-inf"), hidden="y").to_dict()
    assert list(data.items()) == [("total", 3), ("ratio", 1.23), ("error", "-inf")]
    assert Record(ratio=float("nan")).to_dict()["ratio"] is None
    back = Record.from_dict({"total": 99, "ratio": 1.23, "error": "nan", "hidden": "z"})
    assert back.ratio == 1.23 and back.error is not None and math.isnan(back.error) and back.hidden == "x"


def test_record_from_dict_is_one_value_error_line() -> None:
    with pytest.raises(
        ValueError, match=r"^Record: error has a bad value at \$\.error: expected a finite number, got 'lots'$"
    ):
        Record.from_dict({"error": "lots"})


class Span:
    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span) and (self.start, self.stop) == (other.start, other.stop)


def _span_from_json(data: Any) -> Span:
    start, stop = data["range"]
    if stop < start:
        raise ValueError(f"range ends before it starts: {start}..{stop}")
    return Span(start, stop)


register_layout(Span, lambda span: {"range": [span.start, span.stop]}, _span_from_json)


@dataclass
class Spans:
    spans: list[Span]


def test_register_layout_nests_with_paths() -> None:
    assert unstructure(Spans([Span(1, 2)])) == {"spans": [{"range": [1, 2]}]}
    assert structure({"spans": [{"range": [1, 2]}]}, Spans, source="x") == Spans([Span(1, 2)])
    message = _error({"spans": [{"range": [1, 2]}, {"range": [5, 3]}, 7]}, Spans)
    assert "spans[1] has a bad value at $.spans[1]: range ends before it starts: 5..3" in message
    assert "spans[2] has a bad value at $.spans[2]: must be an object" in message
    assert "spans[0]" not in message


def test_read_json(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text('{"a": NaN}', encoding="utf-8")
    assert math.isnan(read_json(path, what="test file")["a"])  # structure() refuses it where a number must be finite
    path.write_text("[1,", encoding="utf-8")
    with pytest.raises(
        ModelSourceError, match=r"^test file .*f\.json is not valid JSON \(line 1, column 4: .*; fix it$"
    ):
        read_json(path, what="test file", error=ModelSourceError, hint="fix it")
    with pytest.raises(ReportError, match="cannot be read"):
        read_json(tmp_path / "missing.json", what="test file")


@dataclass
class _Closed:
    status: Literal["ok", "failed"]
    count: Literal[1, 2] = 1


def test_literal_closed_sets_are_checked_with_their_choices() -> None:
    assert structure({"status": "failed", "count": 2}, _Closed, source="test.json") == _Closed("failed", 2)
    assert "$.status: expected one of 'ok', 'failed', got 'okay'" in _error({"status": "okay"}, _Closed)
    # a bool is not the int 1
    assert "$.count: expected one of 1, 2, got True" in _error({"status": "ok", "count": True}, _Closed)


def test_bench_report_closed_sets_refuse_unknown_values(tmp_path: Path) -> None:
    from trt_export.bench.report import load_bench_report

    (golden,) = [p for p in sorted((Path(__file__).resolve().parents[1] / "data" / "serial").glob("*bench*.json"))][:1]
    data = json.loads(golden.read_text())
    data["candidates"][0]["status"] = "okay"
    data["settings"]["objective"] = "speed"
    bad = tmp_path / "bench.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ReportError) as err:
        load_bench_report(bad)
    assert "$.candidates[0].status: expected one of 'ok', 'failed', got 'okay'" in str(err.value)
    assert "$.settings.objective: expected one of 'throughput', 'latency', 'scene', got 'speed'" in str(err.value)
