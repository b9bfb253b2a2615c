"""bench on a ready export (``--exported DIR``): one candidate, the dir's own shape, nothing re-exported.

The dir is ours (trt_export_manifest.json) or PaddleRS's own (see trt_export.export.deploy_dir). The
dygraph reference for the parity check is the ``--model`` source, as in ``verify``; the reference
outputs go to the sweep's scratch dir, never into the export dir.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trt_export.export.manifest import Manifest, load_manifest
from trt_export.model.sources import ModelSource


def ready_export(options: Any, source: ModelSource) -> Manifest | None:
    """The manifest of ``options.exported`` (None without one); pins the sweep to its shape."""
    if options.exported is None:
        return None
    from trt_export.parity.verify import check_source_matches

    manifest = load_manifest(options.exported)
    notes = check_source_matches(source, manifest)  # inputs that cannot be this model's: InputError
    manifest.notes = [*manifest.notes, *notes]
    options.shapes = [manifest.fixed_shape]
    return manifest


def ready_export_notes(manifest: Manifest) -> list[str]:
    where = manifest.export_dir or manifest.source.get("spec")
    return [
        f"measured the ready export {where} as it is (its own shape {manifest.fixed_shape.label}, not re-exported)",
        *manifest.notes,
    ]


def prepare_ready(pool: Any, source: ModelSource, manifest: Manifest, options: Any, scratch: Path) -> Any:
    """The reference for the ready export, computed in a worker like any candidate's (a Prepared)."""
    from trt_export.bench.protocol import PrepareJob
    from trt_export.bench.report import Failure
    from trt_export.bench.sweep import Prepared, prepared_or_failure, source_spec

    shape = manifest.fixed_shape
    export_dir = Path(manifest.export_dir or options.exported)
    reference = scratch / f"ready-reference-seed{options.seed}.npz"
    manifest_file = scratch / "ready-manifest.json"
    manifest_file.write_text(json.dumps(manifest.to_dict()), encoding="utf-8")
    outcome = pool.run(
        PrepareJob(
            exported=True,
            source=source_spec(source, options),
            shape_nchw=list(shape.nchw),
            format=options.model_format,
            export_dir=export_dir,
            manifest_file=manifest_file,
            reference=reference,
            seed=options.seed,
        ),
        f"{shape.label}-prepare",
        "reference",
    )
    prepared = prepared_or_failure(outcome)
    if isinstance(prepared, Failure):
        return Prepared(shape, export_dir, reference, None, prepared, manifest_file=manifest_file)
    return Prepared(shape, export_dir, reference, prepared, None, manifest_file=manifest_file)


def check_ready_args(args: Any) -> None:
    """``bench --exported``: the dir fixes the shape and the format, and needs a reference model."""
    from trt_export.errors import TrtExportError

    if args.shapes or args.batches:
        raise TrtExportError(
            "--exported DIR is measured at its own shape; drop --shapes/--batches (or drop --exported to export candidates)"
        )
    if not args.model:
        raise TrtExportError("--exported DIR needs --model: the training dir or factory the export is checked against")
    if not Path(args.exported).is_dir():
        raise TrtExportError(f"--exported {args.exported!r} is not a directory; give the export dir")
