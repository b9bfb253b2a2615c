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
from trt_export.cli.logs import BOTH_FLAGS_ERROR, configure_logging
from trt_export.env.paddle_import import is_verbose, set_verbose
from trt_export.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, TrtExportError
from trt_export.model.types import EXPORT_FORMAT_CHOICES, LOAD_FORMAT_CHOICES, MODEL_TYPE_CHOICES, FormatChoice

VERBOSE_HELP = "show Paddle's own logs, trt-export's info messages and full tracebacks"
QUIET_HELP = "log errors only (no warning lines on stderr; the reports keep their warnings)"
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


def _command(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help: str,
    source: bool = False,
) -> argparse.ArgumentParser:
    """One subcommand's parser: the flags every command has, its handler, with ``source`` the model's flags."""
    parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help)
    parser.set_defaults(handler=handler)
    if source:
        _add_source_args(parser)
    return parser


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
        choices=MODEL_TYPE_CHOICES,
        help="override the detected model type (decides pipeline.yml and how outputs are compared)",
    )


def _add_defaulted(
    group: argparse._ActionsContainer, flag: str, default: float, text: str, unit: str = "", kind: type = int
) -> None:
    """A numeric flag whose help ends with its default, read from the module that owns it."""
    group.add_argument(flag, type=kind, default=default, help=f"{text} (default {default:g}{unit})")


def _help_percent(fraction: float) -> str:
    """0.1 -> '10%%': a percentage as argparse's help text must spell it."""
    return f"{fraction:.0%}".replace("%", "%%")


def _add_backend_args(parser: argparse.ArgumentParser, default_backend: str | None) -> None:
    from trt_export.infer.backends import (
        ALL_BACKENDS,
        DEFAULT_GPU_MEMORY_MB,
        DEFAULT_TRT_MIN_COVERAGE,
        DEFAULT_TRT_MIN_SUBGRAPH_SIZE,
        DEFAULT_TRT_PATH,
        DEFAULT_TRT_WORKSPACE_MB,
        TRT_PATHS,
    )

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
        choices=LOAD_FORMAT_CHOICES,
        help="exported format to load (and, for bench, to export): auto = legacy .pdmodel when the network can be "
        "saved that way, else PIR .json (default: auto / the export's default)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU math threads (default: 1 for verify, every core for bench)"
    )
    parser.add_argument("--no-ir-optim", action="store_true", help="switch Paddle's IR optimisation passes off")
    parser.add_argument("--device-id", type=int, default=0, help="GPU id (default 0)")
    _add_defaulted(parser, "--gpu-memory-mb", DEFAULT_GPU_MEMORY_MB, "initial GPU memory pool")
    trt = parser.add_argument_group("TensorRT")
    _add_defaulted(trt, "--trt-workspace-mb", DEFAULT_TRT_WORKSPACE_MB, "TensorRT workspace", " MiB")
    _add_defaulted(trt, "--trt-min-subgraph-size", DEFAULT_TRT_MIN_SUBGRAPH_SIZE, "smallest subgraph given to TensorRT")
    trt.add_argument("--trt-cache-dir", help="keep serialized engines here and reuse them (use_static)")
    trt.add_argument(
        "--trt-path",
        choices=TRT_PATHS,
        default=DEFAULT_TRT_PATH,
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
    coverage = "warn when less than this share of compute ops runs inside TensorRT"
    _add_defaulted(trt, "--trt-min-coverage", DEFAULT_TRT_MIN_COVERAGE, coverage, kind=float)
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
    from trt_export.report.parity_text import render_verify

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
        model_format=None if args.model_format in (None, FormatChoice.AUTO) else args.model_format,
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
            fmt = args.model_format or FormatChoice.AUTO.value
            exported = export_model(source, Path(scratch) / "export", shape, model_format=fmt).save_dir
        report = verify_export(source, exported, options)
        report.notes[:0] = source_notes
        if args.exported is None:
            report.manifest.export_dir = None  # the temporary export is gone once this block ends
    print(render_verify(report))
    if args.report:
        write_verify_report(report, args.report)
        print(f"report: {args.report}")
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


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


def _ab_rerun(options):  # (RerunOptions | None) -> gate.verdict.Rerun | None
    """The gate's A/B re-measurement: bench.interleave's, bound here so the gate never imports Paddle's side."""
    if options is None:
        return None
    from functools import partial

    from trt_export.bench.interleave import rerun_ab

    return partial(rerun_ab, options=options)


def _add_gate_args(group: argparse._ArgumentGroup | argparse.ArgumentParser, stat_flag: str) -> None:
    """The gate's flags (tolerances, statistics, the A/B re-measurement), declared once for ``gate``
    and ``bench --baseline``; the latency statistic is ``stat_flag`` (--stat / --gate-stat)."""
    from trt_export.bench.interleave import (
        CLOCKS,
        DEFAULT_BLOCK_MS,
        DEFAULT_PAIRS,
        DEFAULT_WARMUP,
        MIN_BLOCK_ITERS,
    )
    from trt_export.bench.stats import MIN_PAIRS
    from trt_export.gate.ratio_stats import DEFAULT_CONFIDENCE, DEFAULT_SEED
    from trt_export.gate.verdict import (
        DEFAULT_GATE_STAT,
        DEFAULT_GATE_TEST,
        DEFAULT_LATENCY_TOLERANCE,
        DEFAULT_MEMORY_TOLERANCE,
        GATE_STATS,
        GATE_TESTS,
    )

    group.add_argument(
        "--latency-tolerance",
        default=f"{DEFAULT_LATENCY_TOLERANCE:.0%}",
        help=f"allowed latency growth beyond the measured noise (default {_help_percent(DEFAULT_LATENCY_TOLERANCE)})",
    )
    group.add_argument(
        "--memory-tolerance",
        default=f"{DEFAULT_MEMORY_TOLERANCE:.0%}",
        help=f"allowed memory growth (default {_help_percent(DEFAULT_MEMORY_TOLERANCE)})",
    )
    group.add_argument(
        stat_flag,
        default=DEFAULT_GATE_STAT,
        choices=GATE_STATS,
        help=f"latency statistic gated on (default {DEFAULT_GATE_STAT})",
    )
    group.add_argument(
        "--allow-env-mismatch",
        action="store_true",
        help="compare against a baseline from another GPU/driver/TensorRT/CUDA/Paddle/CPU",
    )
    group.add_argument(
        "--test",
        choices=GATE_TESTS,
        default=DEFAULT_GATE_TEST,
        help="latency test: bootstrap interval of the ratio of medians from raw samples; summary: the "
        "version-1 noise band; auto: bootstrap when the reports have samples (default auto)",
    )
    _add_defaulted(
        group, "--confidence", DEFAULT_CONFIDENCE, "confidence level of the latency ratio's interval", kind=float
    )
    _add_defaulted(group, "--gate-seed", DEFAULT_SEED, "seed of the bootstrap and the A/B order", ": reproducible")
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
    _add_defaulted(group, "--pairs", DEFAULT_PAIRS, "with --rerun: A/B pairs of blocks", f", at least {MIN_PAIRS}")
    block = "with --rerun: approximate length of one block"
    _add_defaulted(group, "--block-ms", DEFAULT_BLOCK_MS, block, f" ms, at least {MIN_BLOCK_ITERS} runs", kind=float)
    group.add_argument(
        "--ab-clock",
        choices=CLOCKS,
        default=CLOCKS[0],
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
    from dataclasses import replace

    from trt_export.bench.options import DEFAULT_OBJECTIVE, timing_budget
    from trt_export.bench.sweep import DEFAULT_SHAPES, BenchOptions, best_backend, parse_shapes, run_bench
    from trt_export.bench.timing import policy_from_flags
    from trt_export.cli.predict_args import scene_options
    from trt_export.errors import EXIT_CHECK_FAILED
    from trt_export.infer.backends import require_backend
    from trt_export.report.render import render_bench_table

    # Everything that can be refused is refused before minutes of sweeping: the budget first
    # (BenchOptions checks it), the rest of the options once the backend is known.
    iters, duration = timing_budget(args.iters, args.duration)
    budget = BenchOptions(
        warmup=args.warmup,
        iters=iters,
        duration_s=duration,
        objective=args.objective or ("scene" if args.scene or args.scene_image else DEFAULT_OBJECTIVE),
        latency_stat=args.latency_stat,
        max_latency_ms=args.max_latency_ms,
        max_memory_mb=args.max_memory_mb,
        timeout_s=args.timeout,
        seed=args.seed,
    )
    try:
        timing = policy_from_flags(args.warmup, args.iters, args.duration, args.max_duration, args.target_ci)
    except ValueError as exc:
        raise TrtExportError(str(exc)) from None
    gate_settings = _gate_settings(args, args.gate_stat) if args.baseline else None
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
        from trt_export.gate.verdict import check_baselines, load_report

        # not JSON, another schema or version, too few samples: refused now, not after the sweep
        baselines = [load_report(path, "baseline") for path in args.baseline]
        if rerun is None:
            assert gate_settings is not None  # set above whenever --baseline is given
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
    model_format = args.model_format or FormatChoice.AUTO.value
    from trt_export.cli.scale_args import scale_from_args

    shard, executor = scale_from_args(args, backend, threads_given)  # --shard, --devices, --ray (docs/scale.md)
    if executor is not None and len(backends) > 1:
        raise TrtExportError(
            "--backends with --devices/--ray is not supported yet; sweep one backend per run (or drop --devices/--ray)"
        )
    for each in backends:
        require_backend(each, None if model_format == FormatChoice.AUTO else model_format, probe)
    options = replace(
        budget,
        model=args.model,
        weights=args.weights,
        model_kwargs=args.model_kwargs,
        model_type=args.model_type,
        shapes=shapes,
        settings=_backend_settings(args, backend),
        model_format=model_format,
        timing=timing,
        fork_workers=args.workers == "fork",
        started_at=_process_started_at(),
        out_dir=Path(args.out),
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        use_cache=not args.no_cache,
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
        from trt_export.bench.comparable import check_comparable

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
        from trt_export.gate.files import JUNIT_FILENAME, MARKDOWN_FILENAME
        from trt_export.gate.verdict import gate_files
        from trt_export.report.gate_output import render_gate_table, write_gate_outputs

        result = gate_files(
            args.baseline,
            options.out_dir / "bench.json",
            gate_settings,
            rerun=_ab_rerun(rerun),
            progress=lambda line: print(line, flush=True),
        )
        write_gate_outputs(result, options.out_dir / JUNIT_FILENAME, options.out_dir / MARKDOWN_FILENAME)
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
        model_format=None if args.model_format in (None, FormatChoice.AUTO) else args.model_format,
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
    from trt_export.cli.doctor import safe_doctor_report
    from trt_export.report.doctor_text import render_doctor

    report = safe_doctor_report()  # Paddle broken or crashing on import: still a report, exit 0
    if args.json:
        import json

        print(json.dumps(report, indent=2))
    else:
        print(render_doctor(report))
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from trt_export.gate.verdict import gate_files
    from trt_export.report.gate_output import check_gate_output_paths, render_gate_table, write_gate_outputs

    check_gate_output_paths(args.junit, args.markdown)  # before any report is loaded or re-measured
    result = gate_files(
        args.baseline,
        args.current,
        _gate_settings(args, args.stat),
        rerun=_ab_rerun(_rerun_options(args)),
        progress=lambda line: print(line, flush=True),
    )
    write_gate_outputs(result, args.junit, args.markdown)
    print(render_gate_table(result))
    return result.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trt-export",
        description="Export Paddle/PaddleRS models at a fixed input shape, verify parity on Paddle Inference "
        "(CPU, oneDNN, GPU, TensorRT) and benchmark candidate sizes.",
    )
    parser.add_argument("--version", action="version", version=f"trt-export {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    # --verbose and --quiet are accepted before or after the command; SUPPRESS keeps the
    # sub-parser's absent flag from overwriting a global one.
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    export = _command(sub, common, "export", _cmd_export, "export a model at a fixed input shape", source=True)
    export.add_argument("--save-dir", required=True, help="deployment-format output directory")
    export.add_argument("--fixed-input-shape", dest="fixed_input_shape", help=SHAPE_HELP)
    export.add_argument(
        "--format",
        default=FormatChoice.AUTO.value,
        choices=EXPORT_FORMAT_CHOICES,
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

    verify = _command(
        sub,
        common,
        "verify",
        _cmd_verify,
        "check an export against the dygraph model on a backend (exit 0 pass, 1 fail)",
        source=True,
    )
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

    from trt_export.bench.options import DEFAULT_LATENCY_STAT, DEFAULT_OUT, DEFAULT_SHAPES, DEFAULT_TIMEOUT_S
    from trt_export.bench.report import OBJECTIVES
    from trt_export.bench.stats import LATENCY_STATS
    from trt_export.bench.timing import DEFAULT_MAX_TIME_S, DEFAULT_MIN_RUNS, DEFAULT_MIN_TIME_S, DEFAULT_TARGET_CI
    from trt_export.bench.timing import DEFAULT_WARMUP as DEFAULT_BENCH_WARMUP

    bench = _command(
        sub,
        common,
        "bench",
        _cmd_bench,
        "sweep candidate fixed shapes: latency, memory, parity, and a recommendation (no arguments: built-in default)",
        source=True,
    )
    bench.add_argument(
        "--shapes",
        nargs="+",
        metavar="SHAPE",
        help=f"candidate shapes, each '[w,h]' or '[n,c,w,h]' (default: {' '.join(DEFAULT_SHAPES)})",
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
    from trt_export.infer.backend_names import ALL_BACKENDS

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
    _add_defaulted(bench, "--warmup", DEFAULT_BENCH_WARMUP, "untimed runs before timing")
    bench.add_argument(
        "--iters",
        type=int,
        help=f"minimum timed runs (default {DEFAULT_MIN_RUNS}, with at least {DEFAULT_MIN_TIME_S:g} s of runs, then "
        "until the median's CI is tight or --max-duration; given alone: exactly this many)",
    )
    bench.add_argument(
        "--duration", type=float, help="time each candidate for at least this many seconds (and at least --iters runs)"
    )
    bench.add_argument(
        "--max-duration",
        type=float,
        help=f"time each candidate for at most this many seconds (default {DEFAULT_MAX_TIME_S:g}; --iters alone: no cap); "
        "a step always ends before --timeout, with a note of the runs it got",
    )
    bench.add_argument(
        "--target-ci",
        metavar="PCT",
        help="stop timing a candidate early once the 95%% CI of its median is within this of the median "
        f"(default {DEFAULT_TARGET_CI:.1%}%; 'off' disables; with --iters N, N becomes the minimum)",
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
        choices=OBJECTIVES,
        default=None,
        help="throughput: most input megapixels/s; latency: lowest --latency-stat; scene: lowest predicted "
        "time for the --scene (default: scene when a scene is given, else throughput)",
    )
    bench.add_argument(
        "--latency-stat",
        choices=[stat for stat in LATENCY_STATS if stat != "median"],  # "median" is p50 by its other name
        default=DEFAULT_LATENCY_STAT,
        help=f"statistic the latency budget and objective use (default {DEFAULT_LATENCY_STAT})",
    )
    bench.add_argument("--max-latency-ms", type=float, help="latency budget: candidates above it are excluded")
    bench.add_argument("--max-memory-mb", type=float, help="memory budget (GPU memory on GPU, else peak RSS) in MiB")
    _add_defaulted(bench, "--timeout", DEFAULT_TIMEOUT_S, "seconds one candidate step may take", kind=float)
    bench.add_argument(
        "--out", default=DEFAULT_OUT, help=f"directory for bench.json/.csv/.md and plots (default {DEFAULT_OUT})"
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
    _add_gate_args(gate_group, "--gate-stat")
    bench.add_argument(
        "--keep-exports",
        action="store_true",
        help="copy each measured candidate's export to OUT/exports/<label> (what 'gate --rerun' measures; "
        "keep OUT as the CI artifact of the baseline run)",
    )
    from trt_export.cli.scale_args import add_scale_args

    add_scale_args(bench)

    merge = _command(
        sub,
        common,
        "merge",
        _cmd_merge,
        "combine the bench.json of every shard (bench --shard K/N) into one report and recommendation",
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

    debug = _command(
        sub,
        common,
        "debug-precision",
        _cmd_debug_precision,
        "on a TensorRT parity failure, find a smallest set of op types to keep out of TensorRT (or run in fp32)",
        source=True,
    )
    debug.add_argument("--exported", required=True, help="export dir written by 'trt-export export'")
    _add_backend_args(debug, default_backend="trt-fp16")
    from trt_export.parity.debug_precision import DEFAULT_ITERS as DEBUG_ITERS
    from trt_export.parity.debug_precision import DEFAULT_MODE, MODES

    debug.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="disable: keep op types out of TensorRT (legacy exp_disable_tensorrt_ops, PIR disable_ops); "
        f"fp32: build them in fp32 inside the engine (PIR ops_run_float) (default {DEFAULT_MODE})",
    )
    debug.add_argument(
        "--ops", nargs="+", metavar="OP", help="candidate op types (default: those inside the engines of a plain run)"
    )
    _add_defaulted(debug, "--iters", DEBUG_ITERS, "timed runs per configuration")
    debug.add_argument("--atol", action="append", metavar="[OUTPUT=]X", help="absolute tolerance (repeatable)")
    debug.add_argument("--rtol", action="append", metavar="[OUTPUT=]X", help="relative tolerance (repeatable)")
    debug.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    debug.add_argument("--report", help="write the search (every step, its parity and latency) as JSON here")
    predict = _command(
        sub,
        common,
        "predict",
        _cmd_predict,
        "tiled inference of a scene of any size with a fixed-shape export (PaddleRS slider semantics)",
    )
    from trt_export.cli.predict_args import add_predict_args

    add_predict_args(predict, _add_backend_args)

    doctor = _command(sub, common, "doctor", _cmd_doctor, "what this machine can run: Paddle, CUDA, TensorRT, backends")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")

    gate = _command(sub, common, "gate", _cmd_gate, "compare a bench report against a baseline (CI regression gate)")
    gate.add_argument(
        "--baseline",
        required=True,
        nargs="+",
        metavar="BENCH_JSON",
        help="baseline bench.json; several: the first is the baseline, their spread the between-run noise (history)",
    )
    gate.add_argument("--current", required=True, help="current bench.json")
    gate.add_argument("--junit", help="write JUnit XML here (one test case per shape)")
    gate.add_argument("--markdown", help="write a Markdown summary here")
    _add_gate_args(gate, "--stat")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:
        parser.error(BOTH_FLAGS_ERROR)
    set_verbose(args.verbose)
    configure_logging(args.verbose, args.quiet)
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

    global _received_signal
    _received_signal = 0  # per run: an in-process caller's earlier run must not mark this one
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
