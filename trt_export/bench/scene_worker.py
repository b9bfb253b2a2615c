"""The worker side of bench's scene objective (see scene.py): runs inside bench's worker processes.

- ``scene_reference`` job: the dygraph model on each agreement image at native resolution (or the
  largest centred window within the pixel limit), labels saved to an .npz for every candidate;
- :func:`measure_scene`, called by the ``measure`` job with its built predictor: the host-cost
  probe over a few tiles of the scene, and the tiled labels of each agreement image compared
  with the reference.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.bench.protocol import (
    AgreementJob,
    MeasureJob,
    ReferenceImage,
    SceneReferenceJob,
    SceneReferenceResult,
)
from trt_export.bench.scene import AgreementImage, SceneSettings, centred_window, confusion, summarize_agreement
from trt_export.predict.rasters import ArrayReader, OutputCanvas, RasterInfo, RasterReader, rasterio_module
from trt_export.predict.tiled import (
    ExportGeometry,
    make_infer,
    model_transforms,
    open_scene,
    tile_preprocess,
    tiled_labels,
)
from trt_export.predict.tiling import (
    INVALID_VALUE,
    Window,
    finite_pixels,
    make_merger,
    nodata_mask,
    plan_tiles,
    run_tiles,
)

_CONFUSION_SIZE = INVALID_VALUE  # labels are 0..254


def group_name(group: list[str]) -> str:
    return " + ".join(Path(p).name for p in group)


def reference_window(width: int, height: int, max_pixels: int) -> tuple[tuple[int, int, int, int], str | None]:
    window = centred_window(width, height, max_pixels)
    if window == (0, 0, width, height):
        return window, None
    x, y, w, h = window
    why = (
        "the image exceeds --agreement-max-pixels"
        if width * height > max_pixels
        else "sides cut to a multiple of 32 for the network"
    )
    return window, f"compared on the centred {w}x{h} window at +{x}+{y} of {width}x{height} ({why})"


def job_scene_reference(job: SceneReferenceJob, source: Any) -> SceneReferenceResult:
    """Dygraph labels at native resolution for every agreement image (group), saved to ``job.out``."""
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.dense import dense_layout, dense_maps
    from trt_export.infer.inputs import TensorSpec
    from trt_export.infer.runners import DygraphRunner

    export_dir = job.export_dir
    manifest = load_manifest(export_dir)
    geometry = ExportGeometry.of(manifest)
    preprocess = tile_preprocess(model_transforms(export_dir))
    arrays: dict[str, np.ndarray] = {}
    images = []
    runner = DygraphRunner(source.build, [], manifest.output_names)
    with runner:
        for i, group in enumerate(job.groups):
            readers, info = open_scene(group, geometry.channels, geometry.images_per_sample)
            try:
                (x, y, w, h), note = reference_window(info.width, info.height, job.max_pixels)
                pixels = [reader.read(Window(x, y, w, h)) for reader in readers]
            finally:
                for reader in readers:
                    reader.close()
            specs = [TensorSpec(name, "float32", (1, geometry.channels, h, w)) for name in geometry.input_names]
            runner.input_specs = specs
            outputs = runner.infer(
                {
                    name: preprocess(finite_pixels(p))[np.newaxis]
                    for name, p in zip(geometry.input_names, pixels, strict=True)
                }
            )
            layout = dense_layout([TensorSpec(k, str(v.dtype), tuple(v.shape)) for k, v in outputs.items()], h, w)
            labels = dense_maps(layout, outputs)[0][0]
            if info.nodata is not None:
                labels[nodata_mask(pixels[0], info.nodata)] = INVALID_VALUE
            arrays[f"ref_{i}"] = labels
            images.append(ReferenceImage(group_name(group), [x, y, w, h], note))
    out = job.out
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    partial.rename(out)
    return SceneReferenceResult(images)


def measure_scene(job: MeasureJob, runner: Any, manifest: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The scene probe and the agreement check for one candidate (None where not asked)."""
    probe = agreement = None
    export_dir = Path(manifest.export_dir) if getattr(manifest, "export_dir", None) else job.export_dir
    geometry = ExportGeometry.of(manifest)
    preprocess = tile_preprocess(model_transforms(export_dir))
    if job.scene is not None:
        scene = job.scene
        # as predict runs it without --score-out: class scores only for accum
        probe = probe_host_cost(
            scene, geometry, preprocess, make_infer(runner, geometry, need_scores=scene.merge == "accum"), runner
        )
    if job.agreement is not None:
        agreement = measure_agreement(
            job.agreement,
            geometry,
            preprocess,
            make_infer(runner, geometry, need_scores=job.agreement.merge == "accum"),
        )
    return probe, agreement


def probe_host_cost(
    scene: SceneSettings, geometry: ExportGeometry, preprocess: Any, infer: Any, runner: Any
) -> dict[str, Any]:
    """predict's pipeline over the top-left (up to) 3 x 2 tiles of the scene, written to a
    temporary file of predict's kind (GeoTIFF for a GeoTIFF scene, else .npy).

    ``network_s`` sums the runner's own inference times (input copy, run, output copy) during the
    probe, so the host cost is the probe's wall time minus the probe's own network time: a
    network run slowed by a load spike during the probe does not leak into the host figure."""
    network = [0.0]

    def timed_infer(feeds: list[np.ndarray]) -> Any:
        out = infer(feeds)
        network[0] += runner.last_inference_time()
        return out

    tw, th = geometry.tile_width, geometry.tile_height
    pw, ph = min(scene.width, 3 * tw), min(scene.height, 2 * th)
    plan = plan_tiles(pw, ph, (tw, th), scene.overlap, scene.merge)
    scratch = Path(tempfile.mkdtemp(prefix="trt-export-scene-probe-"))
    readers: list[RasterReader] = []
    try:
        if scene.images:
            readers, info = open_scene(scene.images, geometry.channels, geometry.images_per_sample)
        else:
            rng = np.random.default_rng(0)
            info = RasterInfo("synthetic", pw, ph, geometry.channels, "uint8", "npy")
            readers = [
                ArrayReader(rng.integers(0, 256, size=(ph, pw, geometry.channels), dtype=np.uint8), info)
                for _ in geometry.input_names
            ]
        suffix = ".tif" if info.kind == "geotiff" and rasterio_module() is not None else ".npy"
        start = time.perf_counter()
        canvas = OutputCanvas(scratch / f"probe{suffix}", pw, ph, info if info.kind == "geotiff" else None)
        try:
            timings = run_tiles(
                plan,
                geometry.batch,
                [r.read for r in readers],
                preprocess,
                timed_infer,
                make_merger(plan, canvas),
                nodata=info.nodata,
            )
            canvas.commit()
        except BaseException:
            canvas.abort()
            raise
        wall = time.perf_counter() - start
    finally:
        for reader in readers:
            reader.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "tiles": timings.tiles,
        "batches": timings.batches,
        "wall_s": wall,
        "network_s": network[0],
        "read_s": timings.read_s,
        "preprocess_s": timings.preprocess_s,
        "infer_s": timings.infer_s,
        "merge_s": timings.merge_s,
        "probe_scene": [pw, ph],
        "output": suffix,
    }


def measure_agreement(spec: AgreementJob, geometry: ExportGeometry, preprocess: Any, infer: Any) -> dict[str, Any]:
    matrix = np.zeros((_CONFUSION_SIZE, _CONFUSION_SIZE), dtype=np.int64)
    images = []
    with np.load(spec.reference) as refs:
        for i, (group, ref) in enumerate(zip(spec.groups, spec.images, strict=True)):
            x, y, w, h = ref.window
            readers, _ = open_scene(group, geometry.channels, geometry.images_per_sample)
            try:
                pixels = [reader.read(Window(x, y, w, h)) for reader in readers]
            finally:
                for reader in readers:
                    reader.close()
            plan = plan_tiles(w, h, (geometry.tile_width, geometry.tile_height), spec.overlap, spec.merge)
            labels, _ = tiled_labels(pixels, plan, geometry, preprocess, infer)
            reference = refs[f"ref_{i}"]
            labels = np.where(reference == INVALID_VALUE, INVALID_VALUE, labels).astype(np.uint8)
            m = confusion(reference, labels, _CONFUSION_SIZE)
            matrix[: m.shape[0], : m.shape[1]] += m
            total = int(m.sum())
            images.append(
                AgreementImage(
                    ref.image, [x, y, w, h], round(float(np.trace(m) / total), 6) if total else 0.0, ref.note
                )
            )
    return summarize_agreement(matrix, images).to_dict()
