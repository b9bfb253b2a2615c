"""Checks that refuse a TensorRT run before any engine is built (pure functions of a probe).

Each failure is one line naming the problem and the fix (exit 2): an engine build takes minutes,
and these mistakes otherwise surface after it, deep in Paddle or TensorRT, or not at all:

- PIR: the Python ``tensorrt`` package builds the engines, Paddle's libnvinfer runs them. A
  serialized engine only deserialises in the TensorRT version that built it, so the two must be the
  same major.minor (Paddle issue 74097 for the converters' own version demands).
- PIR: ``paddle.tensorrt`` loads ``libnvinfer_plugin.so`` by that unversioned name, which pip's
  TensorRT wheels (``tensorrt_libs``: ``libnvinfer_plugin.so.10`` only) do not ship.
- A ``--trt-cache-dir`` that cannot be created or written: Paddle's MKDIR makes one level only and
  fails in the middle of building (or, for INT8 tables, aborts inside a destructor).
- Legacy INT8 without calibration data, or with calibration data that does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from trt_export.env.probes import EnvironmentProbe, version_or_none
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import BackendSettings, resolve_trt_path


def _major_minor(version: str | None) -> tuple[int, int] | None:
    if not version:
        return None
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None


def writable_dir_problem(path: str | os.PathLike[str]) -> str | None:
    """Why `path` cannot be used as a directory we create and write into, or None."""
    target = Path(path)
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{str(probe)!r} is a file" if probe == target else f"{str(probe)!r} (on its path) is a file"
    if not os.access(probe, os.W_OK | os.X_OK):
        return (
            f"{str(probe)!r} is not writable"
            if probe == target
            else f"it cannot be created: {str(probe)!r} is not writable"
        )
    return None


def preflight(settings: BackendSettings, model_format: str | None, probe: EnvironmentProbe) -> None:
    """Raise a one-line TrtExportError for a TensorRT run that cannot succeed; no-op otherwise.

    ``model_format`` None (bench with --format auto, before the export decided): the checks that
    depend on the TensorRT path run for the path --trt-path names, or not at all.
    """
    if not settings.is_trt:
        return
    if model_format is None:
        trt_path = settings.trt_path if settings.trt_path != "auto" else None
    else:
        trt_path = resolve_trt_path(settings.trt_path, model_format, probe.paddle_version or "3.0")
    if settings.trt_cache_dir:
        problem = writable_dir_problem(settings.trt_cache_dir)
        if problem:
            raise TrtExportError(
                f"--trt-cache-dir {settings.trt_cache_dir!r} cannot hold TensorRT engines: {problem}; give a writable directory"
            )
    if trt_path in ("legacy", None) and settings.backend == "trt-int8":
        if trt_path == "legacy" and not settings.calibration and not settings.allow_random_calibration:
            raise TrtExportError(
                "trt-int8 needs calibration data: give --calibration with real images or an .npz of preprocessed "
                "inputs, or --allow-random-calibration to time INT8 only (its accuracy is then meaningless)"
            )
        if settings.calibration and not Path(settings.calibration).exists():
            raise TrtExportError(
                f"--calibration {settings.calibration!r} does not exist; give a directory of images, one image or an .npz"
            )
    if trt_path == "pir":
        runtime = version_or_none(probe.trt_runtime_version)
        python_trt = probe.tensorrt_python_version
        if not python_trt:
            raise BackendUnavailable(
                "the PIR TensorRT path builds engines with the Python tensorrt package, which is not installed; "
                f"pip install 'tensorrt=={runtime}' (Paddle's runtime TensorRT) or use --format legacy"
            )
        if runtime and _major_minor(python_trt) != _major_minor(runtime):
            raise BackendUnavailable(
                f"the Python tensorrt package is {python_trt} but Paddle runs TensorRT {runtime}: engines built by one "
                f"do not deserialise in the other; pip install 'tensorrt=={runtime}' or point LD_LIBRARY_PATH at "
                f"TensorRT {python_trt}'s libnvinfer"
            )
        if not probe.libnvinfer_plugin:
            found = probe.libnvinfer_plugin_error or "not found"
            raise BackendUnavailable(
                f"paddle.tensorrt loads 'libnvinfer_plugin.so' by that unversioned name and it cannot be loaded ({found}); "
                "pip's TensorRT ships only libnvinfer_plugin.so.N: create a libnvinfer_plugin.so symlink to it in a "
                "directory on LD_LIBRARY_PATH"
            )
