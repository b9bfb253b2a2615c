"""The export manifest: what was exported, at which fixed shape, in which files.

Schema `trt-export/manifest`, version 1, documented in docs/DESIGN.md. Runners, verify and bench
read an export directory only through this file, so they never guess file names or output order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from trt_export.errors import ModelSourceError
from trt_export.infer.inputs import TensorSpec
from trt_export.model.shapes import FixedShape
from trt_export.model.types import MODEL_FORMATS, ModelKind
from trt_export.serial import JsonRecord, dumps, json_field, layout, read_json, rounded, structure

MANIFEST_NAME = "trt_export_manifest.json"
SCHEMA = "trt-export/manifest"
SCHEMA_VERSION = 1
FORMATS = MODEL_FORMATS


@dataclass(frozen=True)
class FormatFiles:
    model_file: str
    params_file: str
    params_sha256: str
    output_names: list[str]
    # Older manifests lack it (optional key, not a schema change): then only the params are checked.
    model_sha256: str | None = None


def _shape_to_json(shape: FixedShape) -> dict[str, Any]:
    return {"nchw": list(shape.nchw), "seed_notation": shape.seed_notation}


def _shape_from_json(data: Any) -> FixedShape:
    if not isinstance(data, Mapping) or "nchw" not in data:
        raise ValueError(f"fixed_input_shape must be an object with 'nchw', got {data!r}")
    return FixedShape.from_nchw(data["nchw"])


# keys older manifests lack (optional keys, not a schema change), with the value they mean
_OLDER_DEFAULTS = {"paddle_commit": "", "export_seconds": 0.0, "notes": []}


@dataclass
class Manifest(JsonRecord):
    json_keys: ClassVar[tuple[str, ...]] = ("schema", "schema_version")  # first in the file

    tool_version: str
    paddle_version: str
    paddle_commit: str
    created_utc: str
    export_seconds: float = field(metadata=layout(dump=rounded(4)))
    source: dict[str, Any]
    model: dict[str, Any]
    fixed_shape: FixedShape = field(
        metadata=layout(key="fixed_input_shape", dump=_shape_to_json, load=_shape_from_json)
    )
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    formats: dict[str, FormatFiles]
    default_format: str
    notes: list[str] = field(default_factory=list)
    export_dir: Path | None = json_field(default=None, compare=False, omit=True)  # where it was read from

    def json_derived(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}

    @property
    def model_name(self) -> str:
        return str(self.model.get("name", ""))

    @property
    def model_type(self) -> str:
        return str(self.model.get("model_type", ModelKind.GENERIC))

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    def files(self, model_format: str | None = None) -> tuple[Path, Path]:
        """Absolute (model_file, params_file) for a format (default: the manifest's default)."""
        fmt = model_format or self.default_format
        if fmt not in self.formats:
            have = ", ".join(sorted(self.formats))
            raise ModelSourceError(
                f"the export has no '{fmt}' format (it has: {have}); re-export with --format {fmt} or both"
            )
        base = self.export_dir or Path(".")
        entry = self.formats[fmt]
        return base / entry.model_file, base / entry.params_file

    def check_files(self, model_format: str | None = None) -> None:
        """Refuse model/params files that differ from the ones exported (corrupt, truncated, swapped).

        Paddle crashes (SIGSEGV) on a damaged .pdmodel rather than raising, so this runs before any
        predictor is created.
        """
        fmt = model_format or self.default_format
        model_file, params_file = self.files(fmt)
        entry = self.formats[fmt]
        for file, expected in ((model_file, entry.model_sha256), (params_file, entry.params_sha256)):
            if expected and _sha256(file) != expected:
                raise ModelSourceError(
                    f"{file} differs from the file exported (its sha256 does not match the manifest): it is "
                    "corrupt, truncated or was replaced; re-export the model"
                )

    @classmethod
    def from_dict(cls, data: Any, export_dir: Path | None = None) -> Manifest:
        where = f"{export_dir / MANIFEST_NAME}" if export_dir else "manifest"
        if data.get("schema") != SCHEMA:
            raise ModelSourceError(
                f"{where} is not a trt-export manifest (schema {data.get('schema')!r}); re-export the model"
            )
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ModelSourceError(
                f"{where} has schema version {data.get('schema_version')!r}, this trt-export reads "
                f"version {SCHEMA_VERSION}; re-export the model with this version"
            )
        manifest = structure(
            {**_OLDER_DEFAULTS, **data}, cls, source=where, error=ModelSourceError, hint="re-export the model"
        )
        manifest.export_dir = export_dir
        return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_manifest(manifest: Manifest, export_dir: Path) -> Path:
    path = Path(export_dir) / MANIFEST_NAME
    path.write_text(dumps(manifest, allow_nan=True), encoding="utf-8")
    return path


def load_manifest(export_dir: str | Path) -> Manifest:
    """Read an export directory's manifest; one-line errors for a missing or corrupt one."""
    directory = Path(export_dir)
    if not directory.is_dir():
        raise ModelSourceError(f"exported model dir {str(directory)!r} does not exist; run 'trt-export export' first")
    path = directory / MANIFEST_NAME
    if not path.is_file():
        from trt_export.export.deploy_dir import looks_like_deploy_dir, manifest_from_deploy_dir

        if looks_like_deploy_dir(directory):  # written by PaddleRS's own export: read it as it is
            return manifest_from_deploy_dir(directory)
        raise ModelSourceError(
            f"{str(directory)!r} has no {MANIFEST_NAME} and no model.yml with model.pdmodel or model.json: it is "
            "neither a 'trt-export export' dir nor a PaddleRS export; export it with trt-export"
        )
    data = read_json(path, what="export manifest", error=ModelSourceError, hint="re-export the model")
    if not isinstance(data, dict):
        raise ModelSourceError(f"{path} is not a JSON object; re-export the model")
    manifest = Manifest.from_dict(data, export_dir=directory.resolve())
    for fmt in manifest.formats:
        for file in manifest.files(fmt):
            if not file.is_file():
                raise ModelSourceError(
                    f"{str(directory)!r} is missing {file.name} listed in its manifest; re-export the model"
                )
    return manifest
