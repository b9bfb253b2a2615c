"""The backends' vocabulary: every backend's name, the groups they fall in, the TensorRT paths.

Paddle-free and dependency-free, so reports, the gate and the CLI's choices can name backends
without reaching the module that builds Paddle's Config (infer/backends.py).
"""

from __future__ import annotations

from enum import StrEnum

from trt_export.model.types import MODEL_FORMATS


class Backend(StrEnum):
    """Every backend, by the name the CLI takes and the reports record."""

    PADDLE_CPU = "paddle-cpu"
    PADDLE_ONEDNN = "paddle-onednn"
    PADDLE_GPU = "paddle-gpu"
    TRT_FP32 = "trt-fp32"
    TRT_FP16 = "trt-fp16"
    TRT_INT8 = "trt-int8"
    # The ONNX route: the same export converted by paddle2onnx, run by ONNX Runtime (onnx_plan.py
    # plans the session, onnx_runner.py runs it).
    ONNX_CPU = "onnx-cpu"
    ONNX_CUDA = "onnx-cuda"
    ONNX_TRT_FP32 = "onnx-trt-fp32"
    ONNX_TRT_FP16 = "onnx-trt-fp16"


def _names(*backends: Backend) -> tuple[str, ...]:
    """Plain strings, so argparse's choices and its error message print the names as before."""
    return tuple(backend.value for backend in backends)


# BACKENDS is the Paddle Inference list; ONNX_BACKENDS the ONNX Runtime one.
BACKENDS = _names(
    Backend.PADDLE_CPU, Backend.PADDLE_ONEDNN, Backend.PADDLE_GPU, Backend.TRT_FP32, Backend.TRT_FP16, Backend.TRT_INT8
)
CPU_BACKENDS = _names(Backend.PADDLE_CPU, Backend.PADDLE_ONEDNN)
ONNX_BACKENDS = _names(Backend.ONNX_CPU, Backend.ONNX_CUDA, Backend.ONNX_TRT_FP32, Backend.ONNX_TRT_FP16)
ONNX_CPU_BACKENDS = _names(Backend.ONNX_CPU)
ALL_BACKENDS = _names(*Backend)
TRT_BACKENDS = _names(Backend.TRT_FP32, Backend.TRT_FP16, Backend.TRT_INT8)
TRT_PATHS = ("auto", "legacy", "pir")
__all__ = [
    "ALL_BACKENDS",
    "BACKENDS",
    "CPU_BACKENDS",
    "MODEL_FORMATS",
    "ONNX_BACKENDS",
    "ONNX_CPU_BACKENDS",
    "TRT_BACKENDS",
    "TRT_PATHS",
    "Backend",
    "is_cpu_backend",
]


def is_cpu_backend(backend: str) -> bool:
    """Timings of a CPU backend depend on the processor and the thread count."""
    if backend in CPU_BACKENDS:
        return True
    return not any(word in backend for word in ("gpu", "trt", "cuda", "tensorrt"))
