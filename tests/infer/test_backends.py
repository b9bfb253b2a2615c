"""Backend plans as data, path choice, INT8 rules, availability from fabricated probes."""

from __future__ import annotations

import dataclasses

import pytest

from trt_export.env.probes import EnvironmentProbe, libnvinfer_candidates
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import (
    BACKENDS,
    ONEDNN_PIR_WARNING,
    PIR_INT8_WARNING,
    RANDOM_CALIBRATION_WARNING,
    Availability,
    BackendSettings,
    ConfigCall,
    Precision,
    TrtInputPlan,
    apply_plan,
    check_applied,
    decide_availability,
    paddle_major,
    plan_config,
    resolve_trt_path,
)

SHAPES = {"image": (1, 3, 32, 32)}
V3 = "3.3.1"


def plan(backend: str, fmt: str = "legacy", shapes=None, version: str = V3, **kw):
    if backend.startswith("trt"):
        kw.setdefault("trt_cache_dir", "/cache")
    return plan_config(BackendSettings(backend, **kw), fmt, shapes or SHAPES, version)


def calls(p) -> list[tuple]:
    return [(c.method, c.args, dict(c.kwargs)) for c in p.calls]


# --------------------------------------------------------------------------- CPU


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_paddle_cpu_plan_turns_onednn_off(fmt):
    p = plan("paddle-cpu", fmt, cpu_threads=2, ir_optim=False)
    assert calls(p) == [
        ("disable_gpu", (), {}),
        ("set_cpu_math_library_num_threads", (2,), {}),
        ("disable_mkldnn", (), {}),
        ("switch_ir_optim", (False,), {}),
        ("disable_glog_info", (), {}),
    ]
    assert p.convert is None and p.trt_path is None and p.warnings == ()


def test_paddle_onednn_legacy_plan():
    p = plan("paddle-onednn", "legacy", memory_optim=True)
    assert calls(p) == [
        ("disable_gpu", (), {}),
        ("set_cpu_math_library_num_threads", (1,), {}),
        ("enable_mkldnn", (), {}),
        ("switch_ir_optim", (True,), {}),
        ("enable_memory_optim", (), {}),
        ("disable_glog_info", (), {}),
    ]
    assert p.warnings == ()


def test_paddle_onednn_pir_warns_about_interpolate_and_drops_memory_optim():
    p = plan("paddle-onednn", "pir", memory_optim=True)
    assert "enable_memory_optim" not in p.methods
    assert "enable_mkldnn" in p.methods
    assert p.warnings == (ONEDNN_PIR_WARNING,)
    assert "--format legacy" in ONEDNN_PIR_WARNING and "paddle-cpu" in ONEDNN_PIR_WARNING
    assert any("memory_optim not applied" in n for n in p.notes)


def test_verbose_keeps_glog():
    p = plan_config(BackendSettings("paddle-cpu"), "legacy", SHAPES, V3, verbose=True)
    assert "disable_glog_info" not in p.methods


# --------------------------------------------------------------------------- GPU


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_paddle_gpu_plan(fmt):
    p = plan("paddle-gpu", fmt, gpu_memory_mb=512, device_id=1, memory_optim=True)
    expected = [("enable_use_gpu", (512, 1), {}), ("switch_ir_optim", (True,), {})]
    if fmt == "legacy":
        expected.append(("enable_memory_optim", (), {}))
    expected.append(("disable_glog_info", (), {}))
    assert calls(p) == expected
    assert p.convert is None


# --------------------------------------------------------------------------- legacy TensorRT


@pytest.mark.parametrize(
    "backend, precision, precision_dir", [("trt-fp32", "Float32", "fp32"), ("trt-fp16", "Half", "fp16")]
)
def test_legacy_trt_plan_exact_calls(backend, precision, precision_dir):
    p = plan(
        backend,
        "legacy",
        shapes={"image": (2, 3, 64, 64)},
        trt_workspace_bytes=1 << 28,
        trt_min_subgraph_size=5,
        trt_use_static=True,
        trt_cache_dir="/cache",
        disable_ops=["pool2d", "softmax"],
    )
    assert p.trt_path == "legacy" and p.convert is None and not p.calibrate
    # Engines are keyed by tensor names, not H x W: one cache dir per precision and shape.
    cache = f"/cache/legacy_trt_{precision_dir}_2x3x64x64"
    assert calls(p) == [
        ("enable_use_gpu", (256, 0), {}),
        ("switch_ir_optim", (True,), {}),
        (
            "enable_tensorrt_engine",
            (),
            {
                "workspace_size": 1 << 28,
                "max_batch_size": 2,
                "min_subgraph_size": 5,
                "precision_mode": Precision(precision),
                "use_static": True,
                "use_calib_mode": False,
            },
        ),
        ("enable_tuned_tensorrt_dynamic_shape", (f"{cache}/shape_range_info.pbtxt", True), {}),
        # <model link dir>/_opt_cache: where Paddle writes INT8 tables (from the model file's dir)
        # is where the engine pass reads them (optim_cache_dir).
        ("set_optim_cache_dir", (f"{cache}/_opt_cache",), {}),
        # The optimised program with its tensorrt_engine ops, for coverage.
        ("enable_save_optim_model", (True,), {}),
        ("exp_disable_tensorrt_ops", (["pool2d", "softmax"],), {}),
        ("disable_glog_info", (), {}),
    ]
    # Shape ranges come from a collection run over every tensor, not from the feeds alone.
    assert "set_trt_dynamic_shape_info" not in p.methods
    assert p.shape_range_info_path == f"{cache}/shape_range_info.pbtxt"
    assert p.model_link_dir == cache and p.optim_cache_dir == f"{cache}/_opt_cache"
    assert [(c.method, c.args) for c in p.shape_collection] == [
        ("enable_use_gpu", (256, 0)),
        ("collect_shape_range_info", (f"{cache}/shape_range_info.pbtxt",)),
        ("disable_glog_info", ()),
    ]
    assert "shape collection predictor" in p.describe()


def test_legacy_trt_minimal_plan_has_no_disable_calls():
    p = plan("trt-fp32", "legacy")
    assert p.methods == [
        "enable_use_gpu",
        "switch_ir_optim",
        "enable_tensorrt_engine",
        "enable_tuned_tensorrt_dynamic_shape",
        "set_optim_cache_dir",
        "enable_save_optim_model",
        "disable_glog_info",
    ]


def test_legacy_trt_needs_a_cache_dir_for_its_shape_file():
    with pytest.raises(TrtExportError, match="cache dir") as info:
        plan_config(BackendSettings("trt-fp32"), "legacy", SHAPES, V3)
    assert "\n" not in str(info.value)


def test_legacy_trt_on_paddle_2_keeps_static_shape_mode():
    # Paddle 2.x still has static-shape Paddle-TRT (and no dynamic-shape calibration before PR 65780).
    p = plan("trt-int8", "legacy", version="2.6.2", allow_random_calibration=True)
    assert not p.shape_collection and p.shape_range_info_path is None
    assert "enable_tuned_tensorrt_dynamic_shape" not in p.methods
    assert p.calibrate and p.optim_cache_dir == "/cache/legacy_trt_int8_1x3x32x32/_opt_cache"
    assert ConfigCall("set_optim_cache_dir", (p.optim_cache_dir,)) in p.calls
    assert any("static-shape" in n for n in p.notes)


def test_legacy_trt_cache_dirs_differ_by_shape_and_precision():
    dirs = {
        plan(backend, "legacy", shapes={"image": shape}, allow_random_calibration=True).shape_range_info_path
        for backend in ("trt-fp32", "trt-fp16", "trt-int8")
        for shape in ((1, 3, 32, 32), (1, 3, 32, 64), (2, 3, 32, 32))
    }
    assert len(dirs) == 9


def test_only_legacy_trt_collects_shapes():
    for backend in BACKENDS:
        for fmt in ("legacy", "pir"):
            p = plan(backend, fmt, allow_random_calibration=True)
            legacy_trt = backend.startswith("trt") and fmt == "legacy"
            assert bool(p.shape_collection) == legacy_trt
            assert (p.shape_range_info_path is not None) == legacy_trt


def test_legacy_trt_forces_ir_optim_on():
    p = plan("trt-fp16", "legacy", ir_optim=False)
    assert ConfigCall("switch_ir_optim", (True,)) in p.calls
    assert any("ir_optim forced on" in n for n in p.notes)


def test_trt_batch_must_agree_between_inputs():
    with pytest.raises(TrtExportError, match="batch"):
        plan("trt-fp32", "legacy", shapes={"image": (1, 3, 8, 8), "image2": (2, 3, 8, 8)})


# --------------------------------------------------------------------------- INT8


def test_int8_without_calibration_is_refused():
    with pytest.raises(TrtExportError, match="--calibration") as info:
        plan("trt-int8", "legacy")
    assert "\n" not in str(info.value)


def test_int8_random_calibration_warns_loudly():
    p = plan("trt-int8", "legacy", allow_random_calibration=True)
    assert RANDOM_CALIBRATION_WARNING in p.warnings
    assert RANDOM_CALIBRATION_WARNING == "random calibration: timing only, accuracy meaningless"
    assert p.calibrate and p.calibration_source == "random"
    engine = next(c for c in p.calls if c.method == "enable_tensorrt_engine")
    assert engine.kwargs["precision_mode"] == Precision("Int8")
    assert engine.kwargs["use_calib_mode"] is True


def test_int8_real_calibration():
    p = plan("trt-int8", "legacy", calibration="/data/calib.npz")
    assert p.warnings == ()
    assert p.calibrate and p.calibration_source == "/data/calib.npz"
    engine = next(c for c in p.calls if c.method == "enable_tensorrt_engine")
    assert engine.kwargs["use_calib_mode"] is True


def test_calibration_settings_ignored_for_float_precisions():
    p = plan("trt-fp16", "legacy", calibration="/data/calib.npz")
    assert not p.calibrate and p.calibration_source is None
    engine = next(c for c in p.calls if c.method == "enable_tensorrt_engine")
    assert engine.kwargs["use_calib_mode"] is False


# --------------------------------------------------------------------------- PIR TensorRT


@pytest.mark.parametrize("backend, precision", [("trt-fp32", "FP32"), ("trt-fp16", "FP16")])
def test_pir_trt_plan_converts_then_only_enables_gpu(backend, precision):
    shapes = {"image": (1, 3, 32, 48), "image2": (1, 3, 32, 48)}
    p = plan_config(
        BackendSettings(backend, trt_cache_dir="/cache", disable_ops=("pd_op.softmax",), memory_optim=True),
        "pir",
        shapes,
        V3,
        input_dtypes={"image": "float32", "image2": "float16"},
    )
    assert p.trt_path == "pir"
    assert calls(p) == [
        ("enable_use_gpu", (256, 0), {}),
        ("switch_ir_optim", (True,), {}),
        ("disable_glog_info", (), {}),
    ]
    c = p.convert
    assert c is not None
    assert c.inputs == (
        TrtInputPlan("image", (1, 3, 32, 48), "float32"),
        TrtInputPlan("image2", (1, 3, 32, 48), "float16"),
    )
    assert c.precision == precision
    assert c.config_kwargs() == {
        "min_subgraph_size": 3,
        "save_model_dir": f"/cache/pir_trt_{precision.lower()}_1x3x32x48_1x3x32x48/model",
        "workspace_size": 1 << 30,
        "disable_ops": ["pd_op.softmax"],
    }


def test_pir_trt_without_cache_dir_leaves_location_to_runner():
    p = plan("trt-fp32", "pir", trt_cache_dir=None)
    assert p.convert is not None and p.convert.save_model_prefix is None
    assert "disable_ops" not in p.convert.config_kwargs()


def test_pir_int8_does_not_calibrate_and_says_so():
    # python/paddle/tensorrt/converter.py has no calibrator: scales only come from quantize ops.
    p = plan("trt-int8", "pir")
    assert p.convert is not None and p.convert.precision == "INT8"
    assert p.calibration_source is None and not p.calibrate
    assert p.warnings == (PIR_INT8_WARNING,)
    assert "--format legacy" in PIR_INT8_WARNING and "FP32" in PIR_INT8_WARNING
    p = plan("trt-int8", "pir", calibration="/calib")
    assert p.calibration_source is None and RANDOM_CALIBRATION_WARNING not in p.warnings
    assert any("calibration data ignored" in n for n in p.notes)


def test_disable_ops_are_named_for_each_path():
    ops = ("softmax", "pd_op.layer_norm")
    legacy = plan("trt-fp16", "legacy", disable_ops=ops)
    assert next(c for c in legacy.calls if c.method == "exp_disable_tensorrt_ops").args == (["softmax", "layer_norm"],)
    pir = plan("trt-fp16", "pir", disable_ops=ops)
    assert pir.convert.config_kwargs()["disable_ops"] == ["pd_op.softmax", "pd_op.layer_norm"]


def test_pir_convert_on_another_gpu_warns():
    assert not plan("trt-fp32", "pir").warnings
    p = plan("trt-fp32", "pir", device_id=1)
    assert any("CUDA_VISIBLE_DEVICES" in w and "GPU 0" in w for w in p.warnings)
    assert not plan("trt-fp32", "legacy", device_id=1).warnings


# --------------------------------------------------------------------------- path choice


def test_auto_path_follows_the_format():
    assert resolve_trt_path("auto", "legacy", V3) == "legacy"
    assert resolve_trt_path("auto", "pir", V3) == "pir"
    assert resolve_trt_path("pir", "pir", "0.0.0") == "pir"  # develop build


@pytest.mark.parametrize(
    "path, fmt, version, fix",
    [
        ("legacy", "pir", V3, "--format legacy"),
        ("pir", "legacy", V3, "--format pir"),
        ("auto", "pir", "2.6.2", "--format legacy"),
        ("pir", "pir", "2.6.2", "Paddle >= 3.0"),
    ],
)
def test_incompatible_path_is_a_one_line_error(path, fmt, version, fix):
    with pytest.raises(TrtExportError) as info:
        plan("trt-fp32", fmt, version=version, trt_path=path)
    assert fix in str(info.value)
    assert "\n" not in str(info.value)


def test_trt_path_is_ignored_for_non_trt_backends():
    p = plan("paddle-cpu", "pir", trt_path="legacy")
    assert p.trt_path is None
    assert any("ignored" in n for n in p.notes)


def test_paddle_major():
    assert paddle_major("3.3.1") == 3
    assert paddle_major("2.6.2") == 2
    assert paddle_major("0.0.0") > 3
    with pytest.raises(TrtExportError):
        paddle_major("nightly")


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "tensorrt"},
        {"backend": "trt-fp32", "trt_path": "onnx"},
        {"backend": "paddle-cpu", "cpu_threads": 0},
        {"backend": "trt-fp32", "trt_workspace_bytes": -1},
        {"backend": "paddle-gpu", "device_id": -1},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(TrtExportError):
        BackendSettings(**kwargs)


def test_settings_are_frozen_and_hashable():
    s = BackendSettings("trt-fp16", disable_ops=["a", "b"])
    assert s.disable_ops == ("a", "b")
    assert hash(s) == hash(BackendSettings("trt-fp16", disable_ops=("a", "b")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.backend = "trt-fp32"  # type: ignore[misc]
    assert s.is_trt and s.uses_gpu
    assert not BackendSettings("paddle-onednn").uses_gpu


def test_every_backend_and_format_plans():
    for backend in BACKENDS:
        for fmt in ("legacy", "pir"):
            p = plan(backend, fmt, allow_random_calibration=True)
            assert p.backend == backend and p.model_format == fmt
            assert p.calls[-1].method == "disable_glog_info"
            assert ("enable_tensorrt_engine" in p.methods) == (backend.startswith("trt") and fmt == "legacy")
            assert (p.convert is not None) == (backend.startswith("trt") and fmt == "pir")


# --------------------------------------------------------------------------- apply_plan


class RecordingConfig:
    """Records calls; refuses any method the real paddle.inference.Config does not have."""

    def __init__(self, real_cls):
        self.real_cls = real_cls
        self.calls: list[tuple] = []

    def __getattr__(self, name):
        if not hasattr(self.real_cls, name):
            raise AttributeError(name)

        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))

        return record


@pytest.fixture(scope="module")
def paddle_inference():
    from trt_export.env.paddle_import import import_paddle

    return import_paddle().inference


def test_apply_plan_resolves_precision_and_uses_real_method_names(paddle_inference):
    for backend in BACKENDS:
        for fmt in ("legacy", "pir"):
            p = plan(
                backend, fmt, allow_random_calibration=True, trt_cache_dir="/c", disable_ops=["x"], memory_optim=True
            )
            config = RecordingConfig(paddle_inference.Config)
            apply_plan(config, p)
            assert [c[0] for c in config.calls] == p.methods
            config = RecordingConfig(paddle_inference.Config)
            apply_plan(config, p, p.shape_collection)
            assert [c[0] for c in config.calls] == [c.method for c in p.shape_collection]
    p = plan("trt-fp16", "legacy")
    config = RecordingConfig(paddle_inference.Config)
    apply_plan(config, p)
    name, args, kwargs = next(c for c in config.calls if c[0] == "enable_tensorrt_engine")
    assert kwargs["precision_mode"] == paddle_inference.PrecisionType.Half
    assert not any(isinstance(v, Precision) for c in config.calls for v in (*c[1], *c[2].values()))


def test_apply_plan_on_a_real_cpu_config(paddle_inference):
    config = paddle_inference.Config()
    apply_plan(config, plan("paddle-cpu", "legacy", cpu_threads=2, ir_optim=False))
    assert config.cpu_math_library_num_threads() == 2
    assert not config.mkldnn_enabled()
    assert not config.ir_optim()
    assert not config.use_gpu()
    assert config.glog_info_disabled()
    config = paddle_inference.Config()
    apply_plan(config, plan("paddle-onednn", "legacy"))
    assert config.mkldnn_enabled()


def test_check_applied_refuses_a_gpu_plan_that_did_not_take(paddle_inference):
    from trt_export.env.paddle_import import import_paddle

    if import_paddle().is_compiled_with_cuda():
        pytest.skip("on a CUDA build enable_use_gpu takes effect")
    # On a CPU build enable_use_gpu only logs an error; the predictor would silently run on CPU.
    for backend in ("paddle-gpu", "trt-fp16"):
        p = plan(backend, "pir")
        config = paddle_inference.Config()
        apply_plan(config, p)
        assert not config.use_gpu()
        with pytest.raises(BackendUnavailable, match="enable_use_gpu"):
            check_applied(config, p)
    for backend in ("paddle-cpu", "paddle-onednn"):
        p = plan(backend, "legacy")
        config = paddle_inference.Config()
        apply_plan(config, p)
        check_applied(config, p)


def test_check_applied_wants_tensorrt_enabled_for_legacy_trt():
    class Fake:
        def __init__(self, trt):
            self.trt = trt

        def use_gpu(self):
            return True

        def tensorrt_engine_enabled(self):
            return self.trt

    p = plan("trt-fp32", "legacy")
    check_applied(Fake(True), p)
    with pytest.raises(BackendUnavailable, match="enable_tensorrt_engine"):
        check_applied(Fake(False), p)
    check_applied(Fake(False), plan("trt-fp32", "pir"))  # PIR engines come from convert, not the Config


def test_apply_plan_missing_method_is_backend_unavailable():
    class Empty:
        pass

    with pytest.raises(BackendUnavailable, match="enable_use_gpu"):
        apply_plan(Empty(), plan("paddle-gpu"))


# --------------------------------------------------------------------------- availability

CPU_WHEEL = EnvironmentProbe(paddle_version=V3, onednn_compiled=True, cpu_model="x86", cpu_threads=2)
CUDA_NO_GPU = dataclasses.replace(CPU_WHEEL, cuda_compiled=True, cuda_version="12.6")
GPU_NO_TRT = dataclasses.replace(CUDA_NO_GPU, gpu_count=1, gpu_names=("NVIDIA A10",))
TRT_NO_LIB = dataclasses.replace(GPU_NO_TRT, trt_compile_version=(10, 5, 0))
TRT_OK = dataclasses.replace(
    TRT_NO_LIB,
    trt_runtime_version=(10, 5, 0),
    libnvinfer="libnvinfer.so.10",
    paddle_tensorrt_importable=True,
    tensorrt_python_version="10.5.0",
)


def avail(backend, probe, fmt=None) -> Availability:
    return decide_availability(backend, probe, fmt)


def test_cpu_wheel_has_only_cpu_backends():
    assert avail("paddle-cpu", CPU_WHEEL)
    assert avail("paddle-onednn", CPU_WHEEL)
    for backend in ("paddle-gpu", "trt-fp32", "trt-fp16", "trt-int8"):
        a = avail(backend, CPU_WHEEL)
        assert not a and "CPU-only" in a.reason


def test_no_onednn_build():
    a = avail("paddle-onednn", dataclasses.replace(CPU_WHEEL, onednn_compiled=False))
    assert not a and "oneDNN" in a.reason
    assert avail("paddle-cpu", dataclasses.replace(CPU_WHEEL, onednn_compiled=False))


def test_onednn_with_pir_is_available_but_warns():
    a = avail("paddle-onednn", CPU_WHEEL, "pir")
    assert a and "--format legacy" in a.reason


def test_cuda_build_without_gpu():
    a = avail("paddle-gpu", CUDA_NO_GPU)
    assert not a and "no GPU" in a.reason and "CUDA_VISIBLE_DEVICES" in a.reason
    assert not avail("trt-fp16", CUDA_NO_GPU)


def test_gpu_without_tensorrt():
    assert avail("paddle-gpu", GPU_NO_TRT)
    assert "NVIDIA A10" in avail("paddle-gpu", GPU_NO_TRT).reason
    a = avail("trt-fp32", GPU_NO_TRT)
    assert not a and "without TensorRT" in a.reason


def test_trt_compiled_but_no_runtime_library():
    a = avail("trt-fp16", TRT_NO_LIB, "legacy")
    assert not a and "10.5.0" in a.reason and "FLAGS_tensorrt_dir" in a.reason


def test_trt_runtime_major_mismatch():
    a = avail("trt-fp32", dataclasses.replace(TRT_OK, trt_runtime_version=(8, 6, 1)))
    assert not a and "8.6.1" in a.reason and "10.5.0" in a.reason


def test_trt_runtime_query_failing_means_unavailable_even_if_we_find_a_library():
    # Paddle's runtime-version query uses the loader its engines use (dlopen "libnvinfer.so"); a
    # versioned copy our ctypes lookup finds (pip's tensorrt_libs) does not help Paddle.
    probe = dataclasses.replace(
        TRT_OK, trt_runtime_version=(0, 0, 0), libnvinfer="/venv/tensorrt_libs/libnvinfer.so.10"
    )
    a = avail("trt-fp32", probe, "legacy")
    assert not a and "/venv/tensorrt_libs/libnvinfer.so.10" in a.reason and "LD_LIBRARY_PATH" in a.reason
    assert "\n" not in a.reason


def test_trt_ok_legacy_and_pir():
    for backend in ("trt-fp32", "trt-fp16", "trt-int8"):
        assert avail(backend, TRT_OK, "legacy")
        assert avail(backend, TRT_OK, "pir")
        assert avail(backend, TRT_OK)


def test_int8_availability_says_what_each_path_needs():
    assert "--calibration" in avail("trt-int8", TRT_OK, "legacy").reason
    assert "quantized model" in avail("trt-int8", TRT_OK, "pir").reason


def test_pir_path_needs_paddle_tensorrt_importable():
    probe = dataclasses.replace(
        TRT_OK,
        paddle_tensorrt_importable=False,
        paddle_tensorrt_error="ModuleNotFoundError: No module named 'tensorrt'",
    )
    a = avail("trt-fp32", probe, "pir")
    assert not a and "paddle.tensorrt" in a.reason and "--format legacy" in a.reason
    assert avail("trt-fp32", probe, "legacy")


def test_pir_path_needs_paddle_3():
    probe = dataclasses.replace(TRT_OK, paddle_version="2.6.2")
    assert not avail("trt-fp16", probe, "pir")
    assert avail("trt-fp16", probe, "legacy")


def test_unknown_backend_is_unavailable():
    assert not avail("openvino", TRT_OK)


def test_libnvinfer_candidates_start_with_flags_dir(tmp_path):
    lib = tmp_path / "libnvinfer.so.10"
    lib.write_bytes(b"")
    candidates = libnvinfer_candidates({"FLAGS_tensorrt_dir": str(tmp_path)})
    assert candidates[0] == str(lib)
    assert "libnvinfer.so" in candidates


def test_probe_of_this_machine_is_consistent():
    from trt_export.env.probes import probe_environment

    probe = probe_environment()
    assert probe.paddle_version
    assert avail("paddle-cpu", probe)
    if not probe.cuda_compiled:
        assert probe.gpu_count == 0
        assert not avail("trt-fp32", probe)


def test_trt_fp32_turns_tf32_off_unless_allowed():
    assert plan("trt-fp32", "legacy").env == (("NVIDIA_TF32_OVERRIDE", "0"),)
    assert plan("trt-fp32", "pir").env == (("NVIDIA_TF32_OVERRIDE", "0"),)
    assert plan("trt-fp32", "legacy", trt_allow_tf32=True).env == ()
    assert plan("trt-fp16", "legacy").env == () and plan("paddle-gpu", "legacy").env == ()


def test_legacy_trt_saves_the_optimised_program_for_coverage():
    for backend in ("trt-fp32", "trt-fp16"):
        assert ConfigCall("enable_save_optim_model", (True,)) in plan(backend, "legacy").calls
    assert "enable_save_optim_model" not in plan("paddle-gpu", "legacy").methods


def test_ops_run_float_is_pir_only():
    p = plan("trt-fp16", "pir", ops_run_float=["softmax", "pd_op.layer_norm"])
    assert p.convert.config_kwargs()["ops_run_float"] == ["pd_op.softmax", "pd_op.layer_norm"]
    with pytest.raises(TrtExportError, match="PIR path"):
        plan("trt-fp16", "legacy", ops_run_float=["softmax"])


def test_min_coverage_must_be_a_share():
    with pytest.raises(TrtExportError, match="between 0 and 1"):
        BackendSettings("trt-fp16", trt_min_coverage=1.5)
