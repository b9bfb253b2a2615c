"""Fixed-shape export: dygraph layer -> deployment directory, then prove the shape stuck.

The directory is built next to the target and renamed into place only when everything passed,
so a failure at any step leaves no half-written ``--save-dir`` behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from trt_export import __version__
from trt_export.errors import ExportError, TrtExportError
from trt_export.inputs import TensorSpec, random_inputs
from trt_export.manifest import FormatFiles, Manifest, save_manifest
from trt_export.paddle_env import import_paddle
from trt_export.paddlers_files import infer_model_yml, model_yml_for_plain_model, pipeline_yml, write_yml
from trt_export.shapes import FixedShape, check_model_rules
from trt_export.sources import ModelSource, sha256_file

DEFAULT_FORMAT = "auto"
FORMAT_CHOICES = ("auto", "legacy", "pir", "both")
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
    ("auto", "legacy"): "model",
    ("auto", "pir"): "model",
    ("legacy", "legacy"): "model",
    ("pir", "pir"): "model",
    ("both", "legacy"): "model",
    ("both", "pir"): "pir/model",
}
_MODEL_SUFFIX = {"legacy": ".pdmodel", "pir": ".json"}


@dataclass
class ExportResult:
    save_dir: Path
    manifest: Manifest
    # The dygraph outputs on random_inputs(manifest.inputs, seed=0, model_yml) from the export's own
    # check run: bench keeps them as the parity reference instead of building and running the model again.
    dygraph_outputs: list[np.ndarray] | None = None

    def summary(self) -> str:
        m = self.manifest
        lines = [
            f"exported {m.model_name} ({m.model_type}) to {self.save_dir}",
            f"fixed input shape: {m.fixed_shape.describe()}",
            *[f"note: {note}" for note in m.notes],
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


def formats_for(choice: str) -> list[str]:
    if choice not in FORMAT_CHOICES:
        raise ExportError(f"unknown export format {choice!r}; use one of {', '.join(FORMAT_CHOICES)}")
    return {"both": ["legacy", "pir"], "auto": ["legacy"]}.get(choice, [choice])


def export_model(
    source: ModelSource,
    save_dir: str | Path,
    shape: FixedShape,
    model_format: str = DEFAULT_FORMAT,
    force: bool = False,
) -> ExportResult:
    """Export ``source`` at ``shape`` into ``save_dir``; atomic, verified by loading it back."""
    formats = formats_for(model_format)
    check_model_rules(shape, source.name)
    target = Path(save_dir).resolve()
    _check_target(target, force)
    started = time.perf_counter()
    with _staging_dir(target) as staging:
        layer = source.build()
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
            prefix = staging / _LAYOUT[(model_format, fmt)]
            try:
                _save_program(layer, specs, prefix, fmt)
            except LegacyExportUnsupported as exc:
                if model_format != "auto":
                    raise
                _clear(staging)  # "auto" saves one format at the top level: only the failed legacy files are here
                fmt = "pir"
                notes.append(LEGACY_FALLBACK_NOTE.format(version=import_paddle().__version__, reason=exc.cause))
                _save_program(layer, specs, prefix, fmt)
            model_file = prefix.with_name(prefix.name + _MODEL_SUFFIX[fmt])
            params_file = prefix.with_name(prefix.name + ".pdiparams")
            predictor_outputs, output_specs = _read_back(model_file, params_file, specs, output_names, fmt)
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
            created_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        _replace_dir(staging, target)
    manifest.export_dir = target
    return ExportResult(save_dir=target, manifest=manifest, dygraph_outputs=reference)


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ExportError(f"--save-dir {str(target)!r} is a file; give a directory path")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ExportError(f"--save-dir {str(target)!r} exists and is not empty; pass --force to replace it")
    if not target.parent.exists():
        raise ExportError(f"the parent of --save-dir, {str(target.parent)!r}, does not exist; create it first")
    if not os.access(target.parent, os.W_OK):
        raise ExportError(f"cannot write in {str(target.parent)!r}; choose a --save-dir you can write to")


@contextlib.contextmanager
def _staging_dir(target: Path) -> Iterator[Path]:
    """A temporary dir beside the target (same filesystem, so the final rename is atomic)."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as exc:
        raise ExportError(f"cannot create a working dir beside {str(target)!r} ({exc.strerror}); choose a --save-dir on a writable disk") from None
    # mkdtemp makes the dir 0700; once renamed into place the export must be readable like any
    # directory made with mkdir (a serving process often runs as another user).
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_dir(staging: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _run_dygraph(layer: Any, specs: list[TensorSpec], source: ModelSource, shape: FixedShape) -> list[np.ndarray]:
    """One dygraph run at the fixed shape: catches shapes the network can't take before any saving."""
    from trt_export.runners import flatten_outputs

    paddle = import_paddle()
    feed = random_inputs(specs, seed=0, model_yml=source.model_yml)
    try:
        with paddle.no_grad():
            outputs = layer(*[paddle.to_tensor(feed[s.name]) for s in specs])
    except TrtExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"{source.name} cannot run at {shape.describe()}: {type(exc).__name__}: {_first_line(exc)}; "
            "choose a shape the network accepts"
        ) from None
    return [t.numpy() for t in flatten_outputs(outputs)]


def _resolve_model_type(source: ModelSource, shape: FixedShape, outputs: list[np.ndarray]) -> str:
    if source.model_type != "auto":
        return source.model_type
    first = outputs[0]
    if len(source.input_names) == 2 and first.ndim == 4 and first.shape[-2:] == (shape.h, shape.w):
        return "change_detector"
    if first.ndim == 4 and first.shape[-2:] == (shape.h, shape.w):
        return "segmenter"
    if first.ndim == 2:
        return "classifier"
    return "generic"


def _save_program(layer: Any, specs: list[TensorSpec], prefix: Path, fmt: str) -> None:
    paddle = import_paddle()
    input_spec = [paddle.static.InputSpec(shape=list(s.shape), dtype=s.dtype, name=s.name) for s in specs]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "legacy":
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
        if fmt == "legacy" and "must be Value" in cause:
            raise LegacyExportUnsupported(
                f"paddle.jit.save (legacy) failed: an op of this network has no old-IR (.pdmodel) support in "
                f"this Paddle ({cause}); use --format pir or --format auto",
                cause=cause,
            ) from None
        hint = "; some ops lack old-IR support on Paddle 3, try --format pir" if fmt == "legacy" else ""
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
    model_file: Path, params_file: Path, specs: list[TensorSpec], output_names: list[str], fmt: str
) -> tuple[list[str], list[TensorSpec]]:
    """Load the saved program in a predictor; every input must carry exactly the fixed shape."""
    if not model_file.is_file() or not params_file.is_file():
        raise ExportError(f"paddle.jit.save did not write {model_file.name} and {params_file.name}")
    predictor = _plain_cpu_predictor(model_file, params_file)
    declared = _declared_input_shapes(model_file, fmt, predictor)
    for spec in specs:
        got = declared.get(spec.name)
        if got is None:
            raise ExportError(f"the exported {fmt} program has no input named {spec.name!r} (it has {sorted(declared)})")
        if tuple(got) != tuple(spec.shape):
            raise ExportError(
                f"the exported {fmt} program declares input {spec.name!r} as {list(got)}, not the fixed {list(spec.shape)}"
            )
    feed = random_inputs(specs, seed=0)
    for spec in specs:
        handle = predictor.get_input_handle(spec.name)
        handle.reshape(list(spec.shape))
        handle.copy_from_cpu(feed[spec.name])
    predictor.run()
    names = list(predictor.get_output_names())
    if len(names) != len(output_names):
        raise ExportError(f"the exported {fmt} program has {len(names)} outputs, the dygraph model {len(output_names)}")
    arrays = [predictor.get_output_handle(n).copy_to_cpu() for n in names]
    return names, [TensorSpec(logical, str(a.dtype), tuple(a.shape)) for logical, a in zip(output_names, arrays, strict=True)]


def _plain_cpu_predictor(model_file: Path, params_file: Path) -> Any:
    import_paddle()
    from paddle import inference

    config = inference.Config(str(model_file), str(params_file))
    config.disable_mkldnn()  # PIR + oneDNN + interpolate crashes on 3.3.1; plain CPU is enough here
    config.switch_ir_optim(False)
    config.disable_glog_info()
    return inference.create_predictor(config)


def _declared_input_shapes(model_file: Path, fmt: str, predictor: Any) -> dict[str, list[int]]:
    """Feed shapes as saved: from the legacy program's feed vars, or (PIR) from the predictor's
    input handles, which report the declared shapes until the first reshape."""
    if fmt == "legacy":
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
    write_yml(staging / "pipeline.yml", pipeline_yml(model_type))
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
