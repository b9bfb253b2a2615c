"""Executors: run the candidates of one sweep somewhere other than one at a time in this process.

``bench`` hands an executor a :class:`~trt_export.bench.sweep.SweepContext` and the candidate shapes; the
executor runs :func:`~trt_export.bench.sweep.run_candidate` for each (here: one thread per device, each
starting the usual worker processes; ray_executor.py: one Ray task per candidate) and returns a
:class:`SweepResult`, which bench turns into the one report. What a candidate is and how it is
measured stays in bench.py and bench_worker.py.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from trt_export.bench.report import Candidate
from trt_export.bench.scale_fields import ExecutionInfo, Placement
from trt_export.infer.backends import CPU_BACKENDS, BackendSettings
from trt_export.model.shapes import FixedShape
from trt_export.scale.devices import ALLOW_CPU_FLAG, plan_devices, visible_devices


@dataclass
class SweepResult:
    """Every candidate of the sweep, in sweep order, and what bench needs to write the report."""

    candidates: list[Candidate]
    settings: BackendSettings
    notes: list[str]
    execution: ExecutionInfo
    model_type: str | None = None
    environment: dict[str, Any] | None = None  # where the candidates ran, when not this machine (Ray)
    idle_rss: float | None = None
    export_dirs: dict[str, Any] = field(default_factory=dict)  # label -> local export dir of each measured candidate


class CandidateExecutor(Protocol):
    def run(self, context: Any, shapes: Sequence[FixedShape]) -> SweepResult:  # context: bench.SweepContext
        ...


@dataclass
class Finished:
    """One candidate's run (a bench.CandidateRun) and where it happened."""

    run: Any
    placement: Placement
    environment: dict[str, Any] | None = None
    idle_rss: float | None = None


def collect(
    shapes: Sequence[FixedShape],
    finished: Mapping[str, Finished],
    settings: BackendSettings,
    execution: ExecutionInfo,
    notes: Sequence[str] = (),
) -> SweepResult:
    """Order the finished candidates as the sweep lists them; settle the backend and the notes.

    Candidates decide the automatic onednn -> cpu switch each on its own (bench._backend_for_export);
    they agree, since it depends on the network, not the shape. The switched backend wins.
    """
    runs = [finished[shape.label] for shape in shapes]
    out_notes = list(notes)
    final = settings
    model_type = None
    for item in runs:
        run = item.run
        model_type = model_type or run.model_type
        if run.note is not None:
            final = replace(run.settings, device_id=settings.device_id)
            if run.note not in out_notes:
                out_notes.append(run.note)
    environment = next((item.environment for item in runs if item.environment), None)
    idle_rss = next((item.idle_rss for item in runs if item.idle_rss is not None), None)
    placements = {shape.label: item.placement for shape, item in zip(shapes, runs, strict=True)}
    groups: dict[str, list[str]] = {}
    for label, placement in placements.items():
        groups.setdefault(placement.where, []).append(label)
    out_notes.append("measured on " + "; ".join(f"{where}: {', '.join(labels)}" for where, labels in groups.items()))
    return SweepResult(
        candidates=[item.run.candidate for item in runs],
        settings=final,
        notes=out_notes,
        execution=replace(execution, placements=placements),
        model_type=model_type,
        environment=environment,
        idle_rss=idle_rss,
        export_dirs={
            item.run.candidate.label: item.run.export_dir
            for item in runs
            if item.run.candidate.ok and getattr(item.run, "export_dir", None) is not None
        },
    )


@dataclass
class DeviceExecutor:
    """``--devices``: one lane per device, candidates planned onto lanes by :func:`plan_devices`.

    On a GPU backend each lane's workers get ``CUDA_VISIBLE_DEVICES`` = its GPU and use device 0
    of it. On a CPU backend (only with ``--allow-parallel-cpu-timing``) the lanes are slots that
    share the CPU, and the report says so.
    """

    devices: tuple[int, ...]
    backend: str
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def on_cpu(self) -> bool:
        return self.backend in CPU_BACKENDS

    def __str__(self) -> str:
        if self.on_cpu:
            return f"{len(self.devices)} at a time on the CPU ({ALLOW_CPU_FLAG})"
        return f"on GPUs {','.join(map(str, self.devices))}, one candidate per GPU"

    def plan(self, shapes: Sequence[FixedShape]) -> dict[int, list[str]]:
        return plan_devices([shape.label for shape in shapes], self.devices)

    def run(self, context: Any, shapes: Sequence[FixedShape]) -> SweepResult:
        from tqdm import tqdm

        from trt_export.bench.sweep import run_candidate

        by_label = {shape.label: shape for shape in shapes}
        finished: dict[str, Finished] = {}
        lock = threading.Lock()
        stop = threading.Event()
        bar = tqdm(total=len(shapes), desc="bench", unit="shape", disable=not context.options.progress, file=sys.stderr)

        def lane(device: int, labels: list[str]) -> None:
            pool = copy.copy(context.pool)
            pool.env = dict(context.pool.env)
            if getattr(pool, "server", None) is not None:
                # a worker server started for the sweep has the sweep's environment, not this
                # lane's CUDA_VISIBLE_DEVICES: the lane starts its workers afresh
                pool.server = None
            settings = context.settings
            where = f"CPU slot {device}"
            if not self.on_cpu:
                visible = visible_devices(device, self.environ)
                pool.env["CUDA_VISIBLE_DEVICES"] = visible
                settings = replace(settings, device_id=0)
                where = f"GPU {device}" + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible != str(device) else "")
            for label in labels:
                if stop.is_set():
                    return
                start = time.perf_counter()
                run = run_candidate(
                    pool,
                    context.source,
                    by_label[label],
                    context.options,
                    settings,
                    context.cache_dir,
                    context.environment,
                    context.idle_rss,
                )
                with lock:
                    finished[label] = Finished(
                        run, Placement(where=where, wall_s=round(time.perf_counter() - start, 3))
                    )
                    bar.update(1)

        errors: list[BaseException] = []

        def guarded(device: int, labels: list[str]) -> None:
            try:
                lane(device, labels)
            except BaseException as exc:  # re-raised in the sweep's thread below
                errors.append(exc)
                stop.set()

        # One thread per device, all started at once: each lane runs its plan in order.
        threads = [
            threading.Thread(target=guarded, args=(device, labels), name=f"bench-device-{device}", daemon=True)
            for device, labels in self.plan(shapes).items()
            if labels
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        except BaseException:
            stop.set()  # lanes start nothing new; candidates already running finish
            raise
        finally:
            bar.close()
        if errors:
            raise errors[0]
        notes = []
        if self.on_cpu and len(self.devices) > 1:
            notes.append(
                f"candidates ran {len(self.devices)} at a time on the CPU ({ALLOW_CPU_FLAG}), {context.settings.cpu_threads} "
                "thread(s) each: every latency includes the other candidates' work, so these figures are not comparable "
                "with a sequential sweep and should not be gated against one"
            )
        execution = ExecutionInfo(
            executor="cpu-parallel" if self.on_cpu and len(self.devices) > 1 else "devices", parallel=len(self.devices)
        )
        return collect(shapes, finished, context.settings, execution, notes)
