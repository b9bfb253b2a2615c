"""Sliding-window tiling with PaddleRS's slider semantics: placement, batch filling, four merges.

Pure numpy: no Paddle, no file formats. ``predict`` (trt_export/predict/tiled.py) and bench's scene
objective both use it, so the tile count bench predicts is the one predict runs.

Semantics follow ``paddlers/tasks/utils/slider_predict.py`` (PaddleRS develop f62b46f, read):

- Tiles are placed row by row with stride = tile - overlap, starting at 0; a tile that would pass
  the right (bottom) edge is moved inward to end at the edge, never padded. There are therefore
  ceil(W / stride) tiles per row and ceil(H / stride) rows, exactly as PaddleRS runs them (when the
  last stride lands on the previous tile's position, PaddleRS runs that tile twice; so do we, so
  ``accum`` sums match).
- A tile larger than the scene is refused; overlap >= tile is refused.
- With overlap 0, or one tile covering the whole scene, every merge becomes ``keep_last``.
- Batches are filled in placement order; the last one is completed by repeating its final tile
  (the predictor's batch size is fixed), and the repeats are not merged.
- ``keep_last`` writes each tile over the output; ``keep_first`` keeps pixels already written
  (the output starts as the invalid value, 255); ``accum`` adds each tile's class probabilities,
  weighted 0.5 on the outer 25% of each side (0.25 in the corners), into a strip cache one tile
  high that rolls down with the rows, and writes the argmax of the sums so far over the tile;
  ``swell`` runs windows of tile size starting ``overlap`` before the scene (out-of-scene pixels
  are 0) with stride tile - 2*overlap and keeps only each window's centre.

Where we differ from PaddleRS, on purpose: in ``swell`` the model input is the tile (the export's
fixed shape) and the kept centre is tile - 2*overlap, while PaddleRS reads block + 2*overlap and
relies on the predictor's Resize to fit the export, which rescales the window; and windows that
leave the scene on one axis only are zero-padded, where PaddleRS's BlockReader raises ValueError.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from trt_export.errors import InputError
from trt_export.serial import JsonRecord

MERGES = ("keep_first", "keep_last", "accum", "swell")
DEFAULT_OVERLAP = 36  # PaddleRS's slider_predict default
DEFAULT_MERGE = "keep_last"  # PaddleRS's slider_predict default
INVALID_VALUE = 255  # PaddleRS's invalid_value: what the label output holds before any tile is written
BORDER_RATIO = 0.25
BORDER_WEIGHT = 0.5


@dataclass(frozen=True)
class Window:
    """A rectangle in scene pixels: x (column) and y (row) of the top-left corner, width, height."""

    x: int
    y: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Tile:
    """One model input: ``read`` is the window fed to the network (may leave the scene for swell),
    ``write`` the part of the output it produces, ``crop`` where ``write`` sits inside the input."""

    index: int
    row: int
    read: Window
    write: Window
    crop_x: int = 0
    crop_y: int = 0


@dataclass(frozen=True)
class Batch:
    """Tiles run together; ``fill`` repeats of the last tile complete the fixed batch size."""

    tiles: tuple[Tile, ...]
    fill: int

    @property
    def size(self) -> int:
        return len(self.tiles) + self.fill


@dataclass(frozen=True)
class TilePlan:
    scene_width: int
    scene_height: int
    tile_width: int
    tile_height: int
    overlap_x: int
    overlap_y: int
    merge: str  # the merge actually applied (overlap 0 or a whole-scene tile turn any into keep_last)
    requested_merge: str
    tiles: tuple[Tile, ...]

    @property
    def tile_count(self) -> int:
        return len(self.tiles)

    @property
    def scene_pixels(self) -> int:
        return self.scene_width * self.scene_height

    @property
    def computed_pixels(self) -> int:
        """Pixels the network processes: tiles x tile area (the redundant overlap included)."""
        return self.tile_count * self.tile_width * self.tile_height

    @property
    def redundancy(self) -> float:
        """Computed pixels per scene pixel (1.0 = no overlap work); >= 1 for a covering plan."""
        return self.computed_pixels / self.scene_pixels

    def batch_count(self, batch_size: int) -> int:
        return math.ceil(self.tile_count / batch_size)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Tiles in placement order, ``batch_size`` at a time; the last batch is filled up."""
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        for start in range(0, self.tile_count, batch_size):
            chunk = self.tiles[start : start + batch_size]
            yield Batch(chunk, batch_size - len(chunk))

    def describe(self) -> str:
        return (
            f"{self.tile_count} tiles of {self.tile_width}x{self.tile_height} over {self.scene_width}x{self.scene_height} "
            f"(overlap {self.overlap_x}x{self.overlap_y}, merge {self.merge}, {self.redundancy:.2f}x the scene's pixels)"
        )


def _pair(value: int | Sequence[int], what: str) -> tuple[int, int]:
    """An int or (x, y) pair of non-negative ints (PaddleRS takes (W, H) pairs too)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise InputError(f"{what} must be an integer or a (width, height) pair of integers, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_overlap(tile: int | Sequence[int], overlap: int | Sequence[int], merge: str = DEFAULT_MERGE) -> None:
    """Refuse an overlap the tile cannot take (before any scene is read)."""
    tw, th = _pair(tile, "tile size")
    ox, oy = _pair(overlap, "overlap")
    if merge not in MERGES:
        raise InputError(f"unknown merge {merge!r}; use one of {', '.join(MERGES)}")
    if ox < 0 or oy < 0:
        raise InputError(f"--overlap must be >= 0, got {ox if ox < 0 else oy}")
    if ox >= tw or oy >= th:
        raise InputError(
            f"--overlap {max(ox, oy)} is not smaller than the tile {tw}x{th}; use an overlap below the tile size (PaddleRS's default is {DEFAULT_OVERLAP})"
        )
    if merge == "swell" and (2 * ox >= tw or 2 * oy >= th):
        raise InputError(
            f"merge swell keeps the centre of each {tw}x{th} tile minus --overlap on every side, so --overlap must be below half "
            f"the tile (got {max(ox, oy)}); use a smaller overlap or another merge"
        )


def plan_tiles(
    scene_width: int,
    scene_height: int,
    tile: int | Sequence[int],
    overlap: int | Sequence[int] = DEFAULT_OVERLAP,
    merge: str = DEFAULT_MERGE,
) -> TilePlan:
    """Where every tile of a ``scene_width`` x ``scene_height`` scene goes, in PaddleRS's order.

    ``tile`` is the model's input (w, h): the export's fixed shape.
    """
    tw, th = _pair(tile, "tile size")
    ox, oy = _pair(overlap, "overlap")
    if tw < 1 or th < 1:
        raise InputError(f"tile size must be positive, got {tw}x{th}")
    if scene_width < 1 or scene_height < 1:
        raise InputError(f"scene size must be positive, got {scene_width}x{scene_height}")
    check_overlap((tw, th), (ox, oy), merge)
    requested = merge
    swell = merge == "swell"
    core_w, core_h = (tw - 2 * ox, th - 2 * oy) if swell else (tw, th)
    if core_w > scene_width or core_h > scene_height:
        what = f"the kept centre {core_w}x{core_h} of a swell tile" if swell else f"the tile {tw}x{th}"
        raise InputError(
            f"{what} is larger than the scene {scene_width}x{scene_height}; use a tile no larger than the scene "
            "(tiles are moved inward at the edges, never padded)"
        )
    if (ox, oy) == (0, 0) or (not swell and (tw, th) == (scene_width, scene_height)):
        merge = "keep_last"  # what PaddleRS does: nothing overlaps, so the cheapest merge is exact
        swell = False
    tiles: list[Tile] = []
    if swell:
        step_x, step_y = core_w, core_h
        for row, y0 in enumerate(range(-oy, scene_height, step_y)):
            y = scene_height + oy - th if y0 + th > scene_height else y0
            for x0 in range(-ox, scene_width, step_x):
                x = scene_width + ox - tw if x0 + tw > scene_width else x0
                tiles.append(
                    Tile(len(tiles), row, Window(x, y, tw, th), Window(x + ox, y + oy, core_w, core_h), ox, oy)
                )
    else:
        step_x, step_y = tw - ox, th - oy
        for row, y0 in enumerate(range(0, scene_height, step_y)):
            y = scene_height - th if y0 + th > scene_height else y0
            for x0 in range(0, scene_width, step_x):
                x = scene_width - tw if x0 + tw > scene_width else x0
                window = Window(x, y, tw, th)
                tiles.append(Tile(len(tiles), row, window, window))
    return TilePlan(scene_width, scene_height, tw, th, ox, oy, merge, requested, tuple(tiles))


# --------------------------------------------------------------------------- merges


class LabelCanvas:
    """Where merged labels (and optionally class scores) go; rasters.py writes them to files.

    The in-memory default is what bench's agreement check and the tests use.
    """

    def __init__(self, width: int, height: int, classes: int | None = None, invalid: int = INVALID_VALUE) -> None:
        self.labels = np.full((height, width), invalid, dtype=np.uint8)
        self.scores = None if classes is None else np.zeros((height, width, classes), dtype=np.float32)

    def read_labels(self, w: Window) -> np.ndarray:
        return self.labels[w.y : w.y + w.height, w.x : w.x + w.width]

    def write(self, w: Window, labels: np.ndarray, scores: np.ndarray | None) -> None:
        self.labels[w.y : w.y + w.height, w.x : w.x + w.width] = labels
        if self.scores is not None and scores is not None:
            self.scores[w.y : w.y + w.height, w.x : w.x + w.width] = scores

    def read_scores(self, w: Window) -> np.ndarray | None:
        return None if self.scores is None else self.scores[w.y : w.y + w.height, w.x : w.x + w.width]


def border_weights(height: int, width: int) -> np.ndarray:
    """PaddleRS's accum weights: 0.5 on the outer 25% of each side, multiplied in the corners.

    As in PaddleRS, int(size * 0.25) pixels per side; for a side under 4 pixels that is 0 and
    PaddleRS's ``array[-0:]`` then halves the whole tile, which this reproduces.
    """
    weights = np.ones((height, width), dtype=np.float32)
    hm, wm = int(height * BORDER_RATIO), int(width * BORDER_RATIO)
    weights[:hm] *= BORDER_WEIGHT
    weights[-hm:] *= BORDER_WEIGHT
    weights[:, :wm] *= BORDER_WEIGHT
    weights[:, -wm:] *= BORDER_WEIGHT
    return weights


class Merger:
    """Turns one tile's prediction into what is written at ``tile.write``."""

    needs_scores = False

    def __init__(self, plan: TilePlan, canvas: LabelCanvas, invalid: int = INVALID_VALUE) -> None:
        self.plan = plan
        self.canvas = canvas
        self.invalid = invalid

    def add(self, tile: Tile, labels: np.ndarray, scores: np.ndarray | None) -> None:
        """``labels`` (h, w) and ``scores`` (h, w, classes) or None, both of the read window."""
        w = tile.write
        lab = labels[tile.crop_y : tile.crop_y + w.height, tile.crop_x : tile.crop_x + w.width]
        sc = (
            None
            if scores is None
            else scores[tile.crop_y : tile.crop_y + w.height, tile.crop_x : tile.crop_x + w.width]
        )
        self._write(tile, lab, sc)

    def _write(self, tile: Tile, labels: np.ndarray, scores: np.ndarray | None) -> None:
        self.canvas.write(tile.write, labels, scores)

    def finish(self) -> None:
        """Called after the last tile (nothing is cached between rows except in accum)."""


class KeepFirst(Merger):
    def _write(self, tile: Tile, labels: np.ndarray, scores: np.ndarray | None) -> None:
        existing = np.asarray(self.canvas.read_labels(tile.write))
        written = existing != self.invalid
        merged = np.where(written, existing, labels).astype(np.uint8)
        if scores is not None:
            old = self.canvas.read_scores(tile.write)
            if old is not None:
                scores = np.where(written[:, :, None], old, scores)
        self.canvas.write(tile.write, merged, scores)


class Accum(Merger):
    """Strip cache (tile height x scene width x classes, float16 as in PaddleRS) rolled per row."""

    needs_scores = True

    def __init__(self, plan: TilePlan, canvas: LabelCanvas, invalid: int = INVALID_VALUE) -> None:
        super().__init__(plan, canvas, invalid)
        self.cache: np.ndarray | None = None
        self.prev_y: int | None = None
        self.weights = border_weights(plan.tile_height, plan.tile_width)

    def _write(self, tile: Tile, labels: np.ndarray, scores: np.ndarray | None) -> None:
        if scores is None:
            raise InputError(
                "merge accum needs class scores, and this model outputs labels only; use keep_last, keep_first or swell"
            )
        w = tile.write
        if self.cache is None:
            self.cache = np.zeros((w.height, self.plan.scene_width, scores.shape[2]), dtype=np.float16)
        if self.prev_y is not None and w.y != self.prev_y:
            shift = w.y - self.prev_y
            self.cache[:-shift] = self.cache[shift:]
            self.cache[-shift:] = 0
        weighted = scores * self.weights[:, :, None]
        self.cache[:, w.x : w.x + w.width] += weighted  # float32 added into float16, rounded once, as PaddleRS
        acc = self.cache[:, w.x : w.x + w.width]
        self.prev_y = w.y
        total = acc.astype(np.float32).sum(axis=2, keepdims=True)
        self.canvas.write(w, np.argmax(acc, axis=2).astype(np.uint8), acc.astype(np.float32) / np.maximum(total, 1e-12))


def make_merger(plan: TilePlan, canvas: LabelCanvas, invalid: int = INVALID_VALUE) -> Merger:
    if plan.merge == "keep_first":
        return KeepFirst(plan, canvas, invalid)
    if plan.merge == "accum":
        return Accum(plan, canvas, invalid)
    return Merger(plan, canvas, invalid)  # keep_last, and swell (its crop is in the plan)


def read_window(image: np.ndarray, window: Window, pad_value: float = 0) -> np.ndarray:
    """The HWC pixels of ``window`` from an in-memory HWC image, zero-padded outside it (swell)."""
    h, w = image.shape[:2]
    x0, y0 = max(window.x, 0), max(window.y, 0)
    x1, y1 = min(window.x + window.width, w), min(window.y + window.height, h)
    inside = image[y0:y1, x0:x1]
    if inside.shape[:2] == (window.height, window.width):
        return inside
    out = np.full((window.height, window.width, *image.shape[2:]), pad_value, dtype=image.dtype)
    out[y0 - window.y : y1 - window.y, x0 - window.x : x1 - window.x] = inside
    return out


@dataclass
class TileTimings(JsonRecord):
    """Where a tiled run spent its wall time (seconds, perf_counter)."""

    tiles: int = 0
    batches: int = 0
    read_s: float = 0.0
    preprocess_s: float = 0.0
    infer_s: float = 0.0
    merge_s: float = 0.0
    wall_s: float = 0.0

    @property
    def host_s(self) -> float:
        """Everything but the network: reading, slicing, preprocessing, merging, writing."""
        return max(self.wall_s - self.infer_s, 0.0)

    def json_derived(self) -> dict[str, float]:
        return {"host_s": self.host_s}


# (NCHW float32 per model input, one per image of the pair) -> (labels NHW, scores NHWC or None)
InferFn = Callable[[list[np.ndarray]], tuple[np.ndarray, "np.ndarray | None"]]


def run_tiles(
    plan: TilePlan,
    batch_size: int,
    readers: Sequence[Callable[[Window], np.ndarray]],
    preprocess: Callable[[np.ndarray], np.ndarray],
    infer: InferFn,
    merger: Merger,
    nodata: float | None = None,
    on_batch: Callable[[int], object] | None = None,  # its return value is ignored (tqdm.update)
    max_tiles: int | None = None,
) -> TileTimings:
    """Read, preprocess, infer and merge every tile of ``plan`` (or the first ``max_tiles``).

    ``readers`` give the HWC pixels of a window, one reader per model input (two for a change
    detection pair). Pixels equal to ``nodata`` (NaN included) in every band of the first image come
    out as the invalid value; non-finite pixels of float rasters are fed to the network as 0. ``on_batch`` receives the number of real tiles after each batch (progress bars).
    """
    clock = time.perf_counter
    timings = TileTimings()
    start = clock()
    for batch in plan.batches(batch_size):
        if max_tiles is not None and timings.tiles >= max_tiles:
            break
        t0 = clock()
        raw = [[reader(tile.read) for tile in batch.tiles] for reader in readers]
        t1 = clock()
        feeds = []
        for images in raw:
            chw = [preprocess(finite_pixels(image)) for image in images]
            chw += [chw[-1]] * batch.fill  # PaddleRS fills the last batch by repeating its final tile
            feeds.append(np.ascontiguousarray(np.stack(chw)))
        t2 = clock()
        labels, scores = infer(feeds)
        t3 = clock()
        for i, tile in enumerate(batch.tiles):
            merger.add(tile, labels[i], None if scores is None else scores[i])
            if nodata is not None:
                _mask_nodata(merger, tile, raw[0][i], nodata)
        t4 = clock()
        timings.read_s += t1 - t0
        timings.preprocess_s += t2 - t1
        timings.infer_s += t3 - t2
        timings.merge_s += t4 - t3
        timings.tiles += len(batch.tiles)
        timings.batches += 1
        if on_batch is not None:
            on_batch(len(batch.tiles))
    merger.finish()
    timings.wall_s = clock() - start
    return timings


def finite_pixels(image: np.ndarray) -> np.ndarray:
    """Float rasters mark nodata with NaN; the network gets 0 there (its labels become invalid)."""
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        return np.where(np.isfinite(image), image, 0).astype(image.dtype)
    return image


def nodata_mask(pixels: np.ndarray, nodata: float) -> np.ndarray:
    """(h, w) True where every band of HWC ``pixels`` is ``nodata`` (NaN compares as NaN)."""
    hit = np.isnan(pixels) if isinstance(nodata, float) and np.isnan(nodata) else pixels == nodata
    return np.all(hit, axis=2) if hit.ndim == 3 else hit


def _mask_nodata(merger: Merger, tile: Tile, pixels: np.ndarray, nodata: float) -> None:
    w = tile.write
    inside = pixels[tile.crop_y : tile.crop_y + w.height, tile.crop_x : tile.crop_x + w.width]
    mask = nodata_mask(inside, nodata)
    if mask.any():
        labels = np.array(merger.canvas.read_labels(w))
        labels[mask] = merger.invalid
        merger.canvas.write(w, labels, None)


__all__ = [
    "TileTimings",
    "run_tiles",
    "nodata_mask",
    "finite_pixels",
    "MERGES",
    "DEFAULT_OVERLAP",
    "DEFAULT_MERGE",
    "INVALID_VALUE",
    "Window",
    "Tile",
    "Batch",
    "TilePlan",
    "plan_tiles",
    "check_overlap",
    "LabelCanvas",
    "Merger",
    "KeepFirst",
    "Accum",
    "make_merger",
    "border_weights",
    "read_window",
]
