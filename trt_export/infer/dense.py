"""Reading a dense-prediction network's outputs as a label map and class scores.

Three layouts, checked against the manifest before anything runs:

- PaddleRS's exported segmenters and change detectors: ``label_map`` (N, H, W) integers and
  ``score_map`` (N, H, W, C) softmax probabilities (NHWC), by those names or, under other names,
  an integer (N, H, W) output next to a float (N, H, W, C) one;
- a network returning logits or probabilities (N, C, H, W) at the input's size (PaddleSeg nets,
  ``trt_export.zoo``): scores are the softmax over C (kept as they are when they already sum to
  one), labels their argmax;
- a label map alone (N, H, W) integers: labels only (no ``accum`` merge, no score map).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trt_export.errors import InputError
from trt_export.infer.inputs import TensorSpec
from trt_export.model.types import LABEL_MAP, SCORE_MAP


@dataclass(frozen=True)
class DenseLayout:
    kind: str  # paddlers | logits | labels
    label_output: str | None
    score_output: str | None
    classes: int | None

    @property
    def has_scores(self) -> bool:
        return self.kind in ("paddlers", "logits") and self.score_output is not None


def dense_layout(outputs: Sequence[TensorSpec], height: int, width: int) -> DenseLayout:
    """Which output holds labels/scores for an input of ``height`` x ``width``; InputError if none."""
    by_name = {spec.name: spec for spec in outputs}
    if LABEL_MAP in by_name:
        score = by_name.get(SCORE_MAP)
        classes = int(score.shape[-1]) if score is not None and len(score.shape) == 4 else None
        return DenseLayout("paddlers", LABEL_MAP, SCORE_MAP if score is not None else None, classes)
    labels = [
        s
        for s in outputs
        if len(s.shape) == 3 and np.issubdtype(np.dtype(s.dtype), np.integer) and tuple(s.shape[1:]) == (height, width)
    ]
    nhwc = [
        s
        for s in outputs
        if len(s.shape) == 4
        and np.issubdtype(np.dtype(s.dtype), np.floating)
        and tuple(s.shape[1:3]) == (height, width)
    ]
    if labels and nhwc:  # PaddleRS's pair under other names (a factory's output_0 / output_1)
        return DenseLayout("paddlers", labels[0].name, nhwc[0].name, int(nhwc[0].shape[-1]))
    for spec in outputs:
        if (
            len(spec.shape) == 4
            and np.issubdtype(np.dtype(spec.dtype), np.floating)
            and tuple(spec.shape[2:]) == (height, width)
        ):
            return DenseLayout("logits", None, spec.name, int(spec.shape[1]))
    for spec in outputs:
        if (
            len(spec.shape) == 3
            and np.issubdtype(np.dtype(spec.dtype), np.integer)
            and tuple(spec.shape[1:]) == (height, width)
        ):
            return DenseLayout("labels", spec.name, None, None)
    described = ", ".join(spec.describe() for spec in outputs) or "none"
    raise InputError(
        f"the model outputs no per-pixel map at its input size {width}x{height} (outputs: {described}); "
        "tiled prediction needs a segmenter or change detector (label map, score map or NCHW logits)"
    )


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def dense_maps(
    layout: DenseLayout, outputs: Mapping[str, np.ndarray], need_scores: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels (N, H, W) uint8, scores (N, H, W, C) float32 or None) from one batch's outputs.

    Without ``need_scores`` (merges other than accum, no score output) logits only go through
    argmax: the softmax and NHWC copy are most of the host cost per tile on CPU."""
    if layout.kind == "logits" and not need_scores:
        return np.argmax(np.asarray(outputs[layout.score_output]), axis=1).astype(np.uint8), None  # type: ignore[index]
    if layout.kind == "paddlers":
        labels = np.asarray(outputs[layout.label_output])  # type: ignore[index]
        scores = None if layout.score_output is None else np.asarray(outputs[layout.score_output], dtype=np.float32)
        return _labels_u8(labels), scores
    if layout.kind == "labels":
        return _labels_u8(np.asarray(outputs[layout.label_output])), None  # type: ignore[index]
    raw = np.asarray(outputs[layout.score_output], dtype=np.float32)  # type: ignore[index]
    sums = raw.sum(axis=1)
    already = raw.min() >= 0 and np.allclose(sums, 1.0, atol=1e-3)
    probs = raw if already else softmax(raw, axis=1)
    return np.argmax(raw, axis=1).astype(np.uint8), np.ascontiguousarray(probs.transpose(0, 2, 3, 1))


def _labels_u8(labels: np.ndarray) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() > 254):
        raise InputError(
            f"label map values {labels.min()}..{labels.max()} do not fit the uint8 output (255 marks invalid pixels)"
        )
    return labels.astype(np.uint8)
