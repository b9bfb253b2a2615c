"""Sweep start-up (issue 12): the sweep's process leaves Paddle to the worker server and matplotlib
to the plotter; what they tell it is what it would have learnt itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from fixture_paths import REPO, TESTS

from trt_export.bench import source_probe, startup
from trt_export.bench.plotter import Plotter
from trt_export.bench.report import load_bench_report
from trt_export.bench.sweep import BenchOptions, parse_shapes, run_bench, write_outputs
from trt_export.errors import ModelSourceError
from trt_export.infer.backends import probe_environment
from trt_export.model.sources import load_source

MODEL = "trt_export.zoo:tiny_segnet"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")])
    return env


def test_a_probed_source_is_the_source_loaded_here():
    answer = source_probe.probe(source_probe.source_request(MODEL, None, '{"num_classes": 3}', None))
    probed, loaded = (
        source_probe.source_from(json.loads(json.dumps(answer))),
        load_source(MODEL, kwargs={"num_classes": 3}),
    )
    for name in ("spec", "kind", "name", "model_type", "input_names", "output_names", "weights_sha256"):
        assert getattr(probed, name) == getattr(loaded, name), name
    assert probed.factory_kwargs == {"num_classes": 3}
    assert probed.describe() == loaded.describe()
    assert source_probe.environment_probe_from(json.loads(json.dumps(answer))) == probe_environment()
    with pytest.raises(RuntimeError, match="built in workers only"):
        probed.build()


def test_a_refused_source_raises_the_same_one_line_error_here():
    answer = source_probe.probe(source_probe.source_request("no_such_module_xyz:net", None, None, None))
    with pytest.raises(ModelSourceError) as here:
        load_source("no_such_module_xyz:net")
    with pytest.raises(ModelSourceError) as probed:
        source_probe.source_from(answer)
    assert str(probed.value) == str(here.value)
    assert "environment_probe" in answer  # the backend checks still get Paddle's build


def test_the_sweep_process_imports_neither_paddle_nor_matplotlib(tmp_path):
    """The CLI's bench, forked workers: the report and its plots are all there, and the sweep's own
    process never imported Paddle (source and backend checks) nor matplotlib (plots)."""
    script = (
        "import json, sys\n"
        "from trt_export.cli.commands import main\n"
        f"code = main(['bench', '--model', {MODEL!r}, '--shapes', '[32,32]', '--iters', '3', '--warmup', '1',"
        f" '--out', {str(tmp_path / 'out')!r}, '--cache-dir', {str(tmp_path / 'cache')!r}, '--no-progress'])\n"
        "print(json.dumps({'code': code, 'paddle': 'paddle' in sys.modules, 'mpl': 'matplotlib' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"code": 0, "paddle": False, "mpl": False}
    out = tmp_path / "out"
    report = load_bench_report(out / "bench.json")
    assert report.candidates[0].ok and report.model.name == "tiny_segnet"
    plots = sorted(p.name for p in out.glob("*.png"))
    assert {"latency.png", "memory.png", "throughput.png"} <= set(plots)
    assert all(f"({name})" in (out / "bench.md").read_text(encoding="utf-8") for name in plots)


def test_the_plotter_draws_what_write_plots_draws_and_a_dead_one_falls_back(tmp_path):
    root = tmp_path / "sweep"
    report = run_bench(
        BenchOptions(
            model=MODEL,
            shapes=parse_shapes(["[32,32]"]),
            warmup=1,
            iters=3,
            out_dir=root / "out",
            cache_dir=root / "cache",
            progress=False,
        )
    )
    here = write_outputs(report, tmp_path / "here")
    plotter = Plotter(startup.worker_env())
    drawn = write_outputs(report, tmp_path / "drawn", plotter=plotter)
    assert sorted(p.name for p in drawn) == sorted(p.name for p in here)
    assert (tmp_path / "drawn" / "bench.md").read_text(encoding="utf-8") == (tmp_path / "here" / "bench.md").read_text(
        encoding="utf-8"
    )
    dead = Plotter(startup.worker_env())
    dead.proc.kill()
    dead.proc.wait()
    fallback = write_outputs(report, tmp_path / "fallback", plotter=dead)
    assert sorted(p.name for p in fallback) == sorted(p.name for p in here)


def test_a_prestarted_server_nobody_took_is_gone_at_once():
    """A refused input ends the CLI before the server finished importing: it is killed, not awaited."""
    model = "trt_export.zoo:tiny_segnet_unused_here"  # its own entry: no other test's server
    startup.prestart(model)
    server, plotter = startup._SERVERS[model], startup._PLOTTERS[model]
    started = time.monotonic()
    startup.discard(model)
    assert time.monotonic() - started < 5
    assert server.proc.poll() is not None and (plotter is None or plotter.proc.poll() is not None)
    assert not server.log_file.parent.exists()
    assert model not in startup._SERVERS
