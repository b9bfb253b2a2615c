"""End-to-end GPU and TensorRT backends against dygraph. Skipped, with the reason, without them.

Written to run unchanged on a GPU runner with a TensorRT-enabled paddlepaddle-gpu:
`pytest -m gpu tests/infer/test_gpu_backends.py` (scripts/gpu-acceptance.sh runs it). Each test exports
into its own tmp dir and uses its own cache dir, so they can run in any order or alone. Each one
asserts what it claims: that engines exist and ran (not only that outputs match, which plain CUDA
would also do), that the INT8 table sits in the cache dir, that fp16 is not secretly fp32.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixture_tiny import OUTPUTS, SHAPE, assert_close, export_tiny, make_layer

from trt_export.infer.backends import (
    PIR_INT8_WARNING,
    RANDOM_CALIBRATION_WARNING,
    BackendSettings,
    decide_availability,
    probe_environment,
)
from trt_export.infer.inputs import TensorSpec, random_inputs
from trt_export.infer.runners import DygraphRunner, PaddleInferenceRunner

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
WORKSPACE = 1 << 28


def require(backend: str, fmt: str) -> None:
    availability = decide_availability(backend, PROBE, fmt)
    if not availability:
        pytest.skip(f"{backend} with {fmt} models is not available here: {availability.reason}")


@pytest.fixture
def tiny(tmp_path):
    """A fresh export per test (both formats), so no test sees another's files."""
    layer = make_layer()
    directory = tmp_path / "export"
    return layer, directory, export_tiny(directory, layer)


@pytest.fixture(scope="module")
def feed():
    return random_inputs([TensorSpec("image", "float32", SHAPE)], seed=5)


@pytest.fixture
def reference(tiny, feed):
    layer, _, manifest = tiny
    with DygraphRunner(layer, manifest.inputs, manifest.output_names) as runner:
        return runner.infer(feed)


def _files(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def assert_engines_ran(runner: PaddleInferenceRunner, fmt: str) -> None:
    coverage = runner.trt_coverage
    assert coverage is not None and coverage.trt_path == fmt
    assert coverage.engines >= 1, coverage.describe()
    assert coverage.ops_in_engines is None or coverage.ops_in_engines > 0
    if fmt == "pir":
        # The converted program the predictor loaded holds the engine op (JSON: "1.tensorrt_engine").
        program = json.loads(open(coverage.program_file, encoding="utf-8").read())
        assert '"1.tensorrt_engine"' in json.dumps(program)


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_paddle_gpu_matches_dygraph(tiny, feed, reference, fmt):
    require("paddle-gpu", fmt)
    _, directory, manifest = tiny
    with PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-gpu"), fmt) as runner:
        outputs = runner.infer(feed)
        assert runner.last_inference_time() > 0
        assert runner.trt_coverage is None
    assert_close(outputs, reference, **FP32_TOL)


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
@pytest.mark.parametrize("backend, tol", [("trt-fp32", FP32_TOL), ("trt-fp16", FP16_TOL)])
def test_tensorrt_runs_engines_and_matches_dygraph(tiny, feed, reference, fmt, backend, tol, tmp_path):
    require(backend, fmt)
    _, directory, manifest = tiny
    before = _files(directory)
    settings = BackendSettings(backend, trt_workspace_bytes=WORKSPACE, trt_cache_dir=str(tmp_path / "cache"))
    with PaddleInferenceRunner(directory, manifest, settings, fmt) as runner:
        assert runner.plan is not None and runner.plan.trt_path == fmt
        assert runner.build_seconds is not None and runner.build_seconds > 0
        assert_engines_ran(runner, fmt)
        outputs = runner.infer(feed)
        runner.run_raw()
        again = runner.infer(feed)
    assert list(outputs) == OUTPUTS
    assert_close(outputs, reference, **tol)
    assert_close(again, outputs, atol=0, rtol=0)
    assert _files(directory) == before, "TensorRT wrote into the export dir"


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_fp16_engine_is_not_fp32(tiny, feed, reference, fmt, tmp_path):
    """TensorRT may silently build fp32 kernels when fp16 is asked (Paddle 38427): outputs differ."""
    require("trt-fp16", fmt)
    _, directory, manifest = tiny
    outputs = {}
    for backend in ("trt-fp32", "trt-fp16"):
        settings = BackendSettings(backend, trt_workspace_bytes=WORKSPACE, trt_cache_dir=str(tmp_path / backend))
        with PaddleInferenceRunner(directory, manifest, settings, fmt) as runner:
            assert_engines_ran(runner, fmt)
            outputs[backend] = runner.infer(feed)
    differences = [float(np.max(np.abs(outputs["trt-fp16"][k] - outputs["trt-fp32"][k]))) for k in OUTPUTS]
    assert max(differences) > 0, "fp16 and fp32 engines gave bit-identical outputs: fp16 did not run"
    assert_close(outputs["trt-fp16"], reference, **FP16_TOL)


def test_legacy_engine_is_serialized_with_use_static_and_reused(tiny, feed, reference, tmp_path):
    require("trt-fp32", "legacy")
    _, directory, manifest = tiny
    before = _files(directory)
    cache = tmp_path / "cache"
    settings = BackendSettings("trt-fp32", trt_use_static=True, trt_cache_dir=str(cache), trt_workspace_bytes=WORKSPACE)
    with PaddleInferenceRunner(directory, manifest, settings, "legacy") as runner:
        assert_close(runner.infer(feed), reference, **FP32_TOL)
        assert runner.trt_coverage.engine_cache_hit is False
        optim = runner.plan.optim_cache_dir
    # <cache>/model_<program, weights, TensorRT, GPU>/legacy_trt_fp32_<shape>/: shape file, linked
    # model, and _opt_cache/ with the serialized engines (GetTrtEngineSerializedPath).
    [shape_file] = cache.rglob("shape_range_info.pbtxt")
    assert shape_file.parent.name == "legacy_trt_fp32_" + "x".join(map(str, SHAPE))
    assert shape_file.parent.parent.name.startswith("model_")
    engines = list(cache.rglob("trt_serialized_*"))
    assert engines and all(str(e).startswith(optim) and e.stat().st_size > 0 for e in engines)
    # A second predictor deserialises the engine (build_s is then a load time, and says so).
    with PaddleInferenceRunner(directory, manifest, settings, "legacy") as runner:
        assert runner.trt_coverage.engine_cache_hit is True
        assert_close(runner.infer(feed), reference, **FP32_TOL)
    assert _files(directory) == before and not (directory / "_opt_cache").exists()


def test_pir_conversion_is_reused_from_the_cache_dir(tiny, feed, reference, tmp_path):
    require("trt-fp32", "pir")
    _, directory, manifest = tiny
    settings = BackendSettings("trt-fp32", trt_cache_dir=str(tmp_path / "cache"), trt_workspace_bytes=WORKSPACE)
    with PaddleInferenceRunner(directory, manifest, settings, "pir") as runner:
        assert runner.trt_coverage.engine_cache_hit is False
        first = runner.infer(feed)
    with PaddleInferenceRunner(directory, manifest, settings, "pir") as runner:
        assert runner.trt_coverage.engine_cache_hit is True
        assert_engines_ran(runner, "pir")
        assert_close(runner.infer(feed), first, atol=0, rtol=0)


def test_legacy_int8_calibration_table_is_in_the_cache_dir_and_used(tiny, feed, tmp_path):
    require("trt-int8", "legacy")
    _, directory, manifest = tiny
    before = _files(directory)
    cache = tmp_path / "cache"
    settings = BackendSettings(
        "trt-int8", allow_random_calibration=True, trt_cache_dir=str(cache), trt_workspace_bytes=WORKSPACE
    )
    with PaddleInferenceRunner(directory, manifest, settings, "legacy") as runner:
        assert RANDOM_CALIBRATION_WARNING in runner.plan.warnings
        assert runner.calibration_tables
        assert all(t.startswith(runner.plan.optim_cache_dir) for t in runner.calibration_tables)
        # The INT8 engines were built from the table (calibration_data set), not calibrating in fp32.
        coverage = runner.trt_coverage
        assert coverage.engines >= 1 and coverage.int8_calibrated_engines == coverage.engines
        outputs = runner.infer(feed)
    assert [o.shape for o in outputs.values()] == [tuple(s.shape) for s in manifest.outputs]
    assert all(np.isfinite(o).all() for o in outputs.values())
    assert _files(directory) == before and not (directory / "_opt_cache").exists()


def test_pir_int8_says_it_has_no_calibration(tiny, feed, tmp_path):
    require("trt-int8", "pir")
    _, directory, manifest = tiny
    settings = BackendSettings("trt-int8", allow_random_calibration=True, trt_cache_dir=str(tmp_path / "cache"))
    with PaddleInferenceRunner(directory, manifest, settings, "pir") as runner:
        assert PIR_INT8_WARNING in runner.plan.warnings
        assert_engines_ran(runner, "pir")
        outputs = runner.infer(feed)
    assert all(np.isfinite(o).all() for o in outputs.values())


def test_no_engine_is_a_failure_not_a_number(tiny, tmp_path):
    """A min subgraph size larger than the net: nothing reaches TensorRT, the run is refused."""
    from trt_export.infer.trt_coverage import NoTensorRTEngine

    require("trt-fp32", "legacy")
    _, directory, manifest = tiny
    settings = BackendSettings("trt-fp32", trt_min_subgraph_size=1000, trt_cache_dir=str(tmp_path / "cache"))
    with pytest.raises(NoTensorRTEngine, match="no TensorRT engine"):
        PaddleInferenceRunner(directory, manifest, settings, "legacy").activate()
