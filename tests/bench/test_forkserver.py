"""The pre-imported worker server: forked workers run Paddle Inference correctly, do not deadlock,
measure their own memory, and a step that overruns is killed without taking the server down.

Paddle may start threads at import and forking a multithreaded process is risky, so this runs the
real jobs (export with the dygraph reference, predictor build, parity, timing) several times in
forked children of one server, each under a timeout: a deadlock would show as a timeout.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from trt_export.bench.forkserver import ForkServer, fork_supported, proc_status_mb, shared_file_mb
from trt_export.bench.protocol import IdleJob, MeasureJob, PrepareJob, SourceSpec
from trt_export.bench.sweep import WorkerPool
from trt_export.bench.timing import TimingPolicy
from trt_export.infer.backends import BackendSettings

pytestmark = pytest.mark.skipif(not fork_supported(), reason="the fork server needs Linux")

MODEL = "trt_export.zoo:tiny_segnet"
STEP_TIMEOUT_S = 180.0  # generous for a loaded 2-core box; a deadlock never ends
SLOW_TIMEOUT_S = 8.0


def _measure_job(export_dir: Path, reference: Path, backend: str) -> MeasureJob:
    return MeasureJob(
        export_dir, reference, "legacy", BackendSettings(backend, cpu_threads=2), TimingPolicy.exact(5, warmup=1)
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server; idle, prepare and three measure jobs through it (the bench's own WorkerPool)."""
    root = tmp_path_factory.mktemp("forkserver")
    (root / "cache").mkdir()
    pool = WorkerPool(root / "logs", STEP_TIMEOUT_S)
    pool.log_dir.mkdir()
    pool.start_server(["trt_export.zoo", "fixture_models"])
    try:
        idle = pool.run(IdleJob(), "idle", "start-up")
        prepare = pool.run(
            PrepareJob(
                SourceSpec(MODEL), [1, 3, 32, 48], "legacy", root / "cache" / "export", root / "cache" / "reference.npz"
            ),
            "prepare",
            "export",
        )
        measures = [
            pool.run(
                _measure_job(root / "cache" / "export", root / "cache" / "reference.npz", backend),
                f"measure-{i}",
                "build",
            )
            for i, backend in enumerate(["paddle-onednn", "paddle-cpu", "paddle-onednn"])
        ]
        # a step that overruns its timeout (forward sleeps 120 s) is killed; the server serves on
        pool.timeout_s = SLOW_TIMEOUT_S
        slow = pool.run(
            PrepareJob(
                SourceSpec("fixture_models:sleepy", kwargs={"seconds": 120}),
                [1, 3, 16, 16],
                "legacy",
                root / "cache" / "slow",
                root / "cache" / "slow.npz",
            ),
            "slow",
            "export",
        )
        alive = pool.server is not None and pool.server.proc.poll() is None
        after_slow = pool.run(IdleJob(), "idle-again", "start-up")
        server = pool.server
    finally:
        pool.close()
    return SimpleNamespace(
        root=root,
        idle=idle,
        prepare=prepare,
        measures=measures,
        times=pool.times,
        slow=slow,
        after_slow=after_slow,
        server_alive_after_slow=alive,
        server_exit=server.proc.poll(),
    )


def test_forked_workers_export_build_and_pass_parity_without_deadlock(served):
    for outcome in (served.idle, served.prepare, *served.measures):
        assert outcome.failure is None, outcome.failure
    assert served.prepare.result.phases_s["export"] > 0  # exported afresh, not found cached
    for outcome in served.measures:
        result = outcome.result
        assert result.parity["passed"], result.parity
        assert result.parity["max_abs_error"] < 1e-3
        assert len(result.samples_s) == 5 and result.timing.stop == "max_runs"
    # the measure job carries its step deadline: the timing loop ends before the timeout
    job = json.loads((served.root / "logs" / "measure-0.job.json").read_text())
    assert job["deadline"] is not None and job["job"]["policy"]["max_runs"] == 5
    # every worker was a child of the one server, and the phases were accounted
    assert served.times.get("timed") > 0 and served.times.get("build") > 0 and served.times.get("export") > 0


def test_the_reference_is_the_exports_own_dygraph_run(served):
    """Seed 0 is the export's check input: its outputs are kept, identical to a fresh dygraph run."""
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.runners import DygraphRunner
    from trt_export.model.sources import load_source

    manifest = load_manifest(served.root / "cache" / "export")
    with np.load(served.root / "cache" / "reference.npz") as data:
        feed = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("input/")}
        saved = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("reference/")}
    with DygraphRunner(load_source(MODEL).build, manifest.inputs, manifest.output_names) as runner:
        fresh = runner.infer(feed)
    assert saved.keys() == fresh.keys()
    for name in saved:
        np.testing.assert_array_equal(saved[name], fresh[name])


def test_forked_worker_memory_is_its_own(served):
    """A forked child starts with the server's pages in its VmHWM; bench reports what it added."""
    server_rss = served.idle.result.rss_mb
    assert server_rss > 150  # the server imported Paddle: that is the idle baseline
    for outcome in served.measures:
        memory = outcome.result.memory
        inherited = memory.rss_at_start_mb
        assert inherited is not None and inherited > 50  # fork keeps the anonymous pages mapped
        assert memory.rss_refaulted_mb is not None and memory.rss_refaulted_mb >= 0
        own = memory.peak_rss_mb - inherited - memory.rss_refaulted_mb
        assert 0 <= own < 400  # a 32x48 tiny net: tens of MiB, not the server's hundreds


def test_fork_inherits_vmhwm_and_the_increase_is_measured(tmp_path):
    """What fork does to VmHWM (the reason for the correction): a child of a process holding
    ballast starts with it in its VmHWM, and its own allocation is the increase over that."""
    ballast = np.ones(200 * 2**20 // 8)  # touched: the parent now holds >= 200 MiB more
    out = tmp_path / "child.json"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            start = proc_status_mb()
            block = np.ones(100 * 2**20 // 8)
            end = proc_status_mb()
            out.write_text(json.dumps({"start": start, "end": end, "sum": float(block[:10].sum())}))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child = json.loads(out.read_text())
    assert child["start"]["VmHWM"] >= 200  # the parent's ballast is in the child's peak from the start
    increase = child["end"]["VmHWM"] - child["start"]["VmHWM"]
    assert 90 <= increase <= 130, child
    del ballast


def test_shared_file_pages_are_counted_only_where_both_hold_them():
    """Library pages resident in this process and its parent; /proc/self vs itself is all of them."""
    mine = shared_file_mb(os.getpid())
    assert mine is not None
    assert mine == pytest.approx(proc_status_mb()["RssFile"], rel=0.25)


def test_an_overrunning_step_is_killed_and_the_server_serves_the_next(served):
    slow, after = served.slow, served.after_slow
    assert slow.failure is not None and slow.failure.stage == "timeout"
    assert (
        slow.failure.reason
        == f"export took longer than --timeout {SLOW_TIMEOUT_S:g} s; log: {served.root / 'logs' / 'slow.log'}"
    )
    assert after.failure is None and after.result.environment["paddle_version"]  # the same server serves on
    assert served.server_alive_after_slow and served.server_exit is not None  # closing the pool ends it


def test_a_server_that_cannot_start_is_a_one_line_error(tmp_path):
    from trt_export.bench.forkserver import ForkServerError

    env = dict(os.environ, PYTHONHOME=str(tmp_path / "nowhere"))  # the interpreter cannot even start
    server = ForkServer(tmp_path / "server.log", env)
    with pytest.raises(ForkServerError, match="did not start"):
        server.wait_ready(60)
    server.close()


def test_a_signal_caught_by_another_thread_still_interrupts_a_wait():
    """Ctrl-C/SIGTERM while the sweep waits for a worker: the kernel may hand the signal to any
    thread (tqdm's monitor, OpenBLAS), which does not interrupt the main thread's select(); the
    reader wakes up regularly so Python runs the handler, and the sweep's cleanup runs."""
    import signal
    import threading

    from trt_export.bench.forkserver import LineReader

    class Interrupted(Exception):
        pass

    def handler(signum, frame):
        raise Interrupted

    read_fd, write_fd = os.pipe()
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        reader = LineReader(read_fd, wake_s=0.1)
        sender = threading.Thread(target=lambda: signal.pthread_kill(threading.get_ident(), signal.SIGUSR1))
        timer = threading.Timer(0.3, sender.start)
        timer.start()
        started = time.monotonic()
        with pytest.raises(Interrupted):
            reader.read(120.0)  # nothing is ever written: only the signal can end this early
        # not a performance limit: without the wake-ups the handler runs only when the 120 s
        # select() times out; with them, within a tenth of a second of the signal
        assert time.monotonic() - started < 60.0
        timer.join()
        sender.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        os.close(read_fd)
        os.close(write_fd)
