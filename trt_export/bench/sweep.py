"""The sweep: candidate fixed shapes -> export, build, time, memory, parity -> a recommendation.

Each candidate runs in its own worker processes (see bench_worker.py), forked from one server
that imported Paddle once (forkserver.py): one prepares the export and the dygraph reference, one
measures. The parent only orchestrates, so a candidate that
crashes, is killed for memory or hangs is recorded as failed and the sweep goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trt_export import __version__
from trt_export.bench import startup
from trt_export.bench.flops import METHOD as FLOPS_METHOD
from trt_export.bench.flops import achieved_gflops
from trt_export.bench.guard import (
    SCRATCH_NAME,
    ResultsNotWritten,
    crash_inline,
    last_log_line,
    preflight_sweep,
    stage_path,
    swap_in,
)
from trt_export.bench.options import DEFAULT_OUT, DEFAULT_SHAPES, BenchOptions
from trt_export.bench.protocol import (
    Clock,
    IdleJob,
    IdleResult,
    Job,
    JobFile,
    MeasureJob,
    MeasureResult,
    PrepareJob,
    PrepareResult,
    ProtocolError,
    Result,
    RoofRequest,
    SourceSpec,
    WorkerFailure,
    decode_result,
    encode_job,
)
from trt_export.bench.ready import prepare_ready, ready_export, ready_export_notes
from trt_export.bench.recommend import recommend_report
from trt_export.bench.report import (
    BenchReport,
    Candidate,
    Failure,
    Memory,
    ModelInfo,
    ParitySummary,
    failure_stage,
    save_bench_report,
)
from trt_export.bench.roof import Roof, gpu_peak
from trt_export.bench.scene_sweep import (
    attach_results,
    check_dense_export,
    check_scene_options,
    ensure_reference,
    measure_job_fields,
)
from trt_export.bench.stats import NOISY_CV, LatencyStats, throughput
from trt_export.bench.sweep_cache import export_cache_key, reference_path
from trt_export.bench.time_accounting import PhaseTimes, SweepTime
from trt_export.bench.timing import step_deadline
from trt_export.env.paddle_import import is_verbose
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import BACKENDS, BackendSettings, backend_availability
from trt_export.model.shapes import FixedShape, check_model_rules, parse_fixed_shape
from trt_export.model.sources import ModelSource

# Best first; INT8 is never picked by default (it needs calibration data).
BACKEND_PREFERENCE = ("trt-fp16", "trt-fp32", "paddle-gpu", "paddle-onednn", "paddle-cpu")
FLOPS_FILE = "flops.json"  # in the cache entry, beside export/
# The phase a worker's whole step counts as when it left no clock stamps (crash, timeout), by its first stage.
UNSPLIT_PHASE = {"start-up": "startup", "export": "export"}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trt-export" / "exports"


def best_backend(probe: Any = None) -> str:
    """The best backend usable here; ``probe``: an EnvironmentProbe already read (else read now)."""
    for backend in BACKEND_PREFERENCE:
        if backend_availability(backend, "legacy", probe).available:
            return backend
    raise BackendUnavailable("no Paddle Inference backend is usable on this machine; run 'trt-export doctor'")


@dataclass
class WorkerOutcome:
    result: Result | None
    failure: Failure | None
    times: PhaseTimes = field(default_factory=PhaseTimes)


class WorkerPool:
    """Runs worker jobs as fresh subprocesses with a time limit; keeps their logs."""

    def __init__(self, log_dir: Path, timeout_s: float, shown_log_dir: Path | None = None) -> None:
        self.server: Any = None  # a started trt_export.bench.forkserver.ForkServer, see start_server()
        self.notes: list[str] = []  # how the workers were started, when the report must say so
        self.times = PhaseTimes()  # every job's phases, for the sweep's time accounting
        self.log_dir = log_dir
        # Failure reasons name each log where the user finds it after the run (``--out``/logs);
        # ``log_dir`` is scratch space, deleted when the sweep ends.
        self.shown_log_dir = shown_log_dir or log_dir
        self.timeout_s = timeout_s
        self.env = startup.worker_env()

    def start_server(self, preload: list[str]) -> None:
        """Start the pre-imported server now (it imports Paddle while the sweep does its checks)."""
        from trt_export.bench.forkserver import ForkServer, fork_supported

        if fork_supported() and self.server is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.server = ForkServer(self.log_dir / "forkserver.log", self.env, preload=preload, verbose=is_verbose())

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def run(self, job: Job, name: str, default_stage: str, show_log: bool = True) -> WorkerOutcome:
        """``show_log`` False: the log will not be kept (a failure before any result), so a timeout
        quotes its last line instead of naming a file that will not exist."""
        job_file = self.log_dir / f"{name}.job.json"
        result_file = self.log_dir / f"{name}.result.json"
        log_file = self.log_dir / f"{name}.log"
        times = PhaseTimes()
        if self.server is not None and self.server.ready is None:
            waited = time.monotonic()
            try:
                ready = self.server.wait_ready(max(self.timeout_s, 120.0))
            except Exception:  # no server: every worker starts afresh, as before
                self.close()
            else:
                if not ready.get("fork_safe", True):
                    from trt_export.bench.forkserver import CUDA_NOTE

                    self.close()
                    self.notes.append(CUDA_NOTE)
            times.add("startup", time.monotonic() - waited)
        requested = time.monotonic()
        request = JobFile(job, verbose=is_verbose(), deadline=step_deadline(self.timeout_s, requested))
        job_file.write_text(encode_job(request), encoding="utf-8")
        outcome, clock = self._run(job_file, result_file, log_file, default_stage, show_log)
        finished = time.monotonic()
        if clock is not None:
            times.add("startup", clock.ready - requested)
            times.add("teardown", finished - clock.end)
            for phase, seconds in getattr(outcome.result, "phases_s", {}).items():
                times.add(phase, seconds)
            if job.WHOLE_PHASE is not None:  # jobs without phases of their own
                times.add(job.WHOLE_PHASE, clock.end - clock.ready)
        else:  # no stamps (crash, timeout): the step's time is not split
            times.add(UNSPLIT_PHASE.get(job.FIRST_STAGE, "build"), finished - requested)
        outcome.times = times
        self.times.merge(times)
        return outcome

    def _timed_out(self, result_file: Path, log_file: Path, default_stage: str, show_log: bool) -> WorkerOutcome:
        shown = (
            f"log: {self.shown_log_dir / log_file.name}" if show_log else f"last log line: {last_log_line(log_file)}"
        )
        # The worker records each step as it enters it: name the one that ran out of time.
        stage_file = stage_path(result_file)
        stage = stage_file.read_text(encoding="utf-8").strip() if stage_file.is_file() else default_stage
        return WorkerOutcome(
            None,
            Failure("timeout", f"{stage or default_stage} took longer than --timeout {self.timeout_s:g} s; {shown}"),
        )

    def _run(
        self, job_file: Path, result_file: Path, log_file: Path, default_stage: str, show_log: bool = True
    ) -> tuple[WorkerOutcome, Clock | None]:
        """The job's outcome and the worker's clock stamps (None when it left no result)."""
        if self.server is not None:
            from trt_export.bench.forkserver import ForkServerError

            try:
                status, _ = self.server.run(job_file, result_file, log_file, self.timeout_s)
            except ForkServerError:
                self.close()  # the rest of the sweep starts fresh workers
            else:
                if status is None:
                    return self._timed_out(result_file, log_file, default_stage, show_log), None
                return self._outcome(status, result_file, log_file, default_stage)
        with log_file.open("w", encoding="utf-8") as log:
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "trt_export.bench.worker", str(job_file), str(result_file)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    timeout=self.timeout_s,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                return self._timed_out(result_file, log_file, default_stage, show_log), None
        return self._outcome(proc.returncode, result_file, log_file, default_stage)

    def _outcome(
        self, returncode: int, result_file: Path, log_file: Path, default_stage: str
    ) -> tuple[WorkerOutcome, Clock | None]:
        shown_log = self.shown_log_dir / log_file.name
        if returncode != 0 or not result_file.is_file():
            return WorkerOutcome(None, self._crash(returncode, log_file, default_stage, shown_log)), None
        try:
            answer = decode_result(result_file.read_text(encoding="utf-8"))
        except ProtocolError as exc:
            return WorkerOutcome(None, Failure("crash", f"{exc}; log: {shown_log}")), None
        outcome = answer.outcome
        if isinstance(outcome, WorkerFailure):
            if outcome.fatal:
                # The model source, the inputs or the backend, not this candidate: every one would fail alike.
                raise TrtExportError(outcome.reason)
            return WorkerOutcome(None, Failure(failure_stage(outcome.stage), outcome.reason)), answer.clock
        return WorkerOutcome(outcome, None), answer.clock

    @staticmethod
    def _crash(
        returncode: int, log_file: Path, stage: str, shown_log: Path | None = None, inline: bool = False
    ) -> Failure:
        shown_log = shown_log or log_file
        if inline:
            return Failure("crash", crash_inline(returncode, log_file, stage))
        lines = [
            line.strip() for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
        # Paddle's fatal-signal report ends with [TimeInfo]/[SignalInfo] lines (PIDs, addresses);
        # its "FatalError: ..." line is the one that says what happened.
        fatal = [line for line in lines if line.startswith("FatalError:")]
        last = (fatal or lines or ["no output"])[-1][:200]
        if returncode < 0:
            sig = (
                signal.Signals(-returncode).name
                if -returncode in signal.Signals._value2member_map_
                else str(-returncode)
            )
            if returncode == -signal.SIGKILL:
                return Failure(
                    "oom", f"worker killed by SIGKILL during {stage} (most likely out of memory); log: {shown_log}"
                )
            return Failure("crash", f"worker died of {sig} during {stage}: {last}; log: {shown_log}")
        return Failure("crash", f"worker exited {returncode} during {stage}: {last}; log: {shown_log}")


def run_bench(options: BenchOptions, announce: Callable[[str], None] | None = None) -> BenchReport:
    """Sweep every candidate shape and write the report files into ``options.out_dir``.

    ``announce`` receives one line saying what is about to run, once every input was accepted.
    """
    started = options.started_at if options.started_at is not None else time.monotonic()
    options.validate()  # before any process is started
    # The pre-imported server imports Paddle while this process loads the source and checks inputs.
    server = plotter = None
    if options.fork_workers:
        server, plotter = startup.take(options.model)
    try:
        return _run_bench(options, announce, server, started, plotter)
    finally:
        startup.close(server, plotter)


def _run_bench(
    options: BenchOptions, announce: Callable[[str], None] | None, server: Any, started: float, plotter: Any = None
) -> BenchReport:
    from tqdm import tqdm

    source, probe = startup.load_sweep_source(options, server)
    ready = ready_export(options, source)
    for shape in options.shapes:
        check_model_rules(shape, source.name)
    scene_plan = (
        check_scene_options(options.scene, options.shapes, len(source.input_names) or 1, source.model_type)
        if options.scene
        else None
    )
    if options.objective == "scene" and (scene_plan is None or scene_plan.scene is None):
        raise TrtExportError("--objective scene needs a scene: give --scene WxH or --scene-image FILE")
    if scene_plan is not None and options.executor is not None:  # its dygraph reference is made once, here
        raise TrtExportError(
            "--scene, --scene-image and --agreement-images run candidates one at a time; drop --devices/--ray "
            "(--shard works)"
        )
    if ready is not None and options.executor is not None:
        raise TrtExportError("--exported measures one ready export; drop --devices/--ray")
    if options.settings is None:
        options.auto_backend = True
    settings = options.settings or BackendSettings(backend=best_backend(probe), cpu_threads=os.cpu_count() or 1)
    swept = sweep_backends(settings, options.extra_backends)
    for each in swept:
        availability = backend_availability(
            each.backend, None if options.model_format == "auto" else options.model_format, probe
        )
        if not availability.available:
            raise BackendUnavailable(f"backend {each.backend} is not available here: {availability.reason}")
        if each.is_trt:
            from trt_export.infer.backends import probe_environment
            from trt_export.infer.trt_preflight import preflight

            preflight(
                each, None if options.model_format == "auto" else options.model_format, probe or probe_environment()
            )
    out_dir = Path(options.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TrtExportError(f"--out {str(out_dir)!r} is a file; give a directory")
    cache_dir = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    if options.use_cache and cache_dir.exists() and not cache_dir.is_dir():
        raise TrtExportError(f"--cache-dir {str(cache_dir)!r} is a file; give a directory (or --no-cache)")
    preflight_sweep(options, source, out_dir, cache_dir)
    scratch = Path(tempfile.mkdtemp(prefix=f".{SCRATCH_NAME}.partial-{os.getpid()}-"))
    if not options.use_cache:
        cache_dir = scratch / "exports"
    cache_dir.mkdir(parents=True, exist_ok=True)
    # bench --shard K/N: a deterministic part of the candidates (see shards.py)
    shapes = options.shard.select(options.shapes) if options.shard is not None else list(options.shapes)
    if announce is not None:
        labels = ", ".join(shape.label for shape in shapes)
        names = ", ".join(each.backend for each in swept)
        where = "".join(f", {part}" for part in (options.shard, options.executor) if part is not None)
        announce(f"bench {source.spec} on {names}: {len(shapes)} candidate shapes (NCHW {labels}){where}")
    pool = WorkerPool(scratch / "logs", options.timeout_s, shown_log_dir=out_dir / "logs")
    pool.log_dir.mkdir(parents=True)
    pool.server = server
    if server is not None:  # waiting for the server before the pool existed (the source probe) is start-up
        pool.times.add("startup", server.waited_s)
    try:
        cpu_roofs = [RoofRequest(each, options.roof_n) for each in swept if not each.uses_gpu] if options.roof else []
        idle = pool.run(IdleJob(cpu_roofs), "idle", "start-up", show_log=False)
        if idle.failure is not None or not isinstance(idle.result, IdleResult):
            hint = (
                "; raise --timeout (importing Paddle in a fresh process takes seconds)"
                if idle.failure and idle.failure.stage == "timeout"
                else ""
            )
            reason = idle.failure.reason if idle.failure else "no result"
            raise TrtExportError(f"a worker process cannot start Paddle: {reason}{hint}")
        environment = idle.result.environment
        idle_rss = idle.result.rss_mb
        if options.before_sweep is not None:
            options.before_sweep(
                source, None if options.auto_backend else settings.backend, environment, settings.cpu_threads
            )
        kept: dict[str, Path] = {}
        candidates: list[Candidate] = []
        notes: list[str] = list(pool.notes) + ([] if ready is None else ready_export_notes(ready))
        roofs = _roofs(swept, idle.result.roofs, environment, notes) if options.roof else {}
        requested = settings  # before an automatic backend switch
        # The exported model's type (auto-detected at export) names the report's model_type.
        model_type = source.model_type if source.model_type != "auto" else "generic"
        execution = None
        if options.executor is None:
            bar = tqdm(shapes, desc="bench", unit="shape", disable=not options.progress, file=sys.stderr)
            for shape in bar:
                bar.set_postfix_str(shape.label)
                run = run_candidate(
                    pool,
                    source,
                    shape,
                    options,
                    settings,
                    cache_dir,
                    environment,
                    idle_rss,
                    measured=any(c.ok for c in candidates),
                    scene_plan=scene_plan,
                    scratch=scratch,
                    ready=ready,
                    extra=swept[1:],
                )
                model_type = run.model_type or model_type
                if run.note is not None:
                    settings = run.settings
                    swept = [settings, *swept[1:]]
                    notes.append(run.note)
                    bar.write(f"note: {run.note}", file=sys.stderr)
                for candidate in run.candidates:
                    candidates.append(candidate)
                    name = candidate.key if len(swept) > 1 else candidate.label
                    notes.extend(f"{name}: {note}" for note in (candidate.timing.notes if candidate.timing else []))
                if options.keep_exports and run.candidate.ok and run.export_dir is not None:
                    kept[shape.label] = run.export_dir
            bar.close()
        else:
            context = SweepContext(source, options, settings, cache_dir, environment, idle_rss, pool)
            sweep = options.executor.run(context, shapes)
            candidates, settings, execution = sweep.candidates, sweep.settings, sweep.execution
            notes.extend(sweep.notes)
            for cand in candidates:
                notes.extend(f"{cand.label}: {note}" for note in (cand.timing.notes if cand.timing else []))
            model_type = sweep.model_type or model_type
            environment = sweep.environment or environment
            idle_rss = sweep.idle_rss if sweep.idle_rss is not None else idle_rss
            kept.update(sweep.export_dirs)  # local exports only (a Ray node's stay there)
        if pool.server is not None:  # no more workers: the server exits while the files are written
            pool.server.shutdown()
        report = BenchReport(
            tool_version=__version__,
            created_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            model=ModelInfo(
                source=source.spec, name=source.name, model_type=model_type, weights_sha256=source.weights_sha256
            ),
            backend=settings.backend,
            settings=options.report_settings(
                settings.cpu_threads,
                scene=scene_plan.scene if scene_plan else None,
                min_agreement=scene_plan.min_agreement if scene_plan else None,
            ),
            environment=environment,
            idle_rss_mb=round(idle_rss, 1),
            candidates=candidates,
            notes=notes + (scene_plan.notes if scene_plan else []),
            backends=[each.backend for each in swept],
            roofs={name: roof.to_dict() for name, roof in roofs.items()},
            flops_method=FLOPS_METHOD if any(c.flops for c in candidates) else None,
            shard=options.shard.info(options.shapes, options, requested) if options.shard is not None else None,
            execution=execution,
        )
        recommend_report(report)
        # Everything up to here is accounted; the files are written after (plots are part of "parent").
        report.time_s = SweepTime.from_parts(time.monotonic() - started, pool.times)
        try:
            write_outputs(
                report, out_dir, pool.log_dir, exports=kept if options.keep_exports else None, plotter=plotter
            )
        except (OSError, TrtExportError) as exc:
            from trt_export.export.preflight import disk_full_error, is_disk_full

            why = (
                str(disk_full_error(out_dir))
                if is_disk_full(exc)
                else (str(exc) if isinstance(exc, TrtExportError) else f"{exc.strerror or exc}")
            )
            raise ResultsNotWritten(
                f"the sweep finished but its results could not be written to --out {str(out_dir)!r}: {why}; "
                "nothing in --out was changed",
                report,
            ) from None
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class CandidateRun:
    """One candidate's outcome: the measurement, and the backend it was measured on."""

    candidate: Candidate
    settings: BackendSettings  # differs from the one asked for after an automatic onednn -> cpu switch
    note: str | None  # why it differs
    model_type: str | None  # as the export detected it
    export_dir: Path | None = None  # the candidate's export on this machine (bench --keep-exports)
    more: list[Candidate] = field(default_factory=list)  # the same candidate on the extra backends (bench --backends)

    @property
    def candidates(self) -> list[Candidate]:
        return [self.candidate, *self.more]


@dataclass
class SweepContext:
    """What every candidate of one sweep shares; an executor runs :func:`run_candidate` with it."""

    source: ModelSource
    options: BenchOptions
    settings: BackendSettings
    cache_dir: Path
    environment: dict[str, Any]
    idle_rss: float
    pool: WorkerPool


def run_candidate(
    pool: WorkerPool,
    source: ModelSource,
    shape: FixedShape,
    options: BenchOptions,
    settings: BackendSettings,
    cache_dir: Path,
    environment: dict[str, Any],
    idle_rss: float,
    measured: bool = False,
    scene_plan: Any = None,
    scratch: Path | None = None,
    ready: Any = None,
    extra: list[BackendSettings] | None = None,
) -> CandidateRun:
    """Prepare (export + reference, cached) and measure one candidate in ``pool``'s workers.

    ``measured``: some candidate of this sweep was already measured, so the backend stays as it is.
    ``scene_plan``/``scratch``: the scene objective's plan and the sweep's scratch dir (bench_scene.py).
    ``extra``: more backends to measure the same prepared candidate on (bench --backends).
    """
    if ready is not None:  # bench --exported: the ready export is measured as it is
        assert scratch is not None, "a ready export needs the sweep's scratch dir"
        prepared = prepare_ready(pool, source, ready, options, scratch)
    else:
        prepared = _prepare_candidate(pool, source, shape, options, cache_dir, environment)
    note = None
    model_type = None
    if prepared.summary is not None:
        model_type = prepared.summary.model_type
        if scene_plan is not None:
            check_dense_export(prepared.export_dir)
            assert scratch is not None, "the scene objective needs the sweep's scratch dir"
            ensure_reference(scene_plan, pool, source_spec(source, options), prepared.export_dir, scratch)
        switched = _backend_for_export(settings, options, prepared.summary, measured=measured)
        if switched is not None:
            settings, note = switched
    measured_runs = []
    for each in [settings, *(extra or [])]:
        candidate = _measure_candidate(pool, prepared, each, options, idle_rss, scene_plan, tag=bool(extra))
        candidate.backend = each.backend
        flops = (prepared.summary.flops if prepared.summary is not None else None) or {}
        if flops.get("flops"):
            candidate.flops = int(flops["flops"])
            if candidate.latency_ms is not None:
                candidate.achieved_gflops = (
                    round(achieved_gflops(candidate.flops, candidate.latency_ms.median / 1e3) or 0.0, 3) or None
                )
        measured_runs.append(candidate)
    return CandidateRun(measured_runs[0], settings, note, model_type, prepared.export_dir, more=measured_runs[1:])


@dataclass
class Prepared:
    """A candidate's export and dygraph reference, ready to measure (or why they could not be made)."""

    shape: FixedShape
    export_dir: Path
    reference: Path
    summary: PrepareResult | None
    failure: Failure | None
    times: PhaseTimes = field(default_factory=PhaseTimes)  # this run's export/reference work
    manifest_file: Path | None = None  # bench --exported: the ready export's manifest, written by the parent


def _prepare_candidate(
    pool: WorkerPool,
    source: ModelSource,
    shape: FixedShape,
    options: BenchOptions,
    cache_dir: Path,
    environment: dict[str, Any],
) -> Prepared:
    key = export_cache_key(source, shape, options.model_format, environment.get("paddle_version", ""))
    entry = cache_dir / key
    entry.mkdir(parents=True, exist_ok=True)
    export_dir = entry / "export"
    # keyed apart from the export: it does not depend on the format, but on the seed and the device
    reference = reference_path(cache_dir, source, shape, options.seed, environment)
    times = PhaseTimes()
    prepared: PrepareResult | Failure | None = _cached_entry(export_dir, reference)
    if prepared is None:
        prepared, times = _prepare(pool, source, shape, options, export_dir, reference)
        if isinstance(prepared, Failure):  # a killed or crashed worker's staging dir goes now, not next run
            from trt_export.export.savedir import clean_stale

            clean_stale(entry)
    if isinstance(prepared, Failure):
        return Prepared(shape, export_dir, reference, None, prepared, times)
    return Prepared(shape, export_dir, reference, prepared, None, times)


def sweep_backends(settings: BackendSettings, extra: list[str]) -> list[BackendSettings]:
    """`settings` and the same settings on each extra backend, in order, without repeats."""
    names = list(dict.fromkeys([settings.backend, *extra]))
    return [settings if name == settings.backend else replace(settings, backend=name) for name in names]


def _roofs(
    swept: list[BackendSettings], measured: dict[str, Any], environment: dict[str, Any], notes: list[str]
) -> dict[str, Roof]:
    """Each backend's compute roof: measured in this run on CPU (by the idle worker), from the table on GPU."""
    from trt_export.parity.verify import precision_of

    roofs: dict[str, Roof] = {}
    for each in swept:
        if each.uses_gpu:
            roof = gpu_peak(environment.get("gpu_name"), precision_of(each.backend))
            if roof is None:
                notes.append(
                    f"no compute roof for {each.backend}: GPU {environment.get('gpu_name')!r} is not in the peak table (roof.py)"
                )
            else:
                roofs[each.backend] = roof
            continue
        entry = measured.get(each.backend) or {"error": "not measured"}
        if "error" in entry:
            notes.append(f"no compute roof for {each.backend}: the matmul roof run failed ({entry['error']})")
            continue
        roofs[each.backend] = Roof.from_dict(entry)
    return roofs


def _measure_candidate(
    pool: WorkerPool,
    prepared: Prepared,
    settings: BackendSettings,
    options: BenchOptions,
    idle_rss: float,
    scene_plan: Any = None,
    tag: bool = False,
) -> Candidate:
    shape = prepared.shape
    if prepared.failure is not None or prepared.summary is None:
        failed = _failed(shape, prepared.failure)
        failed.time_s = prepared.times
        return failed
    measure = pool.run(
        MeasureJob(
            export_dir=prepared.export_dir,
            manifest_file=prepared.manifest_file,
            reference=prepared.reference,
            format=options.model_format,
            settings=settings,
            policy=options.timing_policy(),
            **measure_job_fields(scene_plan),
        ),
        f"{shape.label}-{settings.backend}-measure" if tag else f"{shape.label}-measure",
        "build",
    )
    export_s = prepared.summary.export_s
    times = PhaseTimes(dict(prepared.times.seconds))
    times.merge(measure.times)
    if measure.failure is not None or not isinstance(measure.result, MeasureResult):
        failed = _failed(shape, measure.failure)
        failed.export_s = export_s
        failed.time_s = times
        return failed
    result = measure.result
    stats = LatencyStats.from_samples(result.samples_s)
    memory = result.memory
    peak = memory.peak_rss_mb
    increase = max(peak - idle_rss, 0.0)
    if memory.rss_at_start_mb is not None:
        # A forked worker's VmHWM starts at the RSS it inherited from the server (forkserver.py):
        # its own memory is what it added; a process that loaded Paddle and ran it holds idle + that.
        increase = max(peak - memory.rss_at_start_mb - (memory.rss_refaulted_mb or 0.0), 0.0)
        peak = idle_rss + increase
    parity = ParitySummary.from_dict(result.parity)
    candidate = Candidate(
        label=shape.label,
        shape_nchw=list(shape.nchw),
        status="ok",
        export_s=round(export_s, 4),
        build_s=round(result.build_s, 4) if result.build_s is not None else None,
        latency_ms=stats,
        noisy=stats.cv > NOISY_CV,
        throughput=throughput(shape.n, shape.h, shape.w, stats.median),
        memory=Memory(
            peak_rss_mb=round(peak, 1),
            rss_increase_mb=round(increase, 1),
            gpu_peak_mb=memory.gpu_peak_mb,
            paddle_allocator_peak_mb=memory.paddle_allocator_peak_mb,
        ),
        parity=parity,
        timing=result.timing,
        time_s=times,
        # raw samples (schema v2) for the gate's statistics; 0.1 us resolution keeps the file small
        samples_ms=[round(s * 1000.0, 4) for s in result.samples_s],
        trt_coverage=result.trt_coverage,
        warnings=list(result.warnings) + _cache_hit_warning(result.trt_coverage),
    )
    attach_results(candidate, result, scene_plan, shape)
    return candidate


def _cache_hit_warning(coverage: dict[str, Any] | None) -> list[str]:
    if coverage and coverage.get("engine_cache_hit"):
        return ["TensorRT engines came from --trt-cache-dir: build_s is a deserialisation time, not a build"]
    return []


def _cached_entry(export_dir: Path, reference: Path) -> PrepareResult | None:
    """What the prepare job would report, read from a complete cache entry (export + reference).

    A hit needs no prepare worker: starting one only to import Paddle and read the manifest costs
    seconds per candidate. None when the entry is incomplete or unreadable (the worker redoes it).
    """
    from trt_export.bench.export_cache import discard, export_problem, reference_problem
    from trt_export.bench.worker import prepared_summary
    from trt_export.export.manifest import MANIFEST_NAME, load_manifest

    flops = export_dir.parent / FLOPS_FILE
    if not (export_dir / MANIFEST_NAME).is_file() or not reference.is_file() or not flops.is_file():
        return None
    # A damaged entry is discarded and made again, not failed on every later run.
    if export_problem(export_dir) is not None:
        discard(export_dir, reference)
        return None
    if reference_problem(reference) is not None:
        reference.unlink(missing_ok=True)
        return None
    try:
        return prepared_summary(load_manifest(export_dir), flops=json.loads(flops.read_text(encoding="utf-8")))
    except (TrtExportError, ValueError):
        return None


def _backend_for_export(
    settings: BackendSettings, options: BenchOptions, summary: PrepareResult, measured: bool
) -> tuple[BackendSettings, str] | None:
    """paddle-cpu instead of an automatically chosen paddle-onednn when the export is PIR.

    "auto" falls back to PIR for networks Paddle cannot save as .pdmodel (argmax label maps), and
    oneDNN crashes on PIR models with bilinear interpolate (Paddle 3.3.1), so the backend the user
    did not choose would fail every candidate. Only before anything was measured, so one report
    never mixes backends; a backend the user named is never changed.
    """
    if not options.auto_backend or measured or settings.backend != "paddle-onednn" or summary.default_format != "pir":
        return None
    note = (
        "the export is a PIR .json model (this Paddle cannot save the network as .pdmodel), and oneDNN "
        "fails on PIR models with bilinear interpolate, so the sweep runs on paddle-cpu; pass --backend "
        "paddle-onednn to force it"
    )
    return replace(settings, backend="paddle-cpu"), note


def _prepare(
    pool: WorkerPool, source: ModelSource, shape: FixedShape, options: BenchOptions, export_dir: Path, reference: Path
) -> tuple[PrepareResult | Failure, PhaseTimes]:
    """Export (unless cached) and save the dygraph reference in a worker; its result or why it failed."""
    prepare = pool.run(
        PrepareJob(
            source=source_spec(source, options),
            shape_nchw=list(shape.nchw),
            format=options.model_format,
            export_dir=export_dir,
            reference=reference,
            seed=options.seed,
            flops=export_dir.parent / FLOPS_FILE,
        ),
        f"{shape.label}-prepare",
        "export",
    )
    return prepared_or_failure(prepare), prepare.times


def prepared_or_failure(outcome: WorkerOutcome) -> PrepareResult | Failure:
    """A prepare job's result, or why there is none."""
    if outcome.failure is not None or not isinstance(outcome.result, PrepareResult):
        return outcome.failure or Failure("crash", "prepare worker returned no result")
    return outcome.result


def source_spec(source: ModelSource, options: BenchOptions) -> SourceSpec:
    """The model source as a worker loads it."""
    # A PaddleRS training dir carries its own model.pdparams: never pass it as --weights.
    weights = source.weights_path if source.kind == "factory" else None
    return SourceSpec(source.spec, weights, source.factory_kwargs or None, options.model_type)


def _failed(shape: FixedShape, failure: Failure | None) -> Candidate:
    return Candidate(
        label=shape.label,
        shape_nchw=list(shape.nchw),
        status="failed",
        failure=failure or Failure("crash", "worker returned no result"),
    )


def write_outputs(
    report: BenchReport,
    out_dir: Path,
    log_dir: Path | None = None,
    exports: dict[str, Path] | None = None,
    plotter: Any = None,
) -> list[Path]:
    """bench.json, bench.csv, bench.md and plots, written to a staging dir and moved in together.

    ``plotter``: a started plotter.py process that draws the plots from bench.json (None, or when
    it cannot: drawn here)."""
    from trt_export.report.render import write_csv, write_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".bench.partial-{os.getpid()}-", dir=out_dir))
    try:
        save_bench_report(report, staging / "bench.json")
        write_csv(report, staging / "bench.csv")
        plots = plotter.draw(staging / "bench.json", staging) if plotter is not None else None
        if plots is None:
            from trt_export.report.render import write_plots

            plots = write_plots(report, staging)
        write_markdown(report, staging / "bench.md", plots=plots)
        if log_dir is not None and log_dir.is_dir():
            shutil.copytree(log_dir, staging / "logs")
        if exports is not None:  # --keep-exports: what gate --rerun measures against (interleave.py)
            for label, export_dir in exports.items():
                shutil.copytree(export_dir, staging / "exports" / label)
        # A previous run's gate verdict next to this run's numbers would be read as about them.
        from trt_export.gate.files import GATE_OUTPUTS

        if exports is None:
            _remove_stale_exports(out_dir / "exports")
        return swap_in(staging, out_dir, stale=GATE_OUTPUTS)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_exports(directory: Path) -> None:
    """An earlier run's --keep-exports next to this run's bench.json would be A/B-measured as this
    run's; remove it, but only when every entry is an export we wrote (a manifest inside)."""
    from trt_export.export.manifest import MANIFEST_NAME

    if directory.is_dir() and all(
        entry.is_dir() and (entry / MANIFEST_NAME).is_file() for entry in directory.iterdir()
    ):
        shutil.rmtree(directory)


def parse_shapes(texts: list[str], batches: list[int] | None = None) -> list[FixedShape]:
    """Candidate shapes in the order given, duplicates dropped.

    With ``batches``, every shape is tried at each of those batch sizes (the question "which tile,
    at which batch" in one sweep); a shape's own n is then replaced.
    """
    shapes = [parse_fixed_shape(t) for t in texts]
    if batches:
        bad = [b for b in batches if b < 1]
        if bad:
            raise TrtExportError(f"--batches must be positive integers, got {bad[0]}")
        shapes = [shape.with_batch(b) for shape in shapes for b in batches]
    return list(dict.fromkeys(shapes))


__all__ = [
    "BACKENDS",
    "BenchOptions",
    "DEFAULT_OUT",
    "DEFAULT_SHAPES",
    "run_bench",
    "run_candidate",
    "CandidateRun",
    "SweepContext",
    "parse_shapes",
    "best_backend",
    "write_outputs",
    "default_cache_dir",
]
