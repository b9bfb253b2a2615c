#!/usr/bin/env python
"""Drop-in for PaddleRS's deploy/export/export_model.py, with the fixed input shape required.

    python scripts/export_model.py --model_dir=./output/unet/best_model/ \
        --save_dir=./inference_model/ --fixed_input_shape=[256,256]

Same flags as PaddleRS's script (see shared/seed/export-doc.zh.md); the shape follows the seed's
[w,h] / [n,c,w,h] notation. Everything else is `trt-export export`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trt_export.cli.commands import SHAPE_HELP, main  # noqa: E402


def translate(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # PaddleRS's script also takes the short forms -m, -s and -fs.
    parser.add_argument(
        "--model_dir", "-m", required=True, help="PaddleRS training-format dir, or package.module:callable"
    )
    parser.add_argument("--save_dir", "-s", required=True, help="deployment-format output dir")
    parser.add_argument("--fixed_input_shape", "-fs", required=True, help=SHAPE_HELP)
    parser.add_argument("--format", default="auto", choices=["auto", "legacy", "pir", "both"])
    parser.add_argument("--force", action="store_true", help="replace an earlier export in --save_dir")
    parser.add_argument(
        "--replace_non_export", action="store_true", help="also replace a --save_dir holding other files"
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    out = ["--verbose"] if args.verbose else []
    out += [
        "export",
        "--model",
        args.model_dir,
        "--save-dir",
        args.save_dir,
        "--fixed-input-shape",
        args.fixed_input_shape,
        "--format",
        args.format,
    ]
    return out + (["--force"] if args.force else []) + (["--replace-non-export"] if args.replace_non_export else [])


def paddlers_difference(shape_text: str) -> str | None:
    """For a non-square shape: the tensor we fix next to the one PaddleRS's own script would fix."""
    from trt_export.errors import ShapeError
    from trt_export.model.shapes import parse_fixed_shape

    try:
        shape = parse_fixed_shape(shape_text)
    except ShapeError:
        return None  # the export itself reports the bad shape
    if shape.h == shape.w:
        return None
    return (
        f"note: non-square shape {shape_text}: this export fixes the NCHW tensor {list(shape.nchw)} "
        f"(width {shape.w}, height {shape.h}, as PaddleRS's docs define [w,h]); PaddleRS's own export_model.py "
        f"would fix {list(shape.paddlers_script_nchw)} from the same flag (it puts the two numbers in the H,W slots)"
    )


if __name__ == "__main__":
    argv = translate(sys.argv[1:])
    note = paddlers_difference(argv[argv.index("--fixed-input-shape") + 1])
    if note:
        print(note, flush=True)
    sys.exit(main(argv))
