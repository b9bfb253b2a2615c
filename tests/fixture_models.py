"""Small networks for the verify and bench tests, usable as model sources ``fixture_models:<name>``.

A subprocess running the CLI finds them when ``tests/`` is on PYTHONPATH (see fixture_paths.child_env).
Each factory is built under ``paddle.seed`` by trt_export.model.sources, so every build is the same net.
"""

from __future__ import annotations

from typing import Any

from trt_export.env.paddle_import import import_paddle
from trt_export.zoo import TinySegNet

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional


class NaNNet(nn.Layer):
    """A conv whose output is mixed in sign, times relu(y)/relu(y): NaN (0/0) wherever y <= 0.

    Dygraph and the predictor both produce the NaN, so only a comparator that refuses NaN on
    *either* side fails it (a plain |a - b| <= tol would call NaN vs NaN "not exceeding").
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2D(3, 4, 3, padding=1)

    def forward(self, image: Any) -> Any:
        # 0/0 rather than paddle.log: log is not exportable to the legacy program on Paddle 3.3.1.
        y = self.conv(image - 0.5)
        r = F.relu(y)
        return y * (r / r)


class PaddleRSStyleSegmenter(nn.Layer):
    """What PaddleRS exports for a segmenter: int32 label map (N, H, W), NHWC softmax score map."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.net = TinySegNet(num_classes=num_classes, width=8)

    def forward(self, image: Any) -> tuple[Any, Any]:
        logits = self.net(image)
        label_map = paddle.argmax(logits, axis=1, dtype="int32")
        score_map = F.softmax(logits, axis=1).transpose([0, 2, 3, 1])
        return label_map, score_map


def nan_net() -> NaNNet:
    return NaNNet()


def paddlers_style_segmenter(num_classes: int = 2) -> PaddleRSStyleSegmenter:
    return PaddleRSStyleSegmenter(num_classes)


# --- bench fault injection (tests/bench/test_sweep.py) ----------------------------------------------


class WidthTrap(nn.Layer):
    """A small conv classifier that misbehaves at chosen input widths (NCHW W, the seed's w).

    A bench sweep over several widths must then record exactly those candidates as bad:
    - ``parity_width``: adds 1.0 to the logits in dygraph only. ``paddle.jit.save`` traces forward
      in static mode, where ``paddle.in_dynamic_mode()`` is False, so the export lacks the +1 and
      that candidate fails parity with a max abs error of exactly 1 while the others pass;
    - ``crash_width``: the process aborts (SIGABRT, no core file) the first time forward runs at
      that width: in the bench's prepare worker, whose export runs the dygraph net first.
    ``x.shape[-1]`` is a Python int in both modes because the exported shape is fixed.
    """

    def __init__(self, parity_width: int | None = None, crash_width: int | None = None) -> None:
        super().__init__()
        self.parity_width = parity_width
        self.crash_width = crash_width
        self.conv = nn.Conv2D(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, image: Any) -> Any:
        width = image.shape[-1]
        if width == self.crash_width:
            _abort()
        logits = self.head(paddle.flatten(F.adaptive_avg_pool2d(F.relu(self.conv(image)), 1), 1))
        if width == self.parity_width and paddle.in_dynamic_mode():
            logits = logits + 1.0
        return logits


def _abort() -> None:
    import os
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a test must not leave a core file behind
    os.abort()


def width_traps(parity_width: int | None = None, crash_width: int | None = None) -> WidthTrap:
    return WidthTrap(parity_width, crash_width)


class _Sleepy(nn.Layer):
    """Sleeps ``seconds`` in every forward: a step that overruns a worker timeout (tests/bench/test_forkserver.py)."""

    def __init__(self, seconds: float = 30.0) -> None:
        super().__init__()
        self.seconds = seconds
        self.conv = nn.Conv2D(3, 4, 3, padding=1)

    def forward(self, image: Any) -> Any:
        import time

        time.sleep(self.seconds)
        return self.conv(image)


def sleepy(seconds: float = 30.0) -> _Sleepy:
    return _Sleepy(seconds)


# --- the ONNX route (tests/infer/test_onnx.py) --------------------------------------------------------


class OnnxTrap(nn.Layer):
    """A small conv net that takes an op paddle2onnx 2.1.0 cannot convert (``inverse``) at one width.

    Paddle exports and runs it at every width, so in a sweep over paddle-cpu and onnx-cpu only the
    ONNX candidate at ``trap_width`` fails (at conversion, naming the op).
    """

    def __init__(self, trap_width: int | None = None) -> None:
        super().__init__()
        self.trap_width = trap_width
        self.conv = nn.Conv2D(3, 4, 3, padding=1)

    def forward(self, image: Any) -> Any:
        y = self.conv(image)
        if image.shape[-1] == self.trap_width:
            # A well-conditioned 4x4 block per channel: inverse of (I * 4 + small values).
            block = y[:, :, :4, :4] * 0.01 + paddle.eye(4) * 4.0
            return paddle.linalg.inv(block)
        return y


class FlopsNet(nn.Layer):
    """Every op kind flops.py counts, with a hand count in tests/infer/test_onnx.py:
    a grouped conv, a depthwise conv, a transposed conv, and a Linear (matmul)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2D(3, 8, 3, stride=2, padding=1)  # 3 -> 8, 16x16 -> 8x8
        self.grouped = nn.Conv2D(8, 8, 3, padding=1, groups=2)  # groups 2, 8x8
        self.depthwise = nn.Conv2D(8, 8, 3, padding=1, groups=8)  # depthwise, 8x8
        self.up = nn.Conv2DTranspose(8, 4, 2, stride=2)  # 8 -> 4, 8x8 -> 16x16
        self.fc = nn.Linear(4 * 16 * 16, 10)

    def forward(self, image: Any) -> Any:
        y = F.relu(self.conv(image))
        y = F.relu(self.depthwise(self.grouped(y)))
        y = self.up(y)
        return self.fc(paddle.flatten(y, 1))


def onnx_trap(trap_width: int | None = None) -> OnnxTrap:
    return OnnxTrap(trap_width)


def flops_net() -> FlopsNet:
    return FlopsNet()
