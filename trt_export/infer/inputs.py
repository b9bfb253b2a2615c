"""Data loaders for verification and benchmarks: seeded random data, image files, ``.npz``.

Kept apart from runners and the comparator (as Polygraphy does): a loader only produces a
``dict[str, np.ndarray]`` and every runner checks it with :func:`check_feed`, because Paddle's
predictor itself runs happily on shapes the model was not exported for (shared/PADDLE-FACTS.md).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.errors import InputError, ShapeError
from trt_export.infer import transforms as T
from trt_export.model.paddlers_files import ModelYml, fix_transforms_shape
from trt_export.model.shapes import FixedShape

# Labels and indices for integer inputs: small and non-negative, valid for any embedding/gather.
_INT_HIGH = 8


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype (numpy name, e.g. 'float32') and shape of one model input or output."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        return f"{self.name}: {self.dtype} {_fmt(self.shape)}"


def _fmt(shape: Sequence[int]) -> str:
    return "(" + ",".join(str(d) for d in shape) + ")"


def _check_specs(specs: Sequence[TensorSpec]) -> None:
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"input names must be unique, got {dupes} more than once")


def _rng_for(seed: int, name: str) -> np.random.Generator:
    # Keyed by name (not position) so 'image' gets the same data whether or not an 'image2' exists,
    # and 'image2' never repeats 'image'. crc32 is stable across runs, unlike hash().
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def random_inputs(
    specs: Sequence[TensorSpec], seed: int = 0, model_yml: ModelYml | None = None
) -> dict[str, np.ndarray]:
    """Seeded data for every input.

    NCHW float inputs are whole pixel values drawn uniformly from 0..255 (what a decoded 8-bit
    image holds), then normalized by the model.yml Normalize when there is one, else divided by
    255: activations in the range the network was trained for. Other float inputs are uniform in
    [0, 1); integer inputs are small non-negative ints; bool inputs are random.
    """
    _check_specs(specs)
    normalize = model_yml.normalize if model_yml is not None else None
    feed: dict[str, np.ndarray] = {}
    for spec in specs:
        rng = _rng_for(seed, spec.name)
        shape = tuple(int(d) for d in spec.shape)
        if any(d <= 0 for d in shape):
            raise InputError(
                f"input '{spec.name}' has a non-fixed shape {_fmt(shape)}; random data needs a fixed shape"
            )
        dtype = np.dtype(spec.dtype)
        if dtype == np.bool_:
            feed[spec.name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            feed[spec.name] = rng.integers(0, _INT_HIGH, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.floating):
            if len(shape) == 4:
                pixels = rng.integers(0, 256, size=shape).astype(np.float32)
                data = (
                    _normalize_nchw(pixels, normalize, spec.name)
                    if normalize is not None
                    else pixels / np.float32(255.0)
                )
            else:
                data = rng.random(size=shape, dtype=np.float32)
            feed[spec.name] = data.astype(dtype)
        else:
            raise InputError(
                f"input '{spec.name}' has dtype {spec.dtype}, for which no random data is generated; use an .npz"
            )
    return feed


def _normalize_nchw(batch: np.ndarray, params: dict[str, Any], name: str) -> np.ndarray:
    try:
        return np.stack([T.normalize_with(x.transpose(1, 2, 0), params).transpose(2, 0, 1) for x in batch])
    except InputError as exc:
        raise InputError(f"input '{name}' {_fmt(batch.shape)}: {exc}") from None


def image_inputs(
    specs: Sequence[TensorSpec], image_paths: Sequence[str | Path], model_yml: ModelYml | None
) -> dict[str, np.ndarray]:
    """Image files through the model.yml transforms, resized to each input's fixed H,W and stacked.

    Files are taken per sample, one per input in spec order: for a change detector with inputs
    (image, image2) and batch 2, the order is a1, b1, a2, b2. The count must match exactly, so a
    missing or extra file is reported rather than silently dropped.
    """
    _check_specs(specs)
    if not specs:
        raise InputError("the model has no inputs to feed images to")
    for spec in specs:
        if len(spec.shape) != 4 or not np.issubdtype(np.dtype(spec.dtype), np.floating):
            raise InputError(
                f"input '{spec.name}' is {spec.dtype} {_fmt(spec.shape)}; images feed only NCHW float inputs"
            )
    batch = int(specs[0].shape[0])
    if any(int(s.shape[0]) != batch for s in specs):
        raise InputError(f"inputs have different batch sizes: {', '.join(s.describe() for s in specs)}")
    need = batch * len(specs)
    if len(image_paths) != need:
        names = ", ".join(s.name for s in specs)
        per = "one file per sample" if len(specs) == 1 else f"files in groups of {len(specs)} ({names})"
        raise InputError(
            f"got {len(image_paths)} image file(s) but the model takes {need} at batch size {batch}: give {per}"
        )
    base = (model_yml.transforms if model_yml is not None else None) or []
    decode = (model_yml.transform("DecodeImg") if model_yml is not None else None) or {}
    to_rgb = bool(decode.get("to_rgb", True))
    feed: dict[str, np.ndarray] = {}
    for j, spec in enumerate(specs):
        _, c, h, w = (int(d) for d in spec.shape)
        pipeline = T.build_pipeline(fix_transforms_shape(base, h, w))
        samples = []
        for i in range(batch):
            path = Path(image_paths[i * len(specs) + j])
            chw = pipeline(read_image(path, channels=c, to_rgb=to_rgb))
            if chw.shape != (c, h, w):
                raise InputError(
                    f"image {str(path)!r} became {_fmt(chw.shape)} after the model.yml transforms, not {_fmt((c, h, w))}"
                )
            samples.append(chw)
        feed[spec.name] = np.stack(samples).astype(spec.dtype)
    check_feed(specs, feed)
    return feed


def read_image(path: str | Path, channels: int = 3, to_rgb: bool = True) -> np.ndarray:
    """Decode an image file (or a .npy HWC array) to HWC, as PaddleRS's DecodeImg would.

    Three-channel inputs are read as colour (grey and RGBA files become 3 channels, as with
    PaddleRS's cv2 flags) and turned RGB unless ``to_rgb`` is false.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"--images {str(p)!r} is a directory; give the image files in it (e.g. {str(p)}/*.png)")
    if not p.is_file():
        raise InputError(f"image file {str(p)!r} does not exist")
    if p.suffix.lower() == ".npy":
        try:
            image = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {str(p)!r} as a .npy array: {exc}") from None
    else:
        image = _decode(p, channels, to_rgb)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[2] != channels:
        raise InputError(
            f"image {str(p)!r} has shape {_fmt(image.shape)} but the input takes {channels} channel(s) (HWC)"
        )
    if p.suffix.lower() != ".npy" and image.dtype != np.uint8:
        # PaddleRS stretches >8-bit images to uint8 in DecodeImg; we do not imitate that guess.
        raise InputError(f"image {str(p)!r} is {image.dtype}, not 8-bit; convert it to 8-bit or save the array as .npy")
    return image


def _decode(path: Path, channels: int, to_rgb: bool) -> np.ndarray:
    cv2 = T.cv2_module()
    if cv2 is not None:
        if channels == 3:
            flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH
        elif channels == 1:
            flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH
        else:
            flags = cv2.IMREAD_UNCHANGED
        image = cv2.imread(str(path), flags)
        if image is None:
            raise InputError(f"cannot read image {str(path)!r}: not an image format OpenCV decodes, or a corrupt file")
        if channels == 3 and to_rgb:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return np.asarray(image)
    pil = T.pil_module()
    if pil is None:
        raise InputError(f"reading images needs OpenCV or Pillow and neither is installed; {T.INSTALL_HINT}")
    try:
        with pil.open(path) as img:
            if channels == 3:
                img = img.convert("RGB")
            elif channels == 1:
                img = img.convert("L")
            image = np.asarray(img)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read image {str(path)!r}: {exc}") from None
    if channels == 3 and not to_rgb:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def npz_inputs(specs: Sequence[TensorSpec], path: str | Path) -> dict[str, np.ndarray]:
    """Arrays from an .npz whose keys are the input names, checked exactly against ``specs``."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"--inputs {str(p)!r} is a directory; give an .npz file of inputs keyed by input name")
    if not p.is_file():
        raise InputError(f"inputs file {str(p)!r} does not exist")
    try:
        data = np.load(p, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise InputError(f"{str(p)!r} holds a single array, not an .npz of named inputs; write one with save_npz")
        with data:
            feed = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if not zipfile.is_zipfile(p):  # numpy blames anything unknown on pickled data
            raise InputError(
                f"cannot read {str(p)!r} as .npz: it is not a zip archive (nor a .npy array); write one with "
                "numpy.savez(path, NAME=array, ...)"
            ) from None
        raise InputError(f"cannot read {str(p)!r} as .npz: {exc}") from None
    check_feed(specs, feed, source=str(p))
    return feed


def check_feed(specs: Sequence[TensorSpec], feed: Mapping[str, Any], source: str | None = None) -> None:
    """Names, dtypes and exact shapes of ``feed`` against the exported inputs; InputError otherwise.

    A negative dim in a spec means "any size" (dynamic exports); fixed exports have none.
    """
    where = f" in {source!r}" if source else ""
    expected = [s.name for s in specs]
    missing = [n for n in expected if n not in feed]
    extra = [n for n in feed if n not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise InputError(f"inputs{where} do not match the model: {'; '.join(parts)}; the model takes {expected}")
    for spec in specs:
        value = feed[spec.name]
        if not isinstance(value, np.ndarray):
            raise InputError(f"input '{spec.name}'{where} is a {type(value).__name__}, not a numpy array")
        if value.dtype != np.dtype(spec.dtype):
            raise InputError(
                f"input '{spec.name}'{where} has dtype {value.dtype} but the model expects {spec.dtype}; "
                f"cast it with .astype('{spec.dtype}')"
            )
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            raise InputError(
                f"input '{spec.name}'{where} has {bad} NaN/Inf values; parity on non-finite inputs proves nothing: "
                "fix the data (or its normalisation)"
            )
        got = tuple(int(d) for d in value.shape)
        want = tuple(int(d) for d in spec.shape)
        if len(got) != len(want) or any(w >= 0 and g != w for g, w in zip(got, want, strict=True)):
            raise InputError(
                f"input '{spec.name}'{where} has shape {_fmt(got)} but the model was exported at fixed shape "
                f"{_fmt(want)}; {_reexport_hint(got)}feed that shape"
            )


def _reexport_hint(shape: tuple[int, ...]) -> str:
    if len(shape) != 4:
        return ""
    try:
        notation = FixedShape.from_nchw(list(shape)).seed_notation
    except ShapeError:
        return ""
    return f"re-export with --fixed-input-shape {notation} or "


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write named arrays to ``path`` (exactly that name: numpy would otherwise append .npz)."""
    target = Path(path)
    with target.open("wb") as f:
        np.savez(f, **{name: np.asarray(a) for name, a in arrays.items()})  # type: ignore[arg-type]
    return target


def make_inputs(
    specs: Sequence[TensorSpec],
    seed: int = 0,
    images: Sequence[str | Path] | None = None,
    npz: str | Path | None = None,
    model_yml: ModelYml | None = None,
) -> dict[str, np.ndarray]:
    """One entry point for the CLI: images, or an .npz, or seeded random data."""
    if images and npz is not None:
        raise InputError("give either image files or an .npz of inputs, not both")
    if npz is not None:
        return npz_inputs(specs, npz)
    if images:
        return image_inputs(specs, images, model_yml)
    return random_inputs(specs, seed=seed, model_yml=model_yml)
