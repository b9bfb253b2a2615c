"""FLOPs of an exported program at its fixed shape, and achieved GFLOP/s.

How they are counted (the convention of the papers and of the issue's hand counts): 2 FLOPs per
multiply-add of the ops that do the arithmetic, read from the exported program (program_ops.py):

- convolutions (``conv2d``, ``depthwise_conv2d``, ``conv3d``): ``2 * numel(output) * numel(weight[1:])``
  (weight is ``[Cout, Cin/groups, kh, kw]``, so groups and depthwise are covered);
- transposed convolutions: ``2 * numel(input) * numel(weight[1:])`` (weight ``[Cin, Cout/groups, kh, kw]``);
- ``matmul`` / ``bmm``: ``2 * numel(output) * K``, K the contracted dim (honouring ``transpose_x``).

Bias adds, normalisation, activations, pooling, interpolation and softmax are not counted: they
are a few percent of a conv net's arithmetic and memory-bound, so they say nothing about the
compute roof. Ops that do matmul-like work we cannot count from shapes (``einsum``) are listed
in ``uncounted`` so a low figure is not taken as complete.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trt_export.export.program_ops import OpInfo
from trt_export.serial import JsonRecord

METHOD = "2 x multiply-adds of conv/conv-transpose/matmul ops in the exported program (elementwise, norm, pooling not counted)"

_CONV = {"conv2d", "depthwise_conv2d", "conv3d"}
_CONV_T = {"conv2d_transpose", "depthwise_conv2d_transpose", "conv3d_transpose"}
_MATMUL = {"matmul", "bmm", "matmul_v2"}
_UNCOUNTABLE = {"einsum", "fused_multi_transformer", "flash_attn", "multihead_matmul"}


@dataclass(frozen=True)
class FlopCount(JsonRecord):
    json_keys: ClassVar[tuple[str, ...]] = ("flops", "gflop")

    flops: int
    by_op: dict[str, int] = field(default_factory=dict)
    uncounted: tuple[str, ...] = ()
    method: str = METHOD

    @property
    def gflop(self) -> float:
        return self.flops / 1e9

    def json_derived(self) -> dict[str, Any]:
        return {"gflop": self.gflop}


def _base_name(name: str) -> str:
    """``pd_op.batch_norm_`` -> ``batch_norm`` (dialect prefix and in-place suffix dropped)."""
    base = name.split(".", 1)[1] if "." in name else name
    return base[:-1] if base.endswith("_") else base


def _numel(shape: tuple[int, ...] | None) -> int | None:
    if shape is None or any(d < 0 for d in shape):
        return None
    return math.prod(shape)


def op_flops(op: OpInfo) -> int | None:
    """FLOPs of one op; 0 for ops not counted; None when a counted op lacks static shapes."""
    base = _base_name(op.name)
    if base in _CONV or base in _CONV_T:
        if len(op.inputs) < 2 or op.inputs[1] is None:
            return None
        weight = op.inputs[1]
        side = (op.outputs[0] if op.outputs else None) if base in _CONV else op.inputs[0]
        n_side, n_w = _numel(side), _numel(tuple(weight[1:]))
        if n_side is None or n_w is None:
            return None
        return 2 * n_side * n_w
    if base in _MATMUL:
        if len(op.inputs) < 2 or not op.outputs or op.inputs[0] is None or op.outputs[0] is None:
            return None
        x = op.inputs[0]
        transpose_x = bool(op.attrs.get("transpose_x", op.attrs.get("trans_x", False)))
        k = x[0] if len(x) == 1 else (x[-2] if transpose_x else x[-1])
        n_out = _numel(op.outputs[0])
        if n_out is None or k < 0:
            return None
        return 2 * n_out * k
    return 0


def count_flops(ops: Iterable[OpInfo]) -> FlopCount:
    total = 0
    by_op: dict[str, int] = {}
    uncounted: list[str] = []
    for op in ops:
        base = _base_name(op.name)
        if base in _UNCOUNTABLE:
            uncounted.append(op.name)
            continue
        flops = op_flops(op)
        if flops is None:
            uncounted.append(op.name)
            continue
        if flops:
            total += flops
            by_op[base] = by_op.get(base, 0) + flops
    return FlopCount(total, by_op, tuple(dict.fromkeys(uncounted)))


def achieved_gflops(flops: int | None, seconds: float | None) -> float | None:
    """GFLOP/s at a latency (seconds per batch); None when either is unknown."""
    if not flops or not seconds or seconds <= 0:
        return None
    return flops / seconds / 1e9
