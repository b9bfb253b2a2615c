"""Resize / Normalize / pipeline semantics of PaddleRS's model.yml transforms, in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from fixture_paths import FIXTURES

from trt_export.errors import InputError
from trt_export.infer import transforms as T

HALF = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "min_val": [0, 0, 0], "max_val": [255.0, 255.0, 255.0]}


def _image(h: int = 6, w: int = 8, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, c), dtype=np.uint8)


def test_normalize_matches_paddlers_float32_formula() -> None:
    img = _image()
    out = T.normalize(img, **HALF)
    # PaddleRS: float32 throughout, multiply by the float32 reciprocal of the range.
    ref = (img.astype(np.float32) - np.float32(0)) * np.float32(1.0 / 255.0)
    ref = (ref - np.float32(0.5)) / np.float32(0.5)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.array_equal(out, ref)
    assert out.min() >= -1.0 and out.max() <= 1.0
    np.testing.assert_allclose(out, (img / 255.0 - 0.5) / 0.5, atol=1e-6)


def test_normalize_per_channel_and_custom_range() -> None:
    img = np.full((2, 2, 2), 100, dtype=np.uint16)
    out = T.normalize(img, mean=[0.0, 1.0], std=[1.0, 2.0], min_val=[0, 50], max_val=[200, 150])
    np.testing.assert_allclose(out[0, 0], [0.5, (0.5 - 1.0) / 2.0], rtol=1e-6)


def test_normalize_defaults_to_0_255_range() -> None:
    out = T.normalize(np.full((1, 1, 3), 255, np.uint8), mean=[0.0] * 3, std=[1.0] * 3)
    np.testing.assert_allclose(out.ravel(), [1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mean": [0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        {"mean": [0.5] * 3, "std": [0.0, 1.0, 1.0]},
        {"mean": [0.5] * 4, "std": [1.0] * 4},  # 4 channels configured, 3 in the image
    ],
)
def test_normalize_bad_config(kwargs: dict) -> None:
    with pytest.raises(InputError):
        T.normalize(_image(), **kwargs)


def test_resize_target_is_h_w() -> None:
    out = T.resize(_image(10, 20), [4, 7])
    assert out.shape == (4, 7, 3) and out.dtype == np.uint8
    assert T.resize(_image(10, 20), 5).shape == (5, 5, 3)


def test_resize_keeps_single_channel_axis() -> None:
    assert T.resize(_image(10, 10, 1), [4, 6]).shape == (4, 6, 1)
    assert T.resize(_image(10, 10, 1)[:, :, 0], [4, 6]).shape == (4, 6)


def test_resize_keep_ratio() -> None:
    # 10x20 into 8x8 keeping the ratio: scale 0.4 -> 4x8.
    assert T.resize(_image(10, 20), [8, 8], keep_ratio=True).shape == (4, 8, 3)


@pytest.mark.parametrize("backend", ["cv2", "pil"])
def test_resize_values(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "pil":
        pytest.importorskip("PIL")
        monkeypatch.setattr(T, "cv2_module", lambda: None)
    else:
        pytest.importorskip("cv2")
    assert T.resize_backend() == backend
    img = _image(3, 4)
    up = T.resize(img, [6, 8], interp="NEAREST")
    assert np.array_equal(up, img.repeat(2, axis=0).repeat(2, axis=1))
    flat = np.full((9, 7, 3), 77, dtype=np.uint8)
    for interp in T.INTERPOLATIONS:
        out = T.resize(flat, [5, 11], interp=interp)
        assert out.shape == (5, 11, 3) and out.dtype == np.uint8
        assert np.all(out == 77), interp
    as_float = T.resize(flat.astype(np.float32), [4, 4])
    assert as_float.dtype == np.float32 and np.allclose(as_float, 77.0)


def test_resize_linear_cv2_is_paddlers_cv2() -> None:
    cv2 = pytest.importorskip("cv2")
    img = _image(31, 17)
    assert np.array_equal(T.resize(img, [20, 40]), cv2.resize(img, (40, 20), interpolation=cv2.INTER_LINEAR))


def test_no_image_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(T, "cv2_module", lambda: None)
    monkeypatch.setattr(T, "pil_module", lambda: None)
    with pytest.raises(InputError, match="pip install opencv-python-headless"):
        T.resize(_image(), [2, 2])
    with pytest.raises(InputError, match="pip install opencv-python-headless"):
        T.build_pipeline([{"Resize": {"target_size": [2, 2]}}])
    # A pipeline without Resize needs neither library.
    assert T.build_pipeline([{"Normalize": HALF}])(_image()).shape == (3, 6, 8)


@pytest.mark.parametrize("bad", ["RANDOM", "BILINEAR"])
def test_bad_interp_refused_when_building(bad: str) -> None:
    with pytest.raises(InputError, match="interp"):
        T.build_pipeline([{"Resize": {"target_size": [4, 4], "interp": bad}}])


def test_bad_target_size_refused_when_building() -> None:
    with pytest.raises(InputError, match="target_size"):
        T.build_pipeline([{"Resize": {"target_size": [4, 4, 4]}}])


def test_hwc_to_chw() -> None:
    img = _image(2, 3, 4)
    chw = T.hwc_to_chw(img)
    assert chw.shape == (4, 2, 3) and chw.dtype == np.float32 and chw.flags.c_contiguous
    assert chw[3, 1, 2] == img[1, 2, 3]
    assert T.hwc_to_chw(img[:, :, 0]).shape == (1, 2, 3)


def test_pipeline_from_exported_model_yml() -> None:
    path = FIXTURES / "paddle3.3.1-unet_infer" / "model.yml"
    if not path.is_file():
        pytest.skip(f"PaddleRS fixtures not found at {FIXTURES}")
    ops = yaml.safe_load(path.read_text(encoding="utf-8"))["Transforms"]
    run = T.build_pipeline(ops)
    img = _image(300, 200)
    out = run(img)
    assert out.shape == (3, 256, 256) and out.dtype == np.float32
    expected = T.normalize(T.resize(img, [256, 256]), **HALF).transpose(2, 0, 1)
    assert np.array_equal(out, expected)


def test_pipeline_order_is_model_yml_order() -> None:
    img = _image(4, 4)
    norm_first = T.build_pipeline([{"Normalize": HALF}, {"Resize": {"target_size": [8, 8]}}])(img)
    resize_first = T.build_pipeline([{"Resize": {"target_size": [8, 8]}}, {"Normalize": HALF}])(img)
    # Resizing uint8 rounds, resizing float32 does not: the order shows in the values.
    assert norm_first.shape == resize_first.shape == (3, 8, 8)
    assert not np.array_equal(norm_first, resize_first)


def test_noops_are_ignored_and_unsupported_ops_listed() -> None:
    img = _image()
    plain = T.build_pipeline([{"DecodeImg": {"to_rgb": True}}, {"ArrangeSegmenter": {"mode": "test"}}])(img)
    assert np.array_equal(plain, img.transpose(2, 0, 1).astype(np.float32))
    assert np.array_equal(T.build_pipeline(None)(img), plain)
    with pytest.raises(InputError) as info:
        T.build_pipeline(
            [{"RandomHorizontalFlip": {}}, {"Normalize": HALF}, {"CenterCrop": {}}, {"RandomHorizontalFlip": {}}]
        )
    message = str(info.value)
    assert "RandomHorizontalFlip, CenterCrop are not supported" in message
    assert "Resize, Normalize" in message
