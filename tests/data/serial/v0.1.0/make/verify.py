"""Written with trt_export at 3eece6c (verify's first commit: schema trt-export/verify v1)."""

import sys
from pathlib import Path

from trt_export.compare import ComparisonResult, OutputComparison, Tolerance
from trt_export.inputs import TensorSpec
from trt_export.manifest import FormatFiles, Manifest
from trt_export.shapes import FixedShape
from trt_export.verify import VerifyReport, write_verify_report

m = Manifest(
    tool_version="0.1.0",
    paddle_version="3.3.1",
    paddle_commit="abc123",
    created_utc="2026-11-29T08:00:00Z",
    export_seconds=3.1,
    source={"kind": "factory", "spec": "paddle.vision.models:resnet18", "kwargs": {}},
    model={"name": "resnet18", "model_type": "classifier"},
    fixed_shape=FixedShape(1, 3, 224, 320),
    inputs=[TensorSpec("image", "float32", (1, 3, 224, 320))],
    outputs=[TensorSpec("logits", "float32", (1, 10))],
    formats={"legacy": FormatFiles("model.pdmodel", "model.pdiparams", "11" * 32, ["logits"])},
    default_format="legacy",
    export_dir=Path("/exports/resnet18"),
)
tol = Tolerance(atol=1e-4, rtol=1e-3, min_argmax_agreement=0.999)
out = OutputComparison(
    name="logits",
    passed=True,
    tolerance=tol,
    reference_shape=(1, 10),
    candidate_shape=(1, 10),
    reference_dtype="float32",
    candidate_dtype="float32",
    max_abs_error=1.5e-6,
    mean_abs_error=2e-7,
    median_abs_error=1e-7,
    p99_abs_error=1.4e-6,
    max_rel_error=float("inf"),
    mean_rel_error=1e-5,
    median_rel_error=1e-6,
    p99_rel_error=1e-4,
    mismatch_fraction=0.0,
    cosine_similarity=1.0,
    score_axis=1,
    argmax_agreement=1.0,
    required_atol=1.5e-6,
    required_rtol=0.0,
)
report = VerifyReport(
    manifest=m,
    backend="paddle-cpu",
    model_format="legacy",
    inputs_from={"kind": "random", "seed": 0},
    comparison=ComparisonResult(outputs=[out]),
    dygraph_ms=12.5,
    predictor_ms=3.25,
    build_s=None,
    created_utc="2026-11-29T08:00:00Z",
)
write_verify_report(report, sys.argv[1])
