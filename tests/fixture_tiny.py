"""The tiny conv net of the runner tests, its export in the manifest's layout, and the closeness check.

Shared by the runner, TensorRT-coverage, debug-precision and GPU tests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from trt_export.env.paddle_import import import_paddle
from trt_export.export.manifest import FormatFiles, Manifest, load_manifest, save_manifest
from trt_export.infer.inputs import TensorSpec
from trt_export.model.shapes import FixedShape

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional

SHAPE = (1, 3, 32, 32)
OUTPUTS = ["score_map", "pooled"]
# Judge parity with atol and rtol: ir_optim fuses conv+bn, which moves float32 results ~1e-6.
ATOL, RTOL = 1e-4, 1e-3


class TinyNet(nn.Layer):
    """Conv-BN-ReLU, a pooled head and optionally a bilinear upsample (the oneDNN+PIR trap)."""

    def __init__(self, interpolate: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2D(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2D(8)
        self.head = nn.Conv2D(8, 2, 1)
        self.interpolate = interpolate

    def forward(self, image):
        x = F.relu(self.bn(self.conv(image)))
        y = self.head(F.max_pool2d(x, 2))
        if self.interpolate:
            y = F.interpolate(y, scale_factor=2, mode="bilinear")
        return y, paddle.mean(x, axis=[2, 3])


def make_layer(interpolate: bool = False, seed: int = 0):
    paddle.seed(seed)
    layer = TinyNet(interpolate)
    # Non-trivial BN statistics so a wrong conv+bn fusion would show.
    layer.bn._mean.set_value(paddle.rand([8]) * 0.5)
    layer.bn._variance.set_value(paddle.rand([8]) + 0.5)
    layer.eval()
    return layer


def export_tiny(directory: Path, layer, formats=("legacy", "pir"), shape=SHAPE) -> Manifest:
    """paddle.jit.save in the manifest's layout (legacy top level, PIR in pir/ when both)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = [paddle.static.InputSpec(list(shape), "float32", "image")]
    files: dict[str, FormatFiles] = {}
    for fmt in formats:
        prefix = directory / ("pir/model" if fmt == "pir" and len(formats) == 2 else "model")
        if fmt == "legacy":
            with paddle.pir_utils.OldIrGuard():
                paddle.jit.save(layer, str(prefix), spec)
            model = prefix.with_suffix(".pdmodel")
        else:
            paddle.jit.save(layer, str(prefix), spec)
            model = prefix.with_suffix(".json")
        params = prefix.with_suffix(".pdiparams")
        config = paddle.inference.Config(str(model), str(params))
        config.disable_glog_info()
        names = list(paddle.inference.create_predictor(config).get_output_names())
        files[fmt] = FormatFiles(
            model_file=str(model.relative_to(directory)),
            params_file=str(params.relative_to(directory)),
            params_sha256=hashlib.sha256(params.read_bytes()).hexdigest(),
            output_names=names,
        )
    manifest = Manifest(
        tool_version="test",
        paddle_version=paddle.__version__,
        paddle_commit="",
        created_utc="2026-01-01T00:00:00Z",
        export_seconds=0.0,
        source={"kind": "factory", "spec": "tests:TinyNet", "weights": None, "weights_sha256": None},
        model={"name": "tiny", "model_type": "generic"},
        fixed_shape=FixedShape.from_nchw(list(shape)),
        inputs=[TensorSpec("image", "float32", tuple(shape))],
        outputs=[
            TensorSpec("score_map", "float32", (shape[0], 2, shape[2] // 2, shape[3] // 2)),
            TensorSpec("pooled", "float32", (shape[0], 8)),
        ],
        formats=files,
        default_format=formats[0],
    )
    save_manifest(manifest, directory)
    return load_manifest(directory)


def assert_close(actual: dict, expected: dict, atol=ATOL, rtol=RTOL):
    assert list(actual) == list(expected)
    for name in expected:
        assert actual[name].shape == expected[name].shape, name
        np.testing.assert_allclose(actual[name], expected[name], atol=atol, rtol=rtol, err_msg=name)
