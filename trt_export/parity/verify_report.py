"""The verify report file (``verify --report``): schema ``trt-export/verify`` version 1, key for key.

``verify`` builds a :class:`VerifyRecord` from its run (parity/verify.py) and writes it with
:func:`save_verify_record`; anything
can read one back with :func:`load_verify_report` (Paddle-free). Readers ignore keys they do not
know; ``polygraphy`` and ``trt_coverage`` are optional keys (absent in older files, written only
when set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from trt_export.errors import ReportError, TrtExportError
from trt_export.infer.trt_coverage import TrtCoverage
from trt_export.parity.compare import ComparisonResult
from trt_export.serial import JsonRecord, dumps, optional, read_json, structure

SCHEMA = "trt-export/verify"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class VerifiedModel(JsonRecord):
    name: str
    model_type: str
    source: str | None


@dataclass(frozen=True)
class VerifyTiming(JsonRecord):
    """Milliseconds per run of the dygraph model and of the predictor; the predictor's build (s)."""

    dygraph_ms: float
    predictor_ms: float
    build_s: float | None


@dataclass
class VerifyRecord(JsonRecord):
    json_keys: ClassVar[tuple[str, ...]] = ("schema", "schema_version")  # first in the file

    tool_version: str
    created_utc: str
    model: VerifiedModel
    export_dir: str | None
    fixed_input_shape: list[int]
    backend: str
    precision: str
    format: str
    inputs: dict[str, Any]  # how the inputs were made: {"kind": "random", "seed": 0}, images, npz
    passed: bool
    timing: VerifyTiming
    notes: list[str]
    comparison: ComparisonResult
    polygraphy: dict[str, str] | None = optional()  # inputs, reference, onnx_model, command
    trt_coverage: TrtCoverage | None = optional()  # trt-* backends only
    schema: str = field(default=SCHEMA, kw_only=True)
    schema_version: int = field(default=SCHEMA_VERSION, kw_only=True)


def save_verify_record(record: VerifyRecord, path: str | Path) -> Path:
    target = Path(path)
    if target.is_dir():
        raise TrtExportError(
            f"--report {str(target)!r} is a directory; give a file path such as {str(target / 'verify.json')!r}"
        )
    if target.parent and not target.parent.exists():
        raise TrtExportError(f"cannot write the report: directory {str(target.parent)!r} does not exist")
    try:
        target.write_text(dumps(record), encoding="utf-8")
    except OSError as exc:
        raise TrtExportError(f"cannot write --report {str(target)!r}: {exc.strerror or exc}") from None
    return target


def load_verify_report(path: str | Path) -> VerifyRecord:
    """Read a verify report; every problem is one ReportError line naming the file (and the JSON path)."""
    source = Path(path)
    where = f"verify report {source}"
    if not source.is_file():
        raise ReportError(f"{where} is not a file; write one with 'trt-export verify --report FILE'")
    data = read_json(source, what="verify report")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = repr(data.get("schema")) if isinstance(data, dict) else f"a JSON {type(data).__name__}"
        raise ReportError(f"{where} has schema {found}, expected {SCHEMA!r}; pass a file written by 'verify --report'")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(
            f"{where} has schema_version {data.get('schema_version')!r}; this trt-export reads version "
            f"{SCHEMA_VERSION}: re-run verify with this version"
        )
    return structure(data, VerifyRecord, source=where)
