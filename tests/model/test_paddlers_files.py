"""model.yml / pipeline.yml against files PaddleRS itself wrote (shared/fixtures/paddlers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fixture_paths import FIXTURES, needs_fixtures

from trt_export.errors import ModelSourceError
from trt_export.model.paddlers_files import (
    dump_yml,
    fix_transforms_shape,
    infer_model_yml,
    model_yml_for_plain_model,
    model_yml_from_dict,
    pipeline_yml,
    read_model_yml,
    write_yml,
)
from trt_export.model.shapes import FixedShape

pytestmark = needs_fixtures

SHAPE_256 = FixedShape(1, 3, 256, 256)
MODELS = [("unet", "segmenter", "UNet"), ("bit", "change_detector", "BIT")]


def _load(path: Path) -> object:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("model", "model_type", "cls"), MODELS)
def test_read_training_model_yml(model: str, model_type: str, cls: str) -> None:
    yml = read_model_yml(FIXTURES / f"paddle3.3.1-{model}_train")
    assert yml.model == cls and yml.name == cls
    assert yml.model_type == model_type
    assert yml.status == "Normal"
    assert yml.num_classes == 2
    assert yml.fixed_input_shape is None
    assert yml.raw_params == {"in_channels": 3, "num_classes": 2}
    assert yml.init_params == {"losses": None, "num_classes": 2, "use_mixed_loss": False}
    assert [next(iter(op)) for op in yml.transforms or []] == ["Normalize"]
    assert yml.normalize is not None and yml.normalize["mean"] == [0.5, 0.5, 0.5]
    assert yml.transform("Resize") is None
    assert yml.path is not None and yml.path.name == "model.yml"


@pytest.mark.parametrize("version", ["paddle2.6.2", "paddle3.3.1"])
def test_read_export_model_yml(version: str) -> None:
    yml = read_model_yml(FIXTURES / f"{version}-bit_infer" / "model.yml")
    assert yml.status == "Infer"
    assert yml.fixed_input_shape == [1, 3, 256, 256]
    assert yml.raw_params is None
    assert yml.transform("Resize") == {"interp": "LINEAR", "keep_ratio": False, "target_size": [256, 256]}


@pytest.mark.parametrize(("model", "model_type", "cls"), MODELS)
def test_infer_model_yml_reproduces_paddlers_export(model: str, model_type: str, cls: str) -> None:
    train = read_model_yml(FIXTURES / f"paddle3.3.1-{model}_train")
    expected_path = FIXTURES / f"paddle3.3.1-{model}_infer" / "model.yml"
    produced = infer_model_yml(train, SHAPE_256)
    assert produced == _load(expected_path)
    # Byte-identical text, not only equal data: deployment tools may diff these files.
    assert dump_yml(produced) == expected_path.read_text(encoding="utf-8")
    # The training data itself is untouched.
    assert "raw_params" in train.raw and train.raw["status"] == "Normal"


@pytest.mark.parametrize(("model", "model_type", "cls"), MODELS)
def test_pipeline_yml_matches_paddlers(model: str, model_type: str, cls: str, tmp_path: Path) -> None:
    expected_path = FIXTURES / f"paddle3.3.1-{model}_infer" / "pipeline.yml"
    data = pipeline_yml(model_type)
    assert data == _load(expected_path)
    written = write_yml(tmp_path / "pipeline.yml", data)
    assert written.read_bytes() == expected_path.read_bytes()


def test_pipeline_yml_options() -> None:
    data = pipeline_yml("segmenter", model_dir="/srv/m", use_gpu=True, use_trt=True)
    predict = data["pipeline_nodes"][2]["predict0"]
    assert predict["init_params"] == {"use_gpu": True, "gpu_id": 0, "use_trt": True, "model_dir": "/srv/m"}
    assert [next(iter(n)) for n in data["pipeline_nodes"]] == ["src0", "decode0", "predict0", "sink0"]


def test_every_fixture_round_trips_byte_identical(tmp_path: Path) -> None:
    files = sorted(FIXTURES.glob("*/*.yml"))
    assert len(files) >= 10
    for path in files:
        out = write_yml(tmp_path / path.name, _load(path))  # type: ignore[arg-type]
        assert out.read_bytes() == path.read_bytes(), path


def test_non_square_shape_uses_h_w_order() -> None:
    train = read_model_yml(FIXTURES / "paddle3.3.1-unet_train")
    data = infer_model_yml(train, FixedShape(2, 3, 128, 320))
    assert data["_Attributes"]["fixed_input_shape"] == [2, 3, 128, 320]
    assert data["Transforms"][0] == {"Resize": {"interp": "LINEAR", "keep_ratio": False, "target_size": [128, 320]}}


def test_fix_transforms_shape_rules() -> None:
    norm = {"Normalize": {"mean": [0.5], "std": [0.5]}}
    flip = {"RandomHorizontalFlip": {"prob": 0.5}}
    decode = {"DecodeImg": {"to_rgb": True}}
    new = {"Resize": {"interp": "LINEAR", "keep_ratio": False, "target_size": [64, 96]}}
    # Inserted at the Normalize's index...
    assert fix_transforms_shape([decode, norm], 64, 96) == [decode, new, norm]
    # ...at the end when there is no Normalize...
    assert fix_transforms_shape([decode], 64, 96) == [decode, new]
    assert fix_transforms_shape([], 64, 96) == [new]
    # ...and any *Resize* op is replaced in place (the last one, as PaddleRS loops to the end).
    short = {"ResizeByShort": {"short_size": 512}}
    old = {"Resize": {"interp": "CUBIC", "keep_ratio": True, "target_size": [512, 512]}}
    assert fix_transforms_shape([short, flip, old, norm], 64, 96) == [short, flip, new, norm]
    # The input list is not modified.
    ops = [decode, norm]
    fix_transforms_shape(ops, 8, 8)
    assert ops == [decode, norm]


def test_infer_without_transforms_writes_none() -> None:
    data = _load(FIXTURES / "paddle3.3.1-unet_train" / "model.yml")
    assert isinstance(data, dict)
    del data["Transforms"]
    produced = infer_model_yml(model_yml_from_dict(data), SHAPE_256)
    assert "Transforms" not in produced and produced["status"] == "Infer"


def test_model_yml_for_plain_model() -> None:
    shape = FixedShape(1, 3, 224, 224)
    data = model_yml_for_plain_model("resnet18", "classifier", shape, num_classes=1000)
    assert data["Transforms"] == [{"Resize": {"interp": "LINEAR", "keep_ratio": False, "target_size": [224, 224]}}]
    assert data["_Attributes"]["fixed_input_shape"] == [1, 3, 224, 224]
    assert data["_Attributes"]["model_type"] == "classifier"
    assert data["status"] == "Infer" and "raw_params" not in data
    # Same top-level keys as a PaddleRS export, and it parses back as one.
    exported = _load(FIXTURES / "paddle3.3.1-unet_infer" / "model.yml")
    assert isinstance(exported, dict) and set(data) == set(exported)
    assert set(data["_Attributes"]) == set(exported["_Attributes"])
    parsed = model_yml_from_dict(data)
    assert parsed.normalize is None  # no invented Normalize
    assert parsed.num_classes == 1000
    # Given transforms are fixed with the same rule.
    with_norm = model_yml_for_plain_model("m", "segmenter", shape, [{"Normalize": {"mean": [0.0], "std": [1.0]}}])
    assert [next(iter(op)) for op in with_norm["Transforms"]] == ["Resize", "Normalize"]


def test_python_tuple_tag_is_read_as_list(tmp_path: Path) -> None:
    # What PaddleRS's yaml.dump writes for Resize(target_size=512): a python/tuple tag.
    text = (FIXTURES / "paddle3.3.1-unet_train" / "model.yml").read_text(encoding="utf-8")
    text = text.replace(
        "Transforms:\n",
        "Transforms:\n- Resize:\n    interp: LINEAR\n    keep_ratio: false\n"
        "    target_size: !!python/tuple\n    - 512\n    - 512\n",
    )
    (tmp_path / "model.yml").write_text(text, encoding="utf-8")
    yml = read_model_yml(tmp_path)
    assert yml.transform("Resize") == {"interp": "LINEAR", "keep_ratio": False, "target_size": [512, 512]}
    assert "!!python" not in dump_yml(infer_model_yml(yml, SHAPE_256))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("Model: UNet\n_Attributes: {model_type: segmenter}\nx: !!python/object:os.system {}\n", "tag"),
        ("Model: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "not a YAML mapping"),
        ("_Attributes: {model_type: segmenter}\n", "'Model'"),
        ("Model: UNet\n_Attributes: {num_classes: 2}\n", "model_type"),
        ("Model: UNet\n_Attributes: {model_type: segmenter}\nTransforms: {Normalize: {}}\n", "Transforms"),
    ],
)
def test_bad_model_yml_errors(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ModelSourceError) as info:
        read_model_yml(path)
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_model_yml(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="no model.yml at .*PaddleRS training or export directory"):
        read_model_yml(tmp_path)
