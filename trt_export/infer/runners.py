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
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trt_export.env.paddle_import import import_paddle, is_verbose
from trt_export.errors import TrtExportError
from trt_export.export.manifest import Manifest, load_manifest
from trt_export.infer.backends import (
    BackendSettings,
    ConfigPlan,
    TrtConvertPlan,
    plan_config,
    require_backend,
)
from trt_export.infer.inputs import TensorSpec, check_feed, image_inputs, npz_inputs, random_inputs
from trt_export.infer.paddle_errors import advice_for_export, translate_paddle_error
from trt_export.infer.predictor import create_predictor, feed, fetch, input_handles, output_handles
from trt_export.model.paddlers_files import ModelYml, read_model_yml

if TYPE_CHECKING:
    from trt_export.infer.trt_coverage import TrtCoverage

log = logging.getLogger(__name__)

# The legacy predictor saves its optimised program here (enable_save_optim_model), in the optim cache dir.
OPTIMIZED_PROGRAM = "_optimized.pdmodel"

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


class ExportRunner(Runner):
    """An export (dir + manifest, one of its formats) under a backend's settings, whose bench step
    splits in two: `run_raw` (run on the inputs the last `infer` set) and `fetch_outputs`."""

    def __init__(
        self, export_dir: str | Path, manifest: Manifest | None, settings: BackendSettings, model_format: str | None
    ) -> None:
        self.export_dir = Path(export_dir)
        self.manifest = manifest if manifest is not None else load_manifest(export_dir)
        self.model_format = model_format or self.manifest.default_format
        if self.model_format not in self.manifest.formats:
            # manifest.files raises the one-line error naming the formats that exist.
            self.manifest.files(self.model_format)
        super().__init__(f"{settings.backend}[{self.model_format}]", self.manifest.inputs, self.manifest.output_names)
        self.settings = settings

    def run_raw(self) -> None:
        """A bare run on the inputs already set by the last infer (the bench's timed step)."""
        if not self.is_active:
            raise TrtExportError(f"runner {self.name} is not active")
        if not self._inputs_set():
            raise TrtExportError(f"runner {self.name}: call infer() once before run_raw() so inputs are set")
        self._run()

    def timed_step(self) -> None:
        """One bench step: run on the inputs the last infer set, then copy the outputs to host."""
        self.run_raw()
        self.fetch_outputs()

    @abstractmethod
    def fetch_outputs(self) -> list[np.ndarray]:
        """The last run's outputs on the host; a timed step ends here."""

    @abstractmethod
    def _inputs_set(self) -> bool:
        """Whether an infer has set the inputs run_raw runs on."""

    @abstractmethod
    def _run(self) -> None:
        """One run of the model on the inputs already set."""


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


class PaddleInferenceRunner(ExportRunner):
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
        allow_no_engine: bool = False,
    ) -> None:
        super().__init__(export_dir, manifest, settings, model_format)
        # debug-precision keeps op types out until possibly nothing is left for TensorRT: a
        # predictor without engines is then a valid answer, not a mislabelled measurement.
        self.allow_no_engine = allow_no_engine
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
        if settings.is_trt:
            from trt_export.env.probes import probe_environment
            from trt_export.infer.trt_preflight import preflight

            # Everything that would fail only after minutes of engine building is refused now.
            preflight(settings, self.model_format, probe_environment())
        if settings.is_trt and settings.trt_cache_dir is None:
            # A private cache (shape ranges, INT8 tables, the optimised program, engines) removed
            # at deactivate; nothing is ever written into the export dir.
            self._tmp_dir = tempfile.mkdtemp(prefix="trt-export-")
            settings = replace(settings, trt_cache_dir=self._tmp_dir)
        elif settings.is_trt and settings.trt_cache_dir is not None:
            # Paddle's engine keys name tensors, not weights ("models with the same structure but
            # different parameters" share a key, tensorrt_subgraph_pass.cc), nor the TensorRT
            # version, GPU or workspace: a kept cache is scoped by all of them.
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
        # Set for this runner's builds and runs, restored at deactivate (a later runner in the
        # same process, e.g. trt-fp16 after trt-fp32, must not inherit TF32 being off).
        self._saved_env = {name: os.environ.get(name) for name, _ in self.plan.env}
        for name, value in self.plan.env:
            os.environ[name] = value
        self.trt_coverage: TrtCoverage | None = None
        self.trt_warnings: list[str] = []
        try:
            start = time.perf_counter()
            model_file, params_file = self.manifest.files(self.model_format)
            original_model = model_file
            cache_hit: bool | None = None
            if self.plan.convert is not None:
                model_file, params_file, cache_hit = self._convert(self.plan.convert, model_file, params_file)
            if self.plan.model_link_dir is not None:
                model_file, params_file = self._link_model(model_file, params_file)
            optim_dir = Path(self.plan.optim_cache_dir) if self.plan.optim_cache_dir else None
            if optim_dir is not None:
                if self.plan.calibrate:
                    # A cached INT8 table or engine would be used as is and the calibration data
                    # this run was given ignored; INT8 always starts from an empty cache.
                    shutil.rmtree(optim_dir, ignore_errors=True)
                # Paddle's MKDIR creates one level only: make the whole path first.
                optim_dir.mkdir(parents=True, exist_ok=True)
                cache_hit = settings.trt_use_static and any(optim_dir.glob("trt_serialized_*"))
                (optim_dir / OPTIMIZED_PROGRAM).unlink(missing_ok=True)
            if self.plan.shape_collection:
                self._collect_shapes(model_file, params_file)
                _release_gpu_cache()
            if self.plan.calibrate:
                self._calibrate(model_file, params_file)
                _release_gpu_cache()
            self._predictor = self._create_predictor(model_file, params_file)
            self.build_seconds = time.perf_counter() - start
            if settings.is_trt:
                self._judge_coverage(model_file, original_model, cache_hit)
            self._bind_handles()
        except BaseException:
            self._cleanup()
            raise

    def _link_model(self, model_file: Path, params_file: Path) -> tuple[Path, Path]:
        """Legacy TensorRT: the export's files seen from the cache dir (symlinks, else copies).

        Paddle derives where the calibrating predictor writes its INT8 table from the model file's
        directory (GetDirRoot), and where the engine pass reads it from optim_cache_dir; loading
        the model through this dir makes both the same place, inside the cache.
        """
        assert self.plan is not None and self.plan.model_link_dir is not None
        link_dir = Path(self.plan.model_link_dir)
        link_dir.mkdir(parents=True, exist_ok=True)
        linked = []
        for source, name in ((model_file, "model.pdmodel"), (params_file, "model.pdiparams")):
            target = link_dir / name
            if target.is_symlink() or target.exists():
                target.unlink()
            try:
                target.symlink_to(source.resolve())
            except OSError:
                shutil.copyfile(source, target)
            linked.append(target)
        return linked[0], linked[1]

    def _judge_coverage(self, model_file: Path, original_model: Path, cache_hit: bool | None) -> None:
        """Read what really runs in TensorRT; refuse a run with no engine (or INT8 without its table)."""
        from trt_export.infer.trt_coverage import (
            NoTensorRTEngine,
            judge_coverage,
            pir_coverage_files,
        )
        from trt_export.infer.trt_coverage_legacy import legacy_coverage_file

        assert self.plan is not None
        if self.plan.trt_path == "legacy":
            assert self.plan.optim_cache_dir is not None
            optim_dir = Path(self.plan.optim_cache_dir)
            coverage = legacy_coverage_file(optim_dir / OPTIMIZED_PROGRAM)
            # The optimised weights are a full copy of the model's, needed by nobody.
            (optim_dir / "_optimized.pdiparams").unlink(missing_ok=True)
        else:
            coverage = pir_coverage_files(model_file, original_model)
        self.trt_coverage = replace(coverage, engine_cache_hit=cache_hit)
        try:
            self.trt_warnings = judge_coverage(
                self.trt_coverage,
                self.settings.backend,
                self.settings.trt_min_subgraph_size,
                self.settings.trt_min_coverage,
                self.settings.disable_ops,
            )
        except NoTensorRTEngine as exc:
            if not (self.allow_no_engine and self.trt_coverage.engines == 0):
                raise
            self.trt_warnings = [str(exc)]
        for warning in self.trt_warnings:
            log.warning("%s: %s", self.name, warning)

    def _export_key(self) -> str:
        """Short hash of this format's program and weights and of what else changes an engine."""
        from trt_export.env.probes import probe_environment

        model_file, _ = self.manifest.files(self.model_format)
        digest = hashlib.sha256(model_file.read_bytes())
        digest.update(self.manifest.formats[self.model_format].params_sha256.encode())
        probe = probe_environment()
        s = self.settings
        identity = [
            ".".join(map(str, probe.trt_runtime_version)),
            probe.tensorrt_python_version or "",
            probe.gpu_names[s.device_id] if s.device_id < len(probe.gpu_names) else "",
            str(s.trt_workspace_bytes),
            str(s.trt_min_subgraph_size),
            ",".join(s.disable_ops),
            ",".join(s.ops_run_float),
        ]
        digest.update("|".join(identity).encode())
        return f"model_{digest.hexdigest()[:16]}"

    def _create_predictor(self, model_file: Path, params_file: Path) -> Any:
        assert self.plan is not None
        try:
            return create_predictor(model_file, params_file, self.plan)
        except TrtExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise translate_paddle_error(exc, f"creating the {self.name} predictor") from exc

    def _collect_shapes(self, model_file: Path, params_file: Path) -> None:
        """Legacy TensorRT: one run of a shape-collecting predictor writes the tensors' shape ranges."""
        assert self.plan is not None and self.plan.shape_range_info_path is not None
        path = Path(self.plan.shape_range_info_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        arrays = random_inputs(self.input_specs, seed=0, model_yml=_export_model_yml(self.export_dir))
        try:
            predictor = create_predictor(model_file, params_file, self.plan, self.plan.shape_collection, check=False)
            feed(input_handles(predictor, [spec.name for spec in self.input_specs]), arrays)
            predictor.run()
        except TrtExportError:
            raise
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise translate_paddle_error(exc, f"collecting tensor shapes for {self.name}") from exc
        # The shape file is written when the collecting predictor is destroyed.
        del predictor
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
            return [
                random_inputs(self.input_specs, seed=seed, model_yml=model_yml)
                for seed in range(_RANDOM_CALIBRATION_BATCHES)
            ]
        return calibration_feeds(self.input_specs, source, model_yml)

    def _calibrate(self, model_file: Path, params_file: Path) -> None:
        """Legacy INT8: run a throw-away predictor on calibration data to write the table."""
        feeds = self._calibration_feeds()
        if not feeds:
            raise TrtExportError("trt-int8 calibration got no inputs; check --calibration")
        predictor = self._create_predictor(model_file, params_file)
        for batch in feeds:
            check_feed(self.input_specs, batch)
            feed(input_handles(predictor, [spec.name for spec in self.input_specs]), batch)
            try:
                predictor.run()
            except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
                raise translate_paddle_error(exc, f"calibrating {self.name}") from exc
        # Paddle writes the calibration table when the calibrating predictor is destroyed.
        del predictor
        gc.collect()
        assert self.plan is not None and self.plan.optim_cache_dir is not None
        tables = [p for p in Path(self.plan.optim_cache_dir).glob("trt_calib_*") if p.stat().st_size > 0]
        if not tables:
            from trt_export.infer.trt_coverage import NoTensorRTEngine

            raise NoTensorRTEngine(
                f"{self.name}: INT8 calibration wrote no calibration table (trt_calib_*) in {self.plan.optim_cache_dir}; "
                "without it TensorRT calibrates again and runs fp32. Check that the model has TensorRT subgraphs "
                "(--trt-min-subgraph-size) and that --calibration holds data for this input shape"
            )
        self.calibration_tables = [str(p) for p in tables]

    def _convert(self, plan: TrtConvertPlan, model_file: Path, params_file: Path) -> tuple[Path, Path, bool]:
        """PIR path: paddle.tensorrt.convert (in a child process) writes a program with TensorRT engine
        ops; with a cache dir an earlier conversion with the same key is reused. Returns the converted
        files and whether they came from the cache."""
        from trt_export.infer.trt_convert import cached_conversion, convert_in_subprocess, mark_done

        if plan.save_model_prefix is not None:
            prefix = Path(plan.save_model_prefix)
            # The prefix is already inside the cache scope of _export_key (program, weights, TensorRT,
            # GPU); the plan adds precision, shape, workspace and the ops kept out or in fp32.
            key = hashlib.sha256(repr(plan).encode()).hexdigest()
            cached = cached_conversion(prefix, key)
            if cached is not None:
                return cached[0], cached[1], True
        else:
            if self._tmp_dir is None:
                self._tmp_dir = tempfile.mkdtemp(prefix="trt-export-")
            prefix = Path(self._tmp_dir) / "pir_trt" / "model"
            key = ""
        out_model, out_params = convert_in_subprocess(plan, model_file, params_file, prefix)
        if key:
            mark_done(prefix, key)
        return out_model, out_params, False

    def _bind_handles(self) -> None:
        predictor = self._predictor
        have_inputs = list(predictor.get_input_names())
        missing = [s.name for s in self.input_specs if s.name not in have_inputs]
        if missing:
            raise TrtExportError(
                f"{self.name}: the predictor has inputs {have_inputs}, the manifest expects {missing}; re-export the model"
            )
        self._input_handles = input_handles(predictor, [s.name for s in self.input_specs])
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
        self._output_handles = output_handles(predictor, names)

    def _deactivate(self) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        for name, value in getattr(self, "_saved_env", {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}
        self._input_handles = {}
        self._output_handles = []
        self._predictor = None
        gc.collect()
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    # -- inference

    def _infer(self, arrays: Feed) -> list[np.ndarray]:
        start = time.perf_counter()
        feed(self._input_handles, arrays)
        self._run()
        # copy_to_cpu waits for the GPU, so the time covers the whole inference.
        outputs = fetch(self._output_handles)
        self._last_time = time.perf_counter() - start
        return outputs

    def _inputs_set(self) -> bool:
        return self._last_time is not None

    def fetch_outputs(self) -> list[np.ndarray]:
        """Copy the last run's outputs to host; this waits for GPU work, so a timed step ends here."""
        return fetch(self._output_handles)

    def _run(self) -> None:
        try:
            self._predictor.run()
        except Exception as exc:  # noqa: BLE001 - Paddle raises many types; all become one line
            raise advice_for_export(translate_paddle_error(exc, f"running {self.name}"), self.manifest) from exc


def _release_gpu_cache() -> None:
    """Give back device memory a throw-away predictor left in Paddle's allocator cache, so the
    measured predictor's memory is its own."""
    paddle = import_paddle()
    if paddle.is_compiled_with_cuda():
        try:
            paddle.device.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - a cache that cannot be emptied only costs accuracy
            pass


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
        raise TrtExportError(
            f"calibration data {str(path)!r} does not exist; give an .npz, an image or a directory of images"
        )
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    per_batch = int(specs[0].shape[0]) * len(specs) if specs else 0
    if per_batch == 0 or len(files) < per_batch:
        raise TrtExportError(f"calibration dir {str(path)!r} has {len(files)} image(s); one batch needs {per_batch}")
    return [
        image_inputs(specs, files[i : i + per_batch], model_yml)
        for i in range(0, len(files) - per_batch + 1, per_batch)
    ]
