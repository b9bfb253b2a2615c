"""The fixed-shape export as ONNX, through paddle2onnx, cached beside the export.

`ensure_onnx(manifest)` returns `<export dir>/onnx/model.onnx`, converting once per export: the
stamp `onnx/conversion.json` records the program and weights sha256 it was converted from, the
paddle2onnx version and the opset, and any difference converts again. Both export formats
convert (paddle2onnx translates a legacy `.pdmodel` to PIR itself). An export dir that cannot be
written (read-only deployment) gets its ONNX model in the user cache instead.

Conversion runs in a child process (`python -m trt_export.export.onnx_convert ...`): on an unsupported
op paddle2onnx 2.1.0 prints "Due to the unsupported operators, the conversion is aborted" and
aborts the process (SIGABRT) without naming them. So the child first lists the program's ops
(program_ops.py), looks each up in paddle2onnx's own tables (`get_all_supported_operators*`,
under the PIR name and its legacy names from Paddle's op compat table) and writes the missing
ones down before converting; when the conversion then aborts, the parent names those ops. The
look-up never blocks a conversion: only paddle2onnx's own verdict fails one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trt_export.errors import ExportError, TrtExportError

DEFAULT_OPSET = 13  # ONNX Runtime and its TensorRT provider support it fully; auto-upgraded if an op needs more
ONNX_DIR = "onnx"
ONNX_FILE = "model.onnx"
STAMP_FILE = "conversion.json"
# Ops of the program that are bookkeeping, not computation paddle2onnx has to map.
_BOOKKEEPING = {"feed", "fetch", "data"}


class OnnxConversionError(ExportError):
    """paddle2onnx cannot convert the export (unsupported op, crash); the message names the op."""

    stage = "convert"


@dataclass(frozen=True)
class OnnxModel:
    path: Path
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    cached: bool
    convert_s: float | None
    source_format: str
    opset: int


def _paddle2onnx_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("paddle2onnx")
    except metadata.PackageNotFoundError:
        raise TrtExportError(
            "paddle2onnx is not installed; pip install 'trt-export[onnx]' for the onnx-* backends"
        ) from None


def onnx_dir_for(export_dir: Path) -> Path:
    """`<export>/onnx`, or a user-cache dir keyed by the export's path when that is not writable."""
    target = export_dir / ONNX_DIR
    if os.access(export_dir, os.W_OK) or (target.is_dir() and os.access(target, os.W_OK)):
        return target
    import hashlib

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trt-export" / "onnx" / hashlib.sha256(str(export_dir.resolve()).encode()).hexdigest()[:24]


def _stamp_matches(stamp: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(stamp.get(k) == v for k, v in want.items())


def ensure_onnx(
    manifest: Any, model_format: str | None = None, opset: int = DEFAULT_OPSET, verbose: bool = False
) -> OnnxModel:
    """The export's ONNX model, converted now unless a matching conversion is cached."""
    if manifest.export_dir is None:
        raise TrtExportError("the manifest has no export dir to convert from")
    fmt = model_format or manifest.default_format
    manifest.check_files(fmt)
    model_file, params_file = manifest.files(fmt)
    files = manifest.formats[fmt]
    want = {
        "source_format": fmt,
        "model_sha256": getattr(files, "model_sha256", None),
        "params_sha256": files.params_sha256,
        "paddle2onnx": _paddle2onnx_version(),
        "opset_requested": opset,
    }
    out_dir = onnx_dir_for(Path(manifest.export_dir))
    onnx_path, stamp_path = out_dir / ONNX_FILE, out_dir / STAMP_FILE
    if onnx_path.is_file() and stamp_path.is_file():
        try:
            stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            stamp = {}
        if _stamp_matches(stamp, want):
            return OnnxModel(
                onnx_path,
                tuple(stamp["input_names"]),
                tuple(stamp["output_names"]),
                True,
                None,
                fmt,
                int(stamp["opset"]),
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = _convert_in_child(model_file, params_file, out_dir, opset, verbose)
    seconds = time.perf_counter() - start
    inputs, outputs = tuple(result["input_names"]), tuple(result["output_names"])
    expected_inputs = [s.name for s in manifest.inputs]
    if sorted(inputs) != sorted(expected_inputs):
        Path(result["path"]).unlink(missing_ok=True)
        raise OnnxConversionError(
            f"paddle2onnx wrote a model with inputs {list(inputs)}, the export has {expected_inputs}; re-export the model"
        )
    if len(outputs) != len(manifest.output_names):
        Path(result["path"]).unlink(missing_ok=True)
        raise OnnxConversionError(
            f"paddle2onnx wrote a model with {len(outputs)} outputs ({list(outputs)}), the export has {len(manifest.output_names)}"
        )
    os.replace(result["path"], onnx_path)
    stamp = {
        **want,
        "opset": int(result["opset"]),
        "input_names": list(inputs),
        "output_names": list(outputs),
        "convert_s": round(seconds, 3),
        "converted_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    tmp = stamp_path.with_name(
        f".{stamp_path.name}.{os.getpid()}.partial"
    )  # per process: two sweeps may convert at once
    tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, stamp_path)
    return OnnxModel(onnx_path, inputs, outputs, False, seconds, fmt, int(result["opset"]))


def _convert_in_child(model_file: Path, params_file: Path, out_dir: Path, opset: int, verbose: bool) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        result_file = scratch / "result.json"
        target = scratch / ONNX_FILE
        env = dict(os.environ, TMPDIR=str(scratch))  # paddle2onnx's own temp files die with the scratch dir
        env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path] if p)
        cmd = [
            sys.executable,
            "-m",
            "trt_export.export.onnx_convert",
            str(model_file),
            str(params_file),
            str(target),
            str(opset),
            str(result_file),
        ]
        proc = subprocess.run(cmd, capture_output=not verbose, text=True, env=env, stdin=subprocess.DEVNULL)
        result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
        converted = proc.returncode == 0 and result is not None and "output_names" in result and target.is_file()
        if not converted and result is not None and result.get("unsupported"):
            ops = ", ".join(result["unsupported"])
            raise OnnxConversionError(
                f"paddle2onnx {_paddle2onnx_version()} cannot convert op(s) {ops} (no ONNX mapping); "
                "this model cannot take the ONNX route: use a Paddle backend, or replace the op in the network"
            )
        if not converted and proc.returncode == 0 and result is not None and result.get("error"):
            raise OnnxConversionError(f"paddle2onnx failed on {model_file.name}: {result['error']}")
        if not converted:
            text = (proc.stdout or "") + (proc.stderr or "")
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "Warning" not in ln]
            informative = [ln for ln in lines if "[ERROR]" in ln or "Error" in ln or "unsupported" in ln]
            last = (informative or lines or [f"exit code {proc.returncode}"])[0][:300]
            raise OnnxConversionError(
                f"paddle2onnx aborted converting {model_file.name} (exit {proc.returncode}): {last}"
            )
        assert result is not None  # converted above implies it
        moved = out_dir / f".{ONNX_FILE}.{os.getpid()}.partial"
        os.replace(target, moved)
        return {**result, "path": str(moved)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------- child process


def legacy_aliases() -> dict[str, set[str]]:
    """PIR op name -> its legacy (old IR) names, from Paddle's own op compat table.

    paddle2onnx's PIR mappers are registered under legacy names (``elementwise_add`` for
    ``pd_op.add``, ``arg_max`` for ``pd_op.argmax``).
    """
    try:
        from paddle.incubate.autograd.phi_ops_map import op_map
    except Exception:  # noqa: BLE001 - without the table only exact names are matched
        return {}
    aliases: dict[str, set[str]] = {}
    for legacy, entry in op_map.items():
        phi = str(entry.get("phi_name", legacy)) if isinstance(entry, dict) else legacy
        aliases.setdefault(phi.rstrip("_"), set()).add(legacy)
    return aliases


def unsupported_ops(op_names: list[str], supported: set[str], aliases: dict[str, set[str]] | None = None) -> list[str]:
    """Op names (``pd_op.inverse`` -> ``inverse``) for which paddle2onnx has no mapper under any spelling."""
    aliases = aliases or {}
    missing = []
    for name in op_names:
        if not name.startswith("pd_op."):
            continue  # builtin.parameter, cf.yield ...: structure, not ops to map
        base = name[len("pd_op.") :]
        stem = base.rstrip("_")
        spellings = {base, stem, *aliases.get(stem, ())}
        if base in _BOOKKEEPING or base in ("if", "while", "print") or spellings & supported:
            continue
        missing.append(base)
    return sorted(set(missing))


def _write(result_file: str, result: dict[str, Any]) -> None:
    Path(result_file).write_text(json.dumps(result), encoding="utf-8")


def _child(model_file: str, params_file: str, target: str, opset: int, result_file: str) -> dict[str, Any]:
    from trt_export.env.paddle_import import import_paddle
    from trt_export.export.program_ops import load_program_ops

    import_paddle()
    import paddle2onnx  # imports Paddle
    from paddle2onnx import paddle2onnx_cpp2py_export as p2o_cpp

    names = [op.name for op in load_program_ops(model_file)]
    supported = set(p2o_cpp.get_all_supported_operators_pir()) | set(p2o_cpp.get_all_supported_operators())
    missing = unsupported_ops(names, supported, legacy_aliases())
    # Written before converting: on an unsupported op paddle2onnx aborts this process, and the
    # parent then names the ops from this file. A clean conversion overwrites it.
    _write(result_file, {"unsupported": missing} if missing else {"error": "paddle2onnx aborted"})
    paddle2onnx.export(
        model_file,
        params_file,
        save_file=target,
        opset_version=opset,
        auto_upgrade_opset=True,
        enable_onnx_checker=True,
        verbose=False,
    )
    import onnx

    model = onnx.load(target, load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    opset_used = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=opset)
    return {
        "input_names": [i.name for i in model.graph.input if i.name not in initializers],
        "output_names": [o.name for o in model.graph.output],
        "opset": int(opset_used),
    }


def main(argv: list[str]) -> int:
    model_file, params_file, target, opset, result_file = argv
    try:
        result = _child(model_file, params_file, target, int(opset), result_file)
    except TrtExportError as exc:
        result = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported by the parent as one line
        result = {"error": f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"}
    _write(result_file, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
