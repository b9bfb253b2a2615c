"""TensorRT coverage of a legacy program: Paddle's optimised ``_optimized.pdmodel`` parsed through its protobuf.

The only part of the coverage reading that needs Paddle (its ``framework_pb2``); the record it
produces and the judgement of it are Paddle-free, in trt_coverage.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trt_export.errors import TrtExportError
from trt_export.infer.trt_coverage import LEGACY_ENGINE_OP, TrtCoverage

# Ops of a legacy program that are bookkeeping, not compute: left out of the coverage counts.
_LEGACY_BOOKKEEPING = frozenset({"feed", "fetch", "fill_constant", "assign_value"})


def _framework_pb2() -> Any:
    from trt_export.env.paddle_import import import_paddle

    import_paddle()
    from paddle.base.proto import framework_pb2  # type: ignore[import-not-found]

    return framework_pb2


def _attr(op: Any, name: str) -> Any:
    for attr in op.attrs:
        if attr.name == name:
            return attr
    return None


def legacy_coverage(program: bytes, program_file: str | None = None) -> TrtCoverage:
    """Coverage of a serialized legacy ProgramDesc (an `_optimized.pdmodel`)."""
    pb2 = _framework_pb2()
    desc = pb2.ProgramDesc()
    try:
        desc.ParseFromString(program)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise TrtExportError(f"cannot read the optimised program {program_file or ''}: {exc}") from None
    if not desc.blocks:
        raise TrtExportError(f"the optimised program {program_file or ''} has no blocks")
    outside: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    engines = 0
    int8_engines = 0
    calibrated = 0
    for op in desc.blocks[0].ops:
        if op.type == LEGACY_ENGINE_OP:
            engines += 1
            inside.update(_legacy_engine_ops(pb2, desc, op))
            int8 = _attr(op, "enable_int8")
            if int8 is not None and int8.b:
                int8_engines += 1
                table = _attr(op, "calibration_data")
                if table is not None and table.s:
                    calibrated += 1
        elif op.type not in _LEGACY_BOOKKEEPING:
            outside[op.type] += 1
    return TrtCoverage(
        trt_path="legacy",
        engines=engines,
        ops_total=sum(inside.values()) + sum(outside.values()),
        ops_in_engines=sum(inside.values()),
        outside_op_types=dict(outside),
        inside_op_types=dict(inside),
        int8_calibrated_engines=calibrated if int8_engines else None,
        program_file=program_file,
    )


def _legacy_engine_ops(pb2: Any, desc: Any, op: Any) -> Counter[str]:
    """Op types inside one tensorrt_engine op: its `subgraph` BlockDesc, else its `sub_block`."""
    ops: Iterable[Any] = ()
    subgraph = _attr(op, "subgraph")
    # A proto2 string holding binary: Python's protobuf (upb) returns bytes when it is not UTF-8.
    raw = subgraph.s if subgraph is not None else b""
    raw = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    block = pb2.BlockDesc()
    try:
        block.ParseFromString(raw)
        parsed = bool(raw)
    except Exception:  # noqa: BLE001 - a damaged attribute: fall back to the block it names
        parsed = False
    if parsed:
        ops = block.ops
    else:
        sub_block = _attr(op, "sub_block")
        if sub_block is not None and 0 < sub_block.block_idx < len(desc.blocks):
            ops = desc.blocks[sub_block.block_idx].ops
    return Counter(o.type for o in ops if o.type not in _LEGACY_BOOKKEEPING)


def legacy_coverage_file(path: str | Path) -> TrtCoverage:
    path = Path(path)
    if not path.is_file():
        raise TrtExportError(
            f"Paddle saved no optimised program ({path.name}) in {path.parent}: cannot tell which ops ran in TensorRT"
        )
    return legacy_coverage(path.read_bytes(), str(path))


# --------------------------------------------------------------------------- PIR
