"""`trt-export debug-precision`: which op types must leave TensorRT (or run in fp32) for parity.

The Paddle side of precision_search: one dygraph reference, then for each configuration the
search asks for, a fresh predictor with those op types kept out (legacy `exp_disable_tensorrt_ops`,
PIR `TensorRTConfig.disable_ops`) or run in fp32 (PIR `ops_run_float`), its parity against the
reference and its p50 latency over a few runs.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trt_export.errors import TrtExportError
from trt_export.infer.backends import BackendSettings, require_backend
from trt_export.parity.precision_search import SearchResult, Trial, search_precision

MODES = ("disable", "fp32")
DEFAULT_MODE = MODES[0]
DEFAULT_ITERS = 10  # timed runs per configuration
SCHEMA = "trt-export/debug-precision"


@dataclass
class DebugPrecisionOptions:
    settings: BackendSettings
    mode: str = DEFAULT_MODE
    model_format: str | None = None
    ops: tuple[str, ...] = ()  # candidates; empty: the op types inside the engines of a plain run
    seed: int = 0
    iters: int = DEFAULT_ITERS
    atol: list[str] | None = None
    rtol: list[str] | None = None


def check_options(options: DebugPrecisionOptions, model_format: str | None) -> None:
    """Refuse what cannot be searched, before any engine is built (format checks once it is known)."""
    if options.mode not in MODES:
        raise TrtExportError(f"--mode {options.mode!r}: choose one of {', '.join(MODES)}")
    if not options.settings.is_trt:
        raise TrtExportError(
            f"debug-precision needs a TensorRT backend (trt-fp16, trt-int8, trt-fp32), not {options.settings.backend}"
        )
    if options.iters < 1:
        raise TrtExportError(f"--iters must be at least 1, got {options.iters}")
    if options.mode == "fp32" and model_format is not None:
        from trt_export.infer.backends import resolve_trt_path

        if resolve_trt_path(options.settings.trt_path, model_format, "3.0") != "pir":
            raise TrtExportError(
                "--mode fp32 needs the PIR TensorRT path (TensorRTConfig.ops_run_float); the legacy engine can only "
                "keep op types out of TensorRT: use --mode disable, or an export with --format pir/both"
            )


def debug_precision(source: Any, export_dir: str | Path, options: DebugPrecisionOptions) -> SearchResult:
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.inputs import make_inputs
    from trt_export.infer.runners import PaddleInferenceRunner
    from trt_export.parity.compare import compare_outputs
    from trt_export.parity.verify import check_source_matches, reference_outputs, score_axes, tolerances_for

    check_options(options, options.model_format)
    manifest = load_manifest(export_dir)
    model_format = options.model_format or manifest.default_format
    check_options(options, model_format)
    require_backend(options.settings.backend, model_format)
    from trt_export.env.probes import probe_environment
    from trt_export.infer.trt_preflight import preflight

    preflight(options.settings, model_format, probe_environment())
    check_source_matches(source, manifest)
    tolerances = tolerances_for(manifest, options.settings.backend, options.atol, options.rtol)
    feed = make_inputs(manifest.inputs, seed=options.seed, model_yml=source.model_yml)
    reference, _ = reference_outputs(source, manifest, feed)
    axes = score_axes(manifest)
    inside: dict[str, int] = {}

    def evaluate(kept_out: frozenset[str]) -> Trial:
        ops = tuple(sorted(kept_out))
        if options.mode == "disable":
            settings = replace(options.settings, disable_ops=tuple(options.settings.disable_ops) + ops)
        else:
            settings = replace(options.settings, ops_run_float=tuple(options.settings.ops_run_float) + ops)
        runner = PaddleInferenceRunner(export_dir, manifest, settings, model_format=model_format, allow_no_engine=True)
        try:
            with runner:
                outputs = runner.infer(feed)
                times = []
                for _ in range(options.iters):
                    runner.infer(feed)
                    times.append(runner.last_inference_time() * 1e3)
                if not kept_out and runner.trt_coverage is not None:
                    inside.update(runner.trt_coverage.inside_op_types)
        except TrtExportError as exc:
            return Trial(kept_out, passed=False, error=str(exc))
        comparison = compare_outputs(reference, outputs, tolerances, axes)
        return Trial(
            kept_out,
            passed=comparison.passed,
            latency_ms=statistics.median(times),
            max_abs_error=comparison.max_abs_error,
        )

    candidates = list(options.ops)
    if not candidates:
        baseline = evaluate(frozenset())
        if baseline.error:
            raise TrtExportError(f"the configuration with every op type in TensorRT does not run: {baseline.error}")
        # Most frequent first: ddmin splits in order, so common types are tried together.
        candidates = [op for op, _ in sorted(inside.items(), key=lambda kv: (-kv[1], kv[0]))]
        if not candidates and not baseline.passed:
            raise TrtExportError(
                "no op type runs inside a TensorRT engine, so none can be kept out: the parity failure is not TensorRT's; "
                "give --ops to search anyway"
            )
        cached: dict[frozenset[str], Trial] = {frozenset(): baseline}
        return search_precision(candidates, lambda kept: cached.pop(kept) if kept in cached else evaluate(kept))
    return search_precision(candidates, evaluate)


def debug_report(result: SearchResult, options: DebugPrecisionOptions, export_dir: str | Path) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": 1,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "export_dir": str(export_dir),
        "backend": options.settings.backend,
        "mode": options.mode,
        **result.to_dict(),
    }


def write_debug_report(data: dict[str, Any], path: str | Path) -> None:
    target = Path(path)
    if not target.parent.is_dir():
        raise TrtExportError(f"cannot write --report {str(path)!r}: directory {str(target.parent)!r} does not exist")
    target.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
