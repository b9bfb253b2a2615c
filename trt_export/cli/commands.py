"""Command line: parse arguments, call the library, turn errors into one line and an exit code.

Exit codes: 0 pass, 1 a check failed (parity, regression), 2 usage or environment error,
3 internal error (a bug of ours or an unexpected failure).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from trt_export import __version__
from trt_export.bench.timing import DEFAULT_MIN_RUNS as DEFAULT_ITERS
from trt_export.bench.timing import DEFAULT_MIN_TIME_S as DEFAULT_MIN_DURATION_S
from trt_export.env.paddle_import import is_verbose, set_verbose
from trt_export.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, TrtExportError

SHAPE_HELP = (
    "fixed input shape, required: '[w,h]' (n=1, c=3) or '[n,c,w,h]' as in PaddleRS's export guide; "
    "width before height, the tensor is NCHW = [n,c,h,w]"
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 with one line (argparse already uses 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"trt-export: error: {message} (see --help)\n")


def _seed(text: str) -> int:
    """argparse type: numpy's generators take seeds in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} is outside [0, 2**32); give a non-negative seed")
    return value


def _add_source_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--model",
        required=required,
        help="PaddleRS training dir (model.yml + model.pdparams) or 'package.module:callable' "
        "returning a paddle.nn.Layer (default: paddle.vision.models:squeezenet1_1)",
    )
    parser.add_argument("--weights", help=".pdparams weights for a factory model")
    parser.add_argument("--model-kwargs", help="JSON keyword arguments for the factory, e.g. '{\"num_classes\": 2}'")
    parser.add_argument(
        "--model-type",
        choices=["classifier", "segmenter", "change_detector", "detector", "generic"],
        help="override the detected model type (decides pipeline.yml and how outputs are compared)",
    )


def _add_backend_args(parser: argparse.ArgumentParser, default_backend: str | None) -> None:
    from trt_export.infer.backends import ALL_BACKENDS

    parser.add_argument(
        "--backend",
        default=default_backend,
        choices=ALL_BACKENDS,
        help="Paddle Inference backend, or onnx-* for the export converted by paddle2onnx on ONNX Runtime"
        + (f" (default: {default_backend})" if default_backend else " (default: the best this machine has)"),
    )
    parser.add_argument(
        "--format",
        dest="model_format",
        choices=["auto", "legacy", "pir"],
        help="exported format to load (and, for bench, to export): auto = legacy .pdmodel when the network can be "
        "saved that way, else PIR .json (default: auto / the export's default)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU math threads (default: 1 for verify, every core for bench)"
    )
    parser.add_argument("--no-ir-optim", action="store_true", help="switch Paddle's IR optimisation passes off")
    parser.add_argument("--device-id", type=int, default=0, help="GPU id (default 0)")
    parser.add_argument("--gpu-memory-mb", type=int, default=256, help="initial GPU memory pool (default 256)")
    trt = parser.add_argument_group("TensorRT")
    trt.add_argument("--trt-workspace-mb", type=int, default=1024, help="TensorRT workspace (default 1024 MiB)")
    trt.add_argument(
        "--trt-min-subgraph-size", type=int, default=3, help="smallest subgraph given to TensorRT (default 3)"
    )
    trt.add_argument("--trt-cache-dir", help="keep serialized engines here and reuse them (use_static)")
    trt.add_argument(
        "--trt-path",
        choices=["auto", "legacy", "pir"],
        default="auto",
        help="legacy enable_tensorrt_engine (.pdmodel) or paddle.tensorrt.convert (.json); auto follows the format",
    )
    trt.add_argument("--trt-disable-ops", nargs="+", default=(), metavar="OP", help="ops kept out of TensorRT")
    trt.add_argument(
        "--trt-ops-run-float",
        nargs="+",
        default=(),
        metavar="OP",
        help="PIR path: op types built in fp32 inside fp16/int8 engines (e.g. from debug-precision)",
    )
    trt.add_argument(
        "--trt-allow-tf32",
        action="store_true",
        help="trt-fp32: let TensorRT use TF32 (on Ampere+; faster, ~1e-3 relative error); default off",
    )
    trt.add_argument(
        "--trt-min-coverage",
        type=float,
        default=0.8,
        help="warn when less than this share of compute ops runs inside TensorRT (default 0.8)",
    )
    trt.add_argument("--calibration", help="INT8 calibration data: a directory of images or an .npz")
    trt.add_argument(
        "--allow-random-calibration",
        action="store_true",
        help="INT8 with random calibration data (timing only: accuracy is meaningless)",
    )


def _backend_settings(args: argparse.Namespace, backend: str):  # -> BackendSettings
    from trt_export.infer.backends import BackendSettings

    for flag, value, least in (
        ("--threads", args.threads, 1),
        ("--trt-workspace-mb", args.trt_workspace_mb, 1),
        ("--gpu-memory-mb", args.gpu_memory_mb, 1),
        ("--trt-min-subgraph-size", args.trt_min_subgraph_size, 1),
        ("--device-id", args.device_id, 0),
    ):
        if value is not None and value < least:
            raise TrtExportError(f"{flag} must be an integer >= {least}, got {value}")
    try:
        return BackendSettings(
            backend=backend,
            cpu_threads=args.threads,
            ir_optim=not args.no_ir_optim,
            gpu_memory_mb=args.gpu_memory_mb,
            device_id=args.device_id,
            trt_workspace_bytes=args.trt_workspace_mb << 20,
            trt_min_subgraph_size=args.trt_min_subgraph_size,
            trt_use_static=args.trt_cache_dir is not None,
            trt_cache_dir=args.trt_cache_dir,
            trt_path=args.trt_path,
            calibration=args.calibration,
            allow_random_calibration=args.allow_random_calibration,
            disable_ops=tuple(args.trt_disable_ops),
            ops_run_float=tuple(args.trt_ops_run_float),
            trt_min_coverage=args.trt_min_coverage,
            trt_allow_tf32=args.trt_allow_tf32,
        )
    except (TypeError, ValueError) as exc:
        raise TrtExportError(str(exc)) from None


def _cmd_verify(args: argparse.Namespace) -> int:
    import tempfile

    from trt_export.errors import EXIT_CHECK_FAILED
    from trt_export.export.exporter import export_model
    from trt_export.model.shapes import parse_fixed_shape
    from trt_export.parity.verify import VerifyOptions, source_for_verify, verify_export, write_verify_report

    if args.exported is not None and args.fixed_input_shape is not None:
        raise TrtExportError(
            "give --exported DIR or --fixed-input-shape SHAPE, not both: an existing export already has its shape"
        )
    if args.exported is None and args.fixed_input_shape is None:
        raise TrtExportError(
            "give --exported DIR (an export to check) or --fixed-input-shape SHAPE (export to a temporary dir first)"
        )
    for flag, value in (("--report", args.report), ("--save-io", args.save_io)):
        if value and Path(value).is_dir():
            raise TrtExportError(f"{flag} {value!r} is a directory; give a file path inside it")
    if args.report and not Path(args.report).resolve().parent.is_dir():
        raise TrtExportError(f"cannot write --report {args.report!r}: its directory does not exist")
    if args.polygraphy_data and args.exported is None:
        raise TrtExportError(
            "--polygraphy-data needs --exported DIR: the ONNX model the data belongs to is cached beside that export"
        )
    source, source_notes = source_for_verify(
        args.model, args.exported, args.weights, args.model_kwargs, args.model_type
    )
    options = VerifyOptions(
        settings=_backend_settings(args, args.backend),
        model_format=None if args.model_format in (None, "auto") else args.model_format,
        seed=args.seed,
        images=args.images,
        npz=args.inputs,
        atol=args.atol,
        rtol=args.rtol,
        save_io=args.save_io,
        polygraphy_data=args.polygraphy_data,
    )
    if options.settings.is_trt:
        from trt_export.infer.backends import probe_environment, require_backend
        from trt_export.infer.trt_preflight import preflight

        # Before the temporary export: a TensorRT run that cannot succeed is refused first.
        require_backend(options.settings.backend, options.model_format)
        preflight(options.settings, options.model_format, probe_environment())
    with tempfile.TemporaryDirectory(prefix="trt-export-verify-") as scratch:
        exported = args.exported
        if exported is None:
            shape = parse_fixed_shape(args.fixed_input_shape)
            fmt = args.model_format or "auto"
            exported = export_model(source, Path(scratch) / "export", shape, model_format=fmt).save_dir
        report = verify_export(source, exported, options)
        report.notes[:0] = source_notes
        if args.exported is None:
            report.manifest.export_dir = None  # the temporary export is gone once this block ends
    print(report.summary())
    if args.report:
        write_verify_report(report, args.report)
        print(f"report: {args.report}")
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _timing_budget(args: argparse.Namespace) -> tuple[int, float | None]:
    """(minimum runs, minimum seconds). By default at least 20 runs and 0.5 s, then the timing
    policy (trt_export/bench/timing.py) stops at a tight median CI or the time cap; an explicit --iters
    alone means exactly that many runs."""
    if args.iters is not None and args.iters < 1:
        raise TrtExportError(f"--iters must be at least 1, got {args.iters}")
    if args.duration is not None and not args.duration > 0:
        raise TrtExportError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.iters is None and args.duration is None:
        return DEFAULT_ITERS, DEFAULT_MIN_DURATION_S
    return (args.iters if args.iters is not None else 1), args.duration


def _process_started_at() -> float | None:
    """This process's start on the time.monotonic() clock, so bench.json accounts the CLI's own start-up."""
    import time

    try:
        import psutil

        return time.monotonic() - (time.time() - psutil.Process().create_time())
    except Exception:  # no psutil or no /proc: the accounting starts at run_bench
        return None


def _gate_settings(args: argparse.Namespace, stat: str):  # -> GateSettings
    from trt_export.gate.verdict import GateSettings, parse_tolerance

    return GateSettings(
        latency_tolerance=parse_tolerance(args.latency_tolerance),
        memory_tolerance=parse_tolerance(args.memory_tolerance),
        stat=stat,
        allow_env_mismatch=args.allow_env_mismatch,
        test=args.test,
        confidence=args.confidence,
        seed=args.gate_seed,
    )


def _rerun_options(args: argparse.Namespace):  # -> RerunOptions | None
    from trt_export.bench.interleave import RerunOptions

    if not args.rerun:
        for flag, value in (("--baseline-exports", args.baseline_exports), ("--current-exports", args.current_exports)):
            if value is not None:
                raise TrtExportError(
                    f"{flag} is only used with --rerun (the interleaved A/B re-measurement); add --rerun"
                )
        return None
    return RerunOptions(
        baseline_exports=Path(args.baseline_exports) if args.baseline_exports else None,
        current_exports=Path(args.current_exports) if args.current_exports else None,
        pairs=args.pairs,
        block_ms=args.block_ms,
        warmup=args.ab_warmup,
        seed=args.gate_seed,
        clock=args.ab_clock,
    )


def _add_gate_stat_args(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """Flags of the gate's statistics and of the A/B re-measurement, shared by gate and bench."""
    from trt_export.bench.interleave import DEFAULT_BLOCK_MS, DEFAULT_PAIRS, DEFAULT_WARMUP
    from trt_export.gate.ratio_stats import DEFAULT_CONFIDENCE, MIN_PAIRS

    group.add_argument(
        "--test",
        choices=["auto", "bootstrap", "summary"],
        default="auto",
        help="latency test: bootstrap interval of the ratio of medians from raw samples; summary: the "
        "version-1 noise band; auto: bootstrap when the reports have samples (default auto)",
    )
    group.add_argument(
        "--confidence",
        type=float,
        default=DEFAULT_CONFIDENCE,
        help=f"confidence level of the latency ratio's interval (default {DEFAULT_CONFIDENCE})",
    )
    group.add_argument(
        "--gate-seed", type=int, default=0, help="seed of the bootstrap and the A/B order (default 0: reproducible)"
    )
    group.add_argument(
        "--rerun",
        action="store_true",
        help="re-measure latency here, baseline export and current export in alternating short blocks "
        "(A/B); needs both runs' exports (bench --keep-exports)",
    )
    group.add_argument(
        "--baseline-exports",
        help="with --rerun: the baseline run's exports dir (default: exports/ next to the baseline bench.json)",
    )
    group.add_argument(
        "--current-exports",
        help="with --rerun: the current run's exports dir (default: exports/ next to the current bench.json)",
    )
    group.add_argument(
        "--pairs",
        type=int,
        default=DEFAULT_PAIRS,
        help=f"with --rerun: A/B pairs of blocks (default {DEFAULT_PAIRS}, at least {MIN_PAIRS})",
    )
    group.add_argument(
        "--block-ms",
        type=float,
        default=DEFAULT_BLOCK_MS,
        help=f"with --rerun: approximate length of one block (default {DEFAULT_BLOCK_MS:g} ms, at least 3 runs)",
    )
    group.add_argument(
        "--ab-clock",
        choices=["wall", "cpu"],
        default="wall",
        help="with --rerun: time blocks on the wall clock (default), or in this process's CPU time (CPU "
        "backends: immune to time slices lost to other jobs on an oversubscribed runner)",
    )
    group.add_argument(
        "--ab-warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help=f"with --rerun: untimed runs of each export first (default {DEFAULT_WARMUP})",
    )


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.workers != "fork":
        return _bench(args)
    from trt_export.bench import startup

    # First: the worker server's `import paddle` and the plotter's matplotlib overlap this process's
    # own imports and checks (bench/startup.py). What the sweep did not take over is closed here.
    startup.prestart(args.model)
    try:
        return _bench(args)
    finally:
        startup.discard(args.model)


def _bench(args: argparse.Namespace) -> int:
    import os

    from trt_export.bench.sweep import DEFAULT_SHAPES, BenchOptions, best_backend, parse_shapes, run_bench
    from trt_export.cli.predict_args import scene_options
    from trt_export.errors import EXIT_CHECK_FAILED
    from trt_export.infer.backends import require_backend
    from trt_export.report.render import render_bench_table

    iters, duration = _timing_budget(args)
    if args.warmup < 0:
        raise TrtExportError(f"--warmup must be >= 0, got {args.warmup}")
    from trt_export.bench.timing import policy_from_flags

    try:
        timing = policy_from_flags(args.warmup, args.iters, args.duration, args.max_duration, args.target_ci)
    except ValueError as exc:
        raise TrtExportError(str(exc)) from None
    import math

    # A negative, NaN or infinite figure would be swept against (minutes), then excluded every
    # candidate or broke writing bench.json; refuse it first.
    for flag, value in (
        ("--max-latency-ms", args.max_latency_ms),
        ("--max-memory-mb", args.max_memory_mb),
        ("--timeout", args.timeout),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise TrtExportError(f"{flag} must be a positive finite number, got {value}")
    # Everything that can be refused is refused before minutes of sweeping.
    gate_settings = _gate_settings(args, args.gate_stat) if args.baseline else None
    if args.duration is not None and args.duration >= args.timeout:
        raise TrtExportError(
            f"--duration {args.duration:g} s is not shorter than --timeout {args.timeout:g} s: every candidate would time out "
            "in its timing loop; raise --timeout or lower --duration"
        )
    rerun = _rerun_options(args) if args.baseline else None
    if args.rerun and not args.baseline:
        raise TrtExportError(
            "--rerun re-measures against a baseline: give --baseline BASE/bench.json (its run kept its exports)"
        )
    baselines = []
    for path in args.baseline or []:
        if not Path(path).is_file():
            raise TrtExportError(f"baseline {path!r} does not exist; give the bench.json of an earlier run")
    if args.baseline:
        from trt_export.gate.verdict import _load, check_baselines

        # not JSON, another schema or version, too few samples: refused now, not after the sweep
        baselines = [_load(path, "baseline") for path in args.baseline]
        if rerun is None:
            check_baselines(baselines, gate_settings)
    if args.exported is not None:
        from trt_export.bench.ready import check_ready_args

        check_ready_args(args)
    shapes = parse_shapes(args.shapes or list(DEFAULT_SHAPES), args.batches)
    probe = None  # None: this process reads Paddle's build itself (imports Paddle)
    if args.workers == "fork":  # read in a child of the prestarted server (bench/source_probe.py)
        from trt_export.bench.startup import environment_probe

        probe = environment_probe(args.model, args.weights, args.model_kwargs, args.model_type, args.timeout)
    threads_given = args.threads is not None
    if args.threads is None:
        args.threads = os.cpu_count() or 1
    if args.backend and args.backends:
        raise TrtExportError("give --backend B or --backends A B ..., not both")
    backends = list(dict.fromkeys(args.backends or [args.backend or best_backend(probe)]))
    backend = backends[0]
    model_format = args.model_format or "auto"
    from trt_export.cli.scale_args import scale_from_args

    shard, executor = scale_from_args(args, backend, threads_given)  # --shard, --devices, --ray (docs/scale.md)
    if executor is not None and len(backends) > 1:
        raise TrtExportError(
            "--backends with --devices/--ray is not supported yet; sweep one backend per run (or drop --devices/--ray)"
        )
    for each in backends:
        require_backend(each, None if model_format == "auto" else model_format, probe)
    options = BenchOptions(
        model=args.model,
        weights=args.weights,
        model_kwargs=args.model_kwargs,
        model_type=args.model_type,
        shapes=shapes,
        settings=_backend_settings(args, backend),
        model_format=model_format,
        warmup=args.warmup,
        iters=iters,
        duration_s=duration,
        timing=timing,
        fork_workers=args.workers == "fork",
        started_at=_process_started_at(),
        objective=args.objective or ("scene" if args.scene or args.scene_image else "throughput"),
        latency_stat=args.latency_stat,
        max_latency_ms=args.max_latency_ms,
        max_memory_mb=args.max_memory_mb,
        timeout_s=args.timeout,
        out_dir=Path(args.out),
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        use_cache=not args.no_cache,
        seed=args.seed,
        progress=not args.no_progress,
        auto_backend=args.backend is None and not args.backends,
        extra_backends=backends[1:],
        roof=not args.no_roof,
        exported=Path(args.exported) if args.exported else None,
        shard=shard,
        executor=executor,
        keep_exports=args.keep_exports or rerun is not None,
        scene=scene_options(args),
    )
    if baselines:
        from trt_export.gate.comparable import check_comparable

        def before_sweep(source, backend, environment, threads) -> None:  # type: ignore[no-untyped-def]
            # another model or machine: refused once the fingerprint is known, before any candidate
            for i, report in enumerate(baselines):
                check_comparable(
                    report,
                    source=source.spec,
                    name=source.name,
                    backend=backend,
                    environment=environment,
                    threads=threads,
                    allow_env_mismatch=args.allow_env_mismatch or rerun is not None,
                    role="baseline" if i == 0 else f"baseline {i + 1}",
                )

        options.before_sweep = before_sweep
    from trt_export.bench.sweep import ResultsNotWritten

    try:
        report = run_bench(options, announce=lambda line: print(line, flush=True))
    except ResultsNotWritten as exc:
        print(render_bench_table(exc.report))  # the numbers are not lost with the files
        raise
    print(render_bench_table(report))
    if report.time_s is not None:
        print(report.time_s.summary())
    from trt_export.infer.trt_coverage import coverage_lines

    for line in coverage_lines(report.candidates) + [
        f"warning: {c.label}: {w}" for c in report.candidates for w in c.warnings
    ]:
        print(line)
    print(f"reports: {options.out_dir}/bench.json, bench.csv, bench.md, *.png")
    code = EXIT_OK if report.recommendation is not None else EXIT_CHECK_FAILED
    if shard is not None:  # one shard's pick is not the sweep's: the verdict (and exit code) comes from merge
        print(f"{shard} of the sweep: combine every shard's bench.json with 'trt-export merge' for the recommendation")
        code = EXIT_OK
    if gate_settings is not None:
        from trt_export.gate.verdict import JUNIT_FILENAME, MARKDOWN_FILENAME, gate_files, render_gate_table

        result = gate_files(
            args.baseline,
            options.out_dir / "bench.json",
            gate_settings,
            junit_path=options.out_dir / JUNIT_FILENAME,
            markdown_path=options.out_dir / MARKDOWN_FILENAME,
            rerun=rerun,
            progress=lambda line: print(line, flush=True),
        )
        print(render_gate_table(result))
        code = max(code, result.exit_code)
    return code


def _cmd_merge(args: argparse.Namespace) -> int:
    from trt_export.errors import EXIT_CHECK_FAILED
    from trt_export.report.render import render_bench_table
    from trt_export.scale.merge import merge_files

    report = merge_files(args.reports, Path(args.out), allow_env_mismatch=args.allow_env_mismatch)
    print(render_bench_table(report))
    print(f"reports: {args.out}/bench.json, bench.csv, bench.md, *.png")
    return EXIT_OK if report.recommendation is not None else EXIT_CHECK_FAILED


def _cmd_export(args: argparse.Namespace) -> int:
    from trt_export.export.exporter import export_model
    from trt_export.model.shapes import parse_fixed_shape
    from trt_export.model.sources import load_source

    shape = parse_fixed_shape(args.fixed_input_shape)
    source = load_source(args.model, weights=args.weights, kwargs=args.model_kwargs, model_type=args.model_type)
    print(f"fixing input shape: {shape.describe()}", flush=True)
    result = export_model(
        source,
        args.save_dir,
        shape,
        model_format=args.format,
        force=args.force or args.replace_non_export,
        replace_non_export=args.replace_non_export,
    )
    print(result.summary())
    return EXIT_OK


def _cmd_debug_precision(args: argparse.Namespace) -> int:
    from trt_export.errors import EXIT_CHECK_FAILED
    from trt_export.model.sources import load_source
    from trt_export.parity.debug_precision import (
        DebugPrecisionOptions,
        check_options,
        debug_precision,
        debug_report,
        write_debug_report,
    )
    from trt_export.parity.precision_search import NOTHING_HELPS, render_search

    if args.report and not Path(args.report).resolve().parent.is_dir():
        raise TrtExportError(f"cannot write --report {args.report!r}: its directory does not exist")
    options = DebugPrecisionOptions(
        settings=_backend_settings(args, args.backend),
        mode=args.mode,
        model_format=None if args.model_format in (None, "auto") else args.model_format,
        ops=tuple(args.ops or ()),
        seed=args.seed,
        iters=args.iters,
        atol=args.atol,
        rtol=args.rtol,
    )
    check_options(options, options.model_format)  # before the model is built
    source = load_source(args.model, weights=args.weights, kwargs=args.model_kwargs, model_type=args.model_type)
    result = debug_precision(source, args.exported, options)
    print(render_search(result, "kept out of TensorRT" if args.mode == "disable" else "run in fp32"))
    if args.report:
        write_debug_report(debug_report(result, options, args.exported), args.report)
        print(f"report: {args.report}")
    return EXIT_CHECK_FAILED if result.status == NOTHING_HELPS else EXIT_OK


def _cmd_predict(args: argparse.Namespace) -> int:
    from trt_export.cli.predict_args import run_predict_command

    return run_predict_command(args, _backend_settings)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from trt_export.env.doctor import render_doctor, safe_doctor_report

    report = safe_doctor_report()  # Paddle broken or crashing on import: still a report, exit 0
    if args.json:
        import json

        print(json.dumps(report, indent=2))
    else:
        print(render_doctor(report))
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from trt_export.gate.verdict import gate_files, render_gate_table

    result = gate_files(
        args.baseline,
        args.current,
        _gate_settings(args, args.stat),
        junit_path=args.junit,
        markdown_path=args.markdown,
        rerun=_rerun_options(args),
        progress=lambda line: print(line, flush=True),
    )
    print(render_gate_table(result))
    return result.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trt-export",
        description="Export Paddle/PaddleRS models at a fixed input shape, verify parity on Paddle Inference "
        "(CPU, oneDNN, GPU, TensorRT) and benchmark candidate sizes.",
    )
    parser.add_argument("--version", action="version", version=f"trt-export {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Paddle's own logs and full tracebacks")
    # --verbose is accepted before or after the command; SUPPRESS keeps the sub-parser's
    # absent flag from overwriting a global one.
    common = _Parser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Paddle's own logs and full tracebacks",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    export = sub.add_parser("export", parents=[common], help="export a model at a fixed input shape")
    _add_source_args(export)
    export.add_argument("--save-dir", required=True, help="deployment-format output directory")
    export.add_argument("--fixed-input-shape", dest="fixed_input_shape", help=SHAPE_HELP)
    export.add_argument(
        "--format",
        default="auto",
        choices=["auto", "legacy", "pir", "both"],
        help="legacy: model.pdmodel (the seed's format; needed by the TensorRT engine call and by oneDNN with "
        "interpolate), pir: Paddle 3 model.json, both: legacy plus pir/, auto: legacy, or PIR when this Paddle "
        "cannot save the network as .pdmodel (default: auto)",
    )
    export.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier export in --save-dir (never the cwd, "
        "an ancestor of it, or a dir holding the model source or weights)",
    )
    export.add_argument(
        "--replace-non-export",
        action="store_true",
        help="with or without --force: also replace a --save-dir that holds files an export did not write "
        "(they are deleted)",
    )
    export.set_defaults(handler=_cmd_export)

    verify = sub.add_parser(
        "verify", parents=[common], help="check an export against the dygraph model on a backend (exit 0 pass, 1 fail)"
    )
    _add_source_args(verify)
    verify.add_argument("--exported", help="export dir written by 'trt-export export' or by PaddleRS's export_model.py")
    verify.add_argument(
        "--fixed-input-shape",
        dest="fixed_input_shape",
        help="without --exported: export at this shape to a temp dir first",
    )
    _add_backend_args(verify, default_backend="paddle-cpu")
    verify.add_argument(
        "--atol", action="append", metavar="[OUTPUT=]X", help="absolute tolerance, for all outputs or one (repeatable)"
    )
    verify.add_argument(
        "--rtol", action="append", metavar="[OUTPUT=]X", help="relative tolerance, for all outputs or one (repeatable)"
    )
    verify.add_argument("--seed", type=_seed, default=0, help="seed of the random inputs (default 0)")
    verify.add_argument(
        "--images", nargs="+", help="real images, run through model.yml's transforms (pairs for change detection)"
    )
    verify.add_argument("--inputs", help="an .npz of inputs keyed by input name")
    verify.add_argument("--save-io", help="save inputs, reference and candidate outputs to this .npz")
    verify.add_argument(
        "--polygraphy-data",
        metavar="DIR",
        help="write the inputs and dygraph reference outputs as Polygraphy JSON (inputs.json, reference.json) "
        "for 'polygraphy run <export>/onnx/model.onnx --onnxrt --load-inputs ... --load-outputs ...'",
    )
    verify.add_argument("--report", help="write the JSON report (schema trt-export/verify v1) here")
    verify.set_defaults(handler=_cmd_verify)

    bench = sub.add_parser(
        "bench",
        parents=[common],
        help="sweep candidate fixed shapes: latency, memory, parity, and a recommendation (no arguments: built-in default)",
    )
    _add_source_args(bench)
    bench.add_argument(
        "--shapes",
        nargs="+",
        metavar="SHAPE",
        help="candidate shapes, each '[w,h]' or '[n,c,w,h]' (default: [256,256] [512,512] [768,768] [1024,1024])",
    )
    bench.add_argument(
        "--batches",
        nargs="+",
        type=int,
        metavar="N",
        help="try every shape at each of these batch sizes, e.g. --batches 1 2 4",
    )
    bench.add_argument(
        "--exported",
        metavar="DIR",
        help="measure this ready export (ours, or a PaddleRS deploy dir) as it is, at its own shape; "
        "--model is the reference it is checked against",
    )
    _add_backend_args(bench, default_backend=None)
    from trt_export.infer.backends import ALL_BACKENDS

    bench.add_argument(
        "--backends",
        nargs="+",
        choices=ALL_BACKENDS,
        metavar="BACKEND",
        help="sweep every candidate on each of these backends, side by side (e.g. paddle-onednn onnx-cpu); "
        "the recommendation then names the backend too",
    )
    bench.add_argument(
        "--no-roof",
        action="store_true",
        help="skip the compute roof (a 1024^3 fp32 matmul per CPU backend, about a second)",
    )
    bench.set_defaults(threads=None)
    bench.add_argument("--warmup", type=int, default=5, help="untimed runs before timing (default 5)")
    bench.add_argument(
        "--iters",
        type=int,
        help="minimum timed runs (default 10, with at least 0.5 s of runs, then until the median's CI is tight "
        "or --max-duration; given alone: exactly this many)",
    )
    bench.add_argument(
        "--duration", type=float, help="time each candidate for at least this many seconds (and at least --iters runs)"
    )
    bench.add_argument(
        "--max-duration",
        type=float,
        help="time each candidate for at most this many seconds (default 5; --iters alone: no cap); "
        "a step always ends before --timeout, with a note of the runs it got",
    )
    bench.add_argument(
        "--target-ci",
        metavar="PCT",
        help="stop timing a candidate early once the 95%% CI of its median is within this of the median "
        "(default 2.5%%; 'off' disables; with --iters N, N becomes the minimum)",
    )
    bench.add_argument(
        "--workers",
        choices=["fork", "exec"],
        default="fork",
        help="fork: each step in a fresh process forked from one that imported Paddle once (default); "
        "exec: a fresh interpreter per step, importing Paddle each time",
    )
    bench.add_argument(
        "--objective",
        choices=["throughput", "latency", "scene"],
        default=None,
        help="throughput: most input megapixels/s; latency: lowest --latency-stat; scene: lowest predicted "
        "time for the --scene (default: scene when a scene is given, else throughput)",
    )
    bench.add_argument(
        "--latency-stat",
        choices=["p50", "p90", "p95", "p99", "mean", "max"],
        default="p99",
        help="statistic the latency budget and objective use (default p99)",
    )
    bench.add_argument("--max-latency-ms", type=float, help="latency budget: candidates above it are excluded")
    bench.add_argument("--max-memory-mb", type=float, help="memory budget (GPU memory on GPU, else peak RSS) in MiB")
    bench.add_argument("--timeout", type=float, default=600.0, help="seconds one candidate step may take (default 600)")
    bench.add_argument(
        "--out", default="trt-export-out", help="directory for bench.json/.csv/.md and plots (default trt-export-out)"
    )
    bench.add_argument("--cache-dir", help="export cache (default ~/.cache/trt-export/exports)")
    bench.add_argument("--no-cache", action="store_true", help="export every candidate afresh")
    bench.add_argument("--seed", type=_seed, default=0, help="seed of the parity inputs (default 0)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    from trt_export.cli.predict_args import add_scene_args

    add_scene_args(bench)
    gate_group = bench.add_argument_group("regression gate (with --baseline)")
    gate_group.add_argument(
        "--baseline",
        nargs="+",
        metavar="BENCH_JSON",
        help="gate this sweep against an earlier bench.json; exit 1 on regression. Several: the first is "
        "the baseline, their spread the between-run noise (history)",
    )
    gate_group.add_argument(
        "--latency-tolerance", default="10%", help="allowed latency growth beyond the measured noise (default 10%%)"
    )
    gate_group.add_argument("--memory-tolerance", default="5%", help="allowed memory growth (default 5%%)")
    gate_group.add_argument(
        "--gate-stat", default="p50", choices=["p50", "p90", "p99"], help="latency statistic gated on (default p50)"
    )
    gate_group.add_argument(
        "--allow-env-mismatch",
        action="store_true",
        help="compare against a baseline from another GPU/driver/TensorRT/CUDA/Paddle/CPU",
    )
    _add_gate_stat_args(gate_group)
    bench.add_argument(
        "--keep-exports",
        action="store_true",
        help="copy each measured candidate's export to OUT/exports/<label> (what 'gate --rerun' measures; "
        "keep OUT as the CI artifact of the baseline run)",
    )
    from trt_export.cli.scale_args import add_scale_args

    add_scale_args(bench)
    bench.set_defaults(handler=_cmd_bench)

    merge = sub.add_parser(
        "merge",
        parents=[common],
        help="combine the bench.json of every shard (bench --shard K/N) into one report and recommendation",
    )
    merge.add_argument(
        "reports", nargs="+", metavar="BENCH_JSON", help="each shard's bench.json (or the directory holding it)"
    )
    merge.add_argument("--out", required=True, help="directory for the merged bench.json/.csv/.md and plots")
    merge.add_argument(
        "--allow-env-mismatch",
        action="store_true",
        help="merge shards measured on different GPUs/drivers/TensorRT/CUDA/Paddle (the report says so)",
    )
    merge.set_defaults(handler=_cmd_merge)

    debug = sub.add_parser(
        "debug-precision",
        parents=[common],
        help="on a TensorRT parity failure, find a smallest set of op types to keep out of TensorRT (or run in fp32)",
    )
    _add_source_args(debug)
    debug.add_argument("--exported", required=True, help="export dir written by 'trt-export export'")
    _add_backend_args(debug, default_backend="trt-fp16")
    debug.add_argument(
        "--mode",
        choices=["disable", "fp32"],
        default="disable",
        help="disable: keep op types out of TensorRT (legacy exp_disable_tensorrt_ops, PIR disable_ops); "
        "fp32: build them in fp32 inside the engine (PIR ops_run_float) (default disable)",
    )
    debug.add_argument(
        "--ops", nargs="+", metavar="OP", help="candidate op types (default: those inside the engines of a plain run)"
    )
    debug.add_argument("--iters", type=int, default=10, help="timed runs per configuration (default 10)")
    debug.add_argument("--atol", action="append", metavar="[OUTPUT=]X", help="absolute tolerance (repeatable)")
    debug.add_argument("--rtol", action="append", metavar="[OUTPUT=]X", help="relative tolerance (repeatable)")
    debug.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    debug.add_argument("--report", help="write the search (every step, its parity and latency) as JSON here")
    debug.set_defaults(handler=_cmd_debug_precision)
    predict = sub.add_parser(
        "predict",
        parents=[common],
        help="tiled inference of a scene of any size with a fixed-shape export (PaddleRS slider semantics)",
    )
    from trt_export.cli.predict_args import add_predict_args

    add_predict_args(predict, _add_backend_args)
    predict.set_defaults(handler=_cmd_predict)

    doctor = sub.add_parser(
        "doctor", parents=[common], help="what this machine can run: Paddle, CUDA, TensorRT, backends"
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(handler=_cmd_doctor)

    gate = sub.add_parser(
        "gate", parents=[common], help="compare a bench report against a baseline (CI regression gate)"
    )
    gate.add_argument(
        "--baseline",
        required=True,
        nargs="+",
        metavar="BENCH_JSON",
        help="baseline bench.json; several: the first is the baseline, their spread the between-run noise (history)",
    )
    gate.add_argument("--current", required=True, help="current bench.json")
    gate.add_argument("--latency-tolerance", default="10%", help="allowed latency growth beyond noise (default 10%%)")
    gate.add_argument("--memory-tolerance", default="5%", help="allowed memory growth (default 5%%)")
    gate.add_argument("--stat", default="p50", choices=["p50", "p90", "p99"], help="latency statistic to gate on")
    gate.add_argument("--allow-env-mismatch", action="store_true", help="compare runs from different environments")
    gate.add_argument("--junit", help="write JUnit XML here (one test case per shape)")
    gate.add_argument("--markdown", help="write a Markdown summary here")
    _add_gate_stat_args(gate)
    gate.set_defaults(handler=_cmd_gate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    set_verbose(args.verbose)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    return run_handler(handler, args)


class _Terminated(BaseException):
    """SIGTERM (a cancelled CI job, `timeout`), SIGHUP (a closed terminal or ssh session) or SIGQUIT,
    raised so cleanup code runs as for Ctrl-C."""

    def __init__(self, signum: object) -> None:
        super().__init__(signum)
        # Paddle's dy2static re-raises an exception met while it transforms code as the same type
        # built from its own message (a string): the signal number then comes from the handler.
        self.signum = signum if isinstance(signum, int) else (_received_signal or 15)


# The last terminating signal received in this process (0: none); the exit code is computed from
# it when Paddle re-raised the exception in a form that lost the number or changed its type.
_received_signal = 0


def _raise_terminated(signum: int, frame: object) -> None:
    global _received_signal
    _received_signal = signum
    raise _Terminated(signum)


# Signals that end a run; each becomes _Terminated so the `finally`s remove staging dirs and
# scratch space, and the exit code is 128 + the signal number as a shell reports it.
TERMINATING_SIGNALS = ("SIGTERM", "SIGHUP", "SIGQUIT")


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    import signal
    import threading

    # By default SIGTERM kills the process on the spot: staging dirs (.NAME.partial-*) of an
    # export or a sweep would stay behind. Turned into an exception, the `finally`s remove them.
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for name in TERMINATING_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, _raise_terminated)
    try:
        return _run_handler(handler, args)
    finally:
        for number, handler_before in previous.items():
            signal.signal(number, handler_before)  # type: ignore[arg-type]


def _run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except _Terminated as exc:
        return _report_terminated(exc.signum)
    except TrtExportError as exc:
        if is_verbose():
            traceback.print_exc()
        print(f"trt-export: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trt-export: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours or an unexpected Paddle failure: still one line
        if _received_signal:  # the signal's exception, re-raised by Paddle as another type
            return _report_terminated(_received_signal)
        if is_verbose():
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(
            f"trt-export: internal error: {type(exc).__name__}: {first} (re-run with --verbose for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _report_terminated(signum: int) -> int:
    import signal

    print(f"trt-export: terminated ({signal.Signals(signum).name}); partial output removed", file=sys.stderr)
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
