"""TensorRT bad input refused before any engine is built: fake version probes, one line, exit 2."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from trt_export.env.probes import EnvironmentProbe
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import BackendSettings
from trt_export.infer.trt_preflight import preflight, writable_dir_problem

GPU = EnvironmentProbe(
    paddle_version="3.3.1",
    cuda_compiled=True,
    cuda_version="12.6",
    gpu_count=1,
    gpu_names=("NVIDIA A10",),
    trt_compile_version=(10, 5, 0),
    trt_runtime_version=(10, 5, 0),
    paddle_tensorrt_importable=True,
    tensorrt_python_version="10.5.0",
    libnvinfer="libnvinfer.so.10",
    libnvinfer_plugin="libnvinfer_plugin.so",
)


def refused(settings: BackendSettings, fmt: str | None, probe: EnvironmentProbe = GPU) -> TrtExportError:
    with pytest.raises(TrtExportError) as info:
        preflight(settings, fmt, probe)
    assert "\n" not in str(info.value) and info.value.exit_code == 2
    return info.value


def test_a_good_machine_passes(tmp_path):
    for backend in ("trt-fp32", "trt-fp16"):
        for fmt in ("legacy", "pir"):
            preflight(BackendSettings(backend, trt_cache_dir=str(tmp_path / "new" / "deep")), fmt, GPU)
    preflight(BackendSettings("trt-int8", calibration=str(tmp_path)), "legacy", GPU)
    preflight(BackendSettings("paddle-cpu"), "legacy", EnvironmentProbe())  # not TensorRT: nothing to check


def test_python_tensorrt_of_another_version_than_paddles_runtime():
    probe = dataclasses.replace(GPU, tensorrt_python_version="10.7.0")
    error = refused(BackendSettings("trt-fp16"), "pir", probe)
    assert isinstance(error, BackendUnavailable)
    assert "10.7.0" in str(error) and "10.5.0" in str(error) and "pip install 'tensorrt==10.5.0'" in str(error)
    # The legacy path never uses the Python package: not a reason to refuse it.
    preflight(BackendSettings("trt-fp16"), "legacy", probe)
    # A patch release builds engines the same minor deserialises.
    preflight(BackendSettings("trt-fp16"), "pir", dataclasses.replace(GPU, tensorrt_python_version="10.5.1"))


def test_python_tensorrt_missing_for_pir():
    error = refused(BackendSettings("trt-fp32"), "pir", dataclasses.replace(GPU, tensorrt_python_version=None))
    assert "not installed" in str(error) and "--format legacy" in str(error)


def test_missing_plugin_library():
    probe = dataclasses.replace(
        GPU, libnvinfer_plugin=None, libnvinfer_plugin_error="libnvinfer_plugin.so: cannot open shared object file"
    )
    error = refused(BackendSettings("trt-fp16"), "pir", probe)
    assert "libnvinfer_plugin.so" in str(error) and "symlink" in str(error) and "LD_LIBRARY_PATH" in str(error)
    preflight(BackendSettings("trt-fp16"), "legacy", probe)  # Paddle's C++ engine does not dlopen it by that name


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_unwritable_cache_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        error = refused(BackendSettings("trt-fp16", trt_cache_dir=str(locked / "engines")), "legacy")
        assert "not writable" in str(error) and "--trt-cache-dir" in str(error)
    finally:
        locked.chmod(0o700)


def test_cache_dir_that_is_a_file_or_under_a_file(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    assert "is a file" in refused(BackendSettings("trt-fp16", trt_cache_dir=str(afile)), "legacy").args[0]
    assert "on its path" in refused(BackendSettings("trt-fp16", trt_cache_dir=str(afile / "sub")), "pir").args[0]


def test_unwritable_dir_detected_without_root(tmp_path, monkeypatch):
    # Root can write anywhere; the check itself is os.access on the nearest existing dir.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert "not writable" in (writable_dir_problem(tmp_path / "a" / "b") or "")


def test_int8_without_calibration_data():
    error = refused(BackendSettings("trt-int8"), "legacy")
    assert "--calibration" in str(error) and "--allow-random-calibration" in str(error)
    error = refused(BackendSettings("trt-int8", calibration="/no/such/images"), "legacy")
    assert "does not exist" in str(error)
    # bench --format auto: the format is not known yet, a missing calibration dir still is.
    refused(BackendSettings("trt-int8", calibration="/no/such/images"), None)
    preflight(BackendSettings("trt-int8", allow_random_calibration=True), "legacy", GPU)


def test_cli_refuses_before_any_work(tmp_path):
    """debug-precision on a backend without TensorRT: exit 2, one line, before the export is read."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-m", "trt_export", "debug-precision", "--exported", str(tmp_path), "--backend", "paddle-cpu"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "needs a TensorRT backend" in proc.stderr


def test_debug_precision_fp32_mode_needs_the_pir_path():
    from trt_export.parity.debug_precision import DebugPrecisionOptions, check_options

    options = DebugPrecisionOptions(BackendSettings("trt-fp16"), mode="fp32")
    check_options(options, None)
    check_options(options, "pir")
    with pytest.raises(TrtExportError, match="--mode disable"):
        check_options(options, "legacy")
    with pytest.raises(TrtExportError, match="--iters"):
        check_options(DebugPrecisionOptions(BackendSettings("trt-fp16"), iters=0), "legacy")


def test_trt_libraries_are_probed_in_a_child_process(monkeypatch):
    from trt_export.env import probes as backends

    asked = []

    def fake(check_paddle_tensorrt):
        asked.append(check_paddle_tensorrt)
        return {
            "trt_runtime_version": [10, 5, 0],
            "tensorrt_python_version": "10.5.0",
            "libnvinfer": "libnvinfer.so.10",
            "libnvinfer_plugin": None,
            "libnvinfer_plugin_error": "not found",
            "paddle_tensorrt_importable": False,
            "paddle_tensorrt_error": "x",
        }

    monkeypatch.setattr(backends, "subprocess_trt_probe", fake)
    probe = backends.probe_environment(refresh=True, full=True)
    assert probe.tensorrt_python_version == "10.5.0" and probe.libnvinfer == "libnvinfer.so.10"
    assert probe.trt_runtime_version == (10, 5, 0)
    assert probe.libnvinfer_plugin is None and probe.libnvinfer_plugin_error == "not found"
    # paddle.tensorrt is only imported (in the child) when Paddle has CUDA and TensorRT compiled in.
    assert asked == [probe.cuda_compiled and probe.trt_compile_version != (0, 0, 0)]
    backends.probe_environment(refresh=True)  # leave the real probe cached for other tests


def test_the_real_probe_loads_nothing_here():
    from trt_export.env import probes as backends

    probe = backends.probe_environment(refresh=True, full=True)
    assert "tensorrt" not in sys.modules and "paddle.tensorrt" not in sys.modules
    assert probe.libnvinfer or probe.libnvinfer_error  # the child's answer arrived
    if not probe.cuda_compiled:
        # (On a GPU build an earlier test in this session may have run TensorRT itself.)
        with open("/proc/self/maps", encoding="utf-8") as maps:
            assert "libnvinfer" not in maps.read()
