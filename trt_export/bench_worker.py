"""What runs inside one candidate's worker process.

``python -m trt_export.bench_worker JOB.json RESULT.json``. Each candidate gets fresh processes
so its peak memory is its own and a crash, an out-of-memory kill or a hang costs only that
candidate. Jobs:

- ``idle``: import Paddle and report RSS and the environment fingerprint (the memory baseline);
- ``prepare``: export at the fixed shape (unless cached) and save seeded inputs with the dygraph
  model's outputs on them, so the measuring process never builds the dygraph model;
- ``measure``: build the predictor, check parity against the saved reference, warm up, time,
  report peak memory.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from trt_export.bench_guard import StageRecord, die_with_parent
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


def _job_idle(job: dict[str, Any]) -> dict[str, Any]:
    from trt_export.fingerprint import environment_fingerprint
    from trt_export.paddle_env import import_paddle

    import_paddle()
    return {"rss_mb": rss_peak_mb(), "environment": environment_fingerprint()}


def _source(job: dict[str, Any]):  # -> ModelSource
    from trt_export.sources import load_source

    spec = job["source"]
    return load_source(spec["spec"], weights=spec.get("weights"), kwargs=spec.get("kwargs"), model_type=spec.get("model_type"))


def _job_prepare(job: dict[str, Any]) -> dict[str, Any]:
    from trt_export.export import export_model
    from trt_export.inputs import random_inputs, save_npz
    from trt_export.manifest import MANIFEST_NAME, load_manifest
    from trt_export.runners import DygraphRunner
    from trt_export.shapes import FixedShape

    export_dir = Path(job["export_dir"])
    reference = Path(job["reference"])
    source = None
    from trt_export.export_cache import discard, export_problem

    cached = (export_dir / MANIFEST_NAME).is_file()
    if cached and export_problem(export_dir) is not None:  # damaged: made again, not reused
        discard(export_dir, reference)
        cached = False
    if not cached:
        source = _source(job)
        # Another sweep sharing the cache may be exporting this entry: wait for it, not fail.
        export_model(source, export_dir, FixedShape.from_nchw(job["shape_nchw"]), model_format=job["format"], force=True,
                     replace_non_export=True, lock_wait_s=float(job.get("lock_wait_s", 600.0)))
    manifest = load_manifest(export_dir)
    if not reference.is_file():
        source = source or _source(job)
        feed = random_inputs(manifest.inputs, seed=int(job["seed"]), model_yml=source.model_yml)
        with DygraphRunner(source.build, manifest.inputs, manifest.output_names) as runner:
            outputs = runner.infer(feed)
        partial = reference.with_name(reference.name + ".partial")
        save_npz(partial, {**{REFERENCE_INPUT + k: v for k, v in feed.items()}, **{REFERENCE_OUTPUT + k: v for k, v in outputs.items()}})
        partial.rename(reference)
    return prepared_summary(manifest, cached)


def prepared_summary(manifest: Any, cached: bool) -> dict[str, Any]:
    """What a prepare job reports about its export (the parent reads it for a complete cache entry)."""
    return {
        "export_s": manifest.export_seconds,
        "cached": cached,
        "model_type": manifest.model_type,
        "model_name": manifest.model_name,
        "default_format": manifest.default_format,
    }


def _load_reference(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    with np.load(path) as data:
        feed = {k[len(REFERENCE_INPUT):]: data[k] for k in data.files if k.startswith(REFERENCE_INPUT)}
        ref = {k[len(REFERENCE_OUTPUT):]: data[k] for k in data.files if k.startswith(REFERENCE_OUTPUT)}
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

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.peak_mb: float | None = None
        self._nvml: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuMemoryPeak:
        from trt_export.paddle_env import import_paddle

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
    from trt_export.paddle_env import import_paddle

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
    from trt_export.paddle_env import import_paddle

    paddle = import_paddle()
    if not paddle.is_compiled_with_cuda():
        return None
    try:
        return paddle.device.cuda.max_memory_reserved(device_id) / 2**20
    except Exception:  # older builds lack the call
        return None


def _job_measure(job: dict[str, Any], stage: list[str]) -> dict[str, Any]:
    from trt_export.backends import BackendSettings
    from trt_export.compare import compare_outputs
    from trt_export.manifest import load_manifest
    from trt_export.runners import PaddleInferenceRunner
    from trt_export.verify import score_axes, tolerances_for

    manifest = load_manifest(job["export_dir"])
    settings_data = dict(job["settings"])
    settings_data["disable_ops"] = tuple(settings_data.get("disable_ops") or ())
    settings = BackendSettings(**settings_data)
    feed, reference = _load_reference(Path(job["reference"]))
    stage[0] = "build"
    # The export's own default format unless one was asked for ("auto" may have fallen back to PIR).
    requested = job.get("format")
    runner = PaddleInferenceRunner(manifest.export_dir, manifest, settings, model_format=None if requested in (None, "auto") else requested)
    with runner:
        stage[0] = "run"
        outputs = runner.infer(feed)
        comparison = compare_outputs(reference, outputs, tolerances_for(manifest, settings.backend), score_axes(manifest))

        def step() -> None:
            runner.run_raw()
            runner.fetch_outputs()

        if settings.uses_gpu:
            # The allocator's peak so far is the shape-collection run's or the calibration's; only
            # the measured predictor's timed loop counts.
            reset_allocator_peak(settings.device_id)
        stage[0] = "timing"
        with GpuMemoryPeak() as gpu_peak:
            samples = timed_loop(step, int(job["warmup"]), job.get("iters"), job.get("duration_s"))
        gpu_mb = gpu_peak.peak_mb
        allocator_mb = paddle_allocator_peak_mb(settings.device_id) if settings.uses_gpu else None
        build_s = runner.build_seconds
        coverage = runner.trt_coverage.to_dict() if runner.trt_coverage is not None else None
        warnings = list(runner.trt_warnings)
        peak_rss = rss_peak_mb()  # before the scene probe and agreement runs, which are not the predictor's
        scene: dict[str, Any] = {}
        if job.get("scene") or job.get("agreement"):  # bench --scene / --agreement-images (scene_worker.py)
            from trt_export.scene_worker import measure_scene

            scene = measure_scene(job, runner, manifest)
    summary = comparison.parity_summary(settings.backend)
    return {
        "build_s": build_s,
        "trt_coverage": coverage,
        "warnings": warnings,
        "samples_s": samples,
        "parity": summary.to_dict(),
        "parity_reasons": comparison.reasons[:5],
        "memory": {"peak_rss_mb": peak_rss, "gpu_peak_mb": gpu_mb, "paddle_allocator_peak_mb": allocator_mb},
        **scene,
    }


def run_job(job: dict[str, Any], stage_file: Path | None = None) -> dict[str, Any]:
    """Run one job; failures become ``{"error": {"stage", "reason"}}`` rather than exceptions."""
    from trt_export.paddle_env import set_verbose

    set_verbose(bool(job.get("verbose")))
    kind = job["job"]
    stage = StageRecord("export" if kind == "prepare" else ("start-up" if kind == "idle" else "build"), stage_file)
    try:
        if kind == "idle":
            return _job_idle(job)
        if kind == "prepare":
            return _job_prepare(job)
        if kind == "measure":
            return _job_measure(job, stage)
        if kind == "interleave":  # A/B re-measurement for the gate (trt_export/interleave.py)
            from trt_export.interleave import job_interleave

            return job_interleave(job, stage)
        if kind == "scene_reference":
            from trt_export.scene_worker import job_scene_reference

            stage[0] = "run"
            return job_scene_reference(job, _source(job))
        return {"error": {"stage": stage[0], "reason": f"unknown worker job {kind!r}"}}
    except MemoryError:
        return {"error": {"stage": "oom", "reason": f"out of memory during {stage[0]}"}}
    except OutOfMemory as exc:
        return {"error": {"stage": "oom", "reason": str(exc)}}
    except TrtExportError as exc:
        return {"error": {"stage": stage[0], "reason": str(exc)}}
    except Exception as exc:  # anything else still fails only this candidate, with its reason
        if job.get("verbose"):
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return {"error": {"stage": stage[0], "reason": f"{type(exc).__name__}: {first}"}}


def main(argv: list[str]) -> int:
    die_with_parent()
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    result = run_job(job, result_path.with_name(result_path.name + ".stage"))
    result["peak_rss_mb"] = rss_peak_mb()
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
