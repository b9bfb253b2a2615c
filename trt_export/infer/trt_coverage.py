"""TensorRT coverage: how much of a program really runs inside TensorRT engines.

A trt-* backend can silently run (almost) nothing in TensorRT: no subgraph reaches
min_subgraph_size, the converters refuse the ops, or `paddle.tensorrt.convert` partitions nothing.
The predictor then runs plain CUDA kernels and its numbers would be labelled trt-*. Coverage is read
from the program Paddle actually runs:

- legacy (`enable_tensorrt_engine`): the optimised program the predictor saves with
  `Config.enable_save_optim_model(True)` as `<optim_cache_dir>/_optimized.pdmodel`
  (save_optimized_model_pass.cc; measured on Paddle 3.3.1: `_optimized.pdmodel` and
  `_optimized.pdiparams` in the optim cache dir). Each `tensorrt_engine` op keeps the ops it replaced
  as a serialized BlockDesc in its `subgraph` attribute and as block `sub_block`
  (tensorrt_subgraph_pass.cc); an INT8 engine built from a calibration table has a non-empty
  `calibration_data` attribute (empty means it calibrates, i.e. runs fp32, instead).
- PIR (`paddle.tensorrt.convert`): `pd_op.tensorrt_engine` ops in the converted program's JSON
  (serialised as ``"1.tensorrt_engine"``: dialect ids 0 builtin, 1 pd_op, 2 cf, 3 custom_op,
  4 pd_dist, and ``"p"`` for builtin.parameter; paddle/fluid/pir/serialize_deserialize). The ops an
  engine replaced are gone from the program; `convert` writes their text (``str(group_op)``) next to
  the engine file as ``engine_<hash>_<n>.pir`` (python/paddle/tensorrt/converter.py), which is read
  when present; otherwise the ops inside are the original program's ops minus those left outside.

Only compute ops count: feed/fetch, data, builtin.* and cf.* ops and constants (full,
full_int_array, assign_value) are bookkeeping, not work TensorRT could take.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trt_export.errors import CheckFailed, TrtExportError
from trt_export.serial import JsonRecord

LEGACY_ENGINE_OP = "tensorrt_engine"
PIR_ENGINE_OP = "pd_op.tensorrt_engine"
# Below this share of compute ops inside engines a TensorRT run is mostly plain CUDA: warn.
DEFAULT_MIN_COVERAGE = 0.8

_PIR_BOOKKEEPING = frozenset(
    {
        "pd_op.data",
        "pd_op.feed",
        "pd_op.fetch",
        "pd_op.full",
        "pd_op.full_int_array",
        "pd_op.assign_value",
        "pd_op.assign_value_",
    }
)
_PIR_DIALECTS = {"0": "builtin", "1": "pd_op", "2": "cf", "3": "custom_op", "4": "pd_dist"}
_PIR_OP_IN_TEXT = re.compile(r'"((?:pd_op|custom_op|onednn_op|pd_dist)\.[A-Za-z0-9_]+)"')


@dataclass(frozen=True)
class TrtCoverage(JsonRecord):
    """What ran inside TensorRT. Counts are compute ops (see the module doc)."""

    trt_path: str  # "legacy" or "pir"
    engines: int
    ops_total: int
    ops_in_engines: int | None  # None: the program does not say (PIR without engine dumps or original)
    outside_op_types: dict[str, int] = field(default_factory=dict)
    inside_op_types: dict[str, int] = field(default_factory=dict)
    # Legacy INT8 only: engines built from a calibration table (the rest calibrate = run fp32).
    int8_calibrated_engines: int | None = None
    engine_cache_hit: bool | None = None  # engines deserialised from --trt-cache-dir, not built
    program_file: str | None = None

    @property
    def fraction(self) -> float | None:
        if self.ops_in_engines is None or self.ops_total == 0:
            return None
        return self.ops_in_engines / self.ops_total

    @property
    def ops_outside(self) -> int:
        return sum(self.outside_op_types.values())

    def describe(self) -> str:
        share = (
            f"{self.ops_in_engines}/{self.ops_total} ops in engines"
            if self.ops_in_engines is not None
            else f"{self.ops_outside} ops outside"
        )
        if self.fraction is not None:
            share += f" ({self.fraction:.0%})"
        outside = f"; outside: {format_op_types(self.outside_op_types)}" if self.outside_op_types else ""
        cached = "; engines from cache" if self.engine_cache_hit else ""
        return f"TensorRT: {self.engines} engine(s), {share}{outside}{cached}"

    def json_derived(self) -> dict[str, Any]:
        """Written after the fields (and ignored when read back)."""
        return {"fraction": None if self.fraction is None else round(self.fraction, 4)}


def format_op_types(counts: Mapping[str, int], limit: int = 8) -> str:
    """'bilinear_interp_v2 x2, argmax' (most frequent first)."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = [f"{name} x{n}" if n > 1 else name for name, n in items[:limit]]
    if len(items) > limit:
        text.append(f"... {len(items) - limit} more")
    return ", ".join(text)


# --------------------------------------------------------------------------- legacy


def pir_op_name(compressed: str) -> str:
    """'1.conv2d' -> 'pd_op.conv2d', 'p' -> 'builtin.parameter' (Paddle's JSON compression)."""
    if compressed == "p":
        return "builtin.parameter"
    dialect, sep, name = compressed.partition(".")
    if sep and dialect in _PIR_DIALECTS:
        return f"{_PIR_DIALECTS[dialect]}.{name}"
    return compressed


def _pir_ops(program: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """Every op of a PIR JSON program, nested regions (if/while bodies) included."""

    def walk(regions: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
        for region in regions:
            for block in region.get("blocks", []):
                for op in block.get("ops", []):
                    yield op
                    yield from walk(op.get("regions", []))

    body = program.get("program", program)
    if not isinstance(body, Mapping) or "regions" not in body:
        raise TrtExportError(
            "not a PIR program JSON (no program.regions); was it written by paddle.jit.save or paddle.tensorrt.convert?"
        )
    return walk(body["regions"])


def _is_pir_compute(name: str) -> bool:
    return not (
        name.startswith("builtin.") or name.startswith("cf.") or name in _PIR_BOOKKEEPING or name == PIR_ENGINE_OP
    )


def _pir_attr(op: Mapping[str, Any], name: str) -> Any:
    for attr in op.get("A", []) or []:
        if isinstance(attr, Mapping) and attr.get("N") == name:
            return (attr.get("AT") or {}).get("D")
    return None


def pir_op_counts(program: Mapping[str, Any]) -> Counter[str]:
    """Compute op types of a PIR JSON program."""
    return Counter(
        name for name in (pir_op_name(str(op.get("#", ""))) for op in _pir_ops(program)) if _is_pir_compute(name)
    )


def ops_in_engine_dump(text: str) -> Counter[str]:
    """Compute op types in an engine's ``.pir`` dump (the text of the group op it replaced)."""
    return Counter(name for name in _PIR_OP_IN_TEXT.findall(text) if _is_pir_compute(name))


def pir_coverage(
    converted: Mapping[str, Any],
    original: Mapping[str, Any] | None = None,
    engine_dumps: Mapping[str, str] | None = None,
    program_file: str | None = None,
) -> TrtCoverage:
    """Coverage of a `paddle.tensorrt.convert` program.

    ``engine_dumps`` maps an engine's `engine_serialized_data` path to its ``.pir`` text; without a
    dump for every engine, the ops inside are the original program's minus those left outside.
    """
    engines = [op for op in _pir_ops(converted) if pir_op_name(str(op.get("#", ""))) == PIR_ENGINE_OP]
    outside = pir_op_counts(converted)
    dumps = engine_dumps or {}
    inside: Counter[str] | None = None
    paths = [str(_pir_attr(op, "engine_serialized_data") or "") for op in engines]
    if engines and all(p in dumps for p in paths):
        inside = Counter()
        for p in paths:
            inside.update(ops_in_engine_dump(dumps[p]))
    elif original is not None:
        inside = pir_op_counts(original) - outside
    elif not engines:
        inside = Counter()
    total = sum(outside.values()) + (sum(inside.values()) if inside is not None else 0)
    return TrtCoverage(
        trt_path="pir",
        engines=len(engines),
        ops_total=total,
        ops_in_engines=None if inside is None else sum(inside.values()),
        outside_op_types=dict(outside),
        inside_op_types=dict(inside or {}),
        program_file=program_file,
    )


def engine_files(converted: Mapping[str, Any]) -> list[str]:
    """The serialized engine paths a converted program's tensorrt_engine ops name."""
    return [
        str(_pir_attr(op, "engine_serialized_data") or "")
        for op in _pir_ops(converted)
        if pir_op_name(str(op.get("#", ""))) == PIR_ENGINE_OP
    ]


def pir_coverage_files(converted_json: str | Path, original_json: str | Path | None = None) -> TrtCoverage:
    """Read a converted program (and its engines' ``.pir`` dumps, and the original) from disk."""
    converted_path = Path(converted_json)
    converted = _read_json(converted_path)
    dumps: dict[str, str] = {}
    for engine in engine_files(converted):
        dump = Path(engine).with_suffix(".pir")
        if engine and dump.is_file():
            dumps[engine] = dump.read_text(encoding="utf-8", errors="replace")
    original = _read_json(Path(original_json)) if original_json is not None else None
    return pir_coverage(converted, original, dumps, program_file=str(converted_path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrtExportError(f"cannot read the PIR program {path}: {exc}") from None


# --------------------------------------------------------------------------- verdict


class NoTensorRTEngine(CheckFailed):
    """A trt-* run in which nothing ran inside TensorRT (or INT8 ran without its table)."""


def judge_coverage(
    coverage: TrtCoverage,
    backend: str,
    min_subgraph_size: int,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    disabled_ops: Iterable[str] = (),
) -> list[str]:
    """Raise NoTensorRTEngine when the run is not TensorRT's; return warnings otherwise."""
    if coverage.engines == 0:
        outside = format_op_types(coverage.outside_op_types) or "none"
        cause = (
            f"no TensorRT engine was built: no subgraph of supported ops reached --trt-min-subgraph-size "
            f"{min_subgraph_size}, or TensorRT's converters refused these ops ({outside}); "
            f"the run would be plain CUDA labelled {backend}. Lower --trt-min-subgraph-size, drop "
            "--trt-disable-ops, or bench on paddle-gpu"
        )
        if list(disabled_ops):
            cause += f" (ops kept out: {', '.join(disabled_ops)})"
        raise NoTensorRTEngine(cause)
    if (
        backend == "trt-int8"
        and coverage.int8_calibrated_engines is not None
        and coverage.int8_calibrated_engines < coverage.engines
    ):
        raise NoTensorRTEngine(
            f"trt-int8: {coverage.engines - coverage.int8_calibrated_engines} of {coverage.engines} engine(s) "
            "found no calibration table and run fp32 while calibrating; the INT8 numbers would be fp32's. "
            "Re-run with --calibration data (the table is written to the TensorRT cache dir)"
        )
    warnings = []
    fraction = coverage.fraction
    if fraction is not None and fraction < min_coverage:
        warnings.append(
            f"only {coverage.ops_in_engines} of {coverage.ops_total} ops ({fraction:.0%}) run inside TensorRT; "
            f"left outside: {format_op_types(coverage.outside_op_types)}. Their time is plain CUDA's, "
            "so this is not a TensorRT figure for the whole model"
        )
    return warnings


def coverage_lines(candidates: Iterable[Any]) -> list[str]:
    """One line per bench candidate with a `trt_coverage` dict (bench.md and the terminal)."""
    lines = []
    for cand in candidates:
        if getattr(cand, "trt_coverage", None):
            lines.append(f"- `{cand.label}`: {TrtCoverage.from_dict(cand.trt_coverage).describe()}")
    return lines
