"""An exported program read as plain data: one `OpInfo` per op, with static shapes.

Both formats go through PIR: a PIR `model.json` is loaded as is; a legacy `.pdmodel` is loaded
under `OldIrGuard` and translated with `paddle.pir.translate_to_pir`, as paddle2onnx itself does
before converting. Shapes are static because the export fixed them. Used to count FLOPs
(flops.py) and to name the ops paddle2onnx cannot convert (onnx_convert.py). Imports Paddle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trt_export.errors import TrtExportError

Shape = tuple[int, ...] | None


@dataclass(frozen=True)
class OpInfo:
    """`name` is the PIR op name (``pd_op.conv2d``); shapes are None where Paddle has none."""

    name: str
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


_ATTRS = ("groups", "transpose_x", "transpose_y", "trans_x", "trans_y", "data_format")


def _shape(value: Any) -> Shape:
    try:
        if hasattr(value, "initialized") and not value.initialized():
            return None
        return tuple(int(d) for d in value.shape)
    except Exception:  # noqa: BLE001 - values without a dense type (optional inputs) have no shape
        return None


def _ops_of(block: Any) -> list[OpInfo]:
    ops: list[OpInfo] = []
    for op in block.ops:
        try:
            attrs = op.attrs()
            kept = {k: attrs[k] for k in _ATTRS if k in attrs}
        except Exception:  # noqa: BLE001 - attribute types Python cannot read: not needed for counting
            kept = {}
        ops.append(
            OpInfo(
                op.name(), tuple(_shape(v) for v in op.operands_source()), tuple(_shape(v) for v in op.results()), kept
            )
        )
        # Control flow (pd_op.if / pd_op.while) holds its body in sub-blocks.
        for sub in getattr(op, "blocks", lambda: [])() or []:
            ops.extend(_ops_of(sub))
    return ops


def load_program_ops(model_file: str | Path) -> list[OpInfo]:
    """The ops of an exported program (`model.pdmodel` or `model.json`, weights beside it)."""
    from trt_export.env.paddle_import import import_paddle

    paddle = import_paddle()
    model_file = Path(model_file)
    prefix = str(model_file.with_suffix(""))
    exe = paddle.static.Executor(paddle.CPUPlace())
    was_dynamic = paddle.in_dynamic_mode()
    try:
        if model_file.suffix == ".pdmodel":
            with paddle.pir_utils.OldIrGuard():
                paddle.enable_static()
                program, _, _ = paddle.static.load_inference_model(prefix, exe)
            program = paddle.pir.translate_to_pir(program.desc)
        else:
            with paddle.pir_utils.IrGuard():
                paddle.enable_static()
                program, _, _ = paddle.static.load_inference_model(prefix, exe)
        return _ops_of(program.global_block())
    except TrtExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise TrtExportError(
            f"cannot read the program {model_file}: {type(exc).__name__}: {first}; re-export the model"
        ) from exc
    finally:
        if was_dynamic:
            paddle.disable_static()
