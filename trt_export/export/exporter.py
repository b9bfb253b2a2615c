"""Fixed-shape export: dygraph layer -> deployment directory, then prove the shape stuck.

The directory is built next to the target and renamed into place only when everything passed,
so a failure at any step leaves no half-written ``--save-dir`` behind.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trt_export import __version__
from trt_export.env.paddle_import import import_paddle
from trt_export.errors import ExportError, OutOfMemory, TrtExportError
from trt_export.export.manifest import FormatFiles, Manifest, save_manifest
from trt_export.export.preflight import check_disk, check_memory, disk_full_error, free_bytes, is_disk_full
from trt_export.export.savedir import check_name, check_replace, clean_stale, replace_dir, staging_dir, target_lock
from trt_export.infer.inputs import TensorSpec, random_inputs
from trt_export.infer.predictor import plain_cpu_predictor, run_once
from trt_export.model.paddlers_files import infer_model_yml, model_yml_for_plain_model, pipeline_yml, write_yml
from trt_export.model.shapes import FixedShape, check_model_rules
from trt_export.model.sources import ModelSource, sha256_file
from trt_export.model.types import (
    AUTO_MODEL_TYPE,
    EXPORT_FORMAT_CHOICES,
    ExportFormat,
    FormatChoice,
    SourceKind,
    detect_model_type,
    model_type_of,
)

DEFAULT_FORMAT = FormatChoice.AUTO
FORMAT_CHOICES = EXPORT_FORMAT_CHOICES
# Paddle 3's old-IR program writer lacks some ops (argmax, log, abs... "must be Value, but got
# Variable"), so PaddleRS-style nets that end in an argmax label map cannot be saved as .pdmodel.
# "auto" tries legacy first (the seed's format, needed by the TensorRT engine call and by oneDNN
# with interpolate) and falls back to PIR .json with a note saying why.
LEGACY_FALLBACK_NOTE = (
    "legacy .pdmodel export is not possible for this network on Paddle {version} ({reason}); "
    "exported PIR model.json instead (TensorRT then goes through paddle.tensorrt.convert; "
    "on CPU prefer --backend paddle-cpu, oneDNN + PIR crashes on bilinear interpolate)"
)
# Relative to the export dir. With "both", legacy keeps the seed's top-level layout and PIR
# goes into pir/: the two formats' params files differ byte-wise and cannot be shared.
_LAYOUT = {
    (FormatChoice.AUTO, ExportFormat.LEGACY): "model",
    (FormatChoice.AUTO, ExportFormat.PIR): "model",
    (FormatChoice.LEGACY, ExportFormat.LEGACY): "model",
    (FormatChoice.PIR, ExportFormat.PIR): "model",
    (FormatChoice.BOTH, ExportFormat.LEGACY): "model",
    (FormatChoice.BOTH, ExportFormat.PIR): "pir/model",
}
_MODEL_SUFFIX = {ExportFormat.LEGACY: ".pdmodel", ExportFormat.PIR: ".json"}


@dataclass
class ExportResult:
    save_dir: Path
    manifest: Manifest
    warnings: list[str] = field(default_factory=list)
    # The dygraph outputs on random_inputs(manifest.inputs, seed=0, model_yml) from the export's own
    # check run: bench keeps them as the parity reference instead of building and running the model again.
    dygraph_outputs: list[np.ndarray] | None = None

    def summary(self) -> str:
        m = self.manifest
        lines = [
            f"exported {m.model_name} ({m.model_type}) to {self.save_dir}",
            f"fixed input shape: {m.fixed_shape.describe()}",
            *[f"note: {note}" for note in m.notes],
            *[f"warning: {warning}" for warning in self.warnings],
        ]
        for spec in m.inputs:
            lines.append(f"  input  {spec.name}: {spec.dtype} {list(spec.shape)}")
        for spec in m.outputs:
            lines.append(f"  output {spec.name}: {spec.dtype} {list(spec.shape)}")
        for fmt, files in m.formats.items():
            default = " (default)" if fmt == m.default_format else ""
            lines.append(f"  format {fmt}{default}: {files.model_file} + {files.params_file}")
        lines.append(f"  took {m.export_seconds:.2f} s")
        return "\n".join(lines)


def formats_for(choice: str) -> list[ExportFormat]:
    """The formats ``--format`` saves, in order; auto starts with legacy (see LEGACY_FALLBACK_NOTE)."""
    if choice not in FORMAT_CHOICES:
        raise ExportError(f"unknown export format {str(choice)!r}; use one of {', '.join(FORMAT_CHOICES)}")
    if choice == FormatChoice.BOTH:
        return [ExportFormat.LEGACY, ExportFormat.PIR]
    if choice == FormatChoice.AUTO:
        return [ExportFormat.LEGACY]
    return [ExportFormat(choice)]


def export_model(
    source: ModelSource,
    save_dir: str | Path,
    shape: FixedShape,
    model_format: str = DEFAULT_FORMAT,
    force: bool = False,
    replace_non_export: bool = False,
    lock_wait_s: float = 0.0,
) -> ExportResult:
    """Export ``source`` at ``shape`` into ``save_dir``; atomic, verified by loading it back.

    ``force`` replaces an earlier export; ``replace_non_export`` also a dir holding other files
    (see savedir.check_replace). One export per target at a time: a concurrent one fails at once,
    or waits up to ``lock_wait_s``.
    """
    formats = formats_for(model_format)
    check_model_rules(shape, source.name)
    if not str(save_dir).strip():
        raise ExportError("--save-dir is empty (an unset shell variable?); give a directory path")
    target = Path(save_dir).resolve()
    check_name(target, "--save-dir")
    check_memory([shape], len(source.input_names))
    _check_target(target)
    check_replace(target, force, replace_non_export, _source_paths(source))
    with target_lock(target, wait_s=lock_wait_s):
        clean_stale(target.parent, target.name)
        # Checked again under the lock: another export may have written the target meanwhile.
        check_replace(target, force, replace_non_export, _source_paths(source))
        try:
            return _export_locked(source, target, shape, model_format, formats)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full_error(target.parent) from None
            raise ExportError(f"cannot write the export beside {str(target)!r}: {exc.strerror or exc}") from None


def _source_paths(source: ModelSource) -> list[Path]:
    """Files an export must never delete: the PaddleRS training dir, the weights."""
    paths = [Path(source.weights_path)] if source.weights_path else []
    if source.kind == SourceKind.PADDLERS:
        paths.append(Path(source.spec))
    return paths


def _param_bytes(layer: Any) -> int:
    total = 0
    for param in layer.parameters():
        count = 1
        for dim in param.shape:
            count *= int(dim)
        total += count * 4
    return total


def _export_locked(
    source: ModelSource, target: Path, shape: FixedShape, model_format: str, formats: list[ExportFormat]
) -> ExportResult:
    started = time.perf_counter()
    with staging_dir(target) as staging:
        layer = source.build()
        # Each format holds a copy of the parameters; a full disk is refused before writing.
        need = _param_bytes(layer) * len(formats) + (1 << 20)
        check_disk(target.parent, need, "--save-dir")
        specs = [TensorSpec(name, "float32", shape.nchw) for name in source.input_names]
        reference = _run_dygraph(layer, specs, source, shape)
        output_names = source.output_names or [f"output_{i}" for i in range(len(reference))]
        if len(output_names) != len(reference):
            raise ExportError(
                f"{source.name} returned {len(reference)} outputs but its source names {len(output_names)}: {output_names}"
            )
        model_type = _resolve_model_type(source, shape, reference)
        files: dict[str, FormatFiles] = {}
        output_specs: list[TensorSpec] = []
        notes: list[str] = []
        for fmt in formats:
            prefix = staging / _LAYOUT[(FormatChoice(model_format), fmt)]
            try:
                _save_program(layer, specs, prefix, fmt, need, target.parent)
            except LegacyExportUnsupported as exc:
                if model_format != FormatChoice.AUTO:
                    raise
                _clear(staging)  # "auto" saves one format at the top level: only the failed legacy files are here
                fmt = ExportFormat.PIR
                notes.append(LEGACY_FALLBACK_NOTE.format(version=import_paddle().__version__, reason=exc.cause))
                _save_program(layer, specs, prefix, fmt, need, target.parent)
            model_file = prefix.with_name(prefix.name + _MODEL_SUFFIX[fmt])
            params_file = prefix.with_name(prefix.name + ".pdiparams")
            predictor_outputs, output_specs = _read_back(
                model_file, params_file, specs, output_names, fmt, _param_bytes(layer)
            )
            files[fmt] = FormatFiles(
                model_file=str(model_file.relative_to(staging)),
                params_file=str(params_file.relative_to(staging)),
                params_sha256=sha256_file(params_file),
                output_names=predictor_outputs,
                model_sha256=sha256_file(model_file),
            )
        _write_deploy_files(staging, source, shape, model_type)
        paddle = import_paddle()
        manifest = Manifest(
            tool_version=__version__,
            paddle_version=paddle.__version__,
            paddle_commit=getattr(paddle.version, "commit", ""),
            created_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            export_seconds=time.perf_counter() - started,
            source=source.describe(),
            model={"name": source.name, "model_type": model_type},
            fixed_shape=shape,
            inputs=specs,
            outputs=output_specs,
            formats=files,
            default_format=next(iter(files)),
            notes=notes,
        )
        save_manifest(manifest, staging)
        warnings = replace_dir(staging, target)
    manifest.export_dir = target
    return ExportResult(save_dir=target, manifest=manifest, warnings=warnings, dygraph_outputs=reference)


def _check_target(target: Path) -> None:
    import os

    if not target.parent.exists():
        raise ExportError(f"the parent of --save-dir, {str(target.parent)!r}, does not exist; create it first")
    if not target.parent.is_dir():
        raise ExportError(f"the parent of --save-dir, {str(target.parent)!r}, is a file; give a directory path")
    if not os.access(target.parent, os.W_OK):
        raise ExportError(f"cannot write in {str(target.parent)!r}; choose a --save-dir you can write to")


def _run_dygraph(layer: Any, specs: list[TensorSpec], source: ModelSource, shape: FixedShape) -> list[np.ndarray]:
    """One dygraph run at the fixed shape: catches shapes the network can't take before any saving."""
    from trt_export.infer.runners import flatten_outputs

    paddle = import_paddle()
    feed = random_inputs(specs, seed=0, model_yml=source.model_yml)
    try:
        with paddle.no_grad():
            outputs = layer(*[paddle.to_tensor(feed[s.name]) for s in specs])
    except TrtExportError:
        raise
    except Exception as exc:
        if _is_oom(exc):
            raise OutOfMemory(
                f"{source.name} ran out of memory at {shape.describe()} ({type(exc).__name__}: {_first_line(exc)}); "
                "choose a smaller shape or batch"
            ) from None
        raise ExportError(
            f"{source.name} cannot run at {shape.describe()}: {type(exc).__name__}: {_first_line(exc)}; "
            "choose a shape the network accepts"
        ) from None
    return [t.numpy() for t in flatten_outputs(outputs)]


def _resolve_model_type(source: ModelSource, shape: FixedShape, outputs: list[np.ndarray]) -> str:
    if source.model_type != AUTO_MODEL_TYPE:
        return source.model_type
    return detect_model_type(len(source.input_names), outputs[0].shape, shape.h, shape.w)


def _is_oom(exc: BaseException) -> bool:
    """Paddle's ResourceExhausted (host or device allocation) and Python's MemoryError."""
    text = str(exc)
    return (
        isinstance(exc, MemoryError)
        or "ResourceExhausted" in text
        or "Out of memory" in text
        or "out of memory" in text
    )


def _save_program(
    layer: Any, specs: list[TensorSpec], prefix: Path, fmt: str, need: int = 0, where: Path | None = None
) -> None:
    paddle = import_paddle()
    input_spec = [paddle.static.InputSpec(shape=list(s.shape), dtype=s.dtype, name=s.name) for s in specs]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == ExportFormat.LEGACY:
            # The legacy program writer is only reachable under the old-IR guard on Paddle 3;
            # the layer must be built outside it (it switches to static mode).
            with paddle.pir_utils.OldIrGuard():
                paddle.jit.save(layer, str(prefix), input_spec=input_spec)
        else:
            paddle.jit.save(layer, str(prefix), input_spec=input_spec)
    except TrtExportError:
        raise
    except Exception as exc:
        cause = _error_summary(exc)
        if fmt == ExportFormat.LEGACY and "must be Value" in cause:
            raise LegacyExportUnsupported(
                f"paddle.jit.save (legacy) failed: an op of this network has no old-IR (.pdmodel) support in "
                f"this Paddle ({cause}); use --format pir or --format auto",
                cause=cause,
            ) from None
        # Paddle's writers report a full disk as anything ("Cannot read tensor desc size", a
        # failed stream): look at the disk before blaming the network.
        if is_disk_full(exc) or free_bytes(prefix.parent) < max(need, 1 << 20):
            raise disk_full_error(where or prefix.parent, need) from None
        if _is_oom(exc):
            raise OutOfMemory(
                f"paddle.jit.save ({fmt}) ran out of memory ({cause}); choose a smaller shape or batch"
            ) from None
        hint = "; some ops lack old-IR support on Paddle 3, try --format pir" if fmt == ExportFormat.LEGACY else ""
        raise ExportError(f"paddle.jit.save ({fmt}) failed: {type(exc).__name__}: {cause}{hint}") from None


class LegacyExportUnsupported(ExportError):
    """Paddle 3's old-IR writer cannot express an op of the network."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def _clear(directory: Path) -> None:
    for item in directory.iterdir():
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink()


def _read_back(
    model_file: Path,
    params_file: Path,
    specs: list[TensorSpec],
    output_names: list[str],
    fmt: str,
    param_bytes: int = 1,
) -> tuple[list[str], list[TensorSpec]]:
    """Load the saved program in a predictor; every input must carry exactly the fixed shape."""
    if param_bytes == 0 and model_file.is_file() and not params_file.is_file():
        raise ExportError(
            f"the network has no parameters, so paddle.jit.save wrote no {params_file.name}, and Paddle Inference "
            "needs one; export a network with weights (a parameterless function needs no deployment)"
        )
    if not model_file.is_file() or not params_file.is_file():
        raise ExportError(
            f"paddle.jit.save did not write {model_file.name} and {params_file.name}; re-run with --verbose to see Paddle's log"
        )
    try:
        predictor = plain_cpu_predictor(model_file, params_file)
    except Exception as exc:  # a truncated file (full disk) or a program Paddle cannot load back
        if is_disk_full(exc) or free_bytes(model_file.parent) < (1 << 20):
            staging = model_file.parent.parent if model_file.parent.name == "pir" else model_file.parent
            raise disk_full_error(staging.parent) from None
        raise ExportError(
            f"the saved {fmt} program cannot be loaded back by Paddle Inference: {type(exc).__name__}: {_error_summary(exc)}"
            + ("; try --format pir" if fmt == ExportFormat.LEGACY else "")
        ) from None
    declared = declared_input_shapes(model_file, fmt, predictor)
    for spec in specs:
        got = declared.get(spec.name)
        if got is None:
            raise ExportError(
                f"the exported {fmt} program has no input named {spec.name!r} (it has {sorted(declared)})"
            )
        if tuple(got) != tuple(spec.shape):
            raise ExportError(
                f"the exported {fmt} program declares input {spec.name!r} as {list(got)}, not the fixed {list(spec.shape)}"
            )
    arrays = run_once(predictor, random_inputs(specs, seed=0), [spec.name for spec in specs])
    names = list(predictor.get_output_names())
    if len(names) != len(output_names):
        raise ExportError(f"the exported {fmt} program has {len(names)} outputs, the dygraph model {len(output_names)}")
    return names, [
        TensorSpec(logical, str(a.dtype), tuple(a.shape)) for logical, a in zip(output_names, arrays, strict=True)
    ]


def declared_input_shapes(model_file: Path, fmt: str, predictor: Any) -> dict[str, list[int]]:
    """Feed shapes as saved: from the legacy program's feed vars, or (PIR) from the predictor's
    input handles, which report the declared shapes until the first reshape."""
    if fmt == ExportFormat.LEGACY:
        from paddle.base.proto import framework_pb2

        program = framework_pb2.ProgramDesc()
        program.ParseFromString(model_file.read_bytes())
        block = program.blocks[0]
        variables = {v.name: v for v in block.vars}
        shapes = {}
        for op in block.ops:
            if op.type == "feed":
                name = op.outputs[0].arguments[0]
                shapes[name] = list(variables[name].type.dense_tensor.tensor.dims)
        return shapes
    return {n: list(predictor.get_input_handle(n).shape()) for n in predictor.get_input_names()}


def _write_deploy_files(staging: Path, source: ModelSource, shape: FixedShape, model_type: str) -> None:
    if source.model_yml is not None:
        model_yml = infer_model_yml(source.model_yml, shape)
    else:
        model_yml = model_yml_for_plain_model(source.name, model_type, shape)
    write_yml(staging / "model.yml", model_yml)
    write_yml(staging / "pipeline.yml", pipeline_yml(model_type_of(model_type).pipeline_name))
    # PaddleRS marks a complete model dir with an empty .success file.
    (staging / ".success").touch()


def _error_summary(exc: BaseException) -> str:
    """Paddle's dy2static errors start with 'In transformed code:'; the cause is the last line."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return (lines[-1] if lines[0].startswith("In transformed code") else lines[0])[:300]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
