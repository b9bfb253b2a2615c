"""What runs inside one candidate's worker process.

``python -m trt_export.bench.worker JOB.json RESULT.json``, or ``main()`` in a child forked from
the pre-imported server (trt_export/bench/forkserver.py). Each candidate gets fresh processes
so its peak memory is its own and a crash, an out-of-memory kill or a hang costs only that
candidate. Jobs:

- ``idle``: import Paddle and report RSS and the environment fingerprint (the memory baseline);
- ``prepare``: export at the fixed shape (unless cached) and save seeded inputs with the dygraph
  model's outputs on them, so the measuring process never builds the dygraph model;
- ``measure``: build the predictor (ONNX backends: convert with paddle2onnx first, cached),
  check parity against the saved reference, warm up, time, report peak memory;
and ``idle`` with ``roofs`` also times a large fp32 matmul through each CPU backend's runtime
(roof.py), after reading the RSS baseline.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.bench.guard import StageRecord, die_with_parent
from trt_export.bench.protocol import (
    Clock,
    IdleJob,
    IdleResult,
    InterleaveJob,
    Job,
    MeasureJob,
    MeasureResult,
    Outcome,
    PrepareJob,
    PrepareResult,
    ProtocolError,
    ResultFile,
    RoofRequest,
    SceneReferenceJob,
    SourceSpec,
    WorkerFailure,
    WorkerMemory,
    decode_job,
    encode_result,
)
from trt_export.bench.timing import TimingSummary, run_policy
from trt_export.errors import OutOfMemory, TrtExportError

REFERENCE_INPUT = "input/"
REFERENCE_OUTPUT = "reference/"


def rss_peak_mb() -> float:
    """This process's peak resident set size, MiB.

    Linux's VmHWM belongs to the address space, which execve replaces, so it counts only this
    worker. ru_maxrss does not: it carries over the RSS of the parent at fork time across exec,
    so a bench parent holding Paddle and the model (hundreds of MiB) would floor every worker's
    figure at its own. ru_maxrss (KiB on Linux) stays the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed_loop(step: Callable[[], Any], warmup: int, iters: int | None, duration_s: float | None) -> list[float]:
    """Per-call wall times (s, perf_counter) of ``step`` after ``warmup`` untimed calls.

    With ``duration_s`` the loop runs until that much time was spent in timed calls (and at least
    ``iters`` calls when both are given).
    """
    for _ in range(warmup):
        step()
    clock = time.perf_counter
    samples: list[float] = []
    minimum = iters or 1
    spent = 0.0
    while len(samples) < minimum or (duration_s is not None and spent < duration_s):
        start = clock()
        step()
        elapsed = clock() - start
        samples.append(elapsed)
        spent += elapsed
        if duration_s is None and len(samples) >= minimum:
            break
    return samples


# Set by main(): the VmHWM a forked worker inherited from the pre-imported server (None when the
# worker was started with exec). Its own memory is what it adds on top (trt_export/bench/forkserver.py).
_FORKED_RSS_MB: float | None = None
_FORKED_FILE_MB = 0.0  # file-backed pages mapped at fork (they are in the server's RSS too)


def _now() -> float:
    """CLOCK_MONOTONIC, shared by every process on the machine: stamps the parent can compare."""
    return time.monotonic()


def _job_idle(job: IdleJob) -> IdleResult:
    from trt_export.env.fingerprint import environment_fingerprint
    from trt_export.env.paddle_import import import_paddle

    import_paddle()
    rss = rss_peak_mb()
    if _FORKED_RSS_MB is not None:
        # Forked: the baseline is the server's own peak, a process that imported Paddle and nothing more.
        from trt_export.bench.forkserver import vm_hwm_mb

        rss = vm_hwm_mb(os.getppid()) or rss
    environment = environment_fingerprint()
    # After the RSS baseline was read: the matmuls must not inflate it.
    roofs = {entry.settings.backend: _roof(entry) for entry in job.roofs}
    return IdleResult(rss, environment, roofs)


def _roof(entry: RoofRequest) -> dict[str, Any]:
    """One CPU backend's matmul roof, or why it could not be measured (never fails the job)."""
    from trt_export.bench.roof import measure_cpu_roof

    try:
        return measure_cpu_roof(entry.settings, n=entry.n).to_dict()
    except Exception as exc:  # noqa: BLE001 - a missing roof is a note, not a failed sweep
        return {"error": f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"}


def _source(spec: SourceSpec) -> Any:  # -> ModelSource
    from trt_export.model.sources import load_source

    return load_source(spec.spec, weights=spec.weights, kwargs=spec.kwargs, model_type=spec.model_type)


def _job_prepare(job: PrepareJob) -> PrepareResult:
    from trt_export.export.exporter import export_model
    from trt_export.export.manifest import MANIFEST_NAME
    from trt_export.infer.inputs import random_inputs, save_npz
    from trt_export.infer.runners import DygraphRunner
    from trt_export.model.shapes import FixedShape

    export_dir = job.export_dir
    reference = job.reference
    seed = job.seed
    source = None
    cached = job.exported or (export_dir / MANIFEST_NAME).is_file()  # a ready export is never rewritten
    phases = {"export": 0.0, "reference": 0.0}
    export_outputs = None
    from trt_export.bench.export_cache import discard, export_problem

    if cached and not job.exported and export_problem(export_dir) is not None:  # damaged: made again, not reused
        discard(export_dir, reference)
        cached = False
    if not cached:
        started = _now()
        source = _source(job.source)
        result = export_model(
            source,
            export_dir,
            FixedShape.from_nchw(job.shape_nchw),
            model_format=job.format,
            force=True,
            replace_non_export=True,
            lock_wait_s=job.lock_wait_s,
        )
        export_outputs = result.dygraph_outputs
        phases["export"] = _now() - started
    manifest = job_manifest(job.export_dir, job.manifest_file)
    if not reference.is_file():
        started = _now()
        source = source or _source(job.source)
        feed = random_inputs(manifest.inputs, seed=seed, model_yml=source.model_yml)
        if export_outputs is not None and seed == 0 and len(export_outputs) == len(manifest.output_names):
            # The export ran the dygraph model on exactly these inputs (seed 0): no second build and run.
            outputs = dict(zip(manifest.output_names, export_outputs, strict=True))
        else:
            with DygraphRunner(source.build, manifest.inputs, manifest.output_names) as runner:
                outputs = runner.infer(feed)
        reference.parent.mkdir(parents=True, exist_ok=True)
        partial = reference.with_name(reference.name + f".{os.getpid()}.partial")
        save_npz(
            partial,
            {
                **{REFERENCE_INPUT + k: v for k, v in feed.items()},
                **{REFERENCE_OUTPUT + k: v for k, v in outputs.items()},
            },
        )
        os.replace(partial, reference)
        phases["reference"] = _now() - started
    flops = _count_flops(manifest, job.flops, job.format) if job.flops is not None else None
    return prepared_summary(manifest, flops, phases)


def job_manifest(export_dir: Path, manifest_file: Path | None) -> Any:
    """The export's manifest; a ready PaddleRS deploy dir's comes as a file the parent wrote
    (building it runs a predictor, which would count in this worker's peak memory)."""
    from trt_export.export.manifest import Manifest, load_manifest

    if manifest_file is not None:
        data = json.loads(manifest_file.read_text(encoding="utf-8"))
        return Manifest.from_dict(data, export_dir=export_dir)
    return load_manifest(export_dir)


def _count_flops(manifest: Any, path: Path, requested: str | None) -> dict[str, Any] | None:
    """FLOPs of the export's program, cached in ``path`` (a JSON of flops.FlopCount)."""
    from trt_export.bench.flops import count_flops
    from trt_export.export.program_ops import load_program_ops

    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    fmt = None if requested in (None, "auto") else requested
    model_file, _ = manifest.files(fmt)
    try:
        count = count_flops(load_program_ops(model_file)).to_dict()
    except TrtExportError:
        return None  # no FLOPs is a missing column, not a failed candidate
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(count), encoding="utf-8")
    partial.rename(path)
    return count


def prepared_summary(
    manifest: Any, flops: dict[str, Any] | None = None, phases_s: dict[str, float] | None = None
) -> PrepareResult:
    """What a prepare job reports about its export (the parent reads it for a complete cache entry)."""
    return PrepareResult(
        export_s=manifest.export_seconds,
        model_type=manifest.model_type,
        default_format=manifest.default_format,
        flops=flops,
        phases_s=phases_s or {},
    )


def _load_reference(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    with np.load(path) as data:
        feed = {k[len(REFERENCE_INPUT) :]: data[k] for k in data.files if k.startswith(REFERENCE_INPUT)}
        ref = {k[len(REFERENCE_OUTPUT) :]: data[k] for k in data.files if k.startswith(REFERENCE_OUTPUT)}
    return feed, ref


class GpuMemoryPeak:
    """Peak device memory this process holds, polled through NVML while the timed loop runs.

    One reading after the loop could miss a transient peak. The predictor is built before the loop,
    so a peak during the engine build is not seen here. predictor.run() does NOT release the GIL on
    CUDA builds (paddle/fluid/pybind/inference_api.cc releases it only for custom devices), so the
    sampler runs between runs, when the timed loop is in Python; each sample holds the GIL only for
    a few attribute reads around NVML calls (ctypes drops the GIL during them). The interval is
    therefore coarse: device memory that Paddle's allocator and TensorRT's contexts reserve stays
    reserved, and fewer samples mean fewer GIL hand-offs inside timed steps. Memory is summed per process over every device from
    nvmlDeviceGetComputeRunningProcesses (entries with .pid and .usedGpuMemory, None where the
    driver cannot tell, nvidia-ml-py's pynvml.py). NVML reports host PIDs: in a container without
    the host PID namespace no entry matches os.getpid() and ``peak_mb`` stays None, as it does
    without a CUDA build, without nvidia-ml-py or without driver access.
    """

    def __init__(self, interval_s: float = 0.1, enabled: bool = True, check_paddle: bool = True) -> None:
        self.interval_s = interval_s
        # ONNX Runtime workers: no Paddle import (check_paddle=False); CPU backends: no NVML at all.
        self.enabled = enabled
        self.check_paddle = check_paddle
        self.peak_mb: float | None = None
        self._nvml: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuMemoryPeak:
        if not self.enabled:
            return self
        if self.check_paddle:
            from trt_export.env.paddle_import import import_paddle

            if not import_paddle().is_compiled_with_cuda():
                return self
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
        except Exception:  # no nvidia-ml-py or no driver: the allocator figure remains
            return self
        self._nvml = pynvml
        self.sample()
        self._thread = threading.Thread(target=self._poll, name="gpu-memory-peak", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._nvml is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # shutting NVML down must not fail a measured candidate
            pass

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        import os

        pynvml = self._nvml
        used = 0.0
        try:
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if proc.pid == os.getpid() and proc.usedGpuMemory:
                        used += proc.usedGpuMemory / 2**20
        except Exception:  # a failed poll is a missing sample, not a failed candidate
            return
        if used and (self.peak_mb is None or used > self.peak_mb):
            self.peak_mb = used


def reset_allocator_peak(device_id: int = 0) -> None:
    """Start Paddle's reserved-memory peak afresh (paddle.device.cuda.reset_max_memory_reserved)."""
    from trt_export.env.paddle_import import import_paddle

    paddle = import_paddle()
    reset = getattr(paddle.device.cuda, "reset_max_memory_reserved", None)
    if paddle.is_compiled_with_cuda() and reset is not None:
        try:
            reset(device_id)
        except Exception:  # noqa: BLE001 - older builds: the figure then covers the whole process
            pass


def paddle_allocator_peak_mb(device_id: int = 0) -> float | None:
    """Peak of Paddle's reserved device memory on ``device_id`` since the last reset (MiB): the
    measure job resets it right before the timed loop, so it is the measured predictor's.

    ``paddle.device.cuda.max_memory_reserved(device)`` reads the allocator's "Reserved" peak stat
    (python/paddle/device/cuda/__init__.py); without an argument it reads the *current* device,
    which the predictor's device_id does not change, so the id is passed. It does not cover the
    memory TensorRT allocates itself (NVML's per-process figure does).
    """
    from trt_export.env.paddle_import import import_paddle

    paddle = import_paddle()
    if not paddle.is_compiled_with_cuda():
        return None
    try:
        return paddle.device.cuda.max_memory_reserved(device_id) / 2**20
    except Exception:  # older builds lack the call
        return None


def _job_measure(job: MeasureJob, stage: list[str], deadline: float | None) -> MeasureResult:
    from trt_export.bench.report import ParitySummary
    from trt_export.infer.onnx_runner import create_runner
    from trt_export.parity.compare import compare_outputs
    from trt_export.parity.verify import score_axes, tolerances_for

    manifest = job_manifest(job.export_dir, job.manifest_file)
    settings = job.settings
    feed, reference = _load_reference(job.reference)
    stage[0] = "build"
    # The export's own default format unless one was asked for ("auto" may have fallen back to PIR).
    requested = job.format
    runner = create_runner(
        manifest.export_dir, manifest, settings, model_format=None if requested in (None, "auto") else requested
    )
    if settings.is_onnx:
        stage[0] = "convert"
        runner.convert()
        stage[0] = "build"
    with runner:
        stage[0] = "run"
        parity_started = _now()
        outputs = runner.infer(feed)
        comparison = compare_outputs(
            reference, outputs, tolerances_for(manifest, settings.backend), score_axes(manifest)
        )

        parity_s = _now() - parity_started

        step = runner.timed_step
        if settings.uses_gpu and not settings.is_onnx:
            # The allocator's peak so far is the shape-collection run's or the calibration's; only
            # the measured predictor's timed loop counts.
            reset_allocator_peak(settings.device_id)
        stage[0] = "timing"
        with GpuMemoryPeak(
            enabled=not settings.is_onnx or settings.uses_gpu, check_paddle=not settings.is_onnx
        ) as gpu_peak:
            outcome = run_policy(step, job.policy, deadline=deadline)
            samples = outcome.samples_s
        gpu_mb = gpu_peak.peak_mb
        allocator_mb = (
            paddle_allocator_peak_mb(settings.device_id) if settings.uses_gpu and not settings.is_onnx else None
        )
        build_s = runner.build_seconds
        # TensorRT coverage is Paddle Inference's (trt-*); ONNX Runtime runners have none.
        trt_coverage = getattr(runner, "trt_coverage", None)
        coverage = trt_coverage.to_dict() if trt_coverage is not None else None
        warnings = list(getattr(runner, "trt_warnings", None) or [])
        peak_rss = rss_peak_mb()  # before the scene probe and agreement runs, which are not the predictor's
        refaulted = _refaulted_mb()  # at the same point: library pages the scene runs touch are not counted
        scene_probe = agreement = None
        scene_s = 0.0
        if job.scene is not None or job.agreement is not None:  # bench --scene / --agreement-images
            from trt_export.bench.scene_worker import measure_scene

            scene_started = _now()
            scene_probe, agreement = measure_scene(job, runner, manifest)
            scene_s = _now() - scene_started
    summary = ParitySummary.of(comparison, settings.backend)
    ci = outcome.ci_halfwidth
    return MeasureResult(
        build_s=build_s,
        convert_s=getattr(runner, "convert_seconds", None),
        trt_coverage=coverage,
        warnings=warnings,
        samples_s=samples,
        parity=summary.to_dict(),
        memory=WorkerMemory(
            peak_rss_mb=peak_rss,
            rss_at_start_mb=_FORKED_RSS_MB,
            rss_refaulted_mb=refaulted,
            gpu_peak_mb=gpu_mb,
            paddle_allocator_peak_mb=allocator_mb,
        ),
        timing=TimingSummary(
            runs=outcome.runs,
            warmup_runs=outcome.warmup_runs,
            stop=outcome.stop,
            ci_halfwidth=None if ci is None or not math.isfinite(ci) else ci,
            notes=list(outcome.notes),
        ),
        phases_s={
            "build": build_s or 0.0,
            "parity": parity_s,
            "warmup": outcome.warmup_s,
            "timed": outcome.timed_s,
            "scene": scene_s,
        },
        scene_probe=scene_probe,
        agreement=agreement,
    )


def _refaulted_mb() -> float | None:
    """For a forked worker: library pages it faulted in again although the server held them (MiB).

    They raised this process's RSS but are part of the baseline (idle) a fresh process already
    holds, so ``bench`` subtracts them from the worker's increase (forkserver.shared_file_mb).
    """
    if _FORKED_RSS_MB is None:
        return None
    from trt_export.bench.forkserver import shared_file_mb

    shared = shared_file_mb(os.getppid())
    return None if shared is None else max(shared - _FORKED_FILE_MB, 0.0)


def is_fatal(exc: TrtExportError) -> bool:
    """Errors of the model source, the inputs or the backend: every candidate would fail the same way,
    so the sweep stops with the message (exit 2) instead of reporting 'no candidate fits'."""
    from trt_export.errors import BackendUnavailable, InputError, ModelSourceError

    return isinstance(exc, (ModelSourceError, InputError, BackendUnavailable))


def run_job(job: Job, stage_file: Path | None = None, verbose: bool = False, deadline: float | None = None) -> Outcome:
    """Run one job; failures become a :class:`WorkerFailure` rather than exceptions.

    ``deadline``: time.monotonic() by which a measure job's timing loop stops (the step's timeout)."""
    from trt_export.env.paddle_import import set_verbose

    set_verbose(verbose)
    stage = StageRecord(job.FIRST_STAGE, stage_file)
    try:
        if isinstance(job, IdleJob):
            return _job_idle(job)
        if isinstance(job, PrepareJob):
            return _job_prepare(job)
        if isinstance(job, MeasureJob):
            return _job_measure(job, stage, deadline)
        if isinstance(job, InterleaveJob):  # A/B re-measurement for the gate (trt_export/bench/interleave.py)
            from trt_export.bench.interleave import job_interleave

            return job_interleave(job, stage)
        if isinstance(job, SceneReferenceJob):
            from trt_export.bench.scene_worker import job_scene_reference

            stage[0] = "run"
            return job_scene_reference(job, _source(job.source))
        return WorkerFailure(stage[0], f"unknown worker job {type(job).__name__}")
    except MemoryError:
        return WorkerFailure("oom", f"out of memory during {stage[0]}")
    except OutOfMemory as exc:
        return WorkerFailure("oom", str(exc))
    except TrtExportError as exc:
        return WorkerFailure(stage[0], str(exc), fatal=is_fatal(exc))
    except Exception as exc:  # anything else still fails only this candidate, with its reason
        if verbose:
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return WorkerFailure(stage[0], f"{type(exc).__name__}: {first}")


def main(argv: list[str], forked: dict[str, float] | None = None) -> int:
    """Run the job in ``argv[0]``, write its result to ``argv[1]``.

    ``forked``: the worker was forked from the pre-imported server; its /proc memory figures (MiB)
    right after the fork, i.e. what it inherited (trt_export/bench/forkserver.py). None for a worker
    started afresh with exec.
    """
    global _FORKED_RSS_MB, _FORKED_FILE_MB
    forked_rss_mb = None if forked is None else forked.get("VmHWM", 0.0)
    _FORKED_RSS_MB = forked_rss_mb
    _FORKED_FILE_MB = 0.0 if forked is None else forked.get("RssFile", 0.0)
    if forked is None:
        die_with_parent()  # an exec'd worker; a forked one is the fork server's child
    job_path, result_path = Path(argv[0]), Path(argv[1])
    try:
        request = decode_job(job_path.read_text(encoding="utf-8"))
    except ProtocolError as exc:  # a parent of another version: its own failure, not a traceback
        _write_result(result_path, ResultFile(WorkerFailure("start-up", str(exc))))
        return 0
    if forked_rss_mb is None and not isinstance(request.job, IdleJob):
        # A fresh process imports Paddle here, so that start-up and the job's own phases are told apart.
        from trt_export.env.paddle_import import import_paddle, set_verbose

        set_verbose(request.verbose)
        try:
            import_paddle()
        except TrtExportError:
            pass  # the job reports it
    ready = _now()
    outcome = run_job(
        request.job, result_path.with_name(result_path.name + ".stage"), request.verbose, request.deadline
    )
    _write_result(result_path, ResultFile(outcome, Clock(ready, _now())))
    return 0


def _write_result(path: Path, answer: ResultFile) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(encode_result(answer), encoding="utf-8")
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
