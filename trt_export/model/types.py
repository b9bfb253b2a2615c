"""Model types: the one owner of what trt-export knows about each kind of PaddleRS model.

A :class:`ModelType` record per type says which input names PaddleRS gives the exported network,
which logical outputs a PaddleRS export has and which ``pipeline.yml`` pipeline it runs in. The
shape rules of model families (YOLO, R-CNN, BIT), the detection of a factory model's type from its
outputs and the class-score axis of an output (how verify compares it) live here too, as do the
other closed sets of the model side: source kinds and export formats. Every enum's values are
the strings the CLI, the manifests and the reports have always used, so JSON and YAML text is
unchanged (the YAML writer turns members into plain strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from trt_export.errors import ModelSourceError


class ModelKind(StrEnum):
    """A model type as model.yml's ``_Attributes.model_type`` and ``--model-type`` spell it."""

    CLASSIFIER = "classifier"
    SEGMENTER = "segmenter"
    CHANGE_DETECTOR = "change_detector"
    DETECTOR = "detector"
    GENERIC = "generic"


# A factory source without --model-type: the type is detected from the outputs at export.
AUTO_MODEL_TYPE: Final = "auto"


class SourceKind(StrEnum):
    """Where a manifest's network came from (``source.kind``)."""

    FACTORY = "factory"  # package.module:callable
    PADDLERS = "paddlers"  # a PaddleRS training dir
    DEPLOY_DIR = "deploy-dir"  # a PaddleRS export read without our manifest


class ExportFormat(StrEnum):
    """A saved program format: legacy ``model.pdmodel`` or Paddle 3's PIR ``model.json``."""

    LEGACY = "legacy"
    PIR = "pir"


# The saved formats by name, in the order the CLI, doctor and the manifest list them.
MODEL_FORMATS: Final = tuple(fmt.value for fmt in ExportFormat)


class FormatChoice(StrEnum):
    """``export --format``: a format, both of them, or auto (legacy, else PIR when legacy cannot save it)."""

    AUTO = "auto"
    LEGACY = "legacy"
    PIR = "pir"
    BOTH = "both"


# As plain strings (argparse quotes choices with repr()): export's --format, and the --format of the
# commands that load an export (auto: the export's default format).
EXPORT_FORMAT_CHOICES: Final = tuple(choice.value for choice in FormatChoice)
LOAD_FORMAT_CHOICES: Final = (FormatChoice.AUTO.value, *(fmt.value for fmt in ExportFormat))


# PaddleRS's logical output names of a segmenter's or change detector's export: an integer
# (N, H, W) label map and a float (N, H, W, K) score map.
LABEL_MAP: Final = "label_map"
SCORE_MAP: Final = "score_map"
PADDLERS_DENSE_OUTPUTS: Final = (LABEL_MAP, SCORE_MAP)
PADDLERS_IMAGE_INPUTS: Final = ("image",)


@dataclass(frozen=True)
class ModelType:
    """What one model type means for export and the deployment files.

    How outputs are compared follows their layout, the same for every type (:func:`score_axis`;
    integer outputs such as label maps by label mismatch, parity.compare).
    """

    name: str  # a ModelKind value, or a PaddleRS type we have no record of (restorer...)
    # The input names PaddleRS's exported network takes (jit.save names them after forward()).
    paddlers_inputs: tuple[str, ...]
    # The logical outputs of a PaddleRS export of this type; None: the program's own names.
    paddlers_outputs: tuple[str, ...] | None = None

    @property
    def pipeline_name(self) -> str:
        """``pipeline_name`` of pipeline.yml: PaddleRS writes the model type there."""
        return self.name


MODEL_TYPES: Final[dict[ModelKind, ModelType]] = {
    ModelKind.CLASSIFIER: ModelType(ModelKind.CLASSIFIER, PADDLERS_IMAGE_INPUTS),
    ModelKind.SEGMENTER: ModelType(ModelKind.SEGMENTER, PADDLERS_IMAGE_INPUTS, PADDLERS_DENSE_OUTPUTS),
    ModelKind.CHANGE_DETECTOR: ModelType(ModelKind.CHANGE_DETECTOR, ("image", "image2"), PADDLERS_DENSE_OUTPUTS),
    ModelKind.DETECTOR: ModelType(ModelKind.DETECTOR, PADDLERS_IMAGE_INPUTS),
    ModelKind.GENERIC: ModelType(ModelKind.GENERIC, PADDLERS_IMAGE_INPUTS),
}
# --model-type's choices, as plain strings (argparse quotes choices with repr()).
MODEL_TYPE_CHOICES: Final = tuple(kind.value for kind in MODEL_TYPES)


def lookup_model_type(name: str) -> ModelType:
    """The record of a model type the user named; a one-line ModelSourceError naming the valid ones."""
    try:
        return MODEL_TYPES[ModelKind(name)]
    except ValueError:
        raise ModelSourceError(
            f"unknown model type {str(name)!r}; use one of {', '.join(MODEL_TYPE_CHOICES)} "
            "(or leave it out to detect it from the outputs)"
        ) from None


def model_type_of(name: str) -> ModelType:
    """The record of a type read from a model.yml or manifest; one we have no record of acts as generic, by its name."""
    try:
        return MODEL_TYPES[ModelKind(name)]
    except ValueError:
        return replace(MODEL_TYPES[ModelKind.GENERIC], name=str(name))


def detect_model_type(input_count: int, first_output_shape: Sequence[int], h: int, w: int) -> ModelKind:
    """A factory model's type from its first output at the fixed input size ``h`` x ``w``.

    Two inputs and a 4-D (.., h, w) output: change detector; one input and such an output:
    segmenter; a 2-D output: classifier; anything else: generic.
    """
    dense = len(first_output_shape) == 4 and tuple(first_output_shape[-2:]) == (h, w)
    if input_count == 2 and dense:
        return ModelKind.CHANGE_DETECTOR
    if dense:
        return ModelKind.SEGMENTER
    if len(first_output_shape) == 2:
        return ModelKind.CLASSIFIER
    return ModelKind.GENERIC


def score_axis(dtype: str, shape: Sequence[int], h: int, w: int) -> int | None:
    """The axis holding class scores of one output, for argmax agreement (None: not a score output).

    Classifier logits (N, K) -> 1; segmentation logits NCHW (N, K, H, W) -> 1; PaddleRS score maps
    NHWC (N, H, W, K) -> -1; anything else (label maps, probability maps) -> None.
    """
    dims = tuple(shape)
    if not dtype.startswith("float"):
        return None
    if len(dims) == 2 and dims[1] > 1:
        return 1
    if len(dims) == 4 and dims[2:] == (h, w) and dims[1] > 1:
        return 1
    if len(dims) == 4 and dims[1:3] == (h, w) and dims[3] > 1:
        return -1
    return None


@dataclass(frozen=True)
class ShapeRule:
    """A model family's constraint on the fixed input shape, matched on the model's name."""

    family: str
    model_type: ModelKind
    name_part: str  # lower-case; matched as a substring, or the whole name when ``whole_name``
    multiple: int  # w and h must be multiples of it (1: any positive size)
    square: bool  # w == h
    whole_name: bool = False

    def matches(self, model_name: str) -> bool:
        name = model_name.lower()
        return name == self.name_part if self.whole_name else self.name_part in name


# First match wins: a name with both "yolo" and "rcnn" follows YOLO's rule.
SHAPE_RULES: Final = (
    ShapeRule("YOLO / PPYOLO", ModelKind.DETECTOR, "yolo", multiple=32, square=True),
    ShapeRule("R-CNN (FasterRCNN, MaskRCNN...)", ModelKind.DETECTOR, "rcnn", multiple=32, square=False),
    # BIT needs every dimension positive: always true of a fixed shape, kept for the record.
    ShapeRule("BIT", ModelKind.CHANGE_DETECTOR, "bit", multiple=1, square=False, whole_name=True),
)


def shape_rule_for(model_name: str | None) -> ShapeRule | None:
    """The shape rule of the model's family, if it has one."""
    return next((rule for rule in SHAPE_RULES if rule.matches(model_name or "")), None)
