"""`trt-export doctor` as text: the environment table, then each backend per model format.

Renders the JSON-ready dict env/doctor.py builds; knows nothing of how it was probed.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from trt_export.model.types import MODEL_FORMATS

_FORMAT_LABELS = {"legacy": "legacy .pdmodel", "pir": "pir .json"}
# Long reasons would make the table wider than a terminal.
_REASON_WIDTH = 60


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
    paddle_line = (
        f"{paddle['version']} (commit {commit})" if paddle["version"] else f"not importable: {paddle.get('error')}"
    )
    environment = [
        ("Paddle", paddle_line),
        ("CUDA build", _text(paddle["cuda_build"])),
        ("CUDA / cuDNN", f"{_text(paddle['cuda_version'])} / {_text(paddle['cudnn_version'])}"),
        ("GPUs", gpu_text),
        ("oneDNN", _text(paddle["onednn"])),
        ("TensorRT compiled / runtime", f"{_text(trt['compile_version'])} / {_text(trt['runtime_version'])}"),
        ("tensorrt Python package", _text(trt["python_package"])),
        ("paddle.tensorrt importable", paddle_trt),
        ("libnvinfer", libnvinfer),
        (
            "libnvinfer_plugin.so (PIR)",
            trt.get("libnvinfer_plugin") or f"not loadable: {_text(trt.get('libnvinfer_plugin_error'))}",
        ),
        ("CPU", f"{cpu['model']} ({cpu['threads']} threads)"),
    ]
    onnx = report.get("onnx")
    if onnx:
        providers = ", ".join(onnx["onnxruntime_providers"]) or "-"
        environment.append(
            (
                "paddle2onnx / onnxruntime",
                f"{_text(onnx['paddle2onnx'])} / {_text(onnx['onnxruntime'])} (providers: {providers})",
            )
        )
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
