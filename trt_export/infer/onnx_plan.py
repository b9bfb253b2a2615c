"""ONNX Runtime sessions as data: backend settings -> providers, provider options, session config.

The ONNX counterpart of `backends.plan_config`: `plan_session` is a pure function, so the GPU
backends (onnx-cuda, onnx-trt-fp32, onnx-trt-fp16) that cannot run on a CPU machine are still
tested as plain data; `session_options` and `providers_arg` are the only functions that touch
onnxruntime objects.

Why these settings:
- `session.intra_op.allow_spinning` / `session.inter_op.allow_spinning` = "0": ONNX Runtime's
  worker threads otherwise spin after each run; interleaved with Paddle runs (or another
  process on the same cores) that made Paddle 2x slower here (shared/PADDLE-FACTS.md).
- intra-op threads = `--threads`, one inter-op thread, sequential execution: the same CPU budget
  as Paddle Inference's `set_cpu_math_library_num_threads`.
- TensorRT provider: the fixed-shape ONNX model needs no optimisation profile; engines and the
  timing cache go to a directory scoped by model and precision (like the legacy Paddle-TRT
  cache), and CUDA, then CPU, take the nodes TensorRT rejects, as ONNX Runtime documents. A
  session whose first provider did not load is refused (`check_providers`), so a fallback to CPU
  is never timed as TensorRT.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import ONNX_BACKENDS, ONNX_PROVIDERS, BackendSettings

SPIN_CONFIG = (("session.intra_op.allow_spinning", "0"), ("session.inter_op.allow_spinning", "0"))


@dataclass(frozen=True)
class ProviderPlan:
    name: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionPlan:
    backend: str
    providers: tuple[ProviderPlan, ...]
    intra_op_threads: int
    inter_op_threads: int = 1
    config_entries: tuple[tuple[str, str], ...] = SPIN_CONFIG
    graph_optimization: str = "ORT_ENABLE_ALL"
    notes: tuple[str, ...] = ()

    @property
    def primary(self) -> str:
        return self.providers[0].name

    def describe(self) -> str:
        lines = [f"backend {self.backend}: onnxruntime providers {', '.join(p.name for p in self.providers)}"]
        lines.append(
            f"  threads intra {self.intra_op_threads}, inter {self.inter_op_threads}; graph optimization {self.graph_optimization}"
        )
        lines += [f"  session config {k} = {v}" for k, v in self.config_entries]
        for p in self.providers:
            if p.options:
                lines.append(f"  {p.name}: {dict(p.options)}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def plan_session(settings: BackendSettings, engine_cache_dir: str | None = None) -> SessionPlan:
    """The providers and session options an ONNX backend runs with."""
    backend = settings.backend
    if backend not in ONNX_BACKENDS:
        raise TrtExportError(f"{backend} is not an ONNX Runtime backend; choose one of {', '.join(ONNX_BACKENDS)}")
    device = str(settings.device_id)
    cuda = ProviderPlan("CUDAExecutionProvider", {"device_id": device})
    cpu = ProviderPlan("CPUExecutionProvider")
    notes: list[str] = []
    if backend == "onnx-cpu":
        providers: tuple[ProviderPlan, ...] = (cpu,)
    elif backend == "onnx-cuda":
        providers = (cuda, cpu)
    else:
        trt: dict[str, str] = {
            "device_id": device,
            "trt_max_workspace_size": str(settings.trt_workspace_bytes),
            "trt_min_subgraph_size": str(settings.trt_min_subgraph_size),
            "trt_fp16_enable": "True" if backend == "onnx-trt-fp16" else "False",
        }
        if engine_cache_dir:
            precision = "fp16" if backend == "onnx-trt-fp16" else "fp32"
            path = os.path.join(engine_cache_dir, f"ort_trt_{precision}")
            trt.update(
                {
                    "trt_engine_cache_enable": "True",
                    "trt_engine_cache_path": path,
                    "trt_timing_cache_enable": "True",
                    "trt_timing_cache_path": path,
                }
            )
        else:
            notes.append("no engine cache dir: TensorRT builds its engines at every session start")
        if settings.disable_ops:
            notes.append(
                f"--trt-disable-ops {' '.join(settings.disable_ops)} not applied: ONNX Runtime's TensorRT provider has no per-op switch"
            )
        providers = (ProviderPlan("TensorrtExecutionProvider", trt), cuda, cpu)
    assert providers[0].name == ONNX_PROVIDERS[backend]
    if not settings.ir_optim:
        notes.append("--no-ir-optim: ONNX Runtime graph optimisations switched off too")
    return SessionPlan(
        backend=backend,
        providers=providers,
        intra_op_threads=settings.cpu_threads,
        graph_optimization="ORT_ENABLE_ALL" if settings.ir_optim else "ORT_DISABLE_ALL",
        notes=tuple(notes),
    )


def session_options(plan: SessionPlan) -> Any:
    """An `onnxruntime.SessionOptions` configured by the plan."""
    import onnxruntime as ort  # type: ignore[import-not-found]

    options = ort.SessionOptions()
    options.intra_op_num_threads = plan.intra_op_threads
    options.inter_op_num_threads = plan.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, plan.graph_optimization)
    options.log_severity_level = 3  # errors only; warnings about unused initializers are noise here
    for key, value in plan.config_entries:
        options.add_session_config_entry(key, value)
    return options


def providers_arg(plan: SessionPlan) -> list[tuple[str, dict[str, str]]]:
    """The `providers=` argument of `onnxruntime.InferenceSession`."""
    return [(p.name, dict(p.options)) for p in plan.providers]


def check_providers(plan: SessionPlan, session_providers: list[str]) -> None:
    """Refuse a session on which the backend's own provider did not load (ORT falls back silently)."""
    if plan.primary not in session_providers:
        raise BackendUnavailable(
            f"{plan.backend}: onnxruntime did not load {plan.primary} (the session runs on {', '.join(session_providers) or 'nothing'}); "
            "check the CUDA/TensorRT libraries onnxruntime-gpu needs, or run 'trt-export doctor'"
        )
