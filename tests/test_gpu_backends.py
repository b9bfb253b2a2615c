"""End-to-end GPU and TensorRT backends against dygraph. Skipped, with the reason, without them.

Written to run unchanged on a GPU runner with a TensorRT-enabled paddlepaddle-gpu:
`pytest -m gpu tests/test_gpu_backends.py`.
"""

from __future__ import annotations

import numpy as np
import pytest

from test_runners import OUTPUTS, SHAPE, assert_close, export_tiny, make_layer
from trt_export.backends import (
    PIR_INT8_WARNING,
    RANDOM_CALIBRATION_WARNING,
    BackendSettings,
    decide_availability,
    probe_environment,
)
from trt_export.inputs import TensorSpec, random_inputs
from trt_export.runners import DygraphRunner, PaddleInferenceRunner

PROBE = probe_environment()


def _skip_reason() -> str | None:
    if not PROBE.cuda_compiled:
        return "Paddle is a CPU-only build (paddle.is_compiled_with_cuda() is False)"
    if PROBE.gpu_count < 1:
        return "Paddle has CUDA but sees no GPU"
    return None


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")]

FP32_TOL = {"atol": 1e-4, "rtol": 1e-3}
# FP16 drifts; Paddle's own TensorRT fp16 tests use 1e-3..1e-2.
FP16_TOL = {"atol": 1e-2, "rtol": 1e-2}


def require(backend: str, fmt: str) -> None:
    availability = decide_availability(backend, PROBE, fmt)
    if not availability:
        pytest.skip(f"{backend} with {fmt} models is not available here: {availability.reason}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    layer = make_layer()
    directory = tmp_path_factory.mktemp("tiny_gpu")
    return layer, directory, export_tiny(directory, layer)


@pytest.fixture(scope="module")
def feed():
    return random_inputs([TensorSpec("image", "float32", SHAPE)], seed=5)


@pytest.fixture(scope="module")
def reference(tiny, feed):
    layer, _, manifest = tiny
    with DygraphRunner(layer, manifest.inputs, manifest.output_names) as runner:
        return runner.infer(feed)


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_paddle_gpu_matches_dygraph(tiny, feed, reference, fmt):
    require("paddle-gpu", fmt)
    _, directory, manifest = tiny
    with PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-gpu"), fmt) as runner:
        outputs = runner.infer(feed)
        assert runner.last_inference_time() > 0
    assert_close(outputs, reference, **FP32_TOL)


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
@pytest.mark.parametrize("backend, tol", [("trt-fp32", FP32_TOL), ("trt-fp16", FP16_TOL)])
def test_tensorrt_matches_dygraph(tiny, feed, reference, fmt, backend, tol):
    require(backend, fmt)
    _, directory, manifest = tiny
    settings = BackendSettings(backend, trt_workspace_bytes=1 << 28)
    with PaddleInferenceRunner(directory, manifest, settings, fmt) as runner:
        assert runner.plan is not None and runner.plan.trt_path == fmt
        assert runner.build_seconds is not None and runner.build_seconds > 0
        outputs = runner.infer(feed)
        runner.run_raw()
        again = runner.infer(feed)
    assert list(outputs) == OUTPUTS
    assert_close(outputs, reference, **tol)
    assert_close(again, outputs, atol=0, rtol=0)


def test_legacy_engine_cache_is_written(tiny, feed, reference, tmp_path):
    require("trt-fp32", "legacy")
    _, directory, manifest = tiny
    settings = BackendSettings("trt-fp32", trt_use_static=True, trt_cache_dir=str(tmp_path / "cache"))
    with PaddleInferenceRunner(directory, manifest, settings, "legacy") as runner:
        assert_close(runner.infer(feed), reference, **FP32_TOL)
    cache = tmp_path / "cache"
    # <cache>/model_<program+weights hash>/legacy_trt_fp32_<shape>/: shape file, then _opt_cache engines.
    [shape_file] = cache.rglob("shape_range_info.pbtxt")
    assert shape_file.parent.name == "legacy_trt_fp32_" + "x".join(map(str, SHAPE))
    assert shape_file.parent.parent.name.startswith("model_")
    engines = [p for p in cache.rglob("*") if p.is_file() and p != shape_file]
    assert engines, "use_static wrote no engine into the cache dir"
    # A second predictor loads the serialized engine and still agrees.
    with PaddleInferenceRunner(directory, manifest, settings, "legacy") as runner:
        assert_close(runner.infer(feed), reference, **FP32_TOL)
    # The export dir itself stays untouched by Paddle's _opt_cache.
    assert not (directory / "_opt_cache").exists()


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_int8_with_random_calibration_runs(tiny, feed, fmt):
    require("trt-int8", fmt)
    _, directory, manifest = tiny
    settings = BackendSettings("trt-int8", allow_random_calibration=True)
    with PaddleInferenceRunner(directory, manifest, settings, fmt) as runner:
        # Legacy calibrates (randomly here); PIR has no calibrator and says so.
        expected = RANDOM_CALIBRATION_WARNING if fmt == "legacy" else PIR_INT8_WARNING
        assert expected in runner.plan.warnings
        outputs = runner.infer(feed)
    assert [o.shape for o in outputs.values()] == [s.shape for s in manifest.outputs]
    assert all(np.isfinite(o).all() for o in outputs.values())
