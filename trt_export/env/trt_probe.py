"""``python -m trt_export.env.trt_probe [--paddle-tensorrt]``: what TensorRT this machine has, as JSON.

Run as a child of `probes.probe_environment`, so `import tensorrt`, `import paddle.tensorrt` and
dlopen of libnvinfer / libnvinfer_plugin never happen in the process that later measures latency
and memory (a library once loaded stays loaded). Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import sys


def probe(check_paddle_tensorrt: bool) -> dict[str, object]:
    from trt_export.env.probes import (
        find_libnvinfer,
        find_library,
        paddle_tensorrt_importable_or_error,
        tensorrt_python_version,
    )

    lib, lib_error = find_libnvinfer()
    # paddle.tensorrt opens exactly this name (the unversioned soname).
    plugin, plugin_error = find_library(["libnvinfer_plugin.so"])
    result: dict[str, object] = {
        "tensorrt_python_version": tensorrt_python_version(),
        "libnvinfer": lib,
        "libnvinfer_error": lib_error,
        "libnvinfer_plugin": plugin,
        "libnvinfer_plugin_error": plugin_error,
        "paddle_tensorrt_importable": False,
        "paddle_tensorrt_error": "not checked: this Paddle has no CUDA/TensorRT build",
    }
    result["trt_runtime_version"] = [0, 0, 0]
    if check_paddle_tensorrt:
        from trt_export.env.paddle_import import import_paddle
        from trt_export.env.probes import safe_version

        paddle = import_paddle()
        # Goes through the loader Paddle's engines use (dlopen "libnvinfer.so"); raises if missing.
        result["trt_runtime_version"] = list(safe_version(paddle.inference.get_trt_runtime_version))
        ok, error = paddle_tensorrt_importable_or_error()
        result["paddle_tensorrt_importable"], result["paddle_tensorrt_error"] = ok, error
    return result


def main(argv: list[str]) -> int:
    print(json.dumps(probe("--paddle-tensorrt" in argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
