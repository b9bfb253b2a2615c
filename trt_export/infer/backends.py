"""Backends as data: settings -> the exact Paddle Inference Config calls, and availability.

Nothing here imports Paddle at module level. `plan_config` is a pure function, so every backend
(including the TensorRT ones that cannot run on a CPU machine) is tested as a list of calls;
`apply_plan` is the only function that touches a real `paddle.inference.Config`. Availability is
split the same way: `env/probes.py` reads the machine into an `EnvironmentProbe`, and
`decide_availability` is a pure function of that probe.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trt_export.env.probes import EnvironmentProbe, onnx_probe, probe_environment, version_text
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backend_names import (  # the vocabulary's owner (also re-exported to the Config side's callers)
    ALL_BACKENDS,
    BACKENDS,
    CPU_BACKENDS,
    MODEL_FORMATS,
    ONNX_BACKENDS,
    ONNX_CPU_BACKENDS,
    TRT_BACKENDS,
    TRT_PATHS,
    Backend,
)

# Names of members of paddle.inference.PrecisionType (legacy engine) ...
_LEGACY_PRECISION: dict[str, str] = {Backend.TRT_FP32: "Float32", Backend.TRT_FP16: "Half", Backend.TRT_INT8: "Int8"}
# ... and of paddle.tensorrt.PrecisionMode (PIR convert). Kept as strings so a plan is plain data.
_PIR_PRECISION: dict[str, str] = {Backend.TRT_FP32: "FP32", Backend.TRT_FP16: "FP16", Backend.TRT_INT8: "INT8"}

RANDOM_CALIBRATION_WARNING = "random calibration: timing only, accuracy meaningless"

PIR_INT8_WARNING = (
    "PIR TensorRT INT8 has no calibration: paddle.tensorrt.convert only sets the INT8 flag and takes "
    "scales from quantize ops already in the program (a QAT/PTQ-quantized model); a float model gets no "
    "INT8 layers and TensorRT builds them in FP32. Use --format legacy for calibrated INT8"
)

ONEDNN_PIR_WARNING = (
    "paddle-onednn with a PIR .json model: Paddle 3.x fails at run() on any bilinear interpolate "
    "(ConvertPirAttribute2RuntimeAttribute, Paddle issue 79749); if it does, use --format legacy "
    "or --backend paddle-cpu"
)


# Defaults of BackendSettings, read by the CLI's flags.
DEFAULT_GPU_MEMORY_MB = 256
DEFAULT_TRT_WORKSPACE_MB = 1024
DEFAULT_TRT_MIN_SUBGRAPH_SIZE = 3
DEFAULT_TRT_MIN_COVERAGE = 0.8
DEFAULT_TRT_PATH = "auto"


@dataclass(frozen=True)
class BackendSettings:
    """Everything that decides how a predictor is configured; plain, hashable data."""

    backend: str
    cpu_threads: int = 1
    ir_optim: bool = True
    memory_optim: bool = False
    gpu_memory_mb: int = DEFAULT_GPU_MEMORY_MB
    device_id: int = 0
    trt_workspace_bytes: int = DEFAULT_TRT_WORKSPACE_MB << 20
    trt_min_subgraph_size: int = DEFAULT_TRT_MIN_SUBGRAPH_SIZE
    trt_use_static: bool = False
    trt_cache_dir: str | None = None
    trt_path: str = DEFAULT_TRT_PATH
    calibration: str | None = None
    allow_random_calibration: bool = False
    disable_ops: tuple[str, ...] = ()
    # PIR only: op types TensorRT builds in fp32 inside an fp16/int8 engine (TensorRTConfig.ops_run_float).
    ops_run_float: tuple[str, ...] = ()
    # A trt-* run with less of its compute ops inside engines than this warns (trt_coverage).
    trt_min_coverage: float = DEFAULT_TRT_MIN_COVERAGE
    # trt-fp32: TensorRT enables TF32 by default on Ampere and later, whose 10-bit mantissas miss
    # fp32 tolerances; unless allowed, NVIDIA_TF32_OVERRIDE=0 is set for the engine build.
    trt_allow_tf32: bool = False

    def __post_init__(self) -> None:
        if self.backend not in ALL_BACKENDS:
            raise TrtExportError(f"unknown backend {self.backend!r}; choose one of: {', '.join(ALL_BACKENDS)}")
        if self.trt_path not in TRT_PATHS:
            raise TrtExportError(f"unknown TensorRT path {self.trt_path!r}; choose one of: {', '.join(TRT_PATHS)}")
        # Named as the CLI flag a user typed, with the settings field for Python callers.
        flags = {
            "cpu_threads": "--threads",
            "gpu_memory_mb": "--gpu-memory-mb",
            "trt_workspace_bytes": "--trt-workspace-mb",
            "trt_min_subgraph_size": "--trt-min-subgraph-size",
        }
        for name, flag in flags.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TrtExportError(f"{flag} ({name}) must be a positive integer, got {value!r}")
        if not isinstance(self.device_id, int) or self.device_id < 0:
            raise TrtExportError(f"device_id must be a non-negative integer, got {self.device_id!r}")
        # A list would make the frozen dataclass unhashable and plans order-unstable.
        object.__setattr__(self, "disable_ops", tuple(self.disable_ops))
        object.__setattr__(self, "ops_run_float", tuple(self.ops_run_float))
        if not isinstance(self.trt_min_coverage, (int, float)) or not 0.0 <= float(self.trt_min_coverage) <= 1.0:
            raise TrtExportError(
                f"--trt-min-coverage (trt_min_coverage) must be between 0 and 1, got {self.trt_min_coverage!r}"
            )

    @property
    def is_trt(self) -> bool:
        return self.backend in TRT_BACKENDS

    @property
    def uses_gpu(self) -> bool:
        return self.backend not in CPU_BACKENDS + ONNX_CPU_BACKENDS

    @property
    def is_onnx(self) -> bool:
        return self.backend in ONNX_BACKENDS


@dataclass(frozen=True)
class Precision:
    """A `paddle.inference.PrecisionType` member by name, resolved only in `apply_plan`."""

    name: str


@dataclass(frozen=True)
class ConfigCall:
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.method}({', '.join(parts)})"


@dataclass(frozen=True)
class TrtInputPlan:
    """One `paddle.tensorrt.Input`: min = opt = max = the fixed shape."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class TrtConvertPlan:
    """What `paddle.tensorrt.convert` must do before the Config is created (PIR path).

    `save_model_prefix` is where convert writes `<prefix>.json` / `<prefix>.pdiparams`; None means
    the runner picks a temporary location.
    """

    inputs: tuple[TrtInputPlan, ...]
    precision: str
    workspace_size: int
    min_subgraph_size: int
    save_model_prefix: str | None
    disable_ops: tuple[str, ...] = ()
    ops_run_float: tuple[str, ...] = ()

    def config_kwargs(self) -> dict[str, Any]:
        """`TensorRTConfig` keyword arguments except `inputs` and `precision_mode` (both objects)."""
        kwargs: dict[str, Any] = {
            "min_subgraph_size": self.min_subgraph_size,
            "save_model_dir": self.save_model_prefix,
            "workspace_size": self.workspace_size,
        }
        if self.disable_ops:
            kwargs["disable_ops"] = list(self.disable_ops)
        if self.ops_run_float:
            kwargs["ops_run_float"] = list(self.ops_run_float)
        return kwargs


@dataclass(frozen=True)
class ConfigPlan:
    backend: str
    model_format: str
    trt_path: str | None
    calls: tuple[ConfigCall, ...]
    convert: TrtConvertPlan | None = None
    # Legacy TensorRT: a first predictor configured by `shape_collection` runs once at the fixed
    # shape and, when destroyed, writes the shape range of every tensor to `shape_range_info_path`;
    # `calls` then read it through enable_tuned_tensorrt_dynamic_shape.
    shape_collection: tuple[ConfigCall, ...] = ()
    shape_range_info_path: str | None = None
    # Legacy TensorRT: set_optim_cache_dir's dir (engines with use_static, INT8 tables, the
    # optimised program that coverage is read from) ...
    optim_cache_dir: str | None = None
    # ... and the dir the runner links the export's model files into, so that Paddle's own
    # <dir of the model file>/_opt_cache (where the calibrating predictor's destructor writes the INT8
    # table, SaveTrtCalibToDisk) IS optim_cache_dir (where the engine pass reads it), and nothing is
    # ever written into the export dir.
    model_link_dir: str | None = None
    # Legacy INT8: Paddle writes the calibration table while a first predictor runs on
    # calibration data and is destroyed; only a second predictor builds the INT8 engine.
    calibrate: bool = False
    calibration_source: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Environment variables the runner sets before anything is built (read by TensorRT/cuBLAS).
    env: tuple[tuple[str, str], ...] = ()

    @property
    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def describe(self) -> str:
        lines = [f"backend {self.backend}, format {self.model_format}, TensorRT path {self.trt_path or '-'}"]
        if self.convert is not None:
            lines.append(
                f"  paddle.tensorrt.convert: precision {self.convert.precision}, {self.convert.config_kwargs()}"
            )
        if self.shape_collection:
            lines.append("  shape collection predictor (one run at the fixed shape):")
            lines += [f"    config.{call}" for call in self.shape_collection]
        lines += [f"  config.{call}" for call in self.calls]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def paddle_major(paddle_version: str) -> int:
    """Major version; develop builds report 0.0.0 and are newer than any release."""
    match = re.match(r"^(\d+)\.(\d+)", paddle_version.strip())
    if not match:
        raise TrtExportError(f"cannot read Paddle version {paddle_version!r}")
    major, minor = int(match.group(1)), int(match.group(2))
    if major == 0 and minor == 0:
        return 99
    return major


def resolve_trt_path(trt_path: str, model_format: str, paddle_version: str) -> str:
    """Pick the TensorRT integration for a model format, or explain in one line why not."""
    if model_format not in MODEL_FORMATS:
        raise TrtExportError(f"unknown model format {model_format!r}; choose legacy or pir")
    if trt_path == "auto":
        trt_path = model_format
    if trt_path == "legacy" and model_format != "legacy":
        raise TrtExportError(
            "--trt-path legacy needs a legacy .pdmodel program (the PIR .json predictor has no TensorRT "
            "subgraph pass); export with --format legacy or both, or use --trt-path pir"
        )
    if trt_path == "pir":
        if model_format != "pir":
            raise TrtExportError(
                "--trt-path pir runs paddle.tensorrt.convert, which needs a PIR .json model; export with "
                "--format pir or both, or use --trt-path legacy"
            )
        if paddle_major(paddle_version) < 3:
            raise TrtExportError(
                f"--trt-path pir needs Paddle >= 3.0 (paddle.tensorrt), this is Paddle {paddle_version}; "
                "use --format legacy"
            )
    return trt_path


def plan_config(
    settings: BackendSettings,
    model_format: str,
    fixed_shapes: Mapping[str, tuple[int, ...]],
    paddle_version: str,
    *,
    input_dtypes: Mapping[str, str] | None = None,
    verbose: bool = False,
) -> ConfigPlan:
    """Turn settings into the Config calls (and, for PIR TensorRT, the convert step)."""
    if model_format not in MODEL_FORMATS:
        raise TrtExportError(f"unknown model format {model_format!r}; choose legacy or pir")
    if not fixed_shapes:
        raise TrtExportError("the model has no inputs to plan for")
    if settings.is_onnx:
        raise TrtExportError(
            f"{settings.backend} runs on ONNX Runtime, not Paddle Inference; plan it with onnx_plan.plan_session"
        )
    backend = settings.backend
    calls: list[ConfigCall] = []
    notes: list[str] = []
    warnings: list[str] = []
    convert: TrtConvertPlan | None = None
    trt_path: str | None = None
    calibrate = False
    calibration_source: str | None = None
    shape_collection: tuple[ConfigCall, ...] = ()
    shape_range_info_path: str | None = None

    if settings.is_trt:
        trt_path = resolve_trt_path(settings.trt_path, model_format, paddle_version)
        if backend == Backend.TRT_INT8 and trt_path == "legacy":
            calibration_source = _int8_calibration_source(settings)
            if calibration_source == "random":
                warnings.append(RANDOM_CALIBRATION_WARNING)
        elif backend == Backend.TRT_INT8:
            # python/paddle/tensorrt/converter.py: INT8 sets BuilderFlag.INT8 and set_dynamic_range
            # from the ops' quantization attributes; there is no IInt8Calibrator, and Input warmup
            # data only feeds the shape-collection runs (util.warmup_shape_infer).
            warnings.append(PIR_INT8_WARNING)
            if settings.calibration or settings.allow_random_calibration:
                notes.append("calibration data ignored: the PIR TensorRT path does not calibrate")
    elif settings.trt_path != "auto":
        notes.append(f"--trt-path {settings.trt_path} ignored: {backend} does not use TensorRT")
    if settings.ops_run_float and trt_path == "legacy":
        raise TrtExportError(
            "running chosen op types in fp32 inside a TensorRT engine needs the PIR path (TensorRTConfig.ops_run_float); "
            "the legacy engine can only keep them out of TensorRT (--trt-disable-ops / debug-precision --mode disable)"
        )

    if backend in CPU_BACKENDS:
        calls.append(ConfigCall("disable_gpu"))
        calls.append(ConfigCall("set_cpu_math_library_num_threads", (settings.cpu_threads,)))
        # oneDNN is on by default on CPU builds, so plain CPU must switch it off explicitly.
        calls.append(ConfigCall("enable_mkldnn" if backend == Backend.PADDLE_ONEDNN else "disable_mkldnn"))
        if backend == Backend.PADDLE_ONEDNN and model_format == "pir":
            warnings.append(ONEDNN_PIR_WARNING)
    else:
        calls.append(ConfigCall("enable_use_gpu", (settings.gpu_memory_mb, settings.device_id)))

    ir_optim = settings.ir_optim
    if trt_path == "legacy" and not ir_optim:
        # The TensorRT subgraph pass is an IR pass: with ir_optim off the predictor would
        # silently run plain CUDA kernels and the timing would not be TensorRT's.
        ir_optim = True
        notes.append("ir_optim forced on: the legacy TensorRT engine is inserted by an IR pass")
    calls.append(ConfigCall("switch_ir_optim", (ir_optim,)))

    if trt_path == "legacy":
        if paddle_major(paddle_version) >= 3:
            shape_range_info_path = _shape_range_info_path(settings, fixed_shapes)
            shape_collection = tuple(_shape_collection_calls(settings, shape_range_info_path, verbose))
        else:
            # Paddle 2.x still has Paddle-TRT's static-shape mode (implicit batch, TensorRT <= 8),
            # which builds from the program's fixed dims; calibration with dynamic shapes only came
            # with Paddle PR 65780, so 2.x INT8 keeps the mode it was calibrated in.
            notes.append(f"Paddle {paddle_version}: static-shape TensorRT engine from the program's fixed input dims")
        calls.extend(_legacy_trt_calls(settings, fixed_shapes, calibration_source, shape_range_info_path))
        calibrate = calibration_source is not None
    elif trt_path == "pir":
        convert = _pir_convert_plan(settings, fixed_shapes, input_dtypes or {})
        notes.append(
            "PIR TensorRT: paddle.tensorrt.convert builds the engines at the fixed shape before the "
            "predictor is created; the predictor then only needs the GPU enabled"
        )
        if settings.device_id != 0:
            warnings.append(
                f"paddle.tensorrt.convert builds the engines on GPU 0 (CUDAPlace(0) in python/paddle/tensorrt/"
                f"export.py), the predictor runs on GPU {settings.device_id}; make the target GPU device 0 "
                "with CUDA_VISIBLE_DEVICES"
            )

    if settings.memory_optim:
        if model_format == "pir":
            # Paddle 3.3.1: create_predictor fails with "Not find predictor_id 0 and pass_name
            # memory_optimize_pass" for .json models, so the option is dropped, not passed on.
            notes.append("memory_optim not applied: enable_memory_optim crashes create_predictor with PIR .json models")
        else:
            calls.append(ConfigCall("enable_memory_optim"))

    if not verbose:
        calls.append(ConfigCall("disable_glog_info"))

    env: tuple[tuple[str, str], ...] = ()
    if backend == Backend.TRT_FP32 and not settings.trt_allow_tf32:
        # TensorRT honours NVIDIA_TF32_OVERRIDE=0 over BuilderFlag::kTF32 (on by default).
        env = (("NVIDIA_TF32_OVERRIDE", "0"),)
        notes.append(
            "TF32 off for trt-fp32 (NVIDIA_TF32_OVERRIDE=0): fp32 tolerances assume fp32 math; --trt-allow-tf32 keeps it"
        )

    return ConfigPlan(
        backend=backend,
        model_format=model_format,
        trt_path=trt_path,
        calls=tuple(calls),
        convert=convert,
        shape_collection=shape_collection,
        shape_range_info_path=shape_range_info_path,
        optim_cache_dir=_legacy_optim_cache_dir(settings, fixed_shapes) if trt_path == "legacy" else None,
        model_link_dir=_legacy_cache_dir(settings, fixed_shapes) if trt_path == "legacy" else None,
        calibrate=calibrate,
        calibration_source=calibration_source,
        notes=tuple(notes),
        warnings=tuple(warnings),
        env=env,
    )


def _int8_calibration_source(settings: BackendSettings) -> str:
    if settings.calibration:
        return settings.calibration
    if settings.allow_random_calibration:
        return "random"
    raise TrtExportError(
        "trt-int8 needs calibration data: give --calibration with real images or an .npz of preprocessed "
        "inputs, or --allow-random-calibration to time INT8 only (its accuracy is then meaningless)"
    )


def _batch_size(fixed_shapes: Mapping[str, tuple[int, ...]]) -> int:
    batches = {tuple(shape)[0] for shape in fixed_shapes.values() if len(tuple(shape)) > 0}
    if len(batches) != 1:
        raise TrtExportError(f"inputs disagree on the batch size: {dict(fixed_shapes)}")
    return batches.pop()


def _shape_label(fixed_shapes: Mapping[str, tuple[int, ...]]) -> str:
    return "_".join("x".join(str(int(d)) for d in shape) for shape in fixed_shapes.values())


def _legacy_cache_dir(settings: BackendSettings, fixed_shapes: Mapping[str, tuple[int, ...]]) -> str:
    """One optim cache dir per precision and shape.

    Paddle keys serialized engines and INT8 tables by the subgraph's tensor names, max_batch_size
    and precision only (GenerateEngineKey in tensorrt_subgraph_pass.cc), not by the input's H and W,
    so a cache dir shared between shapes would hand one shape's engine to another.
    """
    if not settings.trt_cache_dir:
        raise TrtExportError(
            "the legacy TensorRT path needs a cache dir (shape ranges, engines, INT8 tables); give --trt-cache-dir"
        )
    precision = _PIR_PRECISION[settings.backend].lower()
    return os.path.join(settings.trt_cache_dir, f"legacy_trt_{precision}_{_shape_label(fixed_shapes)}")


def _legacy_optim_cache_dir(settings: BackendSettings, fixed_shapes: Mapping[str, tuple[int, ...]]) -> str:
    """`<model link dir>/_opt_cache`: GetOrCreateModelOptCacheDir(GetDirRoot(model file)) in Paddle."""
    return os.path.join(_legacy_cache_dir(settings, fixed_shapes), "_opt_cache")


def _shape_range_info_path(settings: BackendSettings, fixed_shapes: Mapping[str, tuple[int, ...]]) -> str:
    return os.path.join(_legacy_cache_dir(settings, fixed_shapes), "shape_range_info.pbtxt")


def _shape_collection_calls(settings: BackendSettings, path: str, verbose: bool) -> list[ConfigCall]:
    # collect_shape_range_info records the shape of every tensor of the unoptimized program (the
    # predictor switches ir_optim off itself in that mode) and writes them when it is destroyed.
    calls = [
        ConfigCall("enable_use_gpu", (settings.gpu_memory_mb, settings.device_id)),
        ConfigCall("collect_shape_range_info", (path,)),
    ]
    if not verbose:
        calls.append(ConfigCall("disable_glog_info"))
    return calls


def _legacy_trt_calls(
    settings: BackendSettings,
    fixed_shapes: Mapping[str, tuple[int, ...]],
    calibration_source: str | None,
    shape_range_info_path: str | None,
) -> list[ConfigCall]:
    # Paddle >= 3: dynamic-shape mode with min = opt = max = the fixed shape, taken from a
    # shape-collection run (enable_tuned_tensorrt_dynamic_shape), not Paddle-TRT's static-shape mode,
    # which Paddle 3 removed
    # static-shape support ("Remove TRT static shape and bump into TRT 10.0", Paddle PR 65780; with
    # TensorRT >= 8.5 TensorRTEngine::InitNetwork always builds an explicit-batch network while the
    # static branch of Vec2TRT_Dims drops the batch dim). set_trt_dynamic_shape_info would not do
    # either: it covers the feeds only, and a TensorRT subgraph whose input is an intermediate tensor
    # then fails with "some trt inputs dynamic shape info not set". The collected file covers every
    # tensor. The engine is valid only at that shape (a different runtime shape gives wrong results,
    # Paddle issue 18259), which is why runners refuse any feed that does not match the manifest.
    calls = [
        ConfigCall(
            "enable_tensorrt_engine",
            kwargs={
                "workspace_size": settings.trt_workspace_bytes,
                "max_batch_size": _batch_size(fixed_shapes),
                "min_subgraph_size": settings.trt_min_subgraph_size,
                "precision_mode": Precision(_LEGACY_PRECISION[settings.backend]),
                "use_static": settings.trt_use_static,
                # Random calibration still calibrates: an INT8 engine without scales would
                # fall back to other precisions and even its timing would be wrong.
                "use_calib_mode": calibration_source is not None,
            },
        ),
    ]
    if shape_range_info_path is not None:
        # Positional (shape_range_info_path, allow_build_at_runtime) as bound in
        # paddle/fluid/pybind/inference_api.cc; no runtime rebuild is ever needed at a fixed shape.
        calls.append(ConfigCall("enable_tuned_tensorrt_dynamic_shape", (shape_range_info_path, True)))
    calls.append(ConfigCall("set_optim_cache_dir", (_legacy_optim_cache_dir(settings, fixed_shapes),)))
    # The optimised program (with its tensorrt_engine ops) is saved to the optim cache dir as
    # _optimized.pdmodel; trt_coverage reads from it which ops really run inside TensorRT.
    calls.append(ConfigCall("enable_save_optim_model", (True,)))
    if settings.disable_ops:
        calls.append(ConfigCall("exp_disable_tensorrt_ops", (legacy_op_names(settings.disable_ops),)))
    return calls


def legacy_op_names(ops: tuple[str, ...]) -> list[str]:
    """Legacy programs name ops by type ("softmax"); a PIR name ("pd_op.softmax") loses its dialect."""
    return [op.split(".", 1)[1] if op.startswith("pd_op.") else op for op in ops]


def pir_op_names(ops: tuple[str, ...]) -> list[str]:
    """paddle.tensorrt's forbid_op_lower_trt compares full PIR names (op.name(), "pd_op.softmax"), so
    a bare type would silently match nothing (python/paddle/tensorrt/util.py)."""
    return [op if "." in op else f"pd_op.{op}" for op in ops]


def _pir_convert_plan(
    settings: BackendSettings,
    fixed_shapes: Mapping[str, tuple[int, ...]],
    input_dtypes: Mapping[str, str],
) -> TrtConvertPlan:
    inputs = tuple(
        TrtInputPlan(name=name, shape=tuple(int(d) for d in shape), dtype=input_dtypes.get(name, "float32"))
        for name, shape in fixed_shapes.items()
    )
    prefix = None
    if settings.trt_cache_dir:
        label = _shape_label({i.name: i.shape for i in inputs})
        prefix = os.path.join(
            settings.trt_cache_dir, f"pir_trt_{_PIR_PRECISION[settings.backend].lower()}_{label}", "model"
        )
    return TrtConvertPlan(
        inputs=inputs,
        precision=_PIR_PRECISION[settings.backend],
        workspace_size=settings.trt_workspace_bytes,
        min_subgraph_size=settings.trt_min_subgraph_size,
        save_model_prefix=prefix,
        disable_ops=tuple(pir_op_names(settings.disable_ops)),
        ops_run_float=tuple(pir_op_names(settings.ops_run_float)),
    )


def apply_plan(config: Any, plan: ConfigPlan, calls: tuple[ConfigCall, ...] | None = None) -> None:
    """Apply a plan's calls (or `calls`, e.g. its shape collection) to a `paddle.inference.Config`,
    resolving precision names to enums."""
    precision_type = None
    for call in plan.calls if calls is None else calls:
        if any(isinstance(v, Precision) for v in (*call.args, *call.kwargs.values())) and precision_type is None:
            from trt_export.env.paddle_import import import_paddle

            precision_type = import_paddle().inference.PrecisionType

        def resolve(value: Any, precision_type: Any = precision_type) -> Any:
            return getattr(precision_type, value.name) if isinstance(value, Precision) else value

        method = getattr(config, call.method, None)
        if method is None:
            raise BackendUnavailable(f"this Paddle's inference Config has no {call.method}(); {plan.backend} needs it")
        method(*(resolve(a) for a in call.args), **{k: resolve(v) for k, v in call.kwargs.items()})


def check_applied(config: Any, plan: ConfigPlan) -> None:
    """Refuse a Config on which the plan's device or engine did not take effect.

    Some Config setters fail by logging, not raising: enable_use_gpu on a build or machine without
    CUDA logs "Please use PaddlePaddle with GPU version" and leaves use_gpu() False, and
    enable_tensorrt_engine without the GPU enabled logs "please call EnableUseGpu() first" and
    returns (AnalysisConfig::EnableTensorRtEngine, paddle/fluid/inference/api/analysis_config.cc);
    oneDNN is switched back off on CPUs without AVX2 (AnalysisConfig::Update). The predictor would
    then run, and be timed, on another device or without TensorRT.
    """
    checks: list[tuple[str, bool, str]] = []
    if plan.backend in CPU_BACKENDS:
        checks.append(("use_gpu", False, "disable_gpu() did not take effect"))
        if plan.backend == Backend.PADDLE_ONEDNN:
            checks.append(
                (
                    "mkldnn_enabled",
                    True,
                    "enable_mkldnn() did not take effect (this CPU or build has no usable oneDNN); use paddle-cpu",
                )
            )
    else:
        checks.append(
            ("use_gpu", True, "enable_use_gpu() did not take effect (Paddle logged why: no CUDA build or no GPU)")
        )
    if plan.trt_path == "legacy":
        checks.append(("tensorrt_engine_enabled", True, "enable_tensorrt_engine() did not take effect"))
    for getter, expected, message in checks:
        read = getattr(config, getter, None)
        if read is not None and bool(read()) != expected:
            raise BackendUnavailable(f"{plan.backend}: {message}")


# --------------------------------------------------------------------------- availability


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str

    def __bool__(self) -> bool:
        return self.available


def decide_availability(backend: str, probe: EnvironmentProbe, model_format: str | None = None) -> Availability:
    """Can `backend` run here (for a model format: TensorRT differs between legacy and PIR)?"""
    if backend in ONNX_BACKENDS:
        return decide_onnx_availability(backend, probe)
    if backend not in BACKENDS:
        return Availability(False, f"unknown backend {backend!r}; choose one of: {', '.join(ALL_BACKENDS)}")
    if backend == Backend.PADDLE_CPU:
        return Availability(True, "CPU, oneDNN off")
    if backend == Backend.PADDLE_ONEDNN:
        if not probe.onednn_compiled:
            return Availability(False, "this Paddle build has no oneDNN (MKLDNN); use paddle-cpu")
        if model_format == "pir":
            return Availability(
                True, "oneDNN on; PIR .json models with bilinear interpolate fail in Paddle 3.x (use --format legacy)"
            )
        return Availability(True, "CPU with oneDNN")

    if not probe.cuda_compiled:
        return Availability(
            False,
            "this Paddle is a CPU-only build (paddle.is_compiled_with_cuda() is False); install a paddlepaddle-gpu build",
        )
    if probe.gpu_count < 1:
        return Availability(
            False,
            "Paddle is built with CUDA but sees no GPU (device_count 0); check the driver and CUDA_VISIBLE_DEVICES",
        )
    gpu = probe.gpu_names[0] if probe.gpu_names else f"{probe.gpu_count} GPU(s)"
    if backend == Backend.PADDLE_GPU:
        return Availability(True, f"CUDA {probe.cuda_version or '?'} on {gpu}")

    compiled = probe.trt_compile_version
    if compiled == (0, 0, 0):
        return Availability(
            False,
            "this Paddle build was compiled without TensorRT (get_trt_compile_version() is 0.0.0); install a TensorRT-enabled paddlepaddle-gpu",
        )
    runtime = probe.trt_runtime_version
    if runtime == (0, 0, 0):
        # get_trt_runtime_version goes through the same dynamic loader as the engines
        # (tensorrt/helper.h GetTrtRuntimeVersion -> dy::getInferLibVersion, which dlopens the
        # unversioned "libnvinfer.so", paddle/phi/backends/dynload/tensorrt.cc): if it failed, so
        # will TensorRT. Our own lookup may still find a versioned copy (pip's tensorrt_libs ships
        # only libnvinfer.so.N), which only helps to say where it is.
        found = (
            f"libnvinfer loads from {probe.libnvinfer} here, but Paddle's loader, which opens 'libnvinfer.so', does not find it"
            if probe.libnvinfer
            else f"libnvinfer cannot be loaded ({probe.libnvinfer_error or 'not found'})"
        )
        return Availability(
            False,
            f"Paddle was compiled with TensorRT {version_text(compiled)} but {found}; put the directory holding "
            "libnvinfer.so (unversioned name) in LD_LIBRARY_PATH or FLAGS_tensorrt_dir",
        )
    if runtime != (0, 0, 0) and runtime[0] != compiled[0]:
        return Availability(
            False,
            f"Paddle was compiled with TensorRT {version_text(compiled)} but the loaded runtime is "
            f"{version_text(runtime)}; install TensorRT {compiled[0]}.x",
        )
    runtime_text = version_text(runtime)
    if backend == Backend.TRT_INT8:
        runtime_text += (
            " (PIR INT8: scales only from a quantized model, no calibration)"
            if model_format == "pir"
            else " (INT8 needs --calibration data)"
        )
    if model_format == "pir":
        if paddle_major(probe.paddle_version or "0.0") < 3:
            return Availability(
                False, f"the PIR TensorRT path needs Paddle >= 3.0, this is {probe.paddle_version}; use --format legacy"
            )
        if not probe.paddle_tensorrt_importable:
            detail = probe.paddle_tensorrt_error or "import failed"
            return Availability(
                False,
                f"import paddle.tensorrt fails ({detail}); install the tensorrt Python package matching TensorRT "
                f"{version_text(compiled)}, or use --format legacy",
            )
        return Availability(True, f"PIR paddle.tensorrt.convert, TensorRT {runtime_text} on {gpu}")
    return Availability(True, f"legacy TensorRT engine, TensorRT {runtime_text} on {gpu}")


# ONNX Runtime's provider for each ONNX backend (onnxruntime.get_available_providers() names).
ONNX_PROVIDERS: dict[str, str] = {
    Backend.ONNX_CPU: "CPUExecutionProvider",
    Backend.ONNX_CUDA: "CUDAExecutionProvider",
    Backend.ONNX_TRT_FP32: "TensorrtExecutionProvider",
    Backend.ONNX_TRT_FP16: "TensorrtExecutionProvider",
}


def decide_onnx_availability(backend: str, probe: EnvironmentProbe) -> Availability:
    """The ONNX route needs paddle2onnx (conversion) and an onnxruntime offering the provider."""
    if probe.paddle2onnx_version is None or probe.onnxruntime_version is None:
        missing = " and ".join(
            n
            for n, v in (("paddle2onnx", probe.paddle2onnx_version), ("onnxruntime", probe.onnxruntime_version))
            if v is None
        )
        return Availability(
            False, f"{missing} not installed; pip install 'trt-export[onnx]' (onnxruntime-gpu for onnx-cuda/onnx-trt-*)"
        )
    provider = ONNX_PROVIDERS[backend]
    versions = f"paddle2onnx {probe.paddle2onnx_version}, onnxruntime {probe.onnxruntime_version}"
    if provider not in probe.onnxruntime_providers:
        hint = "" if backend == Backend.ONNX_CPU else "; install onnxruntime-gpu instead of onnxruntime"
        return Availability(
            False,
            f"this onnxruntime has no {provider} (it offers {', '.join(probe.onnxruntime_providers) or 'none'}){hint}",
        )
    if backend == Backend.ONNX_CPU:
        return Availability(True, f"ONNX Runtime CPU ({versions})")
    # onnxruntime-gpu lists its CUDA/TensorRT providers whether or not a GPU is there.
    if probe.nvidia_gpu_count < 1:
        return Availability(
            False, f"{provider} is installed but the NVIDIA driver lists no GPU (/proc/driver/nvidia/gpus)"
        )
    if provider == "TensorrtExecutionProvider" and probe.libnvinfer is None:
        return Availability(
            False,
            f"onnxruntime's TensorRT provider needs libnvinfer, which cannot be loaded ({probe.libnvinfer_error or 'not found'}); "
            "pip install tensorrt or put TensorRT's lib dir in LD_LIBRARY_PATH",
        )
    return Availability(True, f"ONNX Runtime {provider} ({versions})")


def backend_availability(
    backend: str, model_format: str | None = None, probe: EnvironmentProbe | None = None
) -> Availability:
    if probe is None and backend in ONNX_BACKENDS:
        probe = onnx_probe()
    return decide_availability(backend, probe or probe_environment(), model_format)


def require_backend(backend: str, model_format: str | None = None, probe: EnvironmentProbe | None = None) -> None:
    availability = backend_availability(backend, model_format, probe)
    if not availability:
        raise BackendUnavailable(f"backend {backend} is not available here: {availability.reason}")
