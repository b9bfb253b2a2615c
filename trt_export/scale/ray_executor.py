"""``bench --ray auto|local|ADDRESS``: one Ray task per candidate, results into one report.

Each task asks Ray for one GPU (Ray sets the task's ``CUDA_VISIBLE_DEVICES``, which the worker
processes inherit) or, on CPU backends, for as many CPUs as the largest node has, so a CPU task
holds a whole node and no two timings overlap. Inside the task the candidate runs as on one
machine (bench.run_candidate: the usual worker processes, the node's own export cache), and the
task returns the candidate, its logs, the node's environment fingerprint and idle RSS. Tasks are
never retried: a worker or node lost while a candidate runs marks that candidate failed with
Ray's reason, and the sweep goes on. Model files, weights and factory modules must be at the same
paths on every node (a shared filesystem or one image); the driver's ``sys.path`` entries that
exist on a node are put on its path.

``ray`` is an optional extra (``pip install 'trt-export[ray]'``), imported only here.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from trt_export.bench.report import Candidate, Failure
from trt_export.bench.scale_fields import ExecutionInfo, Placement
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.infer.backends import CPU_BACKENDS, BackendSettings
from trt_export.model.shapes import FixedShape
from trt_export.scale.executors import Finished, SweepResult, collect

LOG_LIMIT = 1 << 20  # bytes of each worker log brought back to the driver
CONNECT_TIMEOUT_S = 5.0
LOCAL_OBJECT_STORE_BYTES = 128 << 20  # results are a few KiB; Ray's default would reserve 30% of RAM


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailable(
            f"--ray needs the ray package ({exc}); install it with: pip install 'trt-export[ray]'"
        ) from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` / ``ray://HOST:PORT``; None for ``auto`` and ``local``."""
    if address in ("auto", "local"):
        return None
    text = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TrtExportError(f"--ray takes auto, local, HOST:PORT or ray://HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse an address nothing listens on before Ray would retry it for minutes."""
    target = parse_address(address)
    if target is None:
        return
    host, port = target
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TrtExportError(
            f"Ray at {address} is unreachable ({reason}); check the address ('ray status' on the head node), "
            "or use --ray local to start Ray on this machine"
        ) from None


@dataclass
class RayExecutor:
    """Submits candidates to a connected Ray cluster; build it with :meth:`connect`."""

    address: str
    backend: str
    task_cpus: float
    task_gpus: float
    started_here: bool = False
    task: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # the remote function's body (tests inject faults)

    def __str__(self) -> str:
        per = f"{self.task_gpus:g} GPU" if self.task_gpus else f"{self.task_cpus:g} CPUs (a whole node)"
        return f"as Ray tasks on {self.address} ({per} each)"

    @classmethod
    def connect(
        cls, address: str, backend: str, task: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    ) -> RayExecutor:
        """Connect (or start, for ``local``) and check the cluster can run this backend's tasks."""
        parse_address(address)
        if address == "local" and "ray" not in sys.modules:
            # A local instance is for this machine alone: keep every Ray socket on loopback
            # (read by Ray when it is imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray = _import_ray()
        started = False
        if not ray.is_initialized():  # a caller that already connected (ray.init) keeps its connection
            named = os.environ.get("RAY_ADDRESS", "").strip() if address == "auto" else address
            if named and named not in ("auto", "local"):
                check_reachable(named)  # auto follows RAY_ADDRESS when it is set
            try:
                if address == "local":
                    ray.init(
                        num_cpus=os.cpu_count() or 1,
                        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                        include_dashboard=False,
                        log_to_driver=False,
                    )
                else:
                    ray.init(address=address, log_to_driver=False)
            except Exception as exc:  # ConnectionError, TimeoutError, Ray Client's missing extras...: one line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                hint = (
                    "start one with 'ray start --head', give its address, or use --ray local"
                    if address == "auto"
                    else "check the address and that the cluster runs the same Ray version"
                )
                raise TrtExportError(f"cannot connect to Ray ({address}): {first}; {hint}") from None
            started = True
        cpus, gpus = _node_capacity(ray)
        if backend in CPU_BACKENDS:
            if cpus < 1:
                raise TrtExportError(
                    f"the Ray cluster ({address}) has no node with CPUs to run {backend} candidates on"
                )
            task_cpus, task_gpus = float(cpus), 0.0
        else:
            if gpus < 1:
                raise TrtExportError(
                    f"the Ray cluster ({address}) has no GPU, and {backend} needs one per candidate; add GPU nodes "
                    "(ray start --num-gpus) or use a CPU backend"
                )
            task_cpus, task_gpus = 1.0, 1.0
        return cls(address, backend, task_cpus, task_gpus, started, task)

    def run(self, context: Any, shapes: Sequence[FixedShape]) -> SweepResult:
        from tqdm import tqdm

        ray = _import_ray()
        body = self.task or run_candidate_task
        remote = ray.remote(body).options(
            num_cpus=self.task_cpus, num_gpus=self.task_gpus, max_retries=0, retry_exceptions=False
        )
        options = replace(context.options, executor=None)
        settings = replace(context.settings, device_id=0) if self.task_gpus else context.settings
        submitted = time.time()
        refs = {}
        for shape in shapes:
            payload = {
                "shape": shape,
                "options": options,
                "settings": settings,
                "cache_dir": str(context.cache_dir) if options.use_cache else None,
                "timeout_s": context.pool.timeout_s,
                "shown_log_dir": str(context.pool.shown_log_dir),
                "pythonpath": [p for p in [os.getcwd(), *sys.path] if p],
            }
            refs[remote.remote(payload)] = shape
        finished: dict[str, Finished] = {}
        bar = tqdm(total=len(shapes), desc="bench", unit="shape", disable=not context.options.progress, file=sys.stderr)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    shape = refs[ref]
                    finished[shape.label] = self._finish(ray, ref, shape, settings, context, submitted)
                    bar.update(1)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()
            if self.started_here:
                ray.shutdown()
        execution = ExecutionInfo(executor="ray", parallel=len(shapes), address=self.address)
        result = collect(shapes, finished, context.settings, execution)
        envs = {_env_key(item.environment) for item in finished.values() if item.environment}
        if len(envs) > 1:
            result.notes.append(
                "candidates ran on Ray nodes with different environments (GPU, driver, TensorRT, CUDA or Paddle): "
                "their figures are not comparable with each other; run the sweep on nodes of one kind"
            )
        return result

    def _finish(
        self, ray: Any, ref: Any, shape: FixedShape, settings: BackendSettings, context: Any, submitted: float
    ) -> Finished:
        from trt_export.bench.sweep import CandidateRun

        try:
            out = ray.get(ref)
        except Exception as exc:  # the task never returned: Ray says why
            failure = ray_failure(exc)
            run = CandidateRun(
                Candidate(label=shape.label, shape_nchw=list(shape.nchw), status="failed", failure=failure),
                settings,
                None,
                None,
            )
            return Finished(run, Placement(where=f"Ray ({self.address})"))
        received = time.time()
        log_dir = Path(context.pool.log_dir)
        for name, text in out.get("logs", {}).items():
            (log_dir / Path(name).name).write_text(text, encoding="utf-8")
        run_settings = BackendSettings(
            **{**out["settings"], "disable_ops": tuple(out["settings"].get("disable_ops") or ())}
        )
        run = CandidateRun(Candidate.from_dict(out["candidate"]), run_settings, out.get("note"), out.get("model_type"))
        overhead = max(out["task_s"] - out["candidate_s"], 0.0) + max(received - out["finished_at"], 0.0)
        return Finished(
            run,
            Placement(where=out["where"], wall_s=round(out["candidate_s"], 3), overhead_s=round(overhead, 3)),
            environment=out.get("environment"),
            idle_rss=out.get("idle_rss"),
        )


def _env_key(environment: dict[str, Any] | None) -> tuple[Any, ...]:
    from trt_export.bench.comparable import ENV_FIELDS

    return tuple((environment or {}).get(key) for key in ENV_FIELDS)


def _node_capacity(ray: Any) -> tuple[float, float]:
    """(CPUs of the largest alive node, GPUs in the cluster)."""
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    cpus = max((float(node.get("Resources", {}).get("CPU", 0)) for node in nodes), default=0.0)
    gpus = sum(float(node.get("Resources", {}).get("GPU", 0)) for node in nodes)
    return cpus, gpus


def ray_failure(exc: BaseException) -> Failure:
    """A task that did not return, as the candidate's failure (stage and Ray's reason)."""
    name = type(exc).__name__
    first = (str(exc).strip().splitlines() or [""])[0][:240]
    if "OutOfMemory" in name:
        return Failure("oom", f"Ray killed the task for memory ({name}): {first}")
    if (
        name in ("NodeDiedError", "OwnerDiedError", "ActorUnavailableError")
        or "node" in first.lower()
        and "died" in first.lower()
    ):
        return Failure("crash", f"the Ray node running this candidate was lost ({name}): {first}")
    if name in ("WorkerCrashedError", "LocalRayletDiedError"):
        return Failure("crash", f"the Ray worker running this candidate died ({name}): {first}")
    if name == "TaskCancelledError":
        return Failure("crash", f"the Ray task was cancelled ({name})")
    cause = getattr(exc, "cause", None)
    if cause is not None:
        detail = (str(cause).strip().splitlines() or [""])[0][:240]
        return Failure("crash", f"the Ray task raised {type(cause).__name__}: {detail}")
    return Failure("crash", f"the Ray task failed ({name}): {first}")


_NODE: dict[str, Any] = {}  # per Ray worker process: the idle baseline, measured once


def run_candidate_task(payload: dict[str, Any]) -> dict[str, Any]:
    """The body of one Ray task: run one candidate on this node, return it with its logs."""
    started = time.time()
    for entry in reversed(payload.get("pythonpath") or []):
        if entry not in sys.path and os.path.isdir(entry):
            sys.path.insert(0, entry)
    from trt_export.bench.protocol import IdleJob, IdleResult
    from trt_export.bench.sweep import WorkerPool, default_cache_dir, run_candidate
    from trt_export.errors import TrtExportError as _Err
    from trt_export.model.sources import load_source

    options = payload["options"]
    shape: FixedShape = payload["shape"]
    scratch = Path(tempfile.mkdtemp(prefix="trt-export-ray-"))
    try:
        pool = WorkerPool(scratch / "logs", float(payload["timeout_s"]), shown_log_dir=Path(payload["shown_log_dir"]))
        pool.log_dir.mkdir(parents=True)
        if "environment" not in _NODE:
            idle = pool.run(IdleJob(), "idle", "start-up")
            if idle.failure is not None or not isinstance(idle.result, IdleResult):
                raise _Err(f"a worker process on this Ray node cannot start Paddle: {idle.failure}")
            _NODE.update(environment=idle.result.environment, idle_rss=idle.result.rss_mb)
        cache_dir = (
            Path(payload["cache_dir"])
            if payload.get("cache_dir")
            else (default_cache_dir() if options.use_cache else scratch / "exports")
        )
        cache_dir.mkdir(parents=True, exist_ok=True)
        source = load_source(
            options.model, weights=options.weights, kwargs=options.model_kwargs, model_type=options.model_type
        )
        begin = time.time()
        run = run_candidate(
            pool, source, shape, options, payload["settings"], cache_dir, _NODE["environment"], _NODE["idle_rss"]
        )
        candidate_s = time.time() - begin
        logs = {}
        for item in sorted(pool.log_dir.iterdir()):
            if item.is_file() and not item.name.startswith("idle."):  # the driver keeps its own idle.*
                logs[item.name] = item.read_bytes()[:LOG_LIMIT].decode("utf-8", errors="replace")
        where = f"Ray node {socket.gethostname()}"
        try:
            import ray

            gpu_ids = ray.get_gpu_ids()
            if gpu_ids:
                where += f", GPU {','.join(str(g) for g in gpu_ids)}"
        except Exception:  # outside a Ray worker (called directly): no placement detail
            pass
        finished = time.time()
        return {
            "candidate": run.candidate.to_dict(),
            "settings": asdict(run.settings),
            "note": run.note,
            "model_type": run.model_type,
            "environment": _NODE["environment"],
            "idle_rss": _NODE["idle_rss"],
            "where": where,
            "logs": logs,
            "candidate_s": candidate_s,
            "task_s": finished - started,
            "finished_at": finished,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
