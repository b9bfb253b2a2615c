"""Arguments of ``trt-export predict`` and their translation into :class:`PredictOptions`.

Kept out of cli.py so the command's flags and defaults have one owner; cli.py only registers it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trt_export.errors import EXIT_OK, TrtExportError
from trt_export.model.types import ExportFormat
from trt_export.predict.tiling import DEFAULT_MERGE, DEFAULT_OVERLAP, MERGES


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_tiling_args(parser: Any) -> None:
    """--overlap and --merge, shared by predict and bench's scene objective."""
    parser.add_argument(
        "--overlap",
        type=non_negative_int,
        default=DEFAULT_OVERLAP,
        help=f"pixels adjacent tiles share (default {DEFAULT_OVERLAP}, PaddleRS's); must be below the tile size",
    )
    parser.add_argument(
        "--merge",
        choices=MERGES,
        default=DEFAULT_MERGE,
        help="how overlapping tiles are merged, as in PaddleRS's slider: keep_first, keep_last, "
        f"accum (summed probabilities), swell (keep tile centres) (default {DEFAULT_MERGE})",
    )


def add_scene_args(parser: argparse.ArgumentParser) -> None:
    """bench's scene objective and agreement check (trt_export/bench/scene.py)."""
    from trt_export.bench.scene import DEFAULT_AGREEMENT_MAX_PIXELS

    group = parser.add_argument_group("scene objective and tiling agreement")
    group.add_argument(
        "--scene",
        metavar="WxH",
        help="judge tile sizes on a scene of this size, e.g. 10000x10000: predicted scene seconds with overlap",
    )
    group.add_argument(
        "--scene-image",
        nargs="+",
        metavar="RASTER",
        help="the scene as a raster (its size; its real reading cost; agreement on it unless --agreement-images); two for a change pair",
    )
    add_tiling_args(group)
    group.add_argument(
        "--agreement-images",
        nargs="+",
        metavar="RASTER",
        help="images (pairs for change detection) on which tiled labels are compared with the dygraph model at native resolution",
    )
    group.add_argument(
        "--min-agreement",
        type=float,
        metavar="FRACTION",
        help="exclude tile sizes whose label agreement is below this, e.g. 0.99",
    )
    group.add_argument(
        "--agreement-max-pixels",
        type=int,
        default=DEFAULT_AGREEMENT_MAX_PIXELS,
        metavar="N",
        help=f"largest window the dygraph reference runs on; larger images are compared on a centred window (default {DEFAULT_AGREEMENT_MAX_PIXELS})",
    )


def scene_options(args: argparse.Namespace) -> Any:
    from trt_export.bench.scene import parse_min_agreement, parse_scene
    from trt_export.bench.scene_sweep import SceneOptions

    return SceneOptions(
        scene_size=parse_scene(args.scene) if args.scene else None,
        scene_images=list(args.scene_image or []),
        overlap=args.overlap,
        merge=args.merge,
        agreement_images=list(args.agreement_images or []),
        agreement_max_pixels=args.agreement_max_pixels,
        min_agreement=parse_min_agreement(args.min_agreement),
    )


def add_predict_args(
    parser: argparse.ArgumentParser, add_backend_args: Callable[[argparse.ArgumentParser, str | None], None]
) -> None:
    parser.add_argument(
        "--exported",
        required=True,
        help="export dir written by 'trt-export export' (its fixed shape is the tile and batch)",
    )
    parser.add_argument(
        "--image",
        nargs="+",
        required=True,
        metavar="RASTER",
        help="the scene: a GeoTIFF, PNG, JPEG or .npy of any size; two files (before, after) for a change detector",
    )
    parser.add_argument(
        "--out", required=True, help="label map to write: .tif (keeps CRS, geotransform; nodata 255), .png or .npy"
    )
    parser.add_argument("--score-out", help="also write the class scores (float32, one band per class): .tif or .npy")
    add_tiling_args(parser)
    parser.add_argument(
        "--force", action="store_true", help="replace existing outputs (only once the new ones are complete)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_args(parser, None)
    parser.set_defaults(threads=None)


def run_predict_command(args: argparse.Namespace, backend_settings: Callable[[argparse.Namespace, str], Any]) -> int:
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.backends import require_backend
    from trt_export.predict.tiled import PredictOptions, predict

    if args.threads is None:
        args.threads = os.cpu_count() or 1
    if args.threads < 1:
        raise TrtExportError(f"--threads must be at least 1, got {args.threads}")
    model_format = None if args.model_format in (None, "auto") else args.model_format
    backend = args.backend
    if backend is None:
        from trt_export.bench.sweep import best_backend

        backend = best_backend()
        manifest = load_manifest(args.exported)
        if backend == "paddle-onednn" and (model_format or manifest.default_format) == ExportFormat.PIR:
            # oneDNN fails on PIR models with bilinear interpolate (Paddle 3.3.1); bench switches the same way.
            backend = "paddle-cpu"
            print(
                "note: the export is a PIR .json model and oneDNN fails on those with bilinear interpolate, so predict runs on "
                "paddle-cpu; pass --backend paddle-onednn to force it",
                flush=True,
            )
    require_backend(backend, model_format)
    options = PredictOptions(
        export_dir=Path(args.exported),
        images=[Path(p) for p in args.image],
        out=Path(args.out),
        score_out=Path(args.score_out) if args.score_out else None,
        overlap=args.overlap,
        merge=args.merge,
        force=args.force,
        progress=not args.no_progress,
        settings=backend_settings(args, backend),
        model_format=model_format,
    )
    result = predict(options)
    print(result.summary())
    return EXIT_OK
