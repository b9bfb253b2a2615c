"""`trt-export doctor`: what this machine can run, and for each backend why (not).

The report is a plain JSON-ready dict built from one `EnvironmentProbe`, so it can be attached to
an issue or a CI log; `report/doctor_text.render_doctor` turns it into tables for the terminal.
"""

from __future__ import annotations

from typing import Any

from trt_export.env.probes import EnvironmentProbe, probe_environment, version_or_none
from trt_export.infer.backends import ALL_BACKENDS, MODEL_FORMATS, decide_availability


def doctor_report(probe: EnvironmentProbe | None = None) -> dict[str, Any]:
    """Environment facts and per-backend, per-format availability (probes the machine if not given)."""
    probe = probe if probe is not None else probe_environment(full=True)
    backends: dict[str, dict[str, dict[str, Any]]] = {}
    for backend in ALL_BACKENDS:
        backends[backend] = {}
        for fmt in MODEL_FORMATS:
            availability = decide_availability(backend, probe, fmt)
            backends[backend][fmt] = {"available": availability.available, "reason": availability.reason}
    return {
        "paddle": {
            "version": probe.paddle_version,
            "commit": probe.paddle_commit,
            "cuda_build": probe.cuda_compiled,
            "cuda_version": probe.cuda_version,
            "cudnn_version": probe.cudnn_version,
            "onednn": probe.onednn_compiled,
        },
        "gpu": {"count": probe.gpu_count, "names": list(probe.gpu_names)},
        "tensorrt": {
            "compile_version": version_or_none(probe.trt_compile_version),
            "runtime_version": version_or_none(probe.trt_runtime_version),
            "paddle_tensorrt_importable": probe.paddle_tensorrt_importable,
            "paddle_tensorrt_error": probe.paddle_tensorrt_error or None,
            "python_package": probe.tensorrt_python_version,
            "libnvinfer": probe.libnvinfer,
            "libnvinfer_error": probe.libnvinfer_error or None,
            "libnvinfer_plugin": probe.libnvinfer_plugin,
            "libnvinfer_plugin_error": probe.libnvinfer_plugin_error or None,
        },
        "cpu": {"model": probe.cpu_model, "threads": probe.cpu_threads},
        "onnx": {
            "paddle2onnx": probe.paddle2onnx_version,
            "onnxruntime": probe.onnxruntime_version,
            "onnxruntime_providers": list(probe.onnxruntime_providers),
            "nvidia_gpus": probe.nvidia_gpu_count,
        },
        "backends": backends,
    }


def paddle_import_problem(timeout_s: float = 300.0) -> str | None:
    """Why ``import paddle`` fails, tried in a child process (a segfaulting import must not take
    doctor down with it), or None when it imports."""
    import signal
    import subprocess
    import sys

    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import paddle"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"import paddle did not finish in {timeout_s:g} s"
    except OSError as exc:
        return f"cannot start {sys.executable}: {exc.strerror or exc}"
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        number = -proc.returncode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
        return f"import paddle crashed the interpreter ({name})"
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else f"import paddle exited {proc.returncode}")[:300]


def paddle_missing_report(problem: str) -> dict[str, Any]:
    """The report when Paddle cannot be imported: every backend unavailable, with the reason."""
    import os
    import platform

    reason = f"Paddle is not importable: {problem}"
    return {
        "paddle": {
            "version": None,
            "error": problem,
            "commit": None,
            "cuda_build": None,
            "cuda_version": None,
            "cudnn_version": None,
            "onednn": None,
        },
        "gpu": {"count": 0, "names": []},
        "tensorrt": {
            "compile_version": None,
            "runtime_version": None,
            "paddle_tensorrt_importable": False,
            "paddle_tensorrt_error": reason,
            "python_package": None,
            "libnvinfer": None,
            "libnvinfer_error": None,
        },
        "cpu": {"model": platform.processor() or platform.machine(), "threads": os.cpu_count() or 0},
        "backends": {b: {f: {"available": False, "reason": reason} for f in MODEL_FORMATS} for b in ALL_BACKENDS},
    }


def safe_doctor_report() -> dict[str, Any]:
    """doctor_report(), or the Paddle-missing report when Paddle cannot be imported or probed."""
    problem = paddle_import_problem()
    if problem is not None:
        return paddle_missing_report(problem)
    try:
        return doctor_report()
    except Exception as exc:  # a half-broken install: still a report, not an error
        return paddle_missing_report(f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}")
