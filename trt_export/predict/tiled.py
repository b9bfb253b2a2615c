"""``trt-export predict``: tiled inference of a scene of any size with a fixed-shape export.

The export's fixed [n, c, h, w] is the tile and the batch; placement, batch filling and merges
are PaddleRS's slider's (trt_export/predict/tiling.py), raster I/O is trt_export/predict/rasters.py. Labels go to
a uint8 raster (255 = invalid / nodata), optionally class scores to a float32 raster; both appear
under their final names only when complete.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.errors import InputError
from trt_export.export.manifest import Manifest
from trt_export.infer.dense import DenseLayout, dense_layout, dense_maps
from trt_export.predict.rasters import (
    LABEL_OUTPUT_SUFFIXES,
    SCORE_OUTPUT_SUFFIXES,
    OutputCanvas,
    RasterInfo,
    RasterReader,
    check_bands,
    check_output_path,
    check_pair,
    open_raster,
    write_error,
)
from trt_export.predict.tiling import (
    DEFAULT_MERGE,
    DEFAULT_OVERLAP,
    TilePlan,
    TileTimings,
    make_merger,
    plan_tiles,
    run_tiles,
)


def tile_preprocess(transforms: Sequence[dict[str, dict[str, Any]]] | None) -> Callable[[np.ndarray], np.ndarray]:
    """model.yml's transforms without the Resize: a tile is already at the fixed size, and a
    resize there would rescale it (PaddleRS's slider feeds the block through the same transforms,
    whose Resize is then the identity)."""
    from trt_export.infer.transforms import build_pipeline

    kept = [op for op in transforms or [] if "Resize" not in next(iter(op))]
    return build_pipeline(kept)


def model_transforms(export_dir: Path) -> list[dict[str, dict[str, Any]]]:
    from trt_export.model.paddlers_files import read_model_yml

    if not (export_dir / "model.yml").is_file():
        return []
    return list(read_model_yml(export_dir).transforms or [])


@dataclass(frozen=True)
class ExportGeometry:
    """What tiling needs from an export: batch, channels, tile (w, h), inputs, output layout."""

    batch: int
    channels: int
    tile_width: int
    tile_height: int
    input_names: tuple[str, ...]
    layout: DenseLayout

    @classmethod
    def of(cls, manifest: Manifest) -> ExportGeometry:
        specs = manifest.inputs
        if not specs or any(len(s.shape) != 4 for s in specs):
            raise InputError(
                "tiled prediction needs NCHW image inputs; this export has " + ", ".join(s.describe() for s in specs)
            )
        n, c, h, w = (int(d) for d in specs[0].shape)
        if any(tuple(s.shape) != tuple(specs[0].shape) for s in specs):
            raise InputError("the export's inputs differ in shape: " + ", ".join(s.describe() for s in specs))
        if len(specs) > 2:
            raise InputError(
                f"tiled prediction takes one image or a change-detection pair; this export has {len(specs)} inputs"
            )
        return cls(n, c, w, h, tuple(s.name for s in specs), dense_layout(manifest.outputs, h, w))

    @property
    def images_per_sample(self) -> int:
        return len(self.input_names)


def make_infer(
    runner: Any, geometry: ExportGeometry, need_scores: bool = True
) -> Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray | None]]:
    """(one NCHW batch per input) -> (labels, scores) through ``runner.infer``; scores only when
    ``need_scores`` (accum, --score-out)."""

    def infer(feeds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = runner.infer(
            {name: feed.astype(np.float32, copy=False) for name, feed in zip(geometry.input_names, feeds, strict=True)}
        )
        return dense_maps(geometry.layout, outputs, need_scores)

    return infer


def open_scene(
    paths: Sequence[str | Path], channels: int | None, images_per_sample: int
) -> tuple[list[RasterReader], RasterInfo]:
    """Open the scene (or the pair), check bands and co-registration; readers are the caller's to close."""
    if len(paths) != images_per_sample:
        want = "one image" if images_per_sample == 1 else "two images (a change-detection pair: before, after)"
        raise InputError(f"got {len(paths)} image(s) but the export takes {want}")
    readers: list[RasterReader] = []
    try:
        for path in paths:
            readers.append(open_raster(path))
        for reader in readers:
            if channels is not None:
                check_bands(reader.info, channels)
        if len(readers) == 2:
            check_pair(readers[0].info, readers[1].info)
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    return readers, readers[0].info


@dataclass
class PredictOptions:
    export_dir: Path
    images: list[Path]
    out: Path
    score_out: Path | None = None
    overlap: int = DEFAULT_OVERLAP
    merge: str = DEFAULT_MERGE
    force: bool = False
    progress: bool = True
    settings: Any = None  # BackendSettings; None: paddle-cpu, every core
    model_format: str | None = None


@dataclass
class PredictResult:
    outputs: list[Path]
    plan: TilePlan
    batch_size: int
    timings: TileTimings
    build_s: float | None
    backend: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        t = self.timings
        mp_s = self.plan.scene_pixels / t.wall_s / 1e6 if t.wall_s > 0 else float("nan")
        lines = [
            f"predicted {self.plan.scene_width}x{self.plan.scene_height} on {self.backend}: {self.plan.describe()}",
            f"  {t.tiles} tiles in {t.batches} batches of {self.batch_size}: {t.wall_s:.2f} s ({mp_s:.2f} MP/s effective); "
            f"network {t.infer_s:.2f} s, read {t.read_s:.2f} s, preprocess {t.preprocess_s:.2f} s, merge+write {t.merge_s:.2f} s"
            + (f"; predictor build {self.build_s:.2f} s (not in the scene time)" if self.build_s is not None else ""),
        ]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  wrote {path}" for path in self.outputs]
        return "\n".join(lines)


def predict(options: PredictOptions) -> PredictResult:
    """Tile, infer, merge, write. Every input is checked before the predictor is built."""
    import os

    from tqdm import tqdm

    from trt_export.export.manifest import load_manifest
    from trt_export.infer.backends import BackendSettings
    from trt_export.infer.onnx_runner import create_runner

    export_dir = Path(options.export_dir)
    manifest = load_manifest(export_dir)
    geometry = ExportGeometry.of(manifest)
    out = check_output_path(options.out, options.force, "--out", LABEL_OUTPUT_SUFFIXES)
    score_out = None
    if options.score_out is not None:
        score_out = check_output_path(options.score_out, options.force, "--score-out", SCORE_OUTPUT_SUFFIXES)
        if score_out.resolve() == out.resolve():
            raise InputError("--score-out and --out name the same file; give two names")
        if not geometry.layout.has_scores:
            raise InputError("--score-out needs class scores, and this model outputs labels only; drop --score-out")
    inputs = {Path(p).resolve() for p in options.images}
    for target, flag in ((out, "--out"), (score_out, "--score-out")):
        if target is not None and target.resolve() in inputs:
            raise InputError(f"{flag} {str(target)!r} is one of the input images; write the prediction to another file")
    notes: list[str] = []
    settings = options.settings or BackendSettings(backend="paddle-cpu", cpu_threads=os.cpu_count() or 1)
    with ExitStack() as stack:
        readers, info = open_scene(options.images, geometry.channels, geometry.images_per_sample)
        for reader in readers:
            stack.callback(reader.close)
        plan = plan_tiles(
            info.width, info.height, (geometry.tile_width, geometry.tile_height), options.overlap, options.merge
        )
        if plan.merge != plan.requested_merge:
            notes.append(
                f"merge {plan.requested_merge} became keep_last: with overlap {options.overlap} or one tile covering the scene nothing overlaps (PaddleRS does the same)"
            )
        if plan.merge == "accum" and not geometry.layout.has_scores:
            raise InputError(
                "merge accum needs class scores, and this model outputs labels only; use keep_last, keep_first or swell"
            )
        if info.kind == "geotiff" and out.suffix.lower() not in (".tif", ".tiff"):
            notes.append(
                f"{info.path} is georeferenced; {out.name} keeps no CRS or geotransform (write a .tif to keep them)"
            )
        preprocess = tile_preprocess(model_transforms(export_dir))
        runner = create_runner(export_dir, manifest, settings, model_format=options.model_format)  # onnx-* too
        stack.enter_context(runner)
        canvas = OutputCanvas(out, info.width, info.height, info, geometry.layout.classes, score_out)
        committed = False
        try:
            merger = make_merger(plan, canvas)
            bar = tqdm(
                total=plan.tile_count, desc="predict", unit="tile", disable=not options.progress, file=sys.stderr
            )
            with bar:
                timings = run_tiles(
                    plan,
                    geometry.batch,
                    [r.read for r in readers],
                    preprocess,
                    make_infer(runner, geometry, need_scores=plan.merge == "accum" or score_out is not None),
                    merger,
                    nodata=info.nodata,
                    on_batch=bar.update,
                )
            written = canvas.commit()
            committed = True
        except OSError as exc:
            raise write_error(out, exc) from None
        finally:
            if not committed:
                canvas.abort()
    return PredictResult(written, plan, geometry.batch, timings, runner.build_seconds, settings.backend, notes)


def tiled_labels(
    image_arrays: Sequence[np.ndarray],
    plan: TilePlan,
    geometry: ExportGeometry,
    preprocess: Callable[[np.ndarray], np.ndarray],
    infer: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray | None]],
) -> tuple[np.ndarray, TileTimings]:
    """Stitched labels of in-memory HWC images (bench's agreement check and host-cost probe)."""
    from trt_export.predict.tiling import LabelCanvas, read_window

    canvas = LabelCanvas(plan.scene_width, plan.scene_height)
    merger = make_merger(plan, canvas)
    readers = [lambda w, a=a: read_window(a, w) for a in image_arrays]
    timings = run_tiles(plan, geometry.batch, readers, preprocess, infer, merger)
    return canvas.labels, timings


__all__ = [
    "PredictOptions",
    "PredictResult",
    "predict",
    "ExportGeometry",
    "tile_preprocess",
    "model_transforms",
    "make_infer",
    "open_scene",
    "tiled_labels",
]
