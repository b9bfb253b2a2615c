"""bench --ray on a local Ray instance (CPU): candidates as Ray tasks into one report, a lost worker
marks its candidate failed, an unreachable cluster is a one-line error.

One Ray instance for the module (num_cpus=2, a small object store, no dashboard, loopback only);
skipped with the reason when ray is not installed (it is the optional ``ray`` extra).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_paths import REPO, child_env

# Read by Ray at import: a local instance then binds and talks on 127.0.0.1 only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'trt-export[ray]')")

from trt_export.bench.sweep import BenchOptions, parse_shapes, run_bench  # noqa: E402
from trt_export.errors import EXIT_USAGE, TrtExportError  # noqa: E402
from trt_export.infer.backends import BackendSettings  # noqa: E402
from trt_export.scale.ray_executor import RayExecutor, check_reachable, parse_address, ray_failure  # noqa: E402

SHAPES = ["[32,32]", "[48,48]"]
LABELS = ["1x3x32x32", "1x3x48x48"]
CRASHING = "1x3x48x48"


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    # the Ray workers must import tests/ modules (crash_for below) as the driver does
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests"), *([previous] if previous else [])])
    try:
        ray.init(num_cpus=2, object_store_memory=80 << 20, include_dashboard=False, log_to_driver=False)
        yield ray
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def _options(root: Path, executor, cache: Path) -> BenchOptions:
    return BenchOptions(
        model="trt_export.zoo:tiny_segnet",
        model_kwargs={"width": 4},
        shapes=parse_shapes(SHAPES),
        settings=BackendSettings("paddle-onednn", cpu_threads=1),
        warmup=1,
        iters=3,
        duration_s=None,
        out_dir=root / "out",
        cache_dir=cache,
        progress=False,
        executor=executor,
    )


@pytest.fixture(scope="module")
def ray_sweeps(local_ray, tmp_path_factory):
    """One sweep as Ray tasks, then the same with the task of one candidate killing its Ray worker."""
    root = tmp_path_factory.mktemp("ray")
    cache = tmp_path_factory.getbasetemp() / "scale-export-cache"  # shared with test_shards/test_devices
    executor = RayExecutor.connect("auto", "paddle-onednn")
    report = run_bench(_options(root, executor, cache))
    import ray_faults

    crashing = RayExecutor.connect("auto", "paddle-onednn", task=ray_faults.crash_for_48)
    lost_options = _options(root, crashing, cache)  # same cache: the exports are reused
    lost_options.out_dir = root / "lost"
    lost = run_bench(lost_options)
    return executor, report, lost, root


def test_cpu_tasks_ask_for_a_whole_node(ray_sweeps) -> None:
    executor = ray_sweeps[0]
    assert executor.task_cpus == 2 and executor.task_gpus == 0  # every CPU of the node: timings never overlap
    assert not executor.started_here


def test_ray_tasks_land_in_one_report(ray_sweeps) -> None:
    _, report, _, root = ray_sweeps
    assert [c.label for c in report.candidates] == LABELS
    for cand in report.candidates:
        assert cand.status == "ok" and cand.parity.passed, cand.failure
        assert cand.latency_ms.samples == 3 and cand.memory.peak_rss_mb > 0
    assert report.execution.executor == "ray" and report.execution.address == "auto"
    for label in LABELS:
        placement = report.execution.placements[label]
        assert placement.where.startswith("Ray node ") and placement.wall_s > 0 and placement.overhead_s >= 0
    assert report.environment["paddle_version"] and report.recommendation is not None
    logs = {p.name for p in (root / "out" / "logs").iterdir()}
    assert {f"{label}-measure.log" for label in LABELS} <= logs  # the tasks' logs came back


def test_a_lost_worker_fails_only_its_candidate(ray_sweeps) -> None:
    lost = ray_sweeps[2]
    by_label = {c.label: c for c in lost.candidates}
    assert by_label["1x3x32x32"].status == "ok"
    dead = by_label[CRASHING]
    assert dead.status == "failed" and dead.failure.stage == "crash"
    assert "Ray worker running this candidate died (WorkerCrashedError)" in dead.failure.reason
    assert lost.recommendation is not None and lost.recommendation.label == "1x3x32x32"
    assert CRASHING in lost.recommendation.excluded


def test_failures_are_named_by_what_ray_lost() -> None:
    NodeDiedError = type("NodeDiedError", (Exception,), {})
    assert ray_failure(NodeDiedError("node 10.0.0.3 died")).reason.startswith(
        "the Ray node running this candidate was lost"
    )
    OutOfMemoryError = type("OutOfMemoryError", (Exception,), {})
    assert ray_failure(OutOfMemoryError("killed")).stage == "oom"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_ray_is_refused_at_once() -> None:
    address = f"127.0.0.1:{_free_port()}"
    with pytest.raises(TrtExportError, match=rf"Ray at {address} is unreachable") as err:
        check_reachable(address, timeout_s=2)
    assert err.value.exit_code == EXIT_USAGE
    for bad in ("nohost", "host:port", "ray://h:0", "h:70000"):
        with pytest.raises(TrtExportError, match="--ray takes auto, local, HOST:PORT or ray://HOST:PORT"):
            parse_address(bad)


def test_cli_unreachable_ray_is_one_line_exit_2(tmp_path: Path) -> None:
    address = f"127.0.0.1:{_free_port()}"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trt_export",
            "bench",
            "--model",
            "trt_export.zoo:tiny_segnet",
            "--shapes",
            "[32,32]",
            "--backend",
            "paddle-onednn",
            "--ray",
            address,
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"Ray at {address} is unreachable" in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()
