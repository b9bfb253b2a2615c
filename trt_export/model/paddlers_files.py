"""Read and write PaddleRS's ``model.yml`` and ``pipeline.yml`` without importing ``paddlers``.

``paddlers`` cannot be installed next to Paddle 3 (see shared/PADDLE-FACTS.md), so the two files
are handled here as plain YAML. What PaddleRS writes was checked against real files it produced
(fixtures/paddlers): a training dir's model.yml, and the model.yml / pipeline.yml of an export.

PaddleRS writes both files with ``yaml.dump(data, f)``: block style, keys sorted. Data it writes
is plain types except for tuples (e.g. ``Resize(target_size=512)`` stores ``(512, 512)``), which
PyYAML's full dumper tags ``!!python/tuple``. We accept that one tag as a list and refuse every
other python tag instead of constructing arbitrary objects.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trt_export import __version__
from trt_export.errors import ExportError, ModelSourceError
from trt_export.model.shapes import FixedShape

MODEL_YML = "model.yml"
PIPELINE_YML = "pipeline.yml"
PIPELINE_VERSION = "1.0.0"

# PaddleRS's fixed-shape export keeps every preprocessing op but pins the size with this Resize.
RESIZE = "Resize"
NORMALIZE = "Normalize"


@dataclass(frozen=True)
class ModelYml:
    """A parsed PaddleRS model.yml. ``raw`` is the whole file, kept for round-tripping."""

    model: str
    model_type: str
    status: str | None
    num_classes: int | None
    fixed_input_shape: list[int | None] | None
    transforms: list[dict[str, dict[str, Any]]] | None
    init_params: dict[str, Any]
    raw_params: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.model

    def transform(self, op_name: str) -> dict[str, Any] | None:
        """Parameters of the last op called ``op_name`` (the one PaddleRS's own lookups find)."""
        found = None
        for op in self.transforms or []:
            if op_name in op:
                found = op[op_name]
        return found

    @property
    def normalize(self) -> dict[str, Any] | None:
        return self.transform(NORMALIZE)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``!!python/tuple`` (as a list): PaddleRS writes it for tuples."""


def _construct_tuple(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(None, None, "!!python/tuple on a non-sequence", node.start_mark)
    return loader.construct_sequence(node, deep=True)


_Loader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)


def _yml_path(path_or_dir: str | Path) -> Path:
    path = Path(path_or_dir)
    return path / MODEL_YML if path.is_dir() else path


def read_model_yml(path_or_dir: str | Path) -> ModelYml:
    """Parse a model.yml (or the model.yml inside a directory); ModelSourceError on any problem."""
    path = _yml_path(path_or_dir)
    if not path.is_file():
        raise ModelSourceError(
            f"no model.yml at {str(path)!r}; point at a PaddleRS training or export directory (it contains model.yml)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelSourceError(f"cannot read {str(path)!r}: {exc}; check the file's permissions and encoding") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.constructor.ConstructorError as exc:
        tag = getattr(exc, "problem", "") or str(exc).splitlines()[0]
        raise ModelSourceError(
            f"{str(path)!r} uses a YAML tag that is not loaded safely ({tag.strip()}); "
            "re-save it with plain types (lists, dicts, numbers, strings) or re-export it with PaddleRS"
        ) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelSourceError(
            f"{str(path)!r} is not valid YAML ({first}); restore the model.yml PaddleRS wrote"
        ) from None
    return model_yml_from_dict(data, source=path)


def model_yml_from_dict(data: Any, source: str | Path | None = None) -> ModelYml:
    """Validate an already-loaded model.yml mapping (e.g. one built by model_yml_for_plain_model)."""
    where = repr(str(source)) if source is not None else "model.yml data"
    fix = "restore the model.yml PaddleRS wrote for this model"
    if not isinstance(data, dict):
        raise ModelSourceError(f"{where} is not a YAML mapping (got {type(data).__name__}); {fix}")
    model = data.get("Model")
    if not isinstance(model, str) or not model:
        raise ModelSourceError(f"{where} has no 'Model' entry (the PaddleRS model class, e.g. UNet); {fix}")
    attributes = data.get("_Attributes")
    if not isinstance(attributes, dict) or not isinstance(attributes.get("model_type"), str):
        raise ModelSourceError(
            f"{where} has no '_Attributes.model_type' (segmenter, change_detector, classifier...); {fix}"
        )
    fixed = attributes.get("fixed_input_shape")
    if fixed is not None and (not isinstance(fixed, list) or not all(d is None or _is_int(d) for d in fixed)):
        raise ModelSourceError(f"{where} has a malformed '_Attributes.fixed_input_shape': {fixed!r}; {fix}")
    init_params = data.get("_init_params") or {}
    raw_params = data.get("raw_params")
    if not isinstance(init_params, dict) or (raw_params is not None and not isinstance(raw_params, dict)):
        raise ModelSourceError(f"{where} has '_init_params' or 'raw_params' that is not a mapping; {fix}")
    num_classes = attributes.get("num_classes")
    return ModelYml(
        model=model,
        model_type=attributes["model_type"],
        status=data.get("status"),
        num_classes=num_classes if _is_int(num_classes) else None,
        fixed_input_shape=list(fixed) if fixed is not None else None,
        transforms=_parse_transforms(data.get("Transforms"), where),
        init_params=dict(init_params),
        raw_params=dict(raw_params) if raw_params is not None else None,
        raw=copy.deepcopy(data),
        path=Path(source) if source is not None else None,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_transforms(value: Any, where: str) -> list[dict[str, dict[str, Any]]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ModelSourceError(f"{where} has 'Transforms' that is not a list; expected '- OpName: {{params}}' items")
    ops: list[dict[str, dict[str, Any]]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or len(item) != 1:
            raise ModelSourceError(
                f"{where} Transforms item {index} is {item!r}; expected one '- OpName: {{params}}' mapping per op"
            )
        ((name, params),) = item.items()
        if params is not None and not isinstance(params, dict):
            raise ModelSourceError(f"{where} Transforms item {index} ({name}) has non-mapping params {params!r}")
        ops.append({str(name): dict(params or {})})
    return ops


def fix_transforms_shape(
    transforms: list[dict[str, dict[str, Any]]], h: int, w: int
) -> list[dict[str, dict[str, Any]]]:
    """PaddleRS's ``_fix_transforms_shape``: pin the size with ``Resize([h, w])``.

    The last op whose name contains "Resize" (ResizeByShort, RandomResize... too) is replaced;
    without one, the Resize goes at the index of the last Normalize, else at the end.
    """
    fixed = copy.deepcopy(transforms)
    resize = {RESIZE: {"interp": "LINEAR", "keep_ratio": False, "target_size": [h, w]}}
    resize_idx = -1
    normalize_idx = len(fixed)
    for idx, op in enumerate(fixed):
        (name,) = op.keys()
        if name == NORMALIZE:
            normalize_idx = idx
        if RESIZE in name:
            resize_idx = idx
    if resize_idx >= 0:
        fixed[resize_idx] = resize
    else:
        fixed.insert(normalize_idx, resize)
    return fixed


def infer_model_yml(train: ModelYml, shape: FixedShape) -> dict[str, Any]:
    """The model.yml PaddleRS writes when it exports ``train`` at ``shape``.

    Everything else is carried over unchanged: PaddleRS reloads the training model.yml and
    dumps the same attributes back, minus ``raw_params``. A model.yml without Transforms stays
    without them, as in PaddleRS (its model then has no test_transforms to fix).
    """
    data = copy.deepcopy(train.raw)
    data.pop("raw_params", None)
    data["status"] = "Infer"
    data["_Attributes"]["fixed_input_shape"] = list(shape.nchw)
    if train.transforms is not None:
        data["Transforms"] = fix_transforms_shape(train.transforms, shape.h, shape.w)
    return data


def model_yml_for_plain_model(
    name: str,
    model_type: str,
    shape: FixedShape,
    transforms: list[dict[str, dict[str, Any]]] | None = None,
    *,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """A PaddleRS-shaped model.yml for a model that never had one (e.g. a paddle.vision factory).

    Only the Resize that the fixed shape implies is added: inventing a Normalize would claim a
    preprocessing the model was never trained with.
    """
    return {
        "Model": name,
        "Transforms": fix_transforms_shape(transforms or [], shape.h, shape.w),
        "_Attributes": {
            "best_accuracy": -1.0,
            "best_model_epoch": -1,
            "fixed_input_shape": list(shape.nchw),
            "in_channels": shape.c,
            "labels": None,
            "model_type": model_type,
            "num_classes": num_classes,
        },
        "_init_params": {},
        "completed_epochs": 0,
        "status": "Infer",
        # PaddleRS puts its own version here; ours says which tool wrote the file.
        "version": f"trt-export {__version__}",
    }


def pipeline_yml(
    model_type: str,
    model_dir: str = "./inference_model",
    use_gpu: bool = False,
    use_trt: bool = False,
) -> dict[str, Any]:
    """PaddleRS's pipeline.yml: Source -> Decode -> Predict -> Sink; PaddleRS names the pipeline after the model type."""
    return {
        "pipeline_name": model_type,
        "pipeline_nodes": [
            {"src0": {"type": "Source", "next": "decode0"}},
            {"decode0": {"type": "Decode", "next": "predict0"}},
            {
                "predict0": {
                    "type": "Predict",
                    "init_params": {"use_gpu": use_gpu, "gpu_id": 0, "use_trt": use_trt, "model_dir": model_dir},
                    "next": "sink0",
                }
            },
            {"sink0": {"type": "Sink"}},
        ],
        "version": PIPELINE_VERSION,
    }


def dump_yml(data: dict[str, Any]) -> str:
    """The YAML text PaddleRS's ``yaml.dump`` produces for plain data (sorted keys, block style)."""
    try:
        return yaml.safe_dump(_plain(data), default_flow_style=False, sort_keys=True)
    except yaml.representer.RepresenterError as exc:
        raise ExportError(
            f"cannot write YAML: {exc}; only plain lists, dicts, numbers and strings are written"
        ) from None


def write_yml(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as PaddleRS would; byte-identical to its files for the same data."""
    target = Path(path)
    text = dump_yml(data)
    target.write_text(text, encoding="utf-8")
    return target


def _plain(value: Any) -> Any:
    """Tuples and numpy values as plain lists/scalars, so the safe dumper never needs python tags."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):  # a StrEnum member (ModelKind...) as the plain string the safe dumper writes
        return str(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, without importing numpy here
    if callable(tolist) and type(value).__module__ == "numpy":
        return _plain(tolist())
    return value
