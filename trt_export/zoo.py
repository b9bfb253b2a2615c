"""Small built-in networks for smoke tests and examples, usable as ``trt_export.zoo:<name>``.

They cover what the paddle.vision classifiers don't: two inputs (change detection, named like
PaddleRS's ``image`` / ``image2``) and bilinear upsampling back to the input size (segmentation).
Nothing here downloads weights; parameters are random unless ``--weights`` is given.
"""

from __future__ import annotations

from typing import Any

from trt_export.env.paddle_import import import_paddle

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional
Layer: Any = nn.Layer  # a base class known only at run time (mypy sees Paddle as Any)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> Any:
    return nn.Sequential(nn.Conv2D(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2D(cout), nn.ReLU())


class TinySegNet(Layer):
    """Encoder (stride 4) + bilinear upsampling: logits (N, num_classes, H, W)."""

    def __init__(self, num_classes: int = 2, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            _conv_bn_relu(in_channels, width, 2),
            _conv_bn_relu(width, width * 2, 2),
            _conv_bn_relu(width * 2, width * 2),
        )
        self.head = nn.Conv2D(width * 2, num_classes, 1)

    def forward(self, image: Any) -> Any:
        logits = self.head(self.encoder(image))
        return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)


class TinyChangeDetector(Layer):
    """Siamese encoder on ``image`` and ``image2``, difference features, bilinear upsampling.

    Returns change logits (N, num_classes, H, W) and the per-pixel change probability (N, H, W),
    so multi-output handling is exercised too.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Sequential(_conv_bn_relu(in_channels, width, 2), _conv_bn_relu(width, width * 2, 2))
        self.fuse = _conv_bn_relu(width * 4, width * 2)
        self.head = nn.Conv2D(width * 2, num_classes, 1)

    def forward(self, image: Any, image2: Any) -> tuple[Any, Any]:
        f1, f2 = self.encoder(image), self.encoder(image2)
        # Squared difference, not paddle.abs: abs is missing from Paddle 3.3.1's old-IR (legacy) export.
        diff = f1 - f2
        fused = self.fuse(paddle.concat([diff * diff, f1 + f2], axis=1))
        logits = F.interpolate(self.head(fused), size=image.shape[-2:], mode="bilinear", align_corners=False)
        change = F.softmax(logits, axis=1)[:, 1]
        return logits, change


def tiny_segnet(num_classes: int = 2, in_channels: int = 3, width: int = 16) -> TinySegNet:
    return TinySegNet(num_classes, in_channels, width)


def tiny_change_detector(num_classes: int = 2, in_channels: int = 3, width: int = 16) -> TinyChangeDetector:
    return TinyChangeDetector(num_classes, in_channels, width)
