"""The sweep's start-up: its helper processes, started first thing, and what they tell it.

Before it can measure anything a sweep needs Paddle imported (seconds), and afterwards matplotlib
for its plots (about half a second). Neither is this process's to import: the CLI calls
:func:`prestart` as the first thing ``bench`` does, before importing the sweep's own modules,
which starts

- the pre-imported worker server (forkserver.py), which imports Paddle and the model's module;
  a child forked from it loads the source and reads Paddle's build for this process
  (source_probe.py), so the sweep's process never imports Paddle;
- the plotter (plotter.py), which imports matplotlib and then waits for the finished report.

``run_bench`` takes both over (:func:`take`), or starts them itself when nobody prestarted them.
Unused ones are closed at exit; a server that is still importing is killed (nothing ran in it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from trt_export.bench.guard import PARENT_PID_ENV
from trt_export.env.paddle_import import is_verbose

_SERVERS: dict[str | None, Any] = {}  # prestarted ForkServers, by --model
_PLOTTERS: dict[str | None, Any] = {}  # plotter.py's processes, started beside them


def worker_env() -> dict[str, str]:
    """The environment of every worker and helper process of a sweep started from this process."""
    env = dict(os.environ)
    # The worker must import the same factory modules the parent can (e.g. from the cwd).
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
    # Workers die with this process (bench_worker.die_with_parent), even on kill -9.
    env[PARENT_PID_ENV] = str(os.getpid())
    return env


def start_server(model: str | None) -> Any:
    """A started ForkServer preloading the model's module, or None where fork is not available."""
    from trt_export.bench.forkserver import ForkServer, fork_supported
    from trt_export.model.sources import DEFAULT_MODEL

    if not fork_supported():
        return None
    spec = model or DEFAULT_MODEL
    if Path(spec).is_dir():
        preload = ["paddlers"]
    else:
        preload = [spec.split(":")[0]] if ":" in spec else []
    log_dir = Path(tempfile.mkdtemp(prefix="trt-export-server-"))
    try:
        return ForkServer(log_dir / "forkserver.log", worker_env(), preload=preload, verbose=is_verbose())
    except OSError:  # cannot start a process here: every worker starts afresh instead
        shutil.rmtree(log_dir, ignore_errors=True)
        return None


def start_plotter(server: Any) -> Any:
    """A plotter (plotter.py) importing matplotlib now; None without a server (plots drawn here)."""
    from trt_export.bench.plotter import start_plotter as start

    return None if server is None else start(server.env)


def prestart(model: str | None) -> None:
    """Start the sweep's server and plotter now; ``run_bench`` for ``model`` takes them over."""
    if model in _SERVERS:
        return
    server = start_server(model)
    if server is None:
        return
    _SERVERS[model] = server
    _PLOTTERS[model] = start_plotter(server)
    atexit.register(discard, model)


def discard(model: str | None) -> None:
    """Close what was prestarted for ``model`` and not taken by a sweep (its input was refused)."""
    close(_SERVERS.pop(model, None), _PLOTTERS.pop(model, None))


def take(model: str | None) -> tuple[Any, Any]:
    """(server, plotter) for a sweep of ``model``: the prestarted ones, else started now."""
    server = _SERVERS.pop(model, None)
    plotter = _PLOTTERS.pop(model, None)
    if server is not None and server.proc.poll() is not None:  # it died: start another
        server.close()
        server = None
    if server is None:
        server = start_server(model)
    return server, plotter or start_plotter(server)


def close(server: Any, plotter: Any) -> None:
    if plotter is not None:
        plotter.close()
    if server is not None:
        if server.ready is None and server.proc.poll() is None:
            server.proc.kill()  # still importing (the sweep ended before it was needed): nothing to wait for
        server.close()
        shutil.rmtree(server.log_file.parent, ignore_errors=True)


def environment_probe(
    model: str | None,
    weights: str | None,
    kwargs: str | dict[str, Any] | None,
    model_type: str | None,
    timeout_s: float,
) -> Any:
    """Paddle's build as a child of the prestarted server read it (an EnvironmentProbe), with the
    source probed in the same child for ``run_bench``; None without a server: read it here."""
    from trt_export.bench.source_probe import environment_probe_from, probe_in_server, source_request

    answer = probe_in_server(_SERVERS.get(model), source_request(model, weights, kwargs, model_type), timeout_s)
    return None if answer is None else environment_probe_from(answer)


def load_sweep_source(options: Any, server: Any) -> tuple[Any, Any]:
    """The sweep's (ModelSource, EnvironmentProbe), from a forked child when the server is there, so
    this process never imports Paddle; else loaded here (probe None: probe_environment reads it)."""
    from trt_export.bench.source_probe import (
        environment_probe_from,
        load_checked_source,
        probe_in_server,
        source_from,
        source_request,
    )
    from trt_export.bench.sweep_cache import forget_code_fingerprint

    request = source_request(options.model, options.weights, options.model_kwargs, options.model_type)
    answer = probe_in_server(server, request, options.timeout_s)
    if answer is not None:
        return source_from(answer), environment_probe_from(answer)
    source = load_checked_source(request)
    forget_code_fingerprint(source.spec)  # hashed here, from the module this process imported
    return source, None
