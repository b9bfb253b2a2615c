"""What the sweep's own process needs to know about Paddle and the model, learnt in a forked child.

Loading a factory source imports Paddle and builds the network once (its forward's input names),
and the backend checks read Paddle's build (``probe_environment``). The sweep's process used to do
both itself, paying ``import paddle`` (seconds) and a dygraph build in the process whose start-up
and exit are on every sweep's critical path. With the pre-imported worker server
(forkserver.py), a child forked from it does them instead (Paddle is already imported there) and
writes what it learnt as JSON; the sweep rebuilds a :class:`ModelSource` (without a builder:
networks are built in workers only) and an ``EnvironmentProbe`` from it.

A source the child refuses (``ModelSourceError`` and the like) comes back as the error's class
name and message, and the parent raises the same error with the same one-line message.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from trt_export import errors
from trt_export.bench.guard import PARENT_PID_ENV
from trt_export.model.sources import ModelSource

ENTRY = "source_probe"  # the fork server's request field "entry" for this job


def source_request(
    spec: str | None, weights: str | None, kwargs: str | dict[str, Any] | None, model_type: str | None
) -> dict[str, Any]:
    """The probe job: the source as the user gave it (load_source's arguments)."""
    return {"spec": spec, "weights": weights, "kwargs": kwargs, "model_type": model_type}


def load_checked_source(request: dict[str, Any]) -> ModelSource:
    """The sweep's source (``request``: :func:`source_request`'s fields), as the child and, without
    a server, the sweep's own process load it."""
    from trt_export.model.sources import load_source

    source = load_source(
        request["spec"], weights=request["weights"], kwargs=request["kwargs"], model_type=request["model_type"]
    )
    if source.kind == "paddlers":
        source.build()  # an unknown class, missing or foreign weights: refused now, not in every worker
    return source


def probe(request: dict[str, Any]) -> dict[str, Any]:
    """In the child: load the source (a PaddleRS dir's network is built too), read the environment."""
    from trt_export.bench.sweep_cache import code_fingerprint
    from trt_export.env.probes import probe_environment
    from trt_export.serial import unstructure

    environment = {"environment_probe": unstructure(probe_environment())}  # the backend checks need it either way
    try:
        source = load_checked_source(request)
    except errors.TrtExportError as exc:
        return {**environment, "error": {"type": type(exc).__name__, "message": str(exc)}}
    described = {f.name: getattr(source, f.name) for f in fields(source) if f.name not in ("builder", "model_yml")}
    return {
        **environment,
        "source": described,
        "code": code_fingerprint(source.spec) if source.kind == "factory" else None,
    }


def probe_in_server(server: Any, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
    """The answer of a child forked from ``server`` (a ForkServer), asked once per request.

    None where no forked child can answer (no server, it did not start, a CUDA build whose workers
    are not forked, the child crashed or overran): the caller then loads the source itself, as a
    sweep without the server does.
    """
    from trt_export.bench.forkserver import ForkServerError

    if server is None:
        return None
    key = json.dumps(request, sort_keys=True)
    if key in server.probes:
        return server.probes[key]
    answer = None
    try:
        ready = server.wait_ready(max(timeout_s, 120.0))
        if ready.get("fork_safe", True):
            work = server.log_file.parent
            name = f"source-probe-{len(server.probes)}"
            job, result = work / f"{name}.job.json", work / f"{name}.result.json"
            job.write_text(json.dumps(request), encoding="utf-8")
            status, _ = server.run(job, result, work / f"{name}.log", timeout_s, entry=ENTRY)
            if status == 0 and result.is_file():
                answer = json.loads(result.read_text(encoding="utf-8"))
    except (ForkServerError, OSError, ValueError):
        answer = None
    server.probes[key] = answer
    return answer


def main(job_file: str, result_file: str) -> int:
    # The child does the sweep process's own work: the model's code sees that process's environment,
    # not a bench worker's (which is marked by the parent-pid variable; guard.py).
    os.environ.pop(PARENT_PID_ENV, None)
    request = json.loads(Path(job_file).read_text(encoding="utf-8"))
    result = probe(request)
    partial = Path(result_file + ".partial")
    partial.write_text(json.dumps(result), encoding="utf-8")
    os.replace(partial, result_file)
    return 0


def _unbuildable() -> Any:
    raise RuntimeError("this ModelSource was probed in a worker: its network is built in workers only")


def source_from(result: dict[str, Any]) -> ModelSource:
    """The probed source, or the error the child met raised again here."""
    if "error" in result:
        error = result["error"]
        cls = getattr(errors, str(error.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.TrtExportError)):
            cls = errors.TrtExportError
        raise cls(str(error.get("message")))
    data = dict(result["source"])
    model_yml = None
    if data["kind"] == "paddlers":
        from trt_export.model.paddlers_files import read_model_yml

        model_yml = read_model_yml(Path(data["spec"]))
    from trt_export.bench.sweep_cache import remember_code_fingerprint

    remember_code_fingerprint(data["spec"], result.get("code"))
    return ModelSource(**data, model_yml=model_yml, builder=_unbuildable)


def environment_probe_from(result: dict[str, Any]) -> Any:
    """The child's ``EnvironmentProbe``, read back through the shared converter (arrays to tuples)."""
    from trt_export.env.probes import EnvironmentProbe
    from trt_export.serial import structure

    return structure(
        result["environment_probe"], EnvironmentProbe, source="the source probe's answer", error=errors.TrtExportError
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
