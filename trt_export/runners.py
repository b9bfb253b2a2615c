"""Runners: one small interface over dygraph and Paddle Inference (CPU, oneDNN, GPU, TensorRT).

Modelled on Polygraphy's runner contract: `activate()` / `deactivate()` (or `with runner:`),
`infer(feed)` checked against the runner's own input metadata, `last_inference_time()`.
Outputs are always keyed by the manifest's *logical* output names, so comparisons never depend
on the predictor's format-specific names.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.backends import (
    BackendSettings,
    ConfigPlan,
    TrtConvertPlan,
    apply_plan,
    check_applied,
    plan_config,
    require_backend,
)
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.inputs import TensorSpec, check_feed, image_inputs, npz_inputs, random_inputs
from trt_export.manifest import Manifest, load_manifest
from trt_export.paddle_env import import_paddle, is_verbose
from trt_export.paddlers_files import ModelYml, read_model_yml

log = logging.getLogger(__name__)

# Random INT8 calibration is for timing only; a few batches are enough to get an engine built.
_RANDOM_CALIBRATION_BATCHES = 4
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".npy")

Feed = Mapping[str, np.ndarray]


class Runner(ABC):
    """Activate once, infer many times, deactivate; also a context manager."""

    def __init__(self, name: str, input_specs: Sequence[TensorSpec], output_names: Sequence[str]) -> None:
        self.name = name
        self.input_specs = list(input_specs)
        self.output_names = list(output_names)
        self.is_active = False
        self._last_time: float | None = None

    def activate(self) -> None:
        if self.is_active:
            return
        self._activate()
        self.is_active = True

    def deactivate(self) -> None:
        if not self.is_active:
            return
        try:
            self._deactivate()
        finally:
            self.is_active = False

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def infer(self, feed: Feed) -> dict[str, np.ndarray]:
        """Run one inference; outputs keyed by logical name, already copied to host memory."""
        if not self.is_active:
            raise TrtExportError(f"runner {self.name} is not active; use 'with runner:' or call activate() first")
        check_feed(self.input_specs, feed)
        outputs = self._infer(feed)
        if len(outputs) != len(self.output_names):
            raise TrtExportError(
                f"{self.name} produced {len(outputs)} outputs but the model declares "
                f"{len(self.output_names)}: {self.output_names}"
            )
        return dict(zip(self.output_names, outputs, strict=True))

    def last_inference_time(self) -> float:
        """Seconds (time.perf_counter) of the last `infer`, from input copy to outputs on host."""
        if self._last_time is None:
            raise TrtExportError(f"runner {self.name} has not run an inference yet")
        return self._last_time

    @abstractmethod
    def _activate(self) -> None: ...

    @abstractmethod
    def _deactivate(self) -> None: ...

    @abstractmethod
    def _infer(self, feed: Feed) -> list[np.ndarray]:
        """Outputs in logical order; must set self._last_time."""


# --------------------------------------------------------------------------- dygraph


def flatten_outputs(value: Any) -> list[Any]:
    """Tensors of a forward() result in order: a Tensor, nested lists/tuples, dicts by insertion order."""
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in flatten_outputs(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in flatten_outputs(v)]
    if hasattr(value, "numpy") and hasattr(value, "shape"):
        return [value]
    raise TrtExportError(f"forward() returned a {type(value).__name__}, not a Tensor; cannot map it to an output")


class DygraphRunner(Runner):
    """The reference: the source `paddle.nn.Layer`, eval mode, no grad."""

    def __init__(
        self,
        layer_factory_or_layer: Any | Callable[[], Any],
        input_specs: Sequence[TensorSpec],
        output_names: Sequence[str],
        name: str = "dygraph",
    ) -> None:
        super().__init__(name, input_specs, output_names)
        self._source = layer_factory_or_layer
        self._layer: Any = None

    def _activate(self) -> None:
        paddle = import_paddle()
        layer = self._source
        if not isinstance(layer, paddle.nn.Layer):
            layer = layer()
        if not isinstance(layer, paddle.nn.Layer):
            raise TrtExportError(f"the layer factory returned a {type(layer).__name__}, not a paddle.nn.Layer")
        layer.eval()
        self._layer = layer

    def _deactivate(self) -> None:
        # The caller may still own the layer; we only drop our reference.
        self._layer = None

    def _infer(self, feed: Feed) -> list[np.ndarray]:
        paddle = import_paddle()
        start = time.perf_counter()
        tensors = [paddle.to_tensor(np.ascontiguousarray(feed[spec.name])) for spec in self.input_specs]
        with paddle.no_grad():
            result = self._layer(*tensors)
        # .numpy() copies to host, which also waits for any GPU work.
        arrays = [np.asarray(t.numpy()) for t in flatten_outputs(result)]
        self._last_time = time.perf_counter() - start
        return arrays


# --------------------------------------------------------------------------- Paddle Inference

# Paddle's C++ errors surface as RuntimeError, ValueError, NotImplementedError ("(Unimplemented)"),
# OSError...; runners catch Exception around Paddle calls and translate it here.
# Known Paddle failures -> (exception class, one-line message with the fix).
_KNOWN_FAILURES: tuple[tuple[str, type[TrtExportError], str], ...] = (
    (
        "ConvertPirAttribute2RuntimeAttribute",
        TrtExportError,
        "oneDNN cannot run this PIR .json model: Paddle 3.x fails on bilinear interpolate attributes "
        "(Paddle issue 79749); use --format legacy or --backend paddle-cpu",
    ),
    (
        "please compile with TENSORRT first",
        BackendUnavailable,
        "this Paddle build has no TensorRT (\"To use Paddle-TensorRT, please compile with TENSORRT first\"); "
        "install a TensorRT-enabled paddlepaddle-gpu or use --backend paddle-gpu",
    ),
    (
        "memory_optimize_pass",
        TrtExportError,
        "enable_memory_optim fails with PIR .json models in Paddle 3.x; drop --memory-optim or use --format legacy",
    ),
    (
        "libnvinfer",
        BackendUnavailable,
        "libnvinfer (TensorRT) cannot be loaded; set FLAGS_tensorrt_dir or LD_LIBRARY_PATH to TensorRT's lib dir",
    ),
    (
        "Cannot load cudnn",
        BackendUnavailable,
        "cuDNN cannot be loaded; install the cuDNN this Paddle was built with or fix LD_LIBRARY_PATH",
    ),
)

_PADDLE_ERROR_LINE = re.compile(r"\((?:[A-Z][A-Za-z]+)\)\s+\S.*")


def _paddle_error_line(text: str) -> str:
    """The informative line of a multi-line Paddle error ('(InvalidArgument) ...'), shortened."""
    match = _PADDLE_ERROR_LINE.search(text)
    line = match.group(0) if match else next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return line if len(line) <= 300 else line[:297] + "..."


ONEDNN_PIR_ONLY = (
    "oneDNN cannot run this PIR .json model: Paddle 3.x fails on bilinear interpolate attributes "
    "(Paddle issue 79749), and this export has no legacy format (this Paddle cannot save the network as "
    ".pdmodel); use --backend paddle-cpu"
)


def _advice_for_export(error: TrtExportError, manifest: Any) -> TrtExportError:
    """Known failures whose generic fix does not apply to this export (--format legacy for a PIR-only one)."""
    pir_only = any(str(note).startswith("legacy .pdmodel export is not possible") for note in getattr(manifest, "notes", []))
    if str(error) == _KNOWN_FAILURES[0][2] and pir_only:
        return TrtExportError(ONEDNN_PIR_ONLY)
    return error


def translate_paddle_error(exc: BaseException, doing: str) -> TrtExportError:
    """Turn a Paddle exception into a one-line TrtExportError naming the cause and the fix."""
    if isinstance(exc, TrtExportError):
        return exc
    text = str(exc)
    for needle, cls, message in _KNOWN_FAILURES:
        if needle in text:
            return cls(message)
    return TrtExportError(f"Paddle Inference failed while {doing}: {type(exc).__name__}: {_paddle_error_line(text)}")


class PaddleInferenceRunner(Runner):
    """An exported model on a Paddle Inference predictor configured by `plan_config`.

    `build_seconds` is the wall time from the start of activation to a ready predictor: it
    includes `paddle.tensorrt.convert` (PIR), the shape-collection run and INT8 calibration runs
    (legacy) and the TensorRT engine build.
    """

    def __init__(
        self,
        export_dir: str | Path,
        manifest: Manifest | None,
        settings: BackendSettings,
        model_format: str | None = None,
        calibration_feeds: Sequence[Feed] | None = None,
    ) -> None:
        self.export_dir = Path(export_dir)
        self.manifest = manifest if manifest is not None else load_manifest(export_dir)
        self.model_format = model_format or self.manifest.default_format
        if self.model_format not in self.manifest.formats:
            # manifest.files raises the one-line error naming the formats that exist.
            self.manifest.files(self.model_format)
        super().__init__(
            f"{settings.backend}[{self.model_format}]", self.manifest.inputs, self.manifest.output_names
        )
        self.settings = settings
        self.calibration_feeds = calibration_feeds
        self.plan: ConfigPlan | None = None
        self.build_seconds: float | None = None
        self._predictor: Any = None
        self._input_handles: dict[str, Any] = {}
        self._output_handles: list[Any] = []
        self._tmp_dir: str | None = None

    # -- activation

    def _activate(self) -> None:
        paddle = import_paddle()
        require_backend(self.settings.backend, self.model_format)
        self.manifest.check_files(self.model_format)
        settings = self.settings
        if settings.is_trt and settings.trt_cache_dir is None:
            # Without a cache dir Paddle writes _opt_cache (INT8 tables, engines) into the export
            # dir; keep the export untouched and clean up at deactivate.
            self._tmp_dir = tempfile.mkdtemp(prefix="trt-export-")
            settings = replace(settings, trt_cache_dir=self._tmp_dir)
        elif settings.is_trt:
            # Paddle's engine keys name tensors, not weights ("models with the same structure but
            # different parameters" share a key, tensorrt_subgraph_pass.cc): a kept cache is
            # scoped by the exported program and weights.
            settings = replace(settings, trt_cache_dir=str(Path(settings.trt_cache_dir) / self._export_key()))
        self.plan = plan_config(
            settings,
            self.model_format,
            {spec.name: tuple(spec.shape) for spec in self.input_specs},
            str(paddle.__version__),
            input_dtypes={spec.name: spec.dtype for spec in self.input_specs},
            verbose=is_verbose(),
        )
        for warning in self.plan.warnings:
            log.warning("%s: %s", self.name, warning)
        try:
            start = time.perf_counter()
            model_file, params_file = self.manifest.files(self.model_format)
            if self.plan.convert is not None:
                model_file, params_file = self._convert(self.plan.convert, model_file, params_file)
            if self.plan.calibrate and self.plan.optim_cache_dir:
                # A cached INT8 table or engine would be used as is and the calibration data this
                # run was given ignored; INT8 always starts from an empty cache.
                shutil.rmtree(self.plan.optim_cache_dir, ignore_errors=True)
            if self.plan.shape_collection:
                self._collect_shapes(model_file, params_file)
            if self.plan.calibrate:
                self._calibrate(model_file, params_file)
            self._predictor = self._create_predictor(model_file, params_file)
            self.build_seconds = time.perf_counter() - start
            self._bind_handles()
        except BaseException:
            self._cleanup()
            raise

    def _export_key(self) -> str:
        """Short hash of this format's program file and weights (the manifest's sha256)."""
        model_file, _ = self.manifest.files(self.model_format)
        digest = hashlib.sha256(model_file.read_bytes())
        digest.update(self.manifest.formats[self.model_format].params_sha256.encode())
        return f"model_{digest.hexdigest()[:16]}"

    def _create_predictor(self, model_file: Path, params_file: Path) -> Any:
        paddle = import_paddle()
        assert self.plan is not None
        try:
            config = paddle.inference.Config(str(model_file), str(params_file))
            apply_plan(config, self.plan)
            check_applied(config, self.plan)
            return paddle.inference.create_predictor(config)
        except TrtExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise translate_paddle_error(exc, f"creating the {self.name} predictor") from exc

    def _collect_shapes(self, model_file: Path, params_file: Path) -> None:
        """Legacy TensorRT: one run of a shape-collecting predictor writes the tensors' shape ranges."""
        paddle = import_paddle()
        assert self.plan is not None and self.plan.shape_range_info_path is not None
        path = Path(self.plan.shape_range_info_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        feed = random_inputs(self.input_specs, seed=0, model_yml=_export_model_yml(self.export_dir))
        try:
            config = paddle.inference.Config(str(model_file), str(params_file))
            apply_plan(config, self.plan, self.plan.shape_collection)
            predictor = paddle.inference.create_predictor(config)
            for spec in self.input_specs:
                handle = predictor.get_input_handle(spec.name)
                array = np.ascontiguousarray(feed[spec.name])
                handle.reshape(list(array.shape))
                handle.copy_from_cpu(array)
            predictor.run()
        except TrtExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise translate_paddle_error(exc, f"collecting tensor shapes for {self.name}") from exc
        # The shape file is written when the collecting predictor is destroyed.
        del handle, predictor
        gc.collect()
        if not path.is_file() or path.stat().st_size == 0:
            raise TrtExportError(f"{self.name}: the shape-collection run wrote no {path.name} in {path.parent}")

    def _calibration_feeds(self) -> list[Feed]:
        if self.calibration_feeds is not None:
            return list(self.calibration_feeds)
        assert self.plan is not None
        source = self.plan.calibration_source
        if source is None:
            return []
        model_yml = _export_model_yml(self.export_dir)
        if source == "random":
            return [random_inputs(self.input_specs, seed=seed, model_yml=model_yml) for seed in range(_RANDOM_CALIBRATION_BATCHES)]
        return calibration_feeds(self.input_specs, source, model_yml)

    def _calibrate(self, model_file: Path, params_file: Path) -> None:
        """Legacy INT8: run a throw-away predictor on calibration data to write the table."""
        feeds = self._calibration_feeds()
        if not feeds:
            raise TrtExportError("trt-int8 calibration got no inputs; check --calibration")
        predictor = self._create_predictor(model_file, params_file)
        for feed in feeds:
            check_feed(self.input_specs, feed)
            for spec in self.input_specs:
                handle = predictor.get_input_handle(spec.name)
                array = np.ascontiguousarray(feed[spec.name])
                handle.reshape(list(array.shape))
                handle.copy_from_cpu(array)
            try:
                predictor.run()
            except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
                raise translate_paddle_error(exc, f"calibrating {self.name}") from exc
        # Paddle writes the calibration table when the calibrating predictor is destroyed.
        del predictor
        gc.collect()

    def _convert(self, plan: TrtConvertPlan, model_file: Path, params_file: Path) -> tuple[Path, Path]:
        """PIR path: paddle.tensorrt.convert writes a program with TensorRT engine ops."""
        try:
            from paddle.tensorrt.export import Input, PrecisionMode, TensorRTConfig, convert
        except Exception as exc:  # noqa: BLE001 - any import failure means no PIR TensorRT here
            raise BackendUnavailable(
                f"paddle.tensorrt cannot be imported ({type(exc).__name__}: {exc}); install the tensorrt "
                "Python package matching Paddle's TensorRT, or use --format legacy"
            ) from exc
        # min = opt = max = the fixed shape. convert() feeds each Input by its name (feed names, not
        # positions) to warmup runs that only collect shapes; INT8 does not calibrate from them.
        trt_inputs = []
        for spec in plan.inputs:
            shape = tuple(spec.shape)
            trt_inputs.append(
                Input(min_input_shape=shape, optim_input_shape=shape, max_input_shape=shape, input_data_type=spec.dtype, name=spec.name)
            )
        kwargs = plan.config_kwargs()
        if kwargs.get("save_model_dir") is None:
            if self._tmp_dir is None:
                self._tmp_dir = tempfile.mkdtemp(prefix="trt-export-")
            kwargs["save_model_dir"] = str(Path(self._tmp_dir) / "pir_trt" / "model")
        Path(kwargs["save_model_dir"]).parent.mkdir(parents=True, exist_ok=True)
        kwargs = _accepted_kwargs(TensorRTConfig, kwargs)
        # convert() hands a path naming an existing file straight to paddle.static.load_inference_model,
        # which in PIR mode always appends ".json" (python/paddle/static/pir_io.py,
        # load_inference_model_pir), so "model.json" would be read as "model.json.json". Paddle's own
        # tests (test/tensorrt/test_export.py) pass the prefix; convert then finds <prefix>.json and
        # always reads the weights from <prefix>.pdiparams.
        model_prefix = model_file.with_suffix("")
        if params_file != model_prefix.with_suffix(".pdiparams"):
            raise TrtExportError(
                f"paddle.tensorrt.convert reads the weights from {model_prefix.name}.pdiparams next to "
                f"{model_file.name}, but the manifest names {params_file.name}; re-export the model"
            )
        try:
            config = TensorRTConfig(inputs=trt_inputs, precision_mode=PrecisionMode[plan.precision], **kwargs)
            convert(str(model_prefix), config)
        except TrtExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise translate_paddle_error(exc, "converting with paddle.tensorrt.convert") from exc
        prefix = Path(kwargs["save_model_dir"])
        out_model, out_params = prefix.with_name(prefix.name + ".json"), prefix.with_name(prefix.name + ".pdiparams")
        if not out_model.is_file() or not out_params.is_file():
            raise TrtExportError(f"paddle.tensorrt.convert reported success but wrote no {out_model.name}/{out_params.name} in {prefix.parent}")
        return out_model, out_params

    def _bind_handles(self) -> None:
        predictor = self._predictor
        have_inputs = list(predictor.get_input_names())
        missing = [s.name for s in self.input_specs if s.name not in have_inputs]
        if missing:
            raise TrtExportError(f"{self.name}: the predictor has inputs {have_inputs}, the manifest expects {missing}; re-export the model")
        self._input_handles = {s.name: predictor.get_input_handle(s.name) for s in self.input_specs}
        have_outputs = list(predictor.get_output_names())
        expected = self.manifest.formats[self.model_format].output_names
        if all(name in have_outputs for name in expected):
            names = list(expected)
        elif len(have_outputs) == len(expected):
            # paddle.tensorrt.convert re-saves the program and renames the fetch targets; their
            # order is the original fetch order, so map by position.
            names = have_outputs
        else:
            raise TrtExportError(
                f"{self.name}: the predictor has outputs {have_outputs}, the manifest expects {expected}; re-export the model"
            )
        self._output_handles = [predictor.get_output_handle(n) for n in names]

    def _deactivate(self) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        self._input_handles = {}
        self._output_handles = []
        self._predictor = None
        gc.collect()
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    # -- inference

    def _infer(self, feed: Feed) -> list[np.ndarray]:
        start = time.perf_counter()
        for spec in self.input_specs:
            array = np.ascontiguousarray(feed[spec.name])
            handle = self._input_handles[spec.name]
            handle.reshape(list(array.shape))
            handle.copy_from_cpu(array)
        self._run()
        # copy_to_cpu waits for the GPU, so the time covers the whole inference.
        outputs = [handle.copy_to_cpu() for handle in self._output_handles]
        self._last_time = time.perf_counter() - start
        return outputs

    def run_raw(self) -> None:
        """A bare predictor.run() on the inputs already copied by the last infer (bench overhead)."""
        if not self.is_active:
            raise TrtExportError(f"runner {self.name} is not active")
        if self._last_time is None:
            raise TrtExportError(f"runner {self.name}: call infer() once before run_raw() so inputs are set")
        self._run()

    def fetch_outputs(self) -> list[np.ndarray]:
        """Copy the last run's outputs to host; this waits for GPU work, so a timed step ends here."""
        return [handle.copy_to_cpu() for handle in self._output_handles]

    def _run(self) -> None:
        try:
            self._predictor.run()
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise _advice_for_export(translate_paddle_error(exc, f"running {self.name}"), self.manifest) from exc


def _accepted_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop keyword arguments an older TensorRTConfig does not take (its signature varies by release)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    dropped = sorted(k for k in kwargs if k not in params)
    if dropped:
        log.warning("this Paddle's TensorRTConfig ignores %s", ", ".join(dropped))
    return {k: v for k, v in kwargs.items() if k in params}


def _export_model_yml(export_dir: Path) -> ModelYml | None:
    """The export's model.yml (its Normalize shapes calibration data), if it has one."""
    if not (export_dir / "model.yml").is_file():
        return None
    return read_model_yml(export_dir)


def calibration_feeds(specs: Sequence[TensorSpec], source: str | Path, model_yml: ModelYml | None = None) -> list[Feed]:
    """Calibration batches from an .npz, one image file, or a directory of images.

    A directory is read in sorted order and cut into as many full batches as it holds; files
    left over after the last full batch are not used (a partial batch has the wrong shape).
    """
    path = Path(source)
    if path.suffix.lower() == ".npz":
        return [npz_inputs(specs, path)]
    if path.is_file():
        return [image_inputs(specs, [path], model_yml)]
    if not path.is_dir():
        raise TrtExportError(f"calibration data {str(path)!r} does not exist; give an .npz, an image or a directory of images")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    per_batch = int(specs[0].shape[0]) * len(specs) if specs else 0
    if per_batch == 0 or len(files) < per_batch:
        raise TrtExportError(
            f"calibration dir {str(path)!r} has {len(files)} image(s); one batch needs {per_batch}"
        )
    return [
        image_inputs(specs, files[i : i + per_batch], model_yml)
        for i in range(0, len(files) - per_batch + 1, per_batch)
    ]
