"""Raster I/O for tiled prediction: windowed reads, windowed label/score writes, atomic outputs.

- GeoTIFF (``.tif``/``.tiff``) through rasterio, an optional extra (``pip install 'trt-export[geo]'``):
  read and written window by window, so a raster larger than memory works; CRS, geotransform
  and nodata are read, and written to GeoTIFF outputs.
- ``.npy`` through ``np.load(mmap_mode='r')`` / ``open_memmap``: also window by window.
- PNG / JPEG / BMP through OpenCV (Pillow as the fallback): decoded whole (these formats cannot
  be read by window); RGB band order, as GDAL (which PaddleRS's slider uses) reads them.

Outputs are written under a temporary name next to the final one and renamed into place only
when complete (:meth:`OutputCanvas.commit`); on any failure (disk full, Ctrl-C, SIGTERM) the
temporary file is removed and nothing appears under the final name. An existing output is
replaced only with ``force`` and only at that final rename.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.errors import InputError, TrtExportError
from trt_export.predict.tiling import INVALID_VALUE, LabelCanvas, Window, read_window

GEOTIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ARRAY_SUFFIXES = (".npy",)
RASTER_SUFFIXES = GEOTIFF_SUFFIXES + IMAGE_SUFFIXES + ARRAY_SUFFIXES
LABEL_OUTPUT_SUFFIXES = GEOTIFF_SUFFIXES + (".png", ".npy")
SCORE_OUTPUT_SUFFIXES = GEOTIFF_SUFFIXES + (".npy",)
GEO_HINT = "pip install 'trt-export[geo]' (rasterio)"
_INIT_ROWS = 256  # rows per strip when filling a new output with the invalid value


def rasterio_module() -> Any:
    try:
        import rasterio
    except ImportError:
        return None
    return rasterio


@dataclass(frozen=True)
class RasterInfo:
    """What a raster is: size, bands, pixel type, georeferencing (None when it has none)."""

    path: str
    width: int
    height: int
    bands: int
    dtype: str
    kind: str  # geotiff | image | npy
    crs: str | None = None
    transform: tuple[float, ...] | None = None  # affine a, b, c, d, e, f (rasterio order)
    nodata: float | None = None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


class RasterReader:
    """Windowed reads as HWC arrays; windows leaving the raster are zero-padded."""

    info: RasterInfo

    def read(self, window: Window) -> np.ndarray:
        raise NotImplementedError

    def read_all(self) -> np.ndarray:
        return self.read(Window(0, 0, self.info.width, self.info.height))

    def close(self) -> None:
        """Release the file."""

    def __enter__(self) -> RasterReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ArrayReader(RasterReader):
    """An HWC array in memory or memory-mapped from an .npy file."""

    def __init__(self, array: np.ndarray, info: RasterInfo) -> None:
        self.array = array if array.ndim == 3 else array[:, :, np.newaxis]
        self.info = info

    def read(self, window: Window) -> np.ndarray:
        return np.asarray(read_window(self.array, window))


class GeoTiffReader(RasterReader):
    def __init__(self, dataset: Any, info: RasterInfo) -> None:
        self.dataset = dataset
        self.info = info

    def read(self, window: Window) -> np.ndarray:
        from rasterio.windows import Window as RioWindow

        inside = (
            window.x >= 0
            and window.y >= 0
            and window.x + window.width <= self.info.width
            and window.y + window.height <= self.info.height
        )
        rio_window = RioWindow(window.x, window.y, window.width, window.height)
        try:
            if inside:
                chw = self.dataset.read(window=rio_window)
            else:
                chw = self.dataset.read(window=rio_window, boundless=True, fill_value=0)
        except Exception as exc:  # noqa: BLE001 - rasterio raises its own error types for damaged files
            raise InputError(
                f"cannot read window {window.width}x{window.height}+{window.x}+{window.y} of {self.info.path!r}: {exc}"
            ) from None
        return chw.transpose(1, 2, 0)

    def close(self) -> None:
        self.dataset.close()


def open_raster(path: str | Path) -> RasterReader:
    """Open a GeoTIFF, PNG/JPEG/BMP or .npy for windowed reading; one-line InputError otherwise."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"raster {str(p)!r} does not exist")
    if not p.is_file():
        raise InputError(f"raster {str(p)!r} is not a file; give a GeoTIFF, PNG, JPEG or .npy image")
    suffix = p.suffix.lower()
    if suffix in GEOTIFF_SUFFIXES:
        return _open_geotiff(p)
    if suffix in ARRAY_SUFFIXES:
        return _open_npy(p)
    if suffix in IMAGE_SUFFIXES:
        return _open_image(p)
    raise InputError(
        f"{str(p)!r} is not a raster this tool reads (suffix {suffix or 'none'}); give a GeoTIFF ({', '.join(GEOTIFF_SUFFIXES)}), PNG, JPEG, BMP or .npy"
    )


def _open_geotiff(p: Path) -> RasterReader:
    rasterio = rasterio_module()
    if rasterio is None:
        raise InputError(f"reading GeoTIFF {str(p)!r} needs rasterio, which is not installed: {GEO_HINT}")
    try:
        dataset = rasterio.open(p)
    except Exception as exc:  # noqa: BLE001 - RasterioIOError and friends
        raise InputError(
            f"cannot read {str(p)!r} as a GeoTIFF: {_first_line(exc)}; give a valid GeoTIFF, PNG, JPEG or .npy"
        ) from None
    transform = None if dataset.transform is None or dataset.transform.is_identity else tuple(dataset.transform)[:6]
    info = RasterInfo(
        path=str(p),
        width=dataset.width,
        height=dataset.height,
        bands=dataset.count,
        dtype=str(dataset.dtypes[0]),
        kind="geotiff",
        crs=dataset.crs.to_string() if dataset.crs else None,
        transform=transform,
        nodata=None if dataset.nodata is None else float(dataset.nodata),
    )
    return GeoTiffReader(dataset, info)


def _open_npy(p: Path) -> RasterReader:
    try:
        array = np.load(p, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {str(p)!r} as a .npy array: {_first_line(exc)}") from None
    if array.ndim not in (2, 3) or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise InputError(
            f"{str(p)!r} holds a {array.dtype} array of shape {tuple(array.shape)}; a raster .npy is HxW or HxWxC numbers"
        )
    h, w = array.shape[:2]
    bands = 1 if array.ndim == 2 else array.shape[2]
    return ArrayReader(array, RasterInfo(str(p), w, h, bands, str(array.dtype), "npy"))


def _open_image(p: Path) -> RasterReader:
    from trt_export.infer import transforms as T

    cv2 = T.cv2_module()
    if cv2 is not None:
        image = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InputError(
                f"cannot read {str(p)!r}: not an image OpenCV decodes, or a damaged file; give a GeoTIFF, PNG, JPEG or .npy"
            )
        if image.ndim == 3 and image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    else:
        pil = T.pil_module()
        if pil is None:
            raise InputError(f"reading {str(p)!r} needs OpenCV or Pillow and neither is installed; {T.INSTALL_HINT}")
        try:
            with pil.open(p) as img:
                image = np.asarray(img)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {str(p)!r}: {_first_line(exc)}") from None
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    bands = 1 if image.ndim == 2 else image.shape[2]
    return ArrayReader(image, RasterInfo(str(p), w, h, bands, str(image.dtype), "image"))


def check_bands(info: RasterInfo, channels: int) -> None:
    if info.bands != channels:
        raise InputError(
            f"{info.path!r} has {info.bands} band(s) but the export takes {channels} channel(s); "
            f"give a {channels}-band raster or export the model with c={info.bands} ('[n,{info.bands},w,h]')"
        )


def check_pair(first: RasterInfo, second: RasterInfo) -> None:
    """The two images of a change-detection pair must cover the same pixels."""
    if (first.width, first.height) != (second.width, second.height):
        raise InputError(
            f"change-detection pair differs in size: {first.path!r} is {first.size}, {second.path!r} is {second.size}; give co-registered images of one size"
        )
    if first.crs != second.crs:
        raise InputError(
            f"change-detection pair differs in CRS: {first.path!r} is {first.crs or 'none'}, {second.path!r} is {second.crs or 'none'}; reproject one onto the other's grid"
        )
    if (first.transform is None) != (second.transform is None) or (
        first.transform is not None
        and second.transform is not None
        and not np.allclose(first.transform, second.transform, rtol=0, atol=1e-9)
    ):
        raise InputError(
            f"change-detection pair has different geotransforms ({first.path!r}, {second.path!r}); resample them onto one grid"
        )


# --------------------------------------------------------------------------- outputs


def check_output_path(path: str | Path, force: bool, what: str, suffixes: Sequence[str]) -> Path:
    """Refuse, before any work, an output that exists (without force), has no directory or an unknown suffix."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{what} {str(p)!r} must end in {', '.join(suffixes)}")
    if p.is_dir():
        raise InputError(f"{what} {str(p)!r} is a directory; give a file name")
    if p.exists() and not force:
        raise InputError(
            f"{what} {str(p)!r} exists; pass --force to replace it (it is replaced only once the new one is complete)"
        )
    if not p.resolve().parent.is_dir():
        raise InputError(f"{what} {str(p)!r}: directory {str(p.resolve().parent)!r} does not exist; create it first")
    return p


def _partial_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial-{os.getpid()}{final.suffix}")


class _File:
    """One output file written under a temporary name."""

    def __init__(
        self,
        final: Path,
        width: int,
        height: int,
        bands: int,
        dtype: str,
        like: RasterInfo | None,
        nodata: float | None,
        fill: float,
    ) -> None:
        self.final = final
        self.tmp = _partial_name(final)
        self.suffix = final.suffix.lower()
        self.bands = bands
        self.width, self.height = width, height
        self.dataset: Any = None
        self.array: np.ndarray | None = None
        shape = (height, width) if bands == 1 else (height, width, bands)
        self.tmp.unlink(missing_ok=True)
        if self.suffix in GEOTIFF_SUFFIXES:
            rasterio = rasterio_module()
            if rasterio is None:
                raise InputError(
                    f"writing GeoTIFF {str(final)!r} needs rasterio, which is not installed: {GEO_HINT}; or write a .npy/.png"
                )
            profile: dict[str, Any] = {
                "driver": "GTiff",
                "width": width,
                "height": height,
                "count": bands,
                "dtype": dtype,
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
                "compress": "deflate",
                "BIGTIFF": "IF_SAFER",
            }
            if nodata is not None:
                profile["nodata"] = nodata
            if like is not None and like.crs is not None:
                profile["crs"] = like.crs
            if like is not None and like.transform is not None:
                from affine import Affine

                profile["transform"] = Affine(*like.transform)
            self.dataset = rasterio.open(self.tmp, "w+", **profile)
        elif self.suffix == ".npy":
            self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=dtype, shape=shape)
        else:
            self.array = np.empty(shape, dtype=dtype)
        for y in range(0, height, _INIT_ROWS):
            rows = min(_INIT_ROWS, height - y)
            self.write(
                Window(0, y, width, rows),
                np.full((rows, width) if bands == 1 else (rows, width, bands), fill, dtype=dtype),
            )

    def write(self, w: Window, data: np.ndarray) -> None:
        if self.dataset is not None:
            from rasterio.windows import Window as RioWindow

            chw = data[np.newaxis] if data.ndim == 2 else data.transpose(2, 0, 1)
            self.dataset.write(chw, window=RioWindow(w.x, w.y, w.width, w.height))
        else:
            assert self.array is not None
            self.array[w.y : w.y + w.height, w.x : w.x + w.width] = data

    def read(self, w: Window) -> np.ndarray:
        if self.dataset is not None:
            from rasterio.windows import Window as RioWindow

            chw = self.dataset.read(window=RioWindow(w.x, w.y, w.width, w.height))
            return chw[0] if self.bands == 1 else chw.transpose(1, 2, 0)
        assert self.array is not None
        return np.array(self.array[w.y : w.y + w.height, w.x : w.x + w.width])

    def close(self) -> None:
        if self.dataset is not None:
            self.dataset.close()
            self.dataset = None
        elif self.suffix == ".npy" and self.array is not None:
            self.array.flush()  # type: ignore[attr-defined]
            del self.array
            self.array = None
        elif self.array is not None:
            from trt_export.infer import transforms as T

            cv2 = T.cv2_module()
            if cv2 is not None:
                if not cv2.imwrite(str(self.tmp), self.array):
                    raise OSError(errno.EIO, f"OpenCV could not write {self.tmp}")
            else:
                pil = T.pil_module()
                pil.fromarray(self.array).save(self.tmp)
            self.array = None

    def commit(self) -> None:
        self.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the partial file is removed either way
            pass
        self.tmp.unlink(missing_ok=True)


class OutputCanvas(LabelCanvas):
    """A :class:`~trt_export.predict.tiling.LabelCanvas` backed by files: labels (uint8, nodata 255) and,
    optionally, class scores (float32, one band per class)."""

    def __init__(
        self,
        labels_path: Path,
        width: int,
        height: int,
        like: RasterInfo | None,
        classes: int | None = None,
        scores_path: Path | None = None,
    ) -> None:
        self.files: list[_File] = []
        try:
            self.label_file = self._add(labels_path, width, height, 1, "uint8", like, INVALID_VALUE, INVALID_VALUE)
            self.score_file = None
            if scores_path is not None and classes is not None:
                self.score_file = self._add(scores_path, width, height, classes, "float32", like, None, 0.0)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise write_error(labels_path, exc) from None
            raise
        self.scores = None  # LabelCanvas's in-memory arrays are not used
        self.labels = None  # type: ignore[assignment]

    def _add(
        self,
        path: Path,
        width: int,
        height: int,
        bands: int,
        dtype: str,
        like: RasterInfo | None,
        nodata: float | None,
        fill: float,
    ) -> _File:
        try:
            file = _File(path, width, height, bands, dtype, like, nodata, fill)
        except BaseException:
            _partial_name(path).unlink(missing_ok=True)
            raise
        self.files.append(file)
        return file

    def read_labels(self, w: Window) -> np.ndarray:
        return self.label_file.read(w)

    def read_scores(self, w: Window) -> np.ndarray | None:
        return None if self.score_file is None else self.score_file.read(w)

    def write(self, w: Window, labels: np.ndarray, scores: np.ndarray | None) -> None:
        self.label_file.write(w, labels)
        if self.score_file is not None and scores is not None:
            self.score_file.write(w, scores.astype(np.float32, copy=False))

    def commit(self) -> list[Path]:
        try:
            for file in self.files:
                file.close()
        except OSError as exc:
            self.abort()
            raise write_error(self.files[0].final, exc) from None
        for file in self.files:
            os.replace(file.tmp, file.final)
        return [file.final for file in self.files]

    def abort(self) -> None:
        for file in self.files:
            file.abort()


def write_error(path: Path, exc: OSError) -> TrtExportError:
    if exc.errno == errno.ENOSPC:
        return TrtExportError(
            f"no space left on the device while writing {str(path)!r}; nothing was written under that name: free space or write elsewhere"
        )
    return TrtExportError(f"cannot write {str(path)!r}: {_first_line(exc)}; nothing was written under that name")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


__all__ = [
    "RasterInfo",
    "RasterReader",
    "ArrayReader",
    "open_raster",
    "check_bands",
    "check_pair",
    "check_output_path",
    "OutputCanvas",
    "write_error",
    "rasterio_module",
    "RASTER_SUFFIXES",
]
