"""`trt-export doctor`: what this machine can run, and for each backend why (not).

The report is a plain JSON-ready dict built from one `EnvironmentProbe`, so it can be attached to
an issue or a CI log; `render_doctor` turns it into tables for the terminal.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from trt_export.backends import BACKENDS, MODEL_FORMATS, EnvironmentProbe, decide_availability, probe_environment, version_or_none

_FORMAT_LABELS = {"legacy": "legacy .pdmodel", "pir": "pir .json"}
# Long reasons would make the table wider than a terminal.
_REASON_WIDTH = 60


def doctor_report(probe: EnvironmentProbe | None = None) -> dict[str, Any]:
    """Environment facts and per-backend, per-format availability (probes the machine if not given)."""
    probe = probe if probe is not None else probe_environment(full=True)
    backends: dict[str, dict[str, dict[str, Any]]] = {}
    for backend in BACKENDS:
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
        "backends": backends,
    }


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render_doctor(report: dict[str, Any]) -> str:
    """Two tables: the environment, then each backend per model format."""
    paddle, gpu, trt, cpu = report["paddle"], report["gpu"], report["tensorrt"], report["cpu"]
    commit = _text(paddle["commit"])[:12] if paddle.get("commit") else "-"
    gpu_text = f"{gpu['count']}" + (f" ({', '.join(gpu['names'])})" if gpu["names"] else "")
    libnvinfer = trt["libnvinfer"] or f"not loadable: {_text(trt['libnvinfer_error'])}"
    paddle_trt = "yes" if trt["paddle_tensorrt_importable"] else f"no: {_text(trt['paddle_tensorrt_error'])}"
    environment = [
        ("Paddle", f"{paddle['version']} (commit {commit})"),
        ("CUDA build", _text(paddle["cuda_build"])),
        ("CUDA / cuDNN", f"{_text(paddle['cuda_version'])} / {_text(paddle['cudnn_version'])}"),
        ("GPUs", gpu_text),
        ("oneDNN", _text(paddle["onednn"])),
        ("TensorRT compiled / runtime", f"{_text(trt['compile_version'])} / {_text(trt['runtime_version'])}"),
        ("tensorrt Python package", _text(trt["python_package"])),
        ("paddle.tensorrt importable", paddle_trt),
        ("libnvinfer", libnvinfer),
        ("libnvinfer_plugin.so (PIR)", trt.get("libnvinfer_plugin") or f"not loadable: {_text(trt.get('libnvinfer_plugin_error'))}"),
        ("CPU", f"{cpu['model']} ({cpu['threads']} threads)"),
    ]
    rows = []
    for backend, per_format in report["backends"].items():
        cells = []
        for fmt in MODEL_FORMATS:
            entry = per_format[fmt]
            cells.append(("ok: " if entry["available"] else "NO: ") + entry["reason"])
        rows.append((backend, *cells))
    env_table = tabulate(environment, tablefmt="plain", maxcolwidths=[None, 90])
    backend_table = tabulate(
        rows,
        headers=["backend", *(_FORMAT_LABELS[f] for f in MODEL_FORMATS)],
        tablefmt="simple",
        maxcolwidths=[None, _REASON_WIDTH, _REASON_WIDTH],
    )
    return f"{env_table}\n\n{backend_table}"
