"""Written with trt_export at c0c0537 (the first commit where the manifest module imports: its inputs.py landed after ddd60f4: schema trt-export/manifest v1)."""

import sys
from pathlib import Path

from trt_export.inputs import TensorSpec
from trt_export.manifest import FormatFiles, Manifest, save_manifest
from trt_export.shapes import FixedShape

m = Manifest(
    tool_version="0.1.0",
    paddle_version="3.3.1",
    paddle_commit="abc123",
    created_utc="2026-11-29T08:00:00Z",
    export_seconds=3.14159265,
    source={"kind": "factory", "spec": "paddle.vision.models:resnet18", "kwargs": {}},
    model={"name": "resnet18", "model_type": "classifier"},
    fixed_shape=FixedShape(1, 3, 224, 320),
    inputs=[TensorSpec("image", "float32", (1, 3, 224, 320))],
    outputs=[TensorSpec("logits", "float32", (1, 10))],
    formats={"legacy": FormatFiles("model.pdmodel", "model.pdiparams", "11" * 32, ["logits"])},
    default_format="legacy",
)
save_manifest(m, Path(sys.argv[1]))
