"""A pre-imported worker server: imports Paddle once, then forks one fresh worker per bench step.

Starting a Python process that imports Paddle costs seconds (about 3 s on 2 cores); the sweep used
to pay it for every worker. The server pays it once: ``python -m trt_export.bench.forkserver`` imports
Paddle, Paddle Inference, numpy, trt_export's worker modules and the model's factory module, and
then waits on stdin. For each job it ``fork()``s a child that runs exactly what a fresh worker ran
(``bench_worker.main``) and exits. So every measured candidate still has a process of its own
(its memory stays attributable, a crash or an OOM kill costs only that child), without the import.

Fork safety. The server never initialises a device: importing Paddle does not create a CUDA
context (that happens on first use, in a child), and on CUDA builds no model module is preloaded,
so nothing that runs at import time can touch the GPU. After ``import paddle`` the process has one
thread besides the main one (numpy's OpenBLAS server, which OpenBLAS shuts down around fork with
``pthread_atfork``); Paddle's own thread pools start with the first predictor or dygraph op, which
only children run. tests/bench/test_forkserver.py checks that forked workers build predictors, pass
parity and do not deadlock.

Memory. A forked child starts with the server's mapped pages in its resident set, and Linux sets
its VmHWM to that RSS at fork (kernel/fork.c, dup_mm: ``hiwater_rss = get_mm_rss(mm)``). A child
therefore reads its VmHWM as its first action (``rss_at_start_mb``); what it adds on top is its
own (``bench_worker`` reports both, and ``bench`` turns them into the candidate's figures).

Protocol (JSON lines): the server prints ``{"ready": ...}`` once; then per request
``{"job": JOB.json, "result": RESULT.json, "log": LOG}`` it answers ``{"pid": N}`` right after
the fork and ``{"pid": N, "status": S}`` when the child is gone (S as ``subprocess``'s
returncode: negative for a signal). A child runs in its own session, so ``killpg(pid)`` ends it
and anything it started. The client (:class:`ForkServer`) kills a child that overruns its time.
EOF on stdin (the sweep ended or died) makes the server kill its child and exit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

SERVER_MODULE = "trt_export.bench.forkserver"
# Imported once in the server, so no child pays for them. All are import-only: no device use.
PRELOAD = (
    "numpy",
    "paddle.inference",
    "trt_export.infer.backends",
    "trt_export.bench.worker",
    "trt_export.parity.compare",
    "trt_export.export.exporter",
    "trt_export.env.fingerprint",
    "trt_export.infer.inputs",
    "trt_export.export.manifest",
    "trt_export.infer.runners",
    "trt_export.model.sources",
    "trt_export.parity.verify",
)


class LineReader:
    """JSON lines from a file descriptor, buffered by us, so ``select`` never misses a buffered line."""

    def __init__(self, fd: int, wake_s: float | None = None) -> None:
        self.fd = fd
        self._buffer = b""
        # Wake up this often while waiting: Python runs signal handlers (Ctrl-C, SIGTERM) only in
        # the main thread between bytecodes, and a signal the kernel delivered to another thread
        # does not interrupt a select() the main thread is blocked in.
        self.wake_s = wake_s

    def read(self, timeout_s: float | None) -> dict[str, Any] | None:
        """The next message; None when nothing came in ``timeout_s``; EOFError when the pipe closed."""
        deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            wait = left if self.wake_s is None else (self.wake_s if left is None else min(left, self.wake_s))
            readable, _, _ = select.select([self.fd], [], [], wait)
            if not readable:
                if left is None or left > (wait or 0.0):
                    continue
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    @property
    def pending(self) -> bool:
        return b"\n" in self._buffer


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """The memory lines of /proc/PID/status (VmHWM, VmRSS, RssAnon, RssFile, RssShmem) in MiB."""
    values: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key = line.split(":", 1)[0]
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    values[key] = int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return {}
    return values


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """VmHWM (peak RSS) of a process from /proc, MiB; None where /proc does not have it."""
    return proc_status_mb(pid).get("VmHWM")


def _file_mappings(pid: int | str) -> list[tuple[int, int]]:
    ranges = []
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[4] != "0" and fields[5].startswith("/"):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def _present_pages(pagemap: IO[bytes], start: int, end: int, page: int) -> Any:
    import numpy as np

    pagemap.seek(start // page * 8)
    entries = np.frombuffer(pagemap.read((end - start) // page * 8), dtype=np.uint64)
    return (entries >> np.uint64(63)).astype(bool)


def shared_file_mb(other_pid: int) -> float | None:
    """MiB of file-backed pages resident both in this process and in ``other_pid`` (its parent).

    A forked child does not inherit the page-table entries of its parent's file mappings (shared
    libraries): it faults them in again as it runs, and each such page raises its RSS although a
    process that had loaded Paddle already held it. Measured for squeezenet1_1 at 256x256 on
    oneDNN: +57 MiB anonymous in both a forked and a fresh process, but +46 MiB of file pages in the
    forked one against +18 MiB in the fresh one. This counts the pages present in both address
    spaces from /proc/PID/pagemap (bit 63: present; readable for a process of the same user), so the
    child's own figure can leave them out. None when /proc does not allow it.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        ranges = _file_mappings("self")
        shared = 0
        with open("/proc/self/pagemap", "rb") as mine, open(f"/proc/{other_pid}/pagemap", "rb") as theirs:
            for start, end in ranges:
                shared += int((_present_pages(mine, start, end, page) & _present_pages(theirs, start, end, page)).sum())
    except (OSError, ValueError):
        return None
    return shared * page / 2**20


def fork_supported() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


# ----------------------------------------------------------------------------------- server side


FORK_ON_CUDA_ENV = "TRT_EXPORT_FORK_ON_CUDA"
CUDA_NOTE = (
    "workers were started with exec, not forked: this is a CUDA build of Paddle, whose import "
    "enumerates the GPUs (core.init_devices), and a forked child cannot use a CUDA driver its parent "
    f"initialised; set {FORK_ON_CUDA_ENV}=1 to fork anyway"
)


def _preload(extra: list[str]) -> list[str]:
    import importlib

    from trt_export.env.paddle_import import import_paddle

    paddle = import_paddle()
    failed = []
    for name in PRELOAD:
        importlib.import_module(name)
    # A model module could create tensors at import; on CUDA that would initialise the device in
    # the server, and forked children cannot use a CUDA context they inherit. CPU builds only.
    if not paddle.is_compiled_with_cuda():
        for name in extra:
            try:
                importlib.import_module(name)
            except Exception as exc:  # the child that needs it reports the error properly
                failed.append(f"{name}: {type(exc).__name__}")
    return failed


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _child(request: dict[str, Any], channels: tuple[int, int]) -> None:
    """In the forked child: become a worker for one job; never returns."""
    code = 1
    try:
        at_start = proc_status_mb()  # first: the pages inherited from the server (see module doc)
        os.setsid()
        # The server's pipes are fds 0 and 1 (``channels``): the dup2s below close them here, so
        # a child never reads the server's requests or writes into its answers.
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in {log, devnull} - {0, 1, 2, *channels}:
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if request.get("entry") == "source_probe":  # what the sweep's process needs to know (source_probe.py)
            from trt_export.bench import source_probe

            code = source_probe.main(request["job"], request["result"])
        else:
            from trt_export.bench import worker as bench_worker

            code = bench_worker.main([request["job"], request["result"]], forked=at_start)
    except BaseException:  # noqa: BLE001 - a child must always exit, with the reason in its log
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait_child(pid: int, requests: LineReader) -> int:
    """Wait for ``pid``; EOF or a kill request on stdin (the client gave up) kills its session first."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            waiting = [requests.fd] + ([pidfd] if pidfd is not None else [])
            if not requests.pending:
                # short waits either way: the SIGTERM handler (a Python one) runs between them
                readable, _, _ = select.select(waiting, [], [], 0.05 if pidfd is None else 0.1)
                if requests.fd not in readable:
                    continue
            try:
                message = requests.read(0.0)
            except EOFError:
                _kill_session(pid)
                os.waitpid(pid, 0)
                raise
            if message is not None and message.get("kill") == pid:
                _kill_session(pid)
                _, status = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(status)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_session(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            continue


_RUNNING: int | None = None  # the server's current child


def _terminate(*_: object) -> None:
    if _RUNNING is not None:
        _kill_session(_RUNNING)
    os._exit(0)


def serve(argv: list[str]) -> int:
    started = time.monotonic()
    verbose = "--verbose" in argv
    extra = [a for a in argv if not a.startswith("--")]
    from trt_export.env.paddle_import import set_verbose

    set_verbose(verbose)
    from trt_export.bench.guard import die_with_parent

    die_with_parent()  # the server dies with the sweep (kill -9 included), and its child with it
    failed = _preload(extra)
    # Paddle replaced SIGTERM with a C++ handler that prints a stack and aborts; the server ends,
    # and takes its running child with it (the child has a session of its own, so a signal to the
    # sweep's process group does not reach it).
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle; it closes our stdin
    stdout = sys.stdout
    requests = LineReader(sys.stdin.fileno(), wake_s=0.1)
    channels = (sys.stdin.fileno(), stdout.fileno())
    from trt_export.env.paddle_import import import_paddle

    fork_safe = not import_paddle().is_compiled_with_cuda() or os.environ.get(FORK_ON_CUDA_ENV) == "1"
    _send(
        stdout,
        {
            "ready": True,
            "pid": os.getpid(),
            "rss_mb": vm_hwm_mb(),
            "startup_s": time.monotonic() - started,
            "preload_failed": failed,
            "fork_safe": fork_safe,
        },
    )
    while True:
        try:
            request = requests.read(None)
        except EOFError:
            return 0
        if request is None or "job" not in request:
            continue
        global _RUNNING
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            from trt_export.bench.guard import die_with_parent

            die_with_parent(server_pid)
            _child(request, channels)
        _RUNNING = pid
        _send(stdout, {"pid": pid, "forked_at": time.monotonic()})
        try:
            code = _wait_child(pid, requests)
        except EOFError:
            return 0
        finally:
            _RUNNING = None
        _send(stdout, {"pid": pid, "status": code})


# ----------------------------------------------------------------------------------- client side


class ForkServerError(RuntimeError):
    pass


class ForkServer:
    """The sweep's handle on one server process: start it, run jobs through it, close it."""

    def __init__(
        self, log_file: Path, env: dict[str, str], preload: list[str] | None = None, verbose: bool = False
    ) -> None:
        self.log_file = Path(log_file)
        self.env = env
        args = [sys.executable, "-m", SERVER_MODULE, *(preload or [])]
        if verbose:
            args.append("--verbose")
        self.started_at = time.monotonic()
        self._log = self.log_file.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            bufsize=1,
        )
        assert self.proc.stdout is not None
        self._reader = LineReader(self.proc.stdout.fileno(), wake_s=0.1)
        self.ready: dict[str, Any] | None = None
        self.startup_s: float | None = None  # from Popen to ready, as the sweep waited for it
        self.waited_s = 0.0  # how long callers of wait_ready() waited for the server to be ready
        self.probes: dict[str, dict[str, Any] | None] = {}  # source_probe.py's answers, by request

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        if self.ready is None:
            waited = time.monotonic()
            try:
                message = self._read(timeout_s)
            except ForkServerError:
                message = None
            self.waited_s += time.monotonic() - waited
            if message is None or not message.get("ready"):
                self.close()
                tail = self.log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [
                    "no output"
                ]
                raise ForkServerError(f"the worker server did not start: {tail[0][:200]}")
            self.ready = message
            self.startup_s = time.monotonic() - self.started_at
        return self.ready

    @property
    def rss_mb(self) -> float | None:
        return None if self.ready is None else self.ready.get("rss_mb")

    def run(
        self, job_file: Path, result_file: Path, log_file: Path, timeout_s: float, entry: str | None = None
    ) -> tuple[int | None, float]:
        """Run one job in a forked child: (exit status or None on timeout, fork time as monotonic).

        ``entry``: what the child runs; None for a bench worker (worker.py), "source_probe" for
        source_probe.py."""
        self.wait_ready(max(timeout_s, 120.0))
        deadline = time.monotonic() + timeout_s
        request = {"job": str(job_file), "result": str(result_file), "log": str(log_file)}
        self._write(request if entry is None else {**request, "entry": entry})
        forked = self._read(max(deadline - time.monotonic(), 10.0))
        if forked is None or "pid" not in forked:
            raise ForkServerError("the worker server stopped answering")
        pid = int(forked["pid"])
        done = self._read(max(deadline - time.monotonic(), 0.0))
        if done is not None:
            return int(done["status"]), float(forked["forked_at"])
        _kill_session(pid)  # overran: the child, and everything in its session
        self._write({"kill": pid})
        self._read(30.0)  # the server reaps it and reports
        return None, float(forked["forked_at"])

    def _write(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ForkServerError(f"the worker server is gone ({exc})") from None

    def _read(self, timeout_s: float) -> dict[str, Any] | None:
        try:
            return self._reader.read(timeout_s)
        except EOFError:
            raise ForkServerError(
                f"the worker server exited (status {self.proc.poll()}); log: {self.log_file}"
            ) from None

    def shutdown(self) -> None:
        """Tell the server to exit (EOF) without waiting for it; ``close`` waits."""
        try:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            self.shutdown()  # EOF: the server kills its child and exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout,):
            if stream is not None:
                stream.close()
        self._log.close()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
