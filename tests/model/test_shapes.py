import pytest

from trt_export.errors import ShapeError
from trt_export.model.shapes import FixedShape, check_model_rules, parse_fixed_shape


def test_two_values_are_width_then_height_with_batch_1_and_3_channels():
    shape = parse_fixed_shape("[320,240]")
    assert shape.nchw == (1, 3, 240, 320)
    assert (shape.w, shape.h) == (320, 240)
    assert shape.seed_notation == "[1,3,320,240]"


def test_four_values_are_n_c_w_h():
    shape = parse_fixed_shape("[2,4,512,256]")
    assert shape.nchw == (2, 4, 256, 512)
    assert shape.label == "2x4x256x512"
    assert shape.pixels == 2 * 256 * 512


def test_brackets_are_optional():
    assert parse_fixed_shape("224,224") == parse_fixed_shape("[224,224]")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[224, 224]", "whitespace"),
        ("[224,224.5]", "non-integer"),
        ("[a,b]", "non-integer"),
        ("[224]", "1 values"),
        ("[1,3,224]", "3 values"),
        ("[1,1,3,224,224]", "5 values"),
        ("[0,224]", "zero"),
        ("[-1,3,224,224]", "negative"),
        ("[224,-224]", "negative"),
        ("[]", "non-integer"),
        ("[224,,224]", "non-integer"),
    ],
)
def test_rejections_quote_the_input_and_say_what_is_allowed(text, fragment):
    with pytest.raises(ShapeError) as info:
        parse_fixed_shape(text)
    message = str(info.value)
    assert repr(text) in message
    assert fragment in message
    assert "[n,c,w,h]" in message


@pytest.mark.parametrize("text", [None, "", "   "])
def test_missing_shape_is_required(text):
    with pytest.raises(ShapeError, match="required"):
        parse_fixed_shape(text)


def test_label_round_trip():
    shape = FixedShape(2, 3, 64, 128)
    assert FixedShape.from_label(shape.label) == shape
    with pytest.raises(ShapeError):
        FixedShape.from_label("2x3x64")


@pytest.mark.parametrize("name", ["YOLOv3", "PPYOLO", "PPYOLOTiny"])
def test_yolo_needs_square_multiples_of_32(name):
    check_model_rules(parse_fixed_shape("[608,608]"), name)
    with pytest.raises(ShapeError, match="w == h"):
        check_model_rules(parse_fixed_shape("[608,576]"), name)
    with pytest.raises(ShapeError, match="multiples of 32"):
        check_model_rules(parse_fixed_shape("[600,600]"), name)


def test_rcnn_needs_multiples_of_32_but_not_square():
    check_model_rules(parse_fixed_shape("[800,608]"), "FasterRCNN")
    with pytest.raises(ShapeError, match=r"try \[800,608\]"):
        check_model_rules(parse_fixed_shape("[799,608]"), "FasterRCNN")


def test_other_models_take_any_positive_shape():
    check_model_rules(parse_fixed_shape("[1,3,100,37]"), "UNet")
    check_model_rules(parse_fixed_shape("[1,3,100,37]"), "BIT")
