"""doctor: report from fabricated probes, rendering, and the real (CPU) machine."""

from __future__ import annotations

import dataclasses
import json

from trt_export.cli.doctor import doctor_report
from trt_export.infer.backends import ALL_BACKENDS, ONNX_BACKENDS, EnvironmentProbe
from trt_export.report.doctor_text import render_doctor

CPU = EnvironmentProbe(
    paddle_version="3.3.1",
    paddle_commit="7688495538f4d6c1893f084dd238a402e8f68ab6",
    onednn_compiled=True,
    paddle_tensorrt_error="ModuleNotFoundError: No module named 'tensorrt'",
    libnvinfer_error="not found",
    cpu_model="AMD EPYC",
    cpu_threads=2,
)
GPU_TRT = dataclasses.replace(
    CPU,
    cuda_compiled=True,
    cuda_version="12.6",
    cudnn_version="9.5.1",
    gpu_count=2,
    gpu_names=("NVIDIA A10", "NVIDIA A10"),
    trt_compile_version=(10, 5, 0),
    trt_runtime_version=(10, 5, 0),
    paddle_tensorrt_importable=True,
    paddle_tensorrt_error="",
    tensorrt_python_version="10.5.0",
    libnvinfer="/usr/lib/libnvinfer.so.10",
    libnvinfer_error="",
    paddle2onnx_version="2.1.0",
    onnxruntime_version="1.20.1",
    nvidia_gpu_count=2,
    onnxruntime_providers=("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
)


def test_cpu_report_structure_and_json():
    report = doctor_report(CPU)
    json.dumps(report)  # must serialise as is
    assert report["paddle"]["version"] == "3.3.1"
    assert report["paddle"]["cuda_build"] is False
    assert report["tensorrt"]["compile_version"] is None
    assert report["gpu"] == {"count": 0, "names": []}
    assert list(report["backends"]) == list(ALL_BACKENDS)
    assert report["backends"]["paddle-cpu"]["legacy"]["available"] is True
    for backend in ONNX_BACKENDS:  # this fabricated CPU probe has no paddle2onnx / onnxruntime
        assert report["backends"][backend]["legacy"]["available"] is False
        assert "trt-export[onnx]" in report["backends"][backend]["legacy"]["reason"]
    assert report["backends"]["paddle-onednn"]["pir"]["available"] is True
    for backend in ("paddle-gpu", "trt-fp32", "trt-fp16", "trt-int8"):
        for fmt in ("legacy", "pir"):
            entry = report["backends"][backend][fmt]
            assert entry["available"] is False and "CPU-only" in entry["reason"]


def test_gpu_trt_report():
    report = doctor_report(GPU_TRT)
    assert report["tensorrt"]["compile_version"] == "10.5.0"
    assert report["gpu"]["names"] == ["NVIDIA A10", "NVIDIA A10"]
    assert all(report["backends"][b][f]["available"] for b in ALL_BACKENDS for f in ("legacy", "pir"))
    assert "calibration" in report["backends"]["trt-int8"]["legacy"]["reason"]


def test_pir_trt_unavailable_without_paddle_tensorrt():
    probe = dataclasses.replace(GPU_TRT, paddle_tensorrt_importable=False, paddle_tensorrt_error="ImportError: x")
    report = doctor_report(probe)
    assert report["backends"]["trt-fp16"]["legacy"]["available"] is True
    assert report["backends"]["trt-fp16"]["pir"]["available"] is False


def test_render_shows_versions_and_every_backend():
    text = render_doctor(doctor_report(GPU_TRT))
    for needle in (
        "3.3.1",
        "768849553",
        "12.6 / 9.5.1",
        "NVIDIA A10",
        "10.5.0 / 10.5.0",
        "/usr/lib/libnvinfer.so.10",
        "AMD EPYC (2 threads)",
    ):
        assert needle in text, needle
    for backend in ALL_BACKENDS:
        assert backend in text
    assert "paddle2onnx / onnxruntime" in text and "2.1.0 / 1.20.1" in text
    assert "legacy .pdmodel" in text and "pir .json" in text
    assert "NO:" not in text


def test_render_cpu_says_why_not():
    text = render_doctor(doctor_report(CPU))
    assert "NO: this Paddle is a CPU-only build" in text
    assert "not loadable" in text
    # Wrapped to a terminal-friendly width.
    assert max(len(line) for line in text.splitlines()) <= 140


def test_real_machine_report():
    report = doctor_report()
    assert report["backends"]["paddle-cpu"]["legacy"]["available"] is True
    assert report["cpu"]["threads"] >= 1
    text = render_doctor(report)
    assert "paddle-cpu" in text and report["paddle"]["version"] in text
