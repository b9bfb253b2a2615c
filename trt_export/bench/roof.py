"""The compute roof beside achieved GFLOP/s: what this backend can do at best on this machine.

CPU backends measure it in the same run, through the same runtime and settings as the models:
one large fp32 matmul (``x[n, n] @ w[n, n]``, 2*n^3 FLOPs, n = 1024 by default) as a Paddle
Inference program with the backend's own Config plan (written as a 1x1 convolution, so it runs on
the conv kernels the models use: oneDNN's, or Paddle's CPU ones), or as a one-node ONNX MatMul
graph on ONNX Runtime with the backend's session plan. The roof is the best of
a few timed runs (a peak, not a typical figure). numpy's sgemm is no roof here: its OpenBLAS is
slowed by this machine's OPENBLAS_CORETYPE and measured below what the conv nets achieve.

GPU backends take the card's peak from a documented table (`GPU_PEAK_TFLOPS`): NVIDIA's
datasheet figures, dense (no sparsity), FP32 on CUDA cores and FP16 on Tensor Cores. TensorRT
enables TF32 for fp32 on Ampere and later, so an fp32 TensorRT engine may exceed the FP32 figure.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.errors import TrtExportError
from trt_export.infer.backends import BackendSettings
from trt_export.serial import JsonRecord, layout, rounded

DEFAULT_ROOF_N = 1024  # 2 GFLOP per run: large enough for the GEMM kernels' peak, ~0.1 s on 2 cores
ROOF_REPEATS = 5

# name fragment (matched case-insensitively in the device name) -> (fp32 TFLOP/s, fp16 tensor TFLOP/s), dense.
# Source: NVIDIA product datasheets / architecture whitepapers.
GPU_PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H100 SXM": (67.0, 989.4),
    "H100 PCIe": (51.2, 756.0),
    "H100": (51.2, 756.0),
    "A100": (19.5, 312.0),
    "A30": (10.3, 165.0),
    "A10G": (31.2, 125.0),
    "A10": (31.2, 125.0),
    "L40S": (91.6, 362.1),
    "L40": (90.5, 181.0),
    "L4": (30.3, 121.0),
    "V100": (15.7, 125.0),
    "T4": (8.1, 65.0),
    "RTX 4090": (82.6, 165.2),
    "RTX 3090": (35.6, 71.0),
    "RTX A6000": (38.7, 154.8),
}


@dataclass(frozen=True)
class Roof(JsonRecord):
    gflops: float = field(metadata=layout(dump=rounded(2)))
    source: str  # "measured" | "peak table"
    method: str


def gpu_peak(gpu_name: str | None, precision: str) -> Roof | None:
    """The table's peak for a device name (longest matching fragment first); None when unknown."""
    if not gpu_name:
        return None
    lowered = gpu_name.lower()
    for fragment in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
        if fragment.lower() in lowered:
            fp32, fp16 = GPU_PEAK_TFLOPS[fragment]
            tflops = fp16 if precision == "fp16" else fp32
            kind = "FP16 Tensor Core" if precision == "fp16" else "FP32"
            return Roof(tflops * 1e3, "peak table", f"{fragment} datasheet {kind} peak, {tflops:g} TFLOP/s dense")
    return None


def _best_seconds(step: Any, repeats: int) -> float:
    step()  # warm-up: first-run allocation and kernel selection
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def measure_cpu_roof(settings: BackendSettings, n: int = DEFAULT_ROOF_N, repeats: int = ROOF_REPEATS) -> Roof:
    """GFLOP/s of an n x n x n fp32 matmul through the backend's runtime and settings."""
    if settings.uses_gpu:
        raise TrtExportError(f"{settings.backend} runs on a GPU; its roof comes from the peak table (gpu_peak)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n), dtype=np.float32)
    w = rng.standard_normal((n, n), dtype=np.float32)
    if settings.is_onnx:
        seconds = _onnx_matmul_seconds(settings, x, w, repeats)
        runtime = "ONNX Runtime MatMul"
    else:
        seconds = _paddle_matmul_seconds(settings, x, w, repeats)
        runtime = f"Paddle Inference matmul as 1x1 conv ({settings.backend} config)"
    gflops = 2.0 * n**3 / seconds / 1e9
    return Roof(gflops, "measured", f"{runtime}, fp32 {n}x{n}x{n}, {settings.cpu_threads} thread(s), best of {repeats}")


def _onnx_matmul_seconds(settings: BackendSettings, x: np.ndarray, w: np.ndarray, repeats: int) -> float:
    import onnx
    import onnxruntime as ort  # type: ignore[import-not-found]
    from onnx import TensorProto, helper, numpy_helper

    from trt_export.infer.onnx_plan import plan_session, providers_arg, session_options

    n = x.shape[0]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "roof",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])],
        initializer=[numpy_helper.from_array(w, name="w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    plan = plan_session(settings)
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=session_options(plan), providers=providers_arg(plan)
    )
    del onnx
    return _best_seconds(lambda: session.run(["y"], {"x": x}), repeats)


def _paddle_matmul_seconds(settings: BackendSettings, x: np.ndarray, w: np.ndarray, repeats: int) -> float:
    from trt_export.env.paddle_import import import_paddle, is_verbose
    from trt_export.infer.backends import plan_config
    from trt_export.infer.predictor import create_predictor, feed, input_handles, output_handles

    paddle = import_paddle()
    n = x.shape[0]

    # The matmul as a 1x1 convolution, n -> n channels over n pixels (h*w = n): the conv kernels the
    # models run on (oneDNN's for paddle-onednn). Paddle Inference's fc/matmul_v2 path measured 2.5x
    # slower than them here (4.8 vs 12.2 GFLOP/s, same process, loaded 2-core machine), so it would
    # be no roof for a conv net.
    h = max(d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0)
    shape = [1, n, h, n // h]
    with tempfile.TemporaryDirectory(prefix="trt-export-roof-") as tmp:
        prefix = str(Path(tmp) / "model")
        layer = paddle.nn.Conv2D(n, n, 1, bias_attr=False)
        layer.weight.set_value(np.ascontiguousarray(w.T).reshape(n, n, 1, 1))  # out[o] = sum_i w[i, o] * in[i]
        layer.eval()
        with paddle.pir_utils.OldIrGuard():
            paddle.jit.save(layer, prefix, input_spec=[paddle.static.InputSpec(shape, "float32", name="x")])
        plan = plan_config(settings, "legacy", {"x": tuple(shape)}, str(paddle.__version__), verbose=is_verbose())
        predictor = create_predictor(Path(prefix + ".pdmodel"), Path(prefix + ".pdiparams"), plan, check=False)
        # Pixel p of channel i holds x[p, i], so the conv computes (x @ w) per pixel.
        feed(input_handles(predictor, ["x"]), {"x": x.T.reshape(1, n, h, n // h)})
        out = output_handles(predictor)[0]

        def step() -> None:
            predictor.run()
            out.copy_to_cpu()

        result = _best_seconds(step, repeats)
        # Correctness guard: a roof from a kernel that computed something else would be meaningless.
        got = out.copy_to_cpu().reshape(n, n).T  # back to (pixel, channel) = x @ w
        row = x[:1] @ w
        if not np.allclose(got[:1], row, rtol=1e-3, atol=1e-2 * np.sqrt(n)):
            raise TrtExportError(f"the roof matmul on {settings.backend} computed a wrong result")
        return result
