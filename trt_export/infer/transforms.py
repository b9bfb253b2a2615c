"""The model.yml preprocessing that matters for verification, in numpy: Resize, Normalize, HWC->CHW.

Semantics follow PaddleRS's ``paddlers/transforms/operators.py`` (read, not copied):
- ``Resize(target_size=[h, w], interp, keep_ratio)`` is ``cv2.resize`` to (w, h); one-channel
  images keep their channel axis.
- ``Normalize`` works in float32: ``(x - min_val) * float32(1 / (max_val - min_val))``, then
  ``-= mean``, ``/= std`` per channel. Multiplying by the reciprocal (not dividing) is what
  PaddleRS does, so our float32 values match its bit for bit.

cv2 is what PaddleRS uses; PIL is a fallback whose resampling differs slightly (it filters when
downscaling), so parity checks against PaddleRS-preprocessed data want opencv-python-headless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trt_export.errors import InputError

# Ops that change nothing for an already-decoded HWC array: decoding is the loader's job and the
# Arrange* ops only transpose to CHW, which every pipeline ends with anyway.
NOOP_AT_INFERENCE = frozenset(
    {
        "DecodeImg",
        "ArrangeSegmenter",
        "ArrangeChangeDetector",
        "ArrangeClassifier",
        "ArrangeDetector",
        "ArrangeRestorer",
    }
)
SUPPORTED = ("Resize", "Normalize")
INTERPOLATIONS = ("NEAREST", "LINEAR", "CUBIC", "AREA", "LANCZOS4")
INSTALL_HINT = "pip install opencv-python-headless"

Pipeline = Callable[[np.ndarray], np.ndarray]


def cv2_module() -> Any:
    """The cv2 module, or None when OpenCV is not installed."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def pil_module() -> Any:
    """PIL.Image, or None when Pillow is not installed."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        return None
    return PILImage


def resize_backend() -> str:
    """'cv2' or 'pil', whichever is importable (cv2 first: it is what PaddleRS uses)."""
    if cv2_module() is not None:
        return "cv2"
    if pil_module() is not None:
        return "pil"
    raise InputError(f"resizing images needs OpenCV or Pillow and neither is installed; {INSTALL_HINT}")


def resize(
    image: np.ndarray, target_size: int | Sequence[int], interp: str = "LINEAR", keep_ratio: bool = False
) -> np.ndarray:
    """Resize an HWC (or HW) image to ``target_size`` = [h, w] the way PaddleRS's Resize does."""
    _check_interp(interp)
    th, tw = _target_hw(target_size)
    ih, iw = image.shape[:2]
    if keep_ratio:
        scale = min(th / ih, tw / iw)
        th, tw = int(round(ih * scale)), int(round(iw * scale))
    squeeze = image.ndim == 3 and image.shape[2] == 1
    if resize_backend() == "cv2":
        cv2 = cv2_module()
        flags = {
            "NEAREST": cv2.INTER_NEAREST,
            "LINEAR": cv2.INTER_LINEAR,
            "CUBIC": cv2.INTER_CUBIC,
            "AREA": cv2.INTER_AREA,
            "LANCZOS4": cv2.INTER_LANCZOS4,
        }
        out = cv2.resize(image, (tw, th), interpolation=flags[interp])
    else:
        out = _pil_resize(image, th, tw, interp)
    if squeeze and out.ndim == 2:
        out = out[:, :, np.newaxis]
    return out


def _check_interp(interp: str) -> None:
    if interp not in INTERPOLATIONS:
        extra = ""
        if interp == "RANDOM":
            extra = " ('RANDOM' is a training augmentation and would make verification non-deterministic)"
        raise InputError(f"Resize interp {interp!r} is not supported{extra}; use one of {', '.join(INTERPOLATIONS)}")


def _target_hw(target_size: int | Sequence[int]) -> tuple[int, int]:
    def positive(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v > 0

    if isinstance(target_size, int) and positive(target_size):
        return target_size, target_size
    if isinstance(target_size, (list, tuple)) and len(target_size) == 2 and all(positive(v) for v in target_size):
        return int(target_size[0]), int(target_size[1])
    raise InputError(f"Resize target_size {target_size!r} is not an int or [h, w] of positive ints")


def _pil_resize(image: np.ndarray, h: int, w: int, interp: str) -> np.ndarray:
    pil = pil_module()
    modes = {
        "NEAREST": pil.Resampling.NEAREST,
        "LINEAR": pil.Resampling.BILINEAR,
        "CUBIC": pil.Resampling.BICUBIC,
        "AREA": pil.Resampling.BOX,
        "LANCZOS4": pil.Resampling.LANCZOS,
    }
    # Channel by channel in float mode: PIL has no mode for arbitrary channel counts or dtypes.
    planes = image[:, :, np.newaxis] if image.ndim == 2 else image
    resized = [
        np.asarray(
            pil.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32), mode="F").resize(
                (w, h), modes[interp]
            )
        )
        for c in range(planes.shape[2])
    ]
    out = np.stack(resized, axis=2)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(image.dtype)
    return out[:, :, 0] if image.ndim == 2 else out


def normalize(
    image: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    min_val: Sequence[float] | None = None,
    max_val: Sequence[float] | None = None,
) -> np.ndarray:
    """PaddleRS's Normalize on an HWC image; returns float32 HWC."""
    channels = len(mean)
    min_val = [0.0] * channels if min_val is None else list(min_val)
    max_val = [255.0] * channels if max_val is None else list(max_val)
    if not (len(std) == len(min_val) == len(max_val) == channels):
        raise InputError(
            f"Normalize has mean/std/min_val/max_val of lengths "
            f"{channels}/{len(std)}/{len(min_val)}/{len(max_val)}; they must match"
        )
    if any(s == 0 for s in std) or any(hi == lo for hi, lo in zip(max_val, min_val, strict=True)):
        raise InputError(f"Normalize has a zero std {list(std)} or max_val == min_val; fix the model.yml")
    im = image.astype(np.float32)
    if im.ndim == 2:
        im = im[:, :, np.newaxis]
    if im.shape[2] != channels:
        raise InputError(f"Normalize is configured for {channels} channels but the image has {im.shape[2]}")
    scale = np.asarray([1.0 / (hi - lo) for hi, lo in zip(max_val, min_val, strict=True)], dtype=np.float32)
    im = (im - np.asarray(min_val, dtype=np.float32)) * scale
    im -= np.asarray(mean, dtype=np.float32)
    im /= np.asarray(std, dtype=np.float32)
    return im


def normalize_with(image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Normalize with a model.yml ``Normalize`` entry's params, PaddleRS's defaults filling gaps."""
    return normalize(
        image,
        params.get("mean", [0.485, 0.456, 0.406]),
        params.get("std", [0.229, 0.224, 0.225]),
        params.get("min_val"),
        params.get("max_val"),
    )


def hwc_to_chw(image: np.ndarray) -> np.ndarray:
    """HWC (or HW) -> contiguous CHW float32."""
    im = image[:, :, np.newaxis] if image.ndim == 2 else image
    if im.ndim != 3:
        raise InputError(f"expected an HWC image, got an array of shape {tuple(image.shape)}")
    return np.ascontiguousarray(im.transpose(2, 0, 1), dtype=np.float32)


@dataclass(frozen=True)
class _Step:
    name: str
    params: dict[str, Any]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.name == "Resize":
            return resize(
                image,
                self.params.get("target_size"),  # type: ignore[arg-type]
                interp=self.params.get("interp", "LINEAR"),
                keep_ratio=bool(self.params.get("keep_ratio", False)),
            )
        return normalize_with(image, self.params)


def build_pipeline(transforms: Sequence[dict[str, dict[str, Any]]] | None) -> Pipeline:
    """A callable HWC uint8/float image -> CHW float32 applying ``transforms`` (model.yml order).

    Unsupported ops are refused up front, all names at once, rather than silently skipped: a
    skipped op would feed the network data it never saw and make a parity check meaningless.
    """
    steps: list[_Step] = []
    unsupported: list[str] = []
    for op in transforms or []:
        ((name, params),) = op.items()
        if name in NOOP_AT_INFERENCE:
            continue
        if name not in SUPPORTED:
            unsupported.append(name)
            continue
        steps.append(_Step(name, dict(params or {})))
    if unsupported:
        raise InputError(
            f"model.yml transforms {', '.join(dict.fromkeys(unsupported))} are not supported for verification inputs "
            f"(supported: {', '.join(SUPPORTED)}; ignored as no-ops: {', '.join(sorted(NOOP_AT_INFERENCE))}); "
            "use random inputs or an .npz of preprocessed tensors instead"
        )
    for step in steps:
        if step.name == "Resize":
            resize_backend()  # no OpenCV/Pillow: say so now, not after images were loaded
            _target_hw(step.params.get("target_size"))  # type: ignore[arg-type]
            _check_interp(step.params.get("interp", "LINEAR"))

    def run(image: np.ndarray) -> np.ndarray:
        out = np.asarray(image)
        for step in steps:
            out = step(out)
        return hwc_to_chw(out)

    return run
