"""Environment probes: what the machine and the installed Paddle, TensorRT and ONNX Runtime offer.

`probe_environment` reads the machine into an `EnvironmentProbe` (importing Paddle; the TensorRT
libraries are loaded in a child process, trt_probe.py); `onnx_probe` reads what the ONNX backends
need without importing Paddle. The availability decisions (infer/backends.py), doctor and the
fingerprint judge these probes; nothing here decides anything.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib
import importlib.util
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvironmentProbe:
    """What the machine and the installed Paddle offer; read once, judged by pure functions."""

    paddle_version: str = ""
    paddle_commit: str = ""
    cuda_compiled: bool = False
    cuda_version: str | None = None
    cudnn_version: str | None = None
    gpu_count: int = 0
    gpu_names: tuple[str, ...] = ()
    onednn_compiled: bool = False
    trt_compile_version: tuple[int, int, int] = (0, 0, 0)
    trt_runtime_version: tuple[int, int, int] = (0, 0, 0)
    paddle_tensorrt_importable: bool = False
    paddle_tensorrt_error: str = ""
    tensorrt_python_version: str | None = None
    libnvinfer: str | None = None
    libnvinfer_error: str = ""
    # What paddle.tensorrt dlopens by its unversioned name (PIR path); None: not loadable.
    libnvinfer_plugin: str | None = None
    libnvinfer_plugin_error: str = ""
    cpu_model: str = ""
    cpu_threads: int = 0
    # The ONNX route (optional extra `onnx`): versions, or None when not importable.
    paddle2onnx_version: str | None = None
    onnxruntime_version: str | None = None
    onnxruntime_providers: tuple[str, ...] = ()
    nvidia_gpu_count: int = 0  # GPUs the NVIDIA driver lists, whatever Paddle was built with


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(v) for v in version)


def version_or_none(version: tuple[int, int, int]) -> str | None:
    """ "10.3.0" for a TensorRT version tuple; None for Paddle's (0, 0, 0) meaning "not there"."""
    return None if tuple(version) == (0, 0, 0) else version_text(version)


def _onnx_versions() -> tuple[str | None, str | None, tuple[str, ...]]:
    """(paddle2onnx version, onnxruntime version, providers); None for what is not installed.

    paddle2onnx's version is read from its metadata: importing it imports Paddle and its C++ side.
    """
    from importlib import metadata

    try:
        p2o: str | None = metadata.version("paddle2onnx")
    except metadata.PackageNotFoundError:
        p2o = None
    try:
        import onnxruntime  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - a broken onnxruntime reads as "not installed"
        return p2o, None, ()
    return p2o, str(onnxruntime.__version__), tuple(str(p) for p in onnxruntime.get_available_providers())


def nvidia_gpu_count() -> int:
    """GPUs the NVIDIA kernel driver knows (one dir each under /proc/driver/nvidia/gpus)."""
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


_probe_cache: EnvironmentProbe | None = None
_probe_cache_full = False
NOT_PROBED = "not probed: this Paddle is a CPU-only build (trt-export doctor probes it)"


def probe_environment(refresh: bool = False, full: bool = False) -> EnvironmentProbe:
    """Read the environment (imports Paddle); cached because loading libnvinfer is slow."""
    """``full``: also look for TensorRT's libraries on a CPU-only build (doctor), where nothing can
    use them; otherwise a CPU-only build skips the child process that looks."""
    global _probe_cache, _probe_cache_full
    if _probe_cache is not None and not refresh and (_probe_cache_full or not full):
        return _probe_cache
    from trt_export.env.paddle_import import import_paddle

    paddle = import_paddle()
    cuda_compiled = bool(paddle.is_compiled_with_cuda())
    gpu_count = 0
    gpu_names: list[str] = []
    if cuda_compiled:
        try:
            gpu_count = int(paddle.device.cuda.device_count())
            gpu_names = [str(paddle.device.cuda.get_device_name(i)) for i in range(gpu_count)]
        except (RuntimeError, ValueError, OSError):
            gpu_count = 0
    trt_compile = safe_version(paddle.inference.get_trt_compile_version)
    # `import tensorrt`, `import paddle.tensorrt`, Paddle's runtime-version query (which dlopens
    # libnvinfer) and our dlopen of libnvinfer / libnvinfer_plugin run in a child process: loaded
    # here they would stay in the process that measures (memory, and possibly a second libnvinfer
    # of another version beside the one Paddle loads for its engines).
    if cuda_compiled or full:
        libs = subprocess_trt_probe(check_paddle_tensorrt=cuda_compiled and trt_compile != (0, 0, 0))
    else:
        libs = {
            "libnvinfer_error": NOT_PROBED,
            "libnvinfer_plugin_error": NOT_PROBED,
            "paddle_tensorrt_error": NOT_PROBED,
        }
    _probe_cache_full = cuda_compiled or full
    trt_runtime = tuple(libs.get("trt_runtime_version") or (0, 0, 0))[:3]  # type: ignore[assignment]
    p2o_version, ort_version, ort_providers = _onnx_versions()
    _probe_cache = EnvironmentProbe(
        paddle_version=str(paddle.__version__),
        paddle_commit=str(getattr(paddle.version, "commit", "")),
        cuda_compiled=cuda_compiled,
        cuda_version=_version_or_none(paddle.version.cuda()),
        cudnn_version=_version_or_none(paddle.version.cudnn()),
        gpu_count=gpu_count,
        gpu_names=tuple(gpu_names),
        onednn_compiled=_onednn_compiled(paddle),
        trt_compile_version=trt_compile,
        trt_runtime_version=trt_runtime,
        paddle_tensorrt_importable=bool(libs.get("paddle_tensorrt_importable")),
        paddle_tensorrt_error=str(libs.get("paddle_tensorrt_error") or ""),
        tensorrt_python_version=libs.get("tensorrt_python_version"),
        libnvinfer=libs.get("libnvinfer"),
        libnvinfer_error=str(libs.get("libnvinfer_error") or ""),
        libnvinfer_plugin=libs.get("libnvinfer_plugin"),
        libnvinfer_plugin_error=str(libs.get("libnvinfer_plugin_error") or ""),
        cpu_model=cpu_model(),
        cpu_threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        paddle2onnx_version=p2o_version,
        onnxruntime_version=ort_version,
        onnxruntime_providers=ort_providers,
        nvidia_gpu_count=nvidia_gpu_count(),
    )
    return _probe_cache


def onnx_probe() -> EnvironmentProbe:
    """What the ONNX backends need to know, read without importing Paddle (an ONNX Runtime
    measuring worker must not carry Paddle's ~290 MB in its memory figures)."""
    if _probe_cache is not None:
        return _probe_cache
    p2o_version, ort_version, ort_providers = _onnx_versions()
    lib, lib_error = find_libnvinfer() if "TensorrtExecutionProvider" in ort_providers else (None, "not looked up")
    return EnvironmentProbe(
        paddle2onnx_version=p2o_version,
        onnxruntime_version=ort_version,
        onnxruntime_providers=ort_providers,
        nvidia_gpu_count=nvidia_gpu_count(),
        libnvinfer=lib,
        libnvinfer_error=lib_error,
    )


def safe_version(getter: Any) -> tuple[int, int, int]:
    try:
        parts = tuple(int(v) for v in getter())
    except Exception:  # noqa: BLE001 - a broken TensorRT install must read as "no runtime", not crash doctor
        return (0, 0, 0)
    return (parts + (0, 0, 0))[:3]  # type: ignore[return-value]


def _version_or_none(value: Any) -> str | None:
    # paddle.version.cuda() returns the string 'False' on CPU builds.
    text = str(value).strip()
    return None if text in ("", "False", "None", "0") else text


def _onednn_compiled(paddle: Any) -> bool:
    core = paddle.base.core
    for name in ("is_compiled_with_onednn", "is_compiled_with_mkldnn"):
        check = getattr(core, name, None)
        if check is not None:
            return bool(check())
    return False


def paddle_tensorrt_importable_or_error() -> tuple[bool, str]:
    try:
        importlib.import_module("paddle.tensorrt")
    except Exception as exc:  # noqa: BLE001 - any failure means the PIR path cannot be used
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    return True, ""


def subprocess_trt_probe(check_paddle_tensorrt: bool) -> dict[str, Any]:
    """Run trt_export.env.trt_probe in a child and return what it found (never raises)."""
    import json
    import subprocess
    import sys

    args = [sys.executable, "-m", "trt_export.env.trt_probe"] + (["--paddle-tensorrt"] if check_paddle_tensorrt else [])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        return (
            dict(json.loads(lines[-1]))
            if lines
            else {
                "libnvinfer_error": f"probe process failed (exit {proc.returncode})",
                "paddle_tensorrt_error": "probe process failed",
            }
        )
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return {
            "libnvinfer_error": f"probe process failed: {exc}",
            "paddle_tensorrt_error": f"probe process failed: {exc}",
        }


def find_library(names: list[str]) -> tuple[str | None, str]:
    """The first of `names` that ctypes can load, or None and the last load error."""
    error = "not found"
    for candidate in names:
        try:
            ctypes.CDLL(candidate)
        except OSError as exc:
            error = str(exc)
            continue
        return candidate, ""
    return None, error


def tensorrt_python_version() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return None
    try:
        import tensorrt  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001
        return None
    return str(getattr(tensorrt, "__version__", "?"))


def libnvinfer_candidates(env: Mapping[str, str] | None = None) -> list[str]:
    """Where libnvinfer may be, in the order Paddle looks: FLAGS_tensorrt_dir, then the loader path."""
    env = os.environ if env is None else env
    candidates: list[str] = []
    trt_dir = env.get("FLAGS_tensorrt_dir")
    if trt_dir:
        candidates += sorted(glob.glob(os.path.join(trt_dir, "libnvinfer.so*")), key=len)
    # pip's tensorrt wheels put the library in the tensorrt_libs package.
    spec = importlib.util.find_spec("tensorrt_libs") if env is os.environ else None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates += sorted(glob.glob(os.path.join(location, "libnvinfer.so*")), key=len)
    found = ctypes.util.find_library("nvinfer")
    if found:
        candidates.append(found)
    # Bare sonames are resolved by the dynamic loader through LD_LIBRARY_PATH and ld.so.cache.
    candidates += ["libnvinfer.so", "libnvinfer.so.10", "libnvinfer.so.8"]
    return list(dict.fromkeys(candidates))


def find_libnvinfer() -> tuple[str | None, str]:
    """(the first libnvinfer that loads, or None; the last load error)."""
    if platform.system() != "Linux":
        return None, f"libnvinfer lookup implemented for Linux only ({platform.system()})"
    tried = libnvinfer_candidates()
    for candidate in tried:
        try:
            ctypes.CDLL(candidate)
        except OSError:
            continue
        return candidate, ""
    where = "FLAGS_tensorrt_dir, " if os.environ.get("FLAGS_tensorrt_dir") else ""
    return None, f"no loadable libnvinfer in {where}LD_LIBRARY_PATH or the loader cache ({len(tried)} names tried)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
