"""Environment fingerprint: the facts that change what a latency or memory number means.

Bench reports carry it; the gate refuses to compare runs whose fingerprints differ.
"""

from __future__ import annotations

import platform
from typing import Any

from trt_export.env.probes import EnvironmentProbe, probe_environment, version_or_none


def gpu_driver_version() -> str | None:
    """NVIDIA driver version through NVML (nvidia-ml-py), when it and a driver are present."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # NVMLError subclasses vary by release; no driver means no figure
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


def physical_cores() -> int | None:
    """Physical CPU cores of the machine (psutil); None where the platform cannot tell."""
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or the platform lacks the figure: no figure, not a failure
        return None


def environment_fingerprint(probe: EnvironmentProbe | None = None) -> dict[str, Any]:
    probe = probe or probe_environment()
    has_gpu = probe.cuda_compiled and probe.gpu_count > 0
    return {
        "paddle_version": probe.paddle_version,
        "paddle_commit": probe.paddle_commit,
        "cuda_version": probe.cuda_version if probe.cuda_compiled else None,
        "cudnn_version": probe.cudnn_version if probe.cuda_compiled else None,
        "tensorrt_compile_version": version_or_none(probe.trt_compile_version),
        "tensorrt_runtime_version": version_or_none(probe.trt_runtime_version),
        "gpu_name": probe.gpu_names[0] if has_gpu and probe.gpu_names else None,
        "gpu_driver": gpu_driver_version() if has_gpu else None,
        "gpu_count": probe.gpu_count if probe.cuda_compiled else 0,
        "cpu_model": probe.cpu_model,
        "cpu_count": probe.cpu_threads,
        "cpu_cores": physical_cores(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "onednn": probe.onednn_compiled,
    }
