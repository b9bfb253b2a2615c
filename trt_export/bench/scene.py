"""Bench's scene objective and tiling agreement: settings, per-candidate results, metrics.

A candidate tile size is judged on the question users bring: how long does *this scene* take at
this tile with overlap, and how much does tiling change the labels.

- Scene time (predicted): ``batches x median batch latency + tiles x host seconds per tile``.
  The tile and batch counts come from the same placement ``predict`` runs (tiling.py); the host
  cost per tile is measured in the candidate's worker by running predict's own pipeline (read,
  slice, preprocess, feed checks and copies, merge, write to a temporary file) over a probe of a
  few tiles of the scene and subtracting the network time measured inside that probe.
- Agreement: the stitched tiled output of the fixed-shape export against the dygraph model run
  on the whole image at its native resolution (or the largest centred window within
  ``--agreement-max-pixels``; the report says so): label agreement, mIoU and per-class IoU,
  computed over one confusion matrix of all agreement images (pixel-weighted).

Pure data and numpy here; the worker side is scene_worker.py, the parent side bench.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trt_export.errors import InputError
from trt_export.predict.tiling import DEFAULT_MERGE, DEFAULT_OVERLAP, INVALID_VALUE
from trt_export.serial import JsonRecord

DEFAULT_AGREEMENT_MAX_PIXELS = 4 * 2**20  # 4 MP: a dygraph reference of that size fits a CPU worker
_SCENE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_scene(text: str) -> tuple[int, int]:
    """'WxH' (width first, like PaddleRS's block sizes) -> (width, height)."""
    match = _SCENE_RE.match(text or "")
    if not match:
        raise InputError(f"--scene {text!r} is not WIDTHxHEIGHT in pixels, e.g. --scene 10000x10000")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise InputError(f"--scene {text!r}: width and height must be positive")
    return width, height


def parse_min_agreement(value: float | None) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise InputError(f"--min-agreement is a fraction of pixels in (0, 1], e.g. 0.99, got {value}")
    return float(value)


@dataclass(frozen=True)
class SceneSettings(JsonRecord):
    """The scene a sweep is judged on (``bench.json`` settings.scene)."""

    width: int
    height: int
    images: list[str] = field(default_factory=list)  # --scene-image (two for a change pair); empty for --scene WxH
    overlap: int = DEFAULT_OVERLAP
    merge: str = DEFAULT_MERGE

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class SceneEstimate(JsonRecord):
    """One candidate's predicted time for the scene (``bench.json`` candidates[].scene)."""

    tiles: int
    batches: int
    batch_size: int
    merge: str
    redundancy: float  # pixels computed per scene pixel
    batch_latency_ms: float  # median timed latency per batch
    host_ms_per_tile: float
    probe_tiles: int
    scene_s: float
    effective_mp_per_s: float
    noise: float = 0.0  # IQR / median of the batch latency: the relative uncertainty of scene_s


def estimate_scene(
    scene: SceneSettings,
    tiles: int,
    batches: int,
    batch_size: int,
    merge: str,
    redundancy: float,
    batch_latency_ms: float,
    host_s_per_tile: float,
    probe_tiles: int,
    noise: float,
) -> SceneEstimate:
    scene_s = batches * batch_latency_ms / 1000.0 + tiles * host_s_per_tile
    return SceneEstimate(
        tiles=tiles,
        batches=batches,
        batch_size=batch_size,
        merge=merge,
        redundancy=round(redundancy, 4),
        batch_latency_ms=round(batch_latency_ms, 4),
        host_ms_per_tile=round(host_s_per_tile * 1000.0, 4),
        probe_tiles=probe_tiles,
        scene_s=round(scene_s, 4),
        effective_mp_per_s=round(scene.pixels / scene_s / 1e6, 4) if scene_s > 0 else 0.0,
        noise=round(noise, 4),
    )


def host_seconds_per_tile(probe_wall_s: float, probe_network_s: float, probe_tiles: int) -> float:
    """What a tile costs beyond the network: the probe's wall time minus the network time measured
    inside it (the runner's own inference times), per tile; never negative."""
    if probe_tiles < 1:
        return 0.0
    return max(probe_wall_s - probe_network_s, 0.0) / probe_tiles


# --------------------------------------------------------------------------- agreement


def confusion(reference: np.ndarray, candidate: np.ndarray, classes: int) -> np.ndarray:
    """classes x classes pixel counts (rows: reference label, columns: tiled label); pixels
    invalid (255) in either map are left out."""
    if reference.shape != candidate.shape:
        raise ValueError(f"label maps differ in shape: {reference.shape} vs {candidate.shape}")
    valid = (reference != INVALID_VALUE) & (candidate != INVALID_VALUE)
    ref = reference[valid].astype(np.int64)
    cand = candidate[valid].astype(np.int64)
    size = max(classes, int(ref.max(initial=-1)) + 1, int(cand.max(initial=-1)) + 1)
    return np.bincount(ref * size + cand, minlength=size * size).reshape(size, size)


@dataclass(frozen=True)
class AgreementImage(JsonRecord):
    image: str  # the file (or "a + b" for a pair)
    window: list[int]  # x, y, width, height compared (the whole image unless it was too large)
    agreement: float
    note: str | None = None


@dataclass(frozen=True)
class AgreementSummary(JsonRecord):
    """Tiled export vs native-resolution dygraph, over every agreement image (``candidates[].agreement``)."""

    agreement: float  # fraction of compared pixels with the same label
    miou: float  # mean IoU over classes present in either map
    per_class_iou: dict[str, float]
    pixels: int
    images: list[AgreementImage] = field(default_factory=list)


def summarize_agreement(matrix: np.ndarray, images: Sequence[AgreementImage]) -> AgreementSummary:
    total = int(matrix.sum())
    agreement = float(np.trace(matrix) / total) if total else 0.0
    inter = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - inter
    present = union > 0
    iou = {str(c): round(float(inter[c] / union[c]), 6) for c in range(len(inter)) if present[c]}
    miou = float(np.mean([inter[c] / union[c] for c in range(len(inter)) if present[c]])) if present.any() else 0.0
    return AgreementSummary(round(agreement, 6), round(miou, 6), iou, total, list(images))


def centred_window(width: int, height: int, max_pixels: int, multiple: int = 32) -> tuple[int, int, int, int]:
    """The largest centred window within ``max_pixels`` with the image's aspect ratio, its sides
    cut to a multiple of ``multiple`` (down-sampling nets need it) where the image allows."""
    scale = min(1.0, math.sqrt(max_pixels / float(width * height)))
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    if w >= multiple:
        w -= w % multiple
    if h >= multiple:
        h -= h % multiple
    return (width - w) // 2, (height - h) // 2, w, h


__all__ = [
    "SceneSettings",
    "SceneEstimate",
    "AgreementSummary",
    "AgreementImage",
    "parse_scene",
    "parse_min_agreement",
    "estimate_scene",
    "host_seconds_per_tile",
    "confusion",
    "summarize_agreement",
    "centred_window",
    "DEFAULT_AGREEMENT_MAX_PIXELS",
]
