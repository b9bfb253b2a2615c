"""Deployment dirs written by PaddleRS itself (no trt_export_manifest.json): read them as they are.

PaddleRS's ``export_model.py`` writes ``model.yml`` (status Infer) and ``model.pdmodel`` (Paddle 2)
or ``model.json`` (Paddle 3) with ``model.pdiparams``. Verify and bench meet such a dir where it
is: :func:`manifest_from_deploy_dir` builds the manifest ``trt-export export`` would have written,
in memory, from what the files declare, and nothing is written into the dir:

- the fixed shape from the program's declared inputs (every input the same, fully static),
  cross-checked with model.yml's ``_Attributes.fixed_input_shape`` (NCHW, as PaddleRS writes it);
- input and output names from the program; outputs of segmenters and change detectors get
  PaddleRS's logical names ``label_map`` / ``score_map`` when the program has those two outputs
  (int32 and float), so reports read like those of our own exports;
- output dtypes and shapes from one run on seeded data; the model name and type from model.yml.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from trt_export import __version__
from trt_export.errors import ModelSourceError
from trt_export.export.manifest import FormatFiles, Manifest
from trt_export.infer.inputs import TensorSpec, random_inputs
from trt_export.model.paddlers_files import MODEL_YML, read_model_yml
from trt_export.model.shapes import FixedShape
from trt_export.model.sources import sha256_file
from trt_export.model.types import ExportFormat, SourceKind, model_type_of

# (format, model file) in the order they are preferred when a dir has both.
PROGRAM_FILES = ((ExportFormat.LEGACY, "model.pdmodel"), (ExportFormat.PIR, "model.json"))
PARAMS_FILE = "model.pdiparams"
SOURCE_KIND = SourceKind.DEPLOY_DIR
_REEXPORT = (
    "re-export it at a fixed shape: trt-export export --model TRAIN_DIR --save-dir DIR --fixed-input-shape '[w,h]'"
)


def looks_like_deploy_dir(directory: Path) -> bool:
    """model.yml next to a program file: what PaddleRS's export writes."""
    return (directory / MODEL_YML).is_file() and any((directory / name).is_file() for _, name in PROGRAM_FILES)


def manifest_from_deploy_dir(directory: str | Path) -> Manifest:
    """The manifest of a PaddleRS-written deploy dir, read from its program and model.yml."""
    directory = Path(directory).resolve()
    where = repr(str(directory))
    model_yml = read_model_yml(directory)
    found = [(fmt, directory / name) for fmt, name in PROGRAM_FILES if (directory / name).is_file()]
    if not found:
        raise ModelSourceError(
            f"{where} has model.yml but neither model.pdmodel nor model.json; give the dir PaddleRS's export wrote"
        )
    fmt, model_file = found[0]
    params_file = directory / PARAMS_FILE
    if not params_file.is_file():
        raise ModelSourceError(f"{where} has {model_file.name} but no {PARAMS_FILE}; copy the whole export dir")
    if model_yml.status not in (None, "Infer"):
        raise ModelSourceError(
            f"{where} has a model.yml of status {model_yml.status!r}, not 'Infer': it is a training dir; "
            "give it with --model and an export with --exported"
        )
    from trt_export.export.exporter import declared_input_shapes
    from trt_export.infer.predictor import plain_cpu_predictor, run_once

    try:
        predictor = plain_cpu_predictor(model_file, params_file)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelSourceError(
            f"Paddle cannot load {model_file} ({type(exc).__name__}: {first}); {_REEXPORT}"
        ) from None
    # PIR: the data ops' shape attributes; the predictor's handles report [0] for a dynamic input.
    declared = (_pir_data_shapes(model_file) if fmt == ExportFormat.PIR else None) or declared_input_shapes(
        model_file, fmt, predictor
    )
    names = list(predictor.get_input_names())
    if not names:
        raise ModelSourceError(f"the program in {where} declares no inputs; {_REEXPORT}")
    shape = _fixed_shape(directory, names, declared)
    _cross_check(directory, shape, model_yml.fixed_input_shape)
    specs = [TensorSpec(name, _dtype(predictor.get_input_handle(name).type()), shape.nchw) for name in names]
    arrays = run_once(predictor, random_inputs(specs, seed=0), names)
    program_outputs = list(predictor.get_output_names())
    logical = _logical_output_names(model_yml.model_type, program_outputs, arrays)
    mtime = dt.datetime.fromtimestamp(model_file.stat().st_mtime, dt.UTC)
    return Manifest(
        tool_version=__version__,
        paddle_version="",  # the exporting Paddle is not recorded by PaddleRS
        paddle_commit="",
        created_utc=mtime.strftime("%Y-%m-%dT%H:%M:%SZ"),
        export_seconds=0.0,
        source={
            "kind": SOURCE_KIND,
            "spec": str(directory),
            "weights": None,
            "weights_sha256": None,
            "written_by": str(model_yml.raw.get("version") or "unknown"),
        },
        model={"name": model_yml.model, "model_type": model_yml.model_type},
        fixed_shape=shape,
        inputs=specs,
        outputs=[TensorSpec(n, str(a.dtype), tuple(a.shape)) for n, a in zip(logical, arrays, strict=True)],
        formats={
            fmt: FormatFiles(
                model_file=model_file.name,
                params_file=params_file.name,
                params_sha256=sha256_file(params_file),
                output_names=program_outputs,
                model_sha256=sha256_file(model_file),
            )
        },
        default_format=fmt,
        notes=[
            f"{directory.name} has no trt_export_manifest.json (written by PaddleRS "
            f"{model_yml.raw.get('version') or '?'}): shape {shape.describe()} and names read from its {model_file.name}"
        ],
        export_dir=directory,
    )


def _pir_data_shapes(model_file: Path) -> dict[str, list[int]]:
    """``{input name: declared shape}`` from a PIR model.json's ``pd_op.data`` ops ("#": "<n>.data")."""
    try:
        program = json.loads(model_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelSourceError(f"{model_file} is not a readable PIR model.json ({exc}); {_REEXPORT}") from None
    shapes: dict[str, list[int]] = {}
    stack: list[Any] = [program]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if str(node.get("#", "")).endswith(".data") and isinstance(node.get("A"), list):
                attrs = {a.get("N"): (a.get("AT") or {}).get("D") for a in node["A"] if isinstance(a, dict)}
                if isinstance(name := attrs.get("name"), str) and isinstance(shape := attrs.get("shape"), list):
                    shapes[name] = [int(d) for d in shape]
            stack.extend(node.values())
    return shapes


def _fixed_shape(directory: Path, names: list[str], declared: dict[str, list[int]]) -> FixedShape:
    shapes = {name: [int(d) for d in declared.get(name, [])] for name in names}
    for name, dims in shapes.items():
        if len(dims) != 4:
            raise ModelSourceError(
                f"input {name!r} of the program in {str(directory)!r} is declared {dims}, not NCHW; "
                "only image models (4-D inputs) can be read without a trt_export_manifest.json"
            )
        if any(d <= 0 for d in dims):
            raise ModelSourceError(
                f"the program in {str(directory)!r} declares input {name!r} as {dims}: it was exported without a fixed "
                f"input shape (-1 is dynamic); {_REEXPORT}"
            )
    distinct = {tuple(d) for d in shapes.values()}
    if len(distinct) > 1:
        raise ModelSourceError(
            f"the inputs of the program in {str(directory)!r} have different shapes {shapes}; PaddleRS models take "
            "inputs of one shape, so this export cannot be read without a trt_export_manifest.json"
        )
    return FixedShape.from_nchw(list(next(iter(distinct))))


def _cross_check(directory: Path, shape: FixedShape, yml_shape: list[int | None] | None) -> None:
    if yml_shape is None:
        return  # PaddleRS writes null when exported without a fixed shape; the program decides
    if len(yml_shape) != 4 or [int(d) if d is not None else -1 for d in yml_shape] != list(shape.nchw):
        raise ModelSourceError(
            f"{str(directory / MODEL_YML)!r} says fixed_input_shape {list(yml_shape)} but the program declares "
            f"{list(shape.nchw)} (NCHW): the files come from different exports; {_REEXPORT}"
        )


_DTYPES = {
    "FLOAT32": "float32",
    "FLOAT16": "float16",
    "FLOAT64": "float64",
    "INT64": "int64",
    "INT32": "int32",
    "INT8": "int8",
    "UINT8": "uint8",
    "BOOL": "bool",
    "BFLOAT16": "bfloat16",
}


def _dtype(paddle_dtype: Any) -> str:
    name = str(paddle_dtype).rsplit(".", 1)[-1].upper()
    if name not in _DTYPES:
        raise ModelSourceError(f"an input of the program has dtype {paddle_dtype}, which trt-export cannot feed")
    return _DTYPES[name]


def _logical_output_names(model_type: str, program: list[str], arrays: list[Any]) -> list[str]:
    paddlers = model_type_of(model_type).paddlers_outputs
    if (
        paddlers is not None
        and len(arrays) == len(paddlers) == 2
        and str(arrays[0].dtype).startswith("int")
        and str(arrays[1].dtype).startswith("float")
    ):
        return list(paddlers)
    return list(program)
