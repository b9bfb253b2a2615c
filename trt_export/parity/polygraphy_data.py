"""verify's inputs and dygraph reference outputs in Polygraphy's own JSON formats.

Written through Polygraphy's API, so Polygraphy reads them back as it reads its own files:
`polygraphy.json.save_json([feed], path)` is what `--load-inputs` loads (a list of feed dicts,
one per iteration), and a `RunResults` holding one `IterationResult` per iteration, saved with
`.save(path)`, is what `--load-outputs` loads. Tensors are keyed by the ONNX model's names
(paddle2onnx keeps the feed names and calls the outputs `fetch_name_N`), mapped from our
logical names by position, so

    polygraphy run model.onnx --onnxrt --load-inputs inputs.json --load-outputs reference.json

compares ONNX Runtime against the dygraph reference, and `polygraphy debug precision` can start
from the same files.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trt_export.errors import TrtExportError

INPUTS_FILE = "inputs.json"
REFERENCE_FILE = "reference.json"
RUNNER_NAME = "trt-export-dygraph"


@dataclass(frozen=True)
class PolygraphyData:
    inputs: Path
    reference: Path
    onnx_model: Path
    command: str


def _require_polygraphy() -> None:
    try:
        import polygraphy  # noqa: F401
    except ImportError:
        raise TrtExportError("--polygraphy-data needs Polygraphy; pip install 'trt-export[onnx]'") from None


def to_onnx_names(
    arrays: Mapping[str, np.ndarray], logical: Sequence[str], onnx_names: Sequence[str], what: str
) -> dict[str, np.ndarray]:
    """Re-key logical-name arrays by the ONNX model's names (same order)."""
    if len(logical) != len(onnx_names):
        raise TrtExportError(
            f"the ONNX model has {len(onnx_names)} {what}s ({list(onnx_names)}), the export {len(logical)} ({list(logical)})"
        )
    return {onnx: np.ascontiguousarray(arrays[name]) for name, onnx in zip(logical, onnx_names, strict=True)}


def save_polygraphy_data(
    out_dir: str | Path,
    feed: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
    onnx_model: str | Path,
    onnx_input_names: Sequence[str],
    onnx_output_names: Sequence[str],
    atol: float | None = None,
    rtol: float | None = None,
) -> PolygraphyData:
    """Write `inputs.json` and `reference.json` into `out_dir`; return them and the command to run."""
    _require_polygraphy()
    from polygraphy.comparator import RunResults
    from polygraphy.comparator.struct import IterationResult
    from polygraphy.json import save_json

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TrtExportError(f"--polygraphy-data {str(out)!r} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    # Inputs by name: paddle2onnx keeps the feed names; map by name when they match, else position.
    if sorted(input_names) == sorted(onnx_input_names):
        inputs = {name: np.ascontiguousarray(feed[name]) for name in input_names}
    else:
        inputs = to_onnx_names(feed, input_names, onnx_input_names, "input")
    outputs = to_onnx_names(reference, output_names, onnx_output_names, "output")
    inputs_path, reference_path = out / INPUTS_FILE, out / REFERENCE_FILE
    save_json([inputs], str(inputs_path), description="trt-export verify inputs")
    results = RunResults()
    results.append((RUNNER_NAME, [IterationResult(outputs, runner_name=RUNNER_NAME)]))
    results.save(str(reference_path))
    parts = [
        "polygraphy",
        "run",
        str(onnx_model),
        "--onnxrt",
        "--load-inputs",
        str(inputs_path),
        "--load-outputs",
        str(reference_path),
    ]
    if atol is not None and rtol is not None:
        parts += ["--atol", f"{atol:g}", "--rtol", f"{rtol:g}"]
    return PolygraphyData(inputs_path, reference_path, Path(onnx_model), " ".join(shlex.quote(p) for p in parts))
