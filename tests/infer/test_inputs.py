"""Input loaders: seeded random data, image files through model.yml transforms, .npz, feed checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixture_paths import FIXTURES, needs_fixtures

from trt_export.errors import InputError
from trt_export.infer import transforms as T
from trt_export.infer.inputs import (
    TensorSpec,
    check_feed,
    image_inputs,
    make_inputs,
    npz_inputs,
    random_inputs,
    read_image,
    save_npz,
)
from trt_export.model.paddlers_files import model_yml_for_plain_model, model_yml_from_dict, read_model_yml
from trt_export.model.shapes import FixedShape

IMG = TensorSpec("image", "float32", (1, 3, 32, 48))
CD = [TensorSpec("image", "float32", (2, 3, 16, 16)), TensorSpec("image2", "float32", (2, 3, 16, 16))]
HALF_NORM = {"Normalize": {"mean": [0.5] * 3, "std": [0.5] * 3, "min_val": [0] * 3, "max_val": [255.0] * 3}}


def _yml(transforms: list[dict] | None, shape: FixedShape | None = None):
    shape = shape or FixedShape(1, 3, 32, 48)
    return model_yml_from_dict(model_yml_for_plain_model("m", "segmenter", shape, transforms))


def _png(path: Path, array: np.ndarray) -> Path:
    """Write an RGB (or grey) uint8 array as PNG with whichever library is installed."""
    cv2 = T.cv2_module()
    if cv2 is not None:
        bgr = array[:, :, ::-1] if array.ndim == 3 else array
        assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))
    else:
        pil = pytest.importorskip("PIL.Image")
        pil.fromarray(array).save(path)
    return path


def _pixels(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --- random ------------------------------------------------------------------------------------


def test_random_is_seeded_and_scaled_to_unit_range() -> None:
    a = random_inputs([IMG], seed=3)
    b = random_inputs([IMG], seed=3)
    c = random_inputs([IMG], seed=4)
    assert np.array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"])
    x = a["image"]
    assert x.shape == IMG.shape and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # Whole 8-bit pixel values over 255, spread over the range.
    assert np.allclose(x * 255.0, np.round(x * 255.0), atol=1e-4)
    assert x.max() - x.min() > 0.9 and abs(float(x.mean()) - 0.5) < 0.05


@needs_fixtures
def test_random_change_detection_uses_model_yml_normalize() -> None:
    yml = read_model_yml(FIXTURES / "paddle3.3.1-bit_train")
    feed = random_inputs(CD, seed=0, model_yml=yml)
    again = random_inputs(CD, seed=0, model_yml=yml)
    assert set(feed) == {"image", "image2"}
    assert not np.array_equal(feed["image"], feed["image2"])  # the two dates must differ
    assert all(np.array_equal(feed[k], again[k]) for k in feed)
    for value in feed.values():
        assert value.dtype == np.float32 and value.shape == (2, 3, 16, 16)
        assert -1.0 <= value.min() < -0.9 and 0.9 < value.max() <= 1.0  # (x/255 - 0.5) / 0.5
    # Samples in a batch differ too.
    assert not np.array_equal(feed["image"][0], feed["image"][1])


def test_random_keyed_by_name_not_position() -> None:
    alone = random_inputs([CD[0]], seed=1)
    pair = random_inputs(list(reversed(CD)), seed=1)
    assert np.array_equal(alone["image"], pair["image"])


def test_random_other_dtypes() -> None:
    specs = [
        TensorSpec("ids", "int64", (2, 5)),
        TensorSpec("mask", "bool", (4,)),
        TensorSpec("half", "float16", (1, 3, 4, 4)),
        TensorSpec("im_shape", "float32", (1, 2)),
    ]
    feed = random_inputs(specs, seed=0)
    assert feed["ids"].dtype == np.int64 and feed["ids"].min() >= 0 and feed["ids"].max() < 16
    assert feed["mask"].dtype == np.bool_
    assert feed["half"].dtype == np.float16
    assert 0.0 <= feed["im_shape"].min() and feed["im_shape"].max() < 1.0
    check_feed(specs, feed)


def test_random_rejects_duplicates_and_dynamic_dims() -> None:
    with pytest.raises(InputError, match="unique"):
        random_inputs([IMG, IMG])
    with pytest.raises(InputError, match="non-fixed"):
        random_inputs([TensorSpec("image", "float32", (-1, 3, 8, 8))])


def test_random_normalize_channel_mismatch() -> None:
    spec = TensorSpec("image", "float32", (1, 4, 8, 8))
    with pytest.raises(InputError, match="'image'.*3 channels"):
        random_inputs([spec], model_yml=_yml([HALF_NORM], FixedShape(1, 4, 8, 8)))


# --- images ------------------------------------------------------------------------------------


def test_image_inputs_resize_and_normalize(tmp_path: Path) -> None:
    pixels = _pixels(50, 70, 0)
    path = _png(tmp_path / "a.png", pixels)
    feed = image_inputs([IMG], [path], _yml([HALF_NORM]))
    x = feed["image"]
    assert x.shape == (1, 3, 32, 48) and x.dtype == np.float32
    expected = T.normalize(T.resize(pixels, [32, 48]), [0.5] * 3, [0.5] * 3).transpose(2, 0, 1)
    assert np.array_equal(x[0], expected)  # RGB order preserved from the file, PaddleRS's maths


def test_image_inputs_forces_spec_size_over_model_yml_resize(tmp_path: Path) -> None:
    path = _png(tmp_path / "a.png", _pixels(20, 20, 1))
    stale = _yml([{"Resize": {"target_size": [512, 512], "interp": "LINEAR", "keep_ratio": True}}, HALF_NORM])
    assert image_inputs([IMG], [path], stale)["image"].shape == (1, 3, 32, 48)
    # Without a model.yml: only the Resize, raw 0..255 values (what PaddleRS would feed).
    raw = image_inputs([IMG], [path], None)["image"]
    assert raw.max() > 1.0 and raw.max() <= 255.0


def test_image_inputs_pairs_for_change_detection(tmp_path: Path) -> None:
    files = [_png(tmp_path / f"{i}.png", _pixels(16, 16, 10 + i)) for i in range(4)]
    feed = image_inputs(CD, files, None)
    # Order a1, b1, a2, b2: image gets files 0 and 2, image2 gets 1 and 3.
    for name, picks in (("image", (0, 2)), ("image2", (1, 3))):
        for sample, index in enumerate(picks):
            assert np.array_equal(feed[name][sample], _pixels(16, 16, 10 + index).transpose(2, 0, 1).astype(np.float32))


def test_image_inputs_count_must_match(tmp_path: Path) -> None:
    files = [_png(tmp_path / f"{i}.png", _pixels(8, 8, i)) for i in range(3)]
    with pytest.raises(
        InputError, match=r"got 3 image file\(s\) but the model takes 4 .*groups of 2 \(image, image2\)"
    ):
        image_inputs(CD, files, None)
    with pytest.raises(InputError, match="takes 1"):
        image_inputs([IMG], files[:2], None)


def test_image_inputs_bgr_when_decode_says_so(tmp_path: Path) -> None:
    pixels = _pixels(32, 48, 2)
    path = _png(tmp_path / "a.png", pixels)
    bgr = image_inputs([IMG], [path], _yml([{"DecodeImg": {"to_rgb": False}}]))["image"][0]
    assert np.array_equal(bgr, pixels[:, :, ::-1].transpose(2, 0, 1).astype(np.float32))


def test_image_read_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        image_inputs([IMG], [tmp_path / "nope.png"], None)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="cannot read image .*junk.png"):
        image_inputs([IMG], [junk], None)


def test_image_unsupported_transform(tmp_path: Path) -> None:
    path = _png(tmp_path / "a.png", _pixels(8, 8, 0))
    with pytest.raises(InputError, match="RandomBlur"):
        image_inputs([IMG], [path], _yml([{"RandomBlur": {"prob": 0.1}}, HALF_NORM]))


def test_read_image_grey_and_npy(tmp_path: Path) -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    path = _png(tmp_path / "g.png", grey)
    as_rgb = read_image(path, channels=3)
    assert as_rgb.shape == (8, 8, 3) and np.array_equal(as_rgb[:, :, 1], grey)
    assert np.array_equal(read_image(path, channels=1)[:, :, 0], grey)
    bands = np.random.default_rng(0).random((6, 5, 4)).astype(np.float32)
    np.save(tmp_path / "b.npy", bands)
    assert np.array_equal(read_image(tmp_path / "b.npy", channels=4), bands)
    with pytest.raises(InputError, match="takes 3 channel"):
        read_image(tmp_path / "b.npy", channels=3)


# --- npz and feed checks -----------------------------------------------------------------------


def test_npz_round_trip(tmp_path: Path) -> None:
    feed = random_inputs(CD, seed=5)
    path = save_npz(tmp_path / "inputs.bin", feed)
    assert path == tmp_path / "inputs.bin" and path.is_file()  # no .npz appended
    loaded = npz_inputs(CD, path)
    assert set(loaded) == {"image", "image2"}
    assert all(np.array_equal(loaded[k], feed[k]) for k in feed)


def test_npz_mismatches_name_the_input(tmp_path: Path) -> None:
    good = random_inputs(CD, seed=0)
    bad_shape = dict(good, image2=good["image2"][:1])
    with pytest.raises(InputError) as info:
        npz_inputs(CD, save_npz(tmp_path / "s.npz", bad_shape))
    message = str(info.value)
    assert "'image2'" in message and "(1,3,16,16)" in message and "(2,3,16,16)" in message
    with pytest.raises(InputError, match="missing \\['image2'\\]"):
        npz_inputs(CD, save_npz(tmp_path / "m.npz", {"image": good["image"]}))
    with pytest.raises(InputError, match="unexpected \\['x'\\]"):
        npz_inputs(CD, save_npz(tmp_path / "x.npz", dict(good, x=good["image"])))
    with pytest.raises(InputError, match="dtype float64 .* expects float32"):
        npz_inputs(CD, save_npz(tmp_path / "d.npz", dict(good, image=good["image"].astype(np.float64))))


def test_npz_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        npz_inputs(CD, tmp_path / "missing.npz")
    text = tmp_path / "t.npz"
    text.write_text("hello")
    with pytest.raises(InputError, match="cannot read"):
        npz_inputs(CD, text)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(InputError, match="single array"):
        npz_inputs(CD, tmp_path / "one.npy")


def test_check_feed_fixed_shape_message() -> None:
    spec = TensorSpec("image", "float32", (1, 3, 64, 64))
    check_feed([spec], {"image": np.zeros((1, 3, 64, 64), np.float32)})
    with pytest.raises(InputError) as info:
        check_feed([spec], {"image": np.zeros((2, 3, 64, 96), np.float32)})
    assert str(info.value) == (
        "input 'image' has shape (2,3,64,96) but the model was exported at fixed shape (1,3,64,64); "
        "re-export with --fixed-input-shape [2,3,96,64] or feed that shape"
    )
    with pytest.raises(InputError, match="shape \\(3,64,64\\)"):
        check_feed([spec], {"image": np.zeros((3, 64, 64), np.float32)})
    with pytest.raises(InputError, match="not a numpy array"):
        check_feed([spec], {"image": [[0.0]]})


def test_check_feed_dynamic_dims() -> None:
    spec = TensorSpec("image", "float32", (-1, 3, 64, 64))
    check_feed([spec], {"image": np.zeros((4, 3, 64, 64), np.float32)})
    with pytest.raises(InputError, match="'image'"):
        check_feed([spec], {"image": np.zeros((4, 1, 64, 64), np.float32)})


def test_make_inputs_dispatch(tmp_path: Path) -> None:
    rand = make_inputs([IMG], seed=2)
    assert np.array_equal(rand["image"], random_inputs([IMG], seed=2)["image"])
    path = save_npz(tmp_path / "f.npz", rand)
    assert np.array_equal(make_inputs([IMG], npz=path)["image"], rand["image"])
    png = _png(tmp_path / "a.png", _pixels(32, 48, 0))
    assert make_inputs([IMG], images=[png])["image"].shape == IMG.shape
    with pytest.raises(InputError, match="not both"):
        make_inputs([IMG], images=[png], npz=path)


def test_pil_decoding_matches_cv2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cv2")
    pytest.importorskip("PIL")
    pixels = _pixels(32, 48, 7)
    path = _png(tmp_path / "a.png", pixels)
    grey = _png(tmp_path / "g.png", pixels[:, :, 0])
    with_cv2 = [read_image(path), read_image(path, to_rgb=False), read_image(grey, channels=1)]
    monkeypatch.setattr(T, "cv2_module", lambda: None)
    with_pil = [read_image(path), read_image(path, to_rgb=False), read_image(grey, channels=1)]
    for a, b in zip(with_cv2, with_pil, strict=True):
        assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b)
    assert np.array_equal(with_pil[0], pixels)
    # The whole loader works without OpenCV (PIL resize differs slightly, so only shapes are checked).
    assert image_inputs([IMG], [path], _yml([HALF_NORM]))["image"].shape == IMG.shape


def test_check_feed_refuses_non_finite_inputs() -> None:
    spec = TensorSpec("image", "float32", (1, 3, 4, 4))
    data = np.zeros((1, 3, 4, 4), dtype=np.float32)
    data[0, 1, 2, 3] = np.nan
    data[0, 0, 0, 0] = np.inf
    with pytest.raises(InputError, match="'image' has 2 NaN/Inf values"):
        check_feed([spec], {"image": data})
