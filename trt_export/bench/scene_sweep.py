"""bench's parent side of the scene objective and the agreement check (see scene.py).

Everything here is called from small hooks in bench.py: refuse bad scene input before any
sweeping, add the scene fields to a candidate's measure job, and turn the worker's figures into
the candidate's ``scene`` and ``agreement`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trt_export.bench.scene import (
    DEFAULT_AGREEMENT_MAX_PIXELS,
    AgreementSummary,
    SceneSettings,
    estimate_scene,
    host_seconds_per_tile,
)
from trt_export.errors import InputError, TrtExportError
from trt_export.model.shapes import FixedShape
from trt_export.predict.tiling import DEFAULT_MERGE, DEFAULT_OVERLAP, check_overlap, plan_tiles

if TYPE_CHECKING:
    from trt_export.bench.protocol import MeasureResult, ReferenceImage, SourceSpec


@dataclass
class SceneOptions:
    """What the user asked for: a scene (size or image), tiling, agreement images and threshold."""

    scene_size: tuple[int, int] | None = None  # --scene WxH
    scene_images: list[str] = field(default_factory=list)  # --scene-image (a pair for change detection)
    overlap: int = DEFAULT_OVERLAP
    merge: str = DEFAULT_MERGE
    agreement_images: list[str] = field(default_factory=list)  # --agreement-images, flat; grouped by the model's inputs
    agreement_max_pixels: int = DEFAULT_AGREEMENT_MAX_PIXELS
    min_agreement: float | None = None

    @property
    def active(self) -> bool:
        return self.scene_size is not None or bool(self.scene_images) or bool(self.agreement_images)


@dataclass
class ScenePlan:
    """Checked inputs: the scene settings (or None) and the agreement image groups."""

    scene: SceneSettings | None
    agreement_groups: list[list[str]]
    min_agreement: float | None
    max_pixels: int
    overlap: int
    merge: str
    reference: Path | None = None  # the dygraph labels' .npz, once made
    reference_images: list[ReferenceImage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_scene_options(
    options: SceneOptions, shapes: list[FixedShape], inputs_per_sample: int, model_type: str = "auto"
) -> ScenePlan | None:
    """Refuse, before minutes of sweeping, every scene input that cannot work (one line, exit 2).

    A model whose type is only known after export is checked again at its first export
    (:func:`check_dense_export`)."""
    from trt_export.bench.scene import centred_window
    from trt_export.predict.tiled import open_scene

    if options.scene_size is not None and options.scene_images:
        raise InputError("give --scene WxH or --scene-image FILE, not both (the image's size is the scene)")
    if options.min_agreement is not None and not (options.agreement_images or options.scene_images):
        raise InputError(
            "--min-agreement needs images to measure agreement on: give --agreement-images FILES or --scene-image FILE"
        )
    if options.agreement_max_pixels < 1:
        raise InputError(f"--agreement-max-pixels must be positive, got {options.agreement_max_pixels}")
    if not options.active:
        return None
    if model_type in ("classifier", "detector"):
        raise InputError(
            f"--scene/--scene-image/--agreement-images need a per-pixel model (segmenter or change detector); this one is a {model_type}"
        )
    for shape in shapes:
        check_overlap((shape.w, shape.h), options.overlap, options.merge)
    channels = {shape.c for shape in shapes}
    scene = None
    if options.scene_images:
        readers, info = open_scene(
            options.scene_images, next(iter(channels)) if len(channels) == 1 else None, inputs_per_sample
        )
        for reader in readers:
            reader.close()
        scene = SceneSettings(
            info.width,
            info.height,
            [str(Path(p).resolve()) for p in options.scene_images],
            options.overlap,
            options.merge,
        )
    elif options.scene_size is not None:
        scene = SceneSettings(*options.scene_size, [], options.overlap, options.merge)
    if scene is not None:
        for shape in shapes:
            plan_tiles(scene.width, scene.height, (shape.w, shape.h), scene.overlap, scene.merge)
    flat = options.agreement_images or options.scene_images
    if len(flat) % inputs_per_sample:
        raise InputError(
            f"--agreement-images takes the model's {inputs_per_sample} images per sample (before, after); got {len(flat)} files"
        )
    groups = [
        [str(Path(p).resolve()) for p in flat[i : i + inputs_per_sample]]
        for i in range(0, len(flat), inputs_per_sample)
    ]
    for group in groups:
        readers, info = open_scene(group, next(iter(channels)) if len(channels) == 1 else None, inputs_per_sample)
        for reader in readers:
            reader.close()
        _, _, w, h = centred_window(info.width, info.height, options.agreement_max_pixels)
        for shape in shapes:
            try:
                plan_tiles(w, h, (shape.w, shape.h), options.overlap, options.merge)
            except InputError as exc:
                raise InputError(f"agreement image {info.path!r} (compared on {w}x{h}): {exc}") from None
    return ScenePlan(scene, groups, options.min_agreement, options.agreement_max_pixels, options.overlap, options.merge)


def ensure_reference(plan: ScenePlan, pool: Any, source_job: SourceSpec, export_dir: Path, scratch: Path) -> None:
    """Run the dygraph reference job once (after the first export exists)."""
    from trt_export.bench.protocol import SceneReferenceJob, SceneReferenceResult

    if not plan.agreement_groups or plan.reference is not None:
        return
    out = scratch / "agreement-reference.npz"
    outcome = pool.run(
        SceneReferenceJob(source_job, export_dir, plan.agreement_groups, plan.max_pixels, out),
        "agreement-reference",
        "run",
    )
    if outcome.failure is not None or not isinstance(outcome.result, SceneReferenceResult):
        raise TrtExportError(f"the dygraph reference for --agreement-images failed: {outcome.failure}")
    plan.reference = out
    plan.reference_images = list(outcome.result.images)
    for image in plan.reference_images:
        if image.note:
            plan.notes.append(f"agreement on {image.image}: {image.note}")


def check_dense_export(export_dir: Path) -> None:
    """A scene objective needs a per-pixel output; refuse a classifier at once (exit 2)."""
    from trt_export.export.manifest import load_manifest
    from trt_export.predict.tiled import ExportGeometry

    ExportGeometry.of(load_manifest(export_dir))


def measure_job_fields(plan: ScenePlan | None) -> dict[str, Any]:
    """The measure job's ``scene`` and ``agreement`` (protocol.MeasureJob), where the plan has them."""
    from trt_export.bench.protocol import AgreementJob

    if plan is None:
        return {}
    fields: dict[str, Any] = {}
    if plan.scene is not None:
        fields["scene"] = plan.scene
    if plan.reference is not None:
        fields["agreement"] = AgreementJob(
            plan.reference, plan.agreement_groups, plan.reference_images, plan.overlap, plan.merge
        )
    return fields


def attach_results(candidate: Any, result: MeasureResult, plan: ScenePlan | None, shape: FixedShape) -> None:
    """Set ``candidate.scene`` / ``candidate.agreement`` from a measure job's result."""
    if plan is None or candidate.latency_ms is None:
        return
    probe = result.scene_probe
    if plan.scene is not None and probe is not None:
        tiles = plan_tiles(
            plan.scene.width, plan.scene.height, (shape.w, shape.h), plan.scene.overlap, plan.scene.merge
        )
        lat = candidate.latency_ms
        host = host_seconds_per_tile(float(probe["wall_s"]), float(probe["network_s"]), int(probe["tiles"]))
        candidate.scene = estimate_scene(
            plan.scene,
            tiles.tile_count,
            tiles.batch_count(shape.n),
            shape.n,
            tiles.merge,
            tiles.redundancy,
            lat.median,
            host,
            int(probe["tiles"]),
            lat.iqr / lat.median if lat.median > 0 else 0.0,
        )
    if result.agreement is not None:
        candidate.agreement = AgreementSummary.from_dict(result.agreement)
