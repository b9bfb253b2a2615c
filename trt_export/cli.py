"""Command line: parse arguments, call the library, turn errors into one line and an exit code.

Exit codes: 0 pass, 1 a check failed (parity, regression), 2 usage or environment error.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Callable, Sequence

from trt_export import __version__
from trt_export.errors import EXIT_OK, EXIT_USAGE, TrtExportError
from trt_export.paddle_env import is_verbose, set_verbose

SHAPE_HELP = (
    "fixed input shape, required: '[w,h]' (n=1, c=3) or '[n,c,w,h]' as in PaddleRS's export guide; "
    "width before height, the tensor is NCHW = [n,c,h,w]"
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 with one line (argparse already uses 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"trt-export: error: {message} (see --help)\n")


def _add_source_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--model",
        required=required,
        help="PaddleRS training dir (model.yml + model.pdparams) or 'package.module:callable' "
        "returning a paddle.nn.Layer (default: paddle.vision.models:mobilenet_v3_small)",
    )
    parser.add_argument("--weights", help=".pdparams weights for a factory model")
    parser.add_argument("--model-kwargs", help="JSON keyword arguments for the factory, e.g. '{\"num_classes\": 2}'")
    parser.add_argument(
        "--model-type",
        choices=["classifier", "segmenter", "change_detector", "detector", "generic"],
        help="override the detected model type (decides pipeline.yml and how outputs are compared)",
    )


def _cmd_export(args: argparse.Namespace) -> int:
    from trt_export.export import export_model
    from trt_export.shapes import parse_fixed_shape
    from trt_export.sources import load_source

    shape = parse_fixed_shape(args.fixed_input_shape)
    source = load_source(args.model, weights=args.weights, kwargs=args.model_kwargs, model_type=args.model_type)
    print(f"fixing input shape: {shape.describe()}", flush=True)
    result = export_model(source, args.save_dir, shape, model_format=args.format, force=args.force)
    print(result.summary())
    return EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    from trt_export.doctor import doctor_report, render_doctor

    report = doctor_report()
    if args.json:
        import json

        print(json.dumps(report, indent=2))
    else:
        print(render_doctor(report))
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from trt_export.gate import GateSettings, gate_files, parse_tolerance, render_gate_table

    settings = GateSettings(
        latency_tolerance=parse_tolerance(args.latency_tolerance),
        memory_tolerance=parse_tolerance(args.memory_tolerance),
        stat=args.stat,
        allow_env_mismatch=args.allow_env_mismatch,
    )
    result = gate_files(args.baseline, args.current, settings, junit_path=args.junit, markdown_path=args.markdown)
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
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    export = sub.add_parser("export", help="export a model at a fixed input shape")
    _add_source_args(export)
    export.add_argument("--save-dir", required=True, help="deployment-format output directory")
    export.add_argument("--fixed-input-shape", dest="fixed_input_shape", help=SHAPE_HELP)
    export.add_argument(
        "--format",
        default="legacy",
        choices=["legacy", "pir", "both"],
        help="legacy: model.pdmodel (the seed's format; needed by the TensorRT engine call and by oneDNN with "
        "interpolate), pir: Paddle 3 model.json, both: legacy plus pir/ (default: legacy)",
    )
    export.add_argument("--force", action="store_true", help="replace a non-empty --save-dir")
    export.set_defaults(handler=_cmd_export)

    doctor = sub.add_parser("doctor", help="what this machine can run: Paddle, CUDA, TensorRT, backends")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(handler=_cmd_doctor)

    gate = sub.add_parser("gate", help="compare a bench report against a baseline (CI regression gate)")
    gate.add_argument("--baseline", required=True, help="baseline bench.json")
    gate.add_argument("--current", required=True, help="current bench.json")
    gate.add_argument("--latency-tolerance", default="10%", help="allowed latency growth beyond noise (default 10%%)")
    gate.add_argument("--memory-tolerance", default="5%", help="allowed memory growth (default 5%%)")
    gate.add_argument("--stat", default="p50", choices=["p50", "p90", "p99"], help="latency statistic to gate on")
    gate.add_argument("--allow-env-mismatch", action="store_true", help="compare runs from different environments")
    gate.add_argument("--junit", help="write JUnit XML here (one test case per shape)")
    gate.add_argument("--markdown", help="write a Markdown summary here")
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


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except TrtExportError as exc:
        if is_verbose():
            traceback.print_exc()
        print(f"trt-export: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trt-export: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours or an unexpected Paddle failure: still one line
        if is_verbose():
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(
            f"trt-export: internal error: {type(exc).__name__}: {first} (re-run with --verbose for the traceback)",
            file=sys.stderr,
        )
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
