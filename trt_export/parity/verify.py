"""Export, then prove it: the same inputs through the dygraph model and the exported predictor.

The report is schema `trt-export/verify` version 1 (docs/verify.md; its layout: parity/verify_report.py). Exit code of
the CLI: 0 every output within tolerance, 1 a parity failure, 2 usage or environment error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trt_export import __version__
from trt_export.errors import InputError, TrtExportError
from trt_export.export.manifest import Manifest, load_manifest
from trt_export.infer.backends import BackendSettings, require_backend
from trt_export.infer.inputs import make_inputs, save_npz
from trt_export.infer.onnx_runner import create_runner
from trt_export.infer.runners import DygraphRunner
from trt_export.model.sources import ModelSource, load_source
from trt_export.model.types import ExportFormat, SourceKind, score_axis
from trt_export.parity.compare import ComparisonResult, Tolerance, compare_outputs, default_tolerance
from trt_export.parity.verify_report import (
    VerifiedModel,
    VerifyRecord,
    VerifyTiming,
    save_verify_record,
)

_PRECISION = {"trt-fp16": "fp16", "trt-int8": "int8", "onnx-trt-fp16": "fp16"}


def precision_of(backend: str) -> str:
    """fp16 / int8 for the reduced-precision TensorRT backends, fp32 for everything else."""
    return _PRECISION.get(backend, "fp32")


def score_axes(manifest: Manifest) -> dict[str, int | None]:
    """Which axis holds class scores, per output, for argmax agreement (None: not a score output; see model.types)."""
    h, w = manifest.fixed_shape.h, manifest.fixed_shape.w
    return {spec.name: score_axis(spec.dtype, spec.shape, h, w) for spec in manifest.outputs}


def parse_tolerance_overrides(values: list[str] | None, what: str) -> tuple[float | None, dict[str, float]]:
    """``--atol 1e-3`` (all outputs) and/or ``--atol score_map=1e-2`` (one output)."""
    overall: float | None = None
    per_output: dict[str, float] = {}
    for text in values or []:
        name, sep, number = text.rpartition("=")
        try:
            value = float(number)
        except ValueError:
            raise InputError(
                f"--{what} {text!r} is not a number or NAME=NUMBER; e.g. --{what} 1e-4 or --{what} score_map=1e-2"
            ) from None
        if not value >= 0 or value == float("inf"):
            raise InputError(f"--{what} {text!r} must be a finite number >= 0")
        if sep:
            per_output[name] = value
        else:
            overall = value
    return overall, per_output


def tolerances_for(
    manifest: Manifest,
    backend: str,
    atol: list[str] | None = None,
    rtol: list[str] | None = None,
) -> dict[str, Tolerance]:
    """Default tolerance of the backend's precision, with the user's overrides applied."""
    base = default_tolerance(precision_of(backend))
    atol_all, atol_each = parse_tolerance_overrides(atol, "atol")
    rtol_all, rtol_each = parse_tolerance_overrides(rtol, "rtol")
    names = set(manifest.output_names)
    for name in list(atol_each) + list(rtol_each):
        if name not in names:
            raise InputError(f"no output named {name!r} to set a tolerance for; outputs are {manifest.output_names}")
    result = {}
    for name in manifest.output_names:
        a = atol_each.get(name, atol_all)
        r = rtol_each.get(name, rtol_all)
        if a is None and r is None:
            result[name] = base
            continue
        # A user bound on one side only keeps the default of the other (0 where int8 has none).
        a = a if a is not None else (base.atol if base.atol is not None else 0.0)
        r = r if r is not None else (base.rtol if base.rtol is not None else 0.0)
        result[name] = Tolerance(
            atol=a,
            rtol=r,
            min_argmax_agreement=base.min_argmax_agreement,
            max_label_mismatch=base.max_label_mismatch,
            min_cosine=base.min_cosine,
        )
    return result


@dataclass
class VerifyOptions:
    settings: BackendSettings
    model_format: str | None = None
    seed: int = 0
    images: list[str] | None = None
    npz: str | None = None
    atol: list[str] | None = None
    rtol: list[str] | None = None
    save_io: str | None = None
    polygraphy_data: str | None = None  # dir for Polygraphy's inputs.json / reference.json


@dataclass
class VerifyReport:
    manifest: Manifest
    backend: str
    model_format: str
    inputs_from: dict[str, Any]
    comparison: ComparisonResult
    dygraph_ms: float
    predictor_ms: float
    build_s: float | None
    notes: list[str] = field(default_factory=list)
    # trt-* only: what ran inside TensorRT (trt_coverage.TrtCoverage), optional in the report.
    trt_coverage: Any = None
    created_utc: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    polygraphy: dict[str, str] | None = None  # inputs, reference, onnx_model, command

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    def record(self) -> VerifyRecord:
        """The report file's content (parity/verify_report.py)."""
        m = self.manifest
        return VerifyRecord(
            tool_version=__version__,
            created_utc=self.created_utc,
            model=VerifiedModel(name=m.model_name, model_type=m.model_type, source=m.source.get("spec")),
            export_dir=str(m.export_dir) if m.export_dir else None,
            fixed_input_shape=list(m.fixed_shape.nchw),
            backend=self.backend,
            precision=precision_of(self.backend),
            format=self.model_format,
            inputs=self.inputs_from,
            passed=self.passed,
            timing=VerifyTiming(dygraph_ms=self.dygraph_ms, predictor_ms=self.predictor_ms, build_s=self.build_s),
            notes=self.notes,
            comparison=self.comparison,
            polygraphy=dict(self.polygraphy) if self.polygraphy else None,
            trt_coverage=self.trt_coverage,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.record().to_dict()


def check_source_matches(source: ModelSource, manifest: Manifest) -> list[str]:
    """Refuse a source that cannot be the exported model; note weights that differ from the export's."""
    exported_inputs = [s.name for s in manifest.inputs]
    if source.input_names != exported_inputs:
        raise InputError(
            f"the model takes inputs {source.input_names} but the export at {manifest.export_dir} takes "
            f"{exported_inputs}; verify against the model it was exported from"
        )
    notes = []
    exported_sha = manifest.source.get("weights_sha256")
    if exported_sha and source.weights_sha256 and exported_sha != source.weights_sha256:
        notes.append("the weights given differ from those the export was made from (sha256 mismatch)")
    elif exported_sha and not source.weights_sha256:
        notes.append(
            "the export was made from a weights file, but none was given here: the reference is the randomly initialised network (pass --weights)"
        )
    elif source.weights_sha256 and not exported_sha and source.kind == SourceKind.FACTORY:
        notes.append("the export was made from randomly initialised weights, but --weights was given here")
    exported_kwargs = manifest.source.get("kwargs") or {}
    if source.kind == SourceKind.FACTORY and exported_kwargs != (source.factory_kwargs or {}):
        notes.append(
            f"the export was made with --model-kwargs {exported_kwargs}, this model with {source.factory_kwargs or {}}: "
            "a different network, so a parity failure is expected"
        )
    return notes


def source_for_verify(
    model: str | None,
    exported: str | Path | None,
    weights: str | None = None,
    kwargs: str | None = None,
    model_type: str | None = None,
) -> tuple[ModelSource, list[str]]:
    """The model to compare against, and notes about where it came from.

    Without ``--model``, an export is verified against the source its manifest records (not the
    default model); with one that differs from it, a note says so (a parity failure is then expected).
    """
    if exported is None or model is not None:
        source = load_source(model, weights=weights, kwargs=kwargs, model_type=model_type)
        notes = []
        if exported is not None:
            recorded = load_manifest(exported).source.get("spec")
            if recorded and recorded != source.spec:
                notes.append(
                    f"the export was made from {recorded}, this verify compares it with {source.spec}: "
                    "a different model, so a parity failure is expected"
                )
        return source, notes
    recorded_source = load_manifest(exported).source
    spec = recorded_source.get("spec")
    if not spec:
        raise InputError(f"the manifest in {str(exported)!r} names no model source; give --model")
    recorded_weights = recorded_source.get("weights") if recorded_source.get("kind") == SourceKind.FACTORY else None
    if weights is None and recorded_weights and not Path(recorded_weights).is_file():
        raise InputError(
            f"the export was made from {spec} with weights {recorded_weights}, which no longer exists; give --model and --weights"
        )
    source = load_source(
        spec,
        weights=weights or recorded_weights,
        kwargs=kwargs if kwargs is not None else recorded_source.get("kwargs"),
        model_type=model_type,
    )
    return source, [f"no --model given: comparing with the export's own source, {spec} (from its manifest)"]


def check_program_shapes(manifest: Manifest, model_format: str) -> None:
    """Refuse a manifest whose fixed shape is not the one the saved program declares (an edited
    manifest would otherwise "pass" at a shape the program was never exported at)."""
    from trt_export.export.exporter import declared_input_shapes
    from trt_export.infer.predictor import plain_cpu_predictor

    model_file, params_file = manifest.files(model_format)
    predictor = None if model_format == ExportFormat.LEGACY else plain_cpu_predictor(model_file, params_file)
    declared = declared_input_shapes(model_file, model_format, predictor)
    for spec in manifest.inputs:
        got = declared.get(spec.name)
        if got is None or tuple(got) != tuple(spec.shape):
            raise InputError(
                f"the manifest in {manifest.export_dir} says input {spec.name!r} is {list(spec.shape)}, but the saved "
                f"{model_format} program declares {got if got is not None else 'no such input'}: the manifest was "
                "edited or belongs to another export; re-export the model"
            )


def reference_outputs(
    source: ModelSource, manifest: Manifest, feed: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], float]:
    with DygraphRunner(source.build, manifest.inputs, manifest.output_names) as runner:
        outputs = runner.infer(feed)
        return outputs, runner.last_inference_time()


def _require_parent_dir(path: str | Path, what: str) -> None:
    """Refuse an output file whose directory is missing before any work, in one line."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise TrtExportError(f"cannot write {what} {str(path)!r}: directory {str(parent)!r} does not exist")


def verify_export(source: ModelSource, export_dir: str | Path, options: VerifyOptions) -> VerifyReport:
    if options.save_io:
        _require_parent_dir(options.save_io, "--save-io")
    if options.polygraphy_data:
        _require_parent_dir(Path(options.polygraphy_data).resolve(), "--polygraphy-data")
        if Path(options.polygraphy_data).exists() and not Path(options.polygraphy_data).is_dir():
            raise TrtExportError(f"--polygraphy-data {options.polygraphy_data!r} is a file; give a directory")
    manifest = load_manifest(export_dir)
    model_format = options.model_format or manifest.default_format
    require_backend(options.settings.backend, model_format)
    if options.settings.is_trt:
        from trt_export.env.probes import probe_environment
        from trt_export.infer.trt_preflight import preflight

        preflight(options.settings, model_format, probe_environment())
    manifest.check_files(model_format)  # a damaged program must not reach the parser below
    check_program_shapes(manifest, model_format)
    notes = check_source_matches(source, manifest)
    if manifest.source.get("kind") == SourceKind.DEPLOY_DIR:  # read without our manifest: say from what
        notes = [*manifest.notes, *notes]
    tolerances = tolerances_for(manifest, options.settings.backend, options.atol, options.rtol)
    feed = make_inputs(
        manifest.inputs, seed=options.seed, images=options.images, npz=options.npz, model_yml=source.model_yml
    )
    inputs_from: dict[str, Any]
    if options.npz:
        inputs_from = {"kind": "npz", "path": str(options.npz)}
    elif options.images:
        inputs_from = {"kind": "images", "paths": [str(p) for p in options.images]}
    else:
        inputs_from = {"kind": "random", "seed": options.seed}
    reference, dygraph_s = reference_outputs(source, manifest, feed)
    runner = create_runner(export_dir, manifest, options.settings, model_format=model_format)
    with runner:
        candidate = runner.infer(feed)
        predictor_s = runner.last_inference_time()
        build_s = runner.build_seconds
        if runner.plan is not None:
            # Paddle plans carry warnings; ONNX Runtime session plans notes (settings that do not apply).
            notes.extend(runner.plan.notes if options.settings.is_onnx else runner.plan.warnings)
        notes.extend(getattr(runner, "trt_warnings", None) or [])
        coverage = getattr(runner, "trt_coverage", None)
    comparison = compare_outputs(reference, candidate, tolerances, score_axes(manifest))
    polygraphy = None
    if options.polygraphy_data:
        polygraphy = _write_polygraphy_data(
            options.polygraphy_data, manifest, model_format, feed, reference, tolerances
        )
    if options.save_io:
        try:
            save_npz(
                options.save_io,
                {
                    **{f"input/{k}": v for k, v in feed.items()},
                    **{f"reference/{k}": v for k, v in reference.items()},
                    **{f"candidate/{k}": v for k, v in candidate.items()},
                },
            )
        except OSError as exc:
            raise TrtExportError(f"cannot write --save-io {str(options.save_io)!r}: {exc.strerror or exc}") from None
    return VerifyReport(
        manifest=manifest,
        backend=options.settings.backend,
        model_format=model_format,
        inputs_from=inputs_from,
        comparison=comparison,
        dygraph_ms=dygraph_s * 1e3,
        predictor_ms=predictor_s * 1e3,
        build_s=build_s,
        notes=notes,
        polygraphy=polygraphy,
        trt_coverage=coverage,
    )


def _write_polygraphy_data(
    out_dir: str,
    manifest: Manifest,
    model_format: str,
    feed: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    tolerances: Mapping[str, Tolerance],
) -> dict[str, str]:
    """Polygraphy's inputs/outputs JSON for the export's ONNX model (converted, or from the cache)."""
    from trt_export.env.paddle_import import is_verbose
    from trt_export.export.onnx_convert import ensure_onnx
    from trt_export.parity.polygraphy_data import save_polygraphy_data

    onnx = ensure_onnx(manifest, model_format, verbose=is_verbose())
    bounds = [t for t in tolerances.values() if t.atol is not None and t.rtol is not None]
    atol = max((t.atol for t in bounds), default=None)  # type: ignore[type-var]
    rtol = max((t.rtol for t in bounds), default=None)  # type: ignore[type-var]
    data = save_polygraphy_data(
        out_dir,
        feed,
        reference,
        [s.name for s in manifest.inputs],
        manifest.output_names,
        onnx.path,
        onnx.input_names,
        onnx.output_names,
        atol=atol,
        rtol=rtol,
    )
    return {
        "inputs": str(data.inputs),
        "reference": str(data.reference),
        "onnx_model": str(data.onnx_model),
        "command": data.command,
    }


def write_verify_report(report: VerifyReport, path: str | Path) -> Path:
    return save_verify_record(report.record(), path)
