"""The model-type registry (trt_export.model.types) and the modules that read it."""

from __future__ import annotations

import json

import pytest
import yaml
from fixture_paths import FIXTURES, needs_fixtures

from trt_export.cli.commands import build_parser
from trt_export.errors import ExportError, ModelSourceError, ShapeError
from trt_export.export.deploy_dir import _logical_output_names
from trt_export.export.exporter import formats_for
from trt_export.model.paddlers_files import dump_yml, model_yml_for_plain_model, pipeline_yml
from trt_export.model.shapes import FixedShape, check_model_rules
from trt_export.model.sources import load_source
from trt_export.model.types import (
    EXPORT_FORMAT_CHOICES,
    LOAD_FORMAT_CHOICES,
    MODEL_TYPE_CHOICES,
    MODEL_TYPES,
    ExportFormat,
    ModelKind,
    SourceKind,
    detect_model_type,
    lookup_model_type,
    model_type_of,
    score_axis,
    shape_rule_for,
)


def test_every_model_kind_has_one_record_named_after_it() -> None:
    assert list(MODEL_TYPES) == list(ModelKind)
    assert all(record.name == kind and record.pipeline_name == kind.value for kind, record in MODEL_TYPES.items())
    assert MODEL_TYPE_CHOICES == ("classifier", "segmenter", "change_detector", "detector", "generic")


def test_paddlers_names_of_inputs_and_outputs() -> None:
    assert lookup_model_type("change_detector").paddlers_inputs == ("image", "image2")
    assert lookup_model_type("segmenter").paddlers_inputs == ("image",)
    assert lookup_model_type("segmenter").paddlers_outputs == ("label_map", "score_map")
    assert lookup_model_type("change_detector").paddlers_outputs == ("label_map", "score_map")
    assert lookup_model_type("classifier").paddlers_outputs is None


def test_unknown_model_type_is_one_line_naming_the_valid_ones() -> None:
    with pytest.raises(ModelSourceError) as info:
        lookup_model_type("segmentor")
    message = str(info.value)
    assert "\n" not in message and "'segmentor'" in message
    assert all(choice in message for choice in MODEL_TYPE_CHOICES)


def test_load_source_refuses_an_unknown_model_type_before_building() -> None:
    with pytest.raises(ModelSourceError, match="unknown model type 'segmentor'; use one of classifier, segmenter"):
        load_source("trt_export.zoo:tiny_segnet", model_type="segmentor")


def test_a_paddlers_type_without_a_record_keeps_its_name_and_acts_as_generic() -> None:
    restorer = model_type_of("restorer")
    assert restorer.pipeline_name == "restorer"
    assert (restorer.paddlers_inputs, restorer.paddlers_outputs) == (("image",), None)
    assert model_type_of("segmenter") is MODEL_TYPES[ModelKind.SEGMENTER]


@pytest.mark.parametrize(
    ("inputs", "shape", "expected"),
    [
        (2, (1, 2, 64, 48), "change_detector"),
        (1, (1, 2, 64, 48), "segmenter"),
        (1, (1, 1000), "classifier"),
        (2, (1, 1000), "classifier"),
        (1, (1, 2, 32, 48), "generic"),  # 4-D but not at the input size
        (1, (1, 5, 6), "generic"),
    ],
)
def test_detect_model_type_from_the_first_output(inputs: int, shape: tuple[int, ...], expected: str) -> None:
    assert detect_model_type(inputs, shape, 64, 48) == expected


@pytest.mark.parametrize(
    ("dtype", "shape", "axis"),
    [
        ("float32", (1, 10), 1),  # classifier logits
        ("float32", (1, 1), None),  # one score: nothing to argmax
        ("float32", (1, 3, 64, 48), 1),  # NCHW logits
        ("float32", (1, 64, 48, 3), -1),  # PaddleRS score map, NHWC
        ("float16", (1, 64, 48, 3), -1),
        ("int32", (1, 10), None),  # label outputs are compared as labels
        ("int64", (1, 64, 48), None),
        ("float32", (1, 64, 48), None),  # a probability map
    ],
)
def test_score_axis_by_layout(dtype: str, shape: tuple[int, ...], axis: int | None) -> None:
    assert score_axis(dtype, shape, 64, 48) == axis


def test_shape_rules_of_model_families() -> None:
    assert shape_rule_for("PPYOLOv2").family == "YOLO / PPYOLO"
    assert shape_rule_for("FasterRCNN").family.startswith("R-CNN")
    assert shape_rule_for("BIT").family == "BIT"
    assert shape_rule_for("BITNet") is None and shape_rule_for(None) is None
    # First match wins: YOLO's rule (square) for a name with both parts.
    with pytest.raises(ShapeError, match=r"needs w == h and both multiples of 32.*try \[96,96\]"):
        check_model_rules(FixedShape(1, 3, 64, 96), "yolo_rcnn")
    with pytest.raises(
        ShapeError, match=r"FasterRCNN needs w and h to be multiples of 32, got w=100, h=64; try \[128,64\]"
    ):
        check_model_rules(FixedShape(1, 3, 64, 100), "FasterRCNN")
    check_model_rules(FixedShape(1, 3, 64, 96), "FasterRCNN")
    check_model_rules(FixedShape(1, 3, 7, 9), "BIT")


def test_enum_members_write_the_same_yaml_and_json_as_their_strings() -> None:
    shape = FixedShape(1, 3, 64, 64)
    plain = dump_yml(model_yml_for_plain_model("net", "segmenter", shape))
    assert dump_yml(model_yml_for_plain_model("net", ModelKind.SEGMENTER, shape)) == plain
    assert dump_yml(pipeline_yml(ModelKind.CHANGE_DETECTOR)) == dump_yml(pipeline_yml("change_detector"))
    assert "!!python" not in plain and "pipeline_name: segmenter" in dump_yml(pipeline_yml(ModelKind.SEGMENTER))
    assert json.dumps({ExportFormat.PIR: SourceKind.DEPLOY_DIR}) == '{"pir": "deploy-dir"}'


@needs_fixtures
@pytest.mark.parametrize("model", ["bit", "unet"])
def test_pipeline_yml_from_the_registry_is_the_one_paddlers_wrote(model: str) -> None:
    theirs = (FIXTURES / f"paddle3.3.1-{model}_infer" / "pipeline.yml").read_text(encoding="utf-8")
    model_type = yaml.safe_load(theirs)["pipeline_name"]
    ours = pipeline_yml(model_type_of(model_type).pipeline_name, use_gpu=False, use_trt=False)
    assert yaml.safe_load(dump_yml(ours))["pipeline_name"] == model_type == MODEL_TYPES[ModelKind(model_type)].name


def test_export_formats() -> None:
    assert formats_for("both") == [ExportFormat.LEGACY, ExportFormat.PIR]
    assert formats_for("auto") == ["legacy"] and formats_for("pir") == ["pir"]
    with pytest.raises(ExportError, match="unknown export format 'onnx'; use one of auto, legacy, pir, both"):
        formats_for("onnx")


def test_logical_output_names_of_a_paddlers_deploy_dir() -> None:
    import numpy as np

    arrays = [np.zeros((1, 4, 4), np.int32), np.zeros((1, 4, 4, 2), np.float32)]
    assert _logical_output_names("segmenter", ["a", "b"], arrays) == ["label_map", "score_map"]
    assert _logical_output_names("classifier", ["a", "b"], arrays) == ["a", "b"]
    assert _logical_output_names("restorer", ["a", "b"], arrays) == ["a", "b"]
    assert _logical_output_names("segmenter", ["b", "a"], arrays[::-1]) == ["b", "a"]


def test_cli_choices_come_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["export", "--save-dir", "d", "--model-type", "detector"]).model_type == "detector"
    assert parser.parse_args(["export", "--save-dir", "d"]).format == "auto"
    for argv, choices in (
        (["export", "--save-dir", "d", "--format", "onnx"], EXPORT_FORMAT_CHOICES),
        (["verify", "--format", "both"], LOAD_FORMAT_CHOICES),
        (["export", "--save-dir", "d", "--model-type", "restorer"], MODEL_TYPE_CHOICES),
    ):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        # argparse quotes choices with repr(): plain strings, never <ModelKind.X: 'x'>
        assert f"(choose from {', '.join(repr(c) for c in choices)})" in err and "<" not in err
