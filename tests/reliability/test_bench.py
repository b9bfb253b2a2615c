"""Bench reliability (issue 11): no orphan workers, no late failures, results all or nothing.

Fault injection: kill -9 and SIGHUP of a real bench parent, a stalling worker, an injected ENOSPC,
a damaged cache file. One tiny module-scoped sweep (one 32x32 shape, a few timed runs) serves as
the baseline and the warm cache.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from fixture_paths import child_env

from trt_export.bench import guard as bench_guard
from trt_export.bench import sweep as bench_mod
from trt_export.bench.protocol import MeasureJob, PrepareJob, PrepareResult, SourceSpec, WorkerFailure
from trt_export.bench.sweep import BenchOptions, WorkerPool, parse_shapes, run_bench, write_outputs
from trt_export.errors import TrtExportError

MODEL = "trt_export.zoo:tiny_segnet"


def _options(root: Path, **overrides) -> BenchOptions:
    values = dict(
        model=MODEL,
        shapes=parse_shapes(["[32,32]"]),
        warmup=1,
        iters=3,
        duration_s=None,
        out_dir=root / "out",
        cache_dir=root / "cache",
        progress=False,
    )
    values.update(overrides)
    return BenchOptions(**values)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("relbench")
    options = _options(root)
    report = run_bench(options)
    assert report.candidates[0].ok, report.candidates[0].failure
    return root, options, report


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ------------------------------------------------------------------ 4, 6: workers die with their parent


def _start_hanging_bench(tmp_path: Path) -> tuple[subprocess.Popen, psutil.Process]:
    """A bench whose prepare worker sleeps; returns the parent and that worker once it runs."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trt_export",
            "bench",
            "--model",
            "fixture_slow:worker_hang",
            "--shapes",
            "[32,32]",
            "--out",
            str(tmp_path / "out"),
            "--no-cache",
            "--no-progress",
            "--timeout",
            "300",
        ],
        cwd=tmp_path,
        env=child_env(TRT_TEST_SLOW_S="300", TMPDIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if list(tmp_path.glob(".trt-export-bench.partial-*/logs/*-prepare.job.json")):
            time.sleep(1.0)  # the prepare worker (exec'd, or forked from the pre-imported server) is running
            try:
                workers = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                workers = []
            if workers:
                return proc, workers[-1]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the prepare worker never started")


def test_kill_9_of_the_parent_kills_its_worker_and_the_next_run_cleans_the_scratch(tmp_path, monkeypatch):
    proc, worker = _start_hanging_bench(tmp_path)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while not _gone(worker.pid):
        assert time.monotonic() < deadline, "the worker outlived its parent by 10 s"
        time.sleep(0.1)
    scratch = [p for p in tmp_path.iterdir() if p.name.startswith(f".trt-export-bench.partial-{proc.pid}-")]
    assert scratch, "kill -9 leaves the scratch dir (nothing can run in a killed process)"
    # The next sweep removes it: its owner is gone.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(TrtExportError):  # stop right after the pre-flight (an impossible budget of memory)
        run_bench(_options(tmp_path, shapes=parse_shapes(["[1,3,100000,100000]"])))
    assert not any(p.exists() for p in scratch)


def test_sighup_of_the_parent_kills_its_worker_and_removes_the_scratch(tmp_path):
    proc, worker = _start_hanging_bench(tmp_path)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "terminated (SIGHUP)" in err and "Traceback" not in err
    deadline = time.monotonic() + 10
    while not _gone(worker.pid):
        assert time.monotonic() < deadline, "the worker outlived its parent by 10 s"
        time.sleep(0.1)
    assert not any(p.name.startswith(".trt-export-bench.partial-") for p in tmp_path.iterdir())
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ 8: --out checked first, written all or nothing


def test_out_below_a_file_is_refused_before_the_sweep(tmp_path, cli):
    (tmp_path / "file").write_text("x")
    code, out, err = cli("bench", "--model", MODEL, "--shapes", "[32,32]", "--out", str(tmp_path / "file" / "sub"))
    assert code == 2
    assert "is a file" in err and "bench " not in out  # no sweep was announced


def test_out_holding_a_file_named_logs_is_refused_before_the_sweep(tmp_path, cli):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "logs").write_text("my log")
    code, out, err = cli("bench", "--model", MODEL, "--shapes", "[32,32]", "--out", str(out_dir))
    assert code == 2
    assert "logs" in err and "bench " not in out
    assert (out_dir / "logs").read_text() == "my log"


def test_cache_dir_below_a_file_is_refused_before_the_sweep(tmp_path, cli):
    (tmp_path / "file").write_text("x")
    code, out, err = cli(
        "bench",
        "--model",
        MODEL,
        "--shapes",
        "[32,32]",
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "file" / "cache"),
    )
    assert code == 2
    assert "--cache-dir" in err and "is a file" in err and "internal error" not in err and "bench " not in out


def test_result_set_is_swapped_in_all_or_nothing(tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for name in ("bench.json", "bench.csv", "bench.md"):
        (out_dir / name).write_text(f"old {name}")
    (out_dir / "logs").mkdir()
    (out_dir / "logs" / "old.log").write_text("old")
    staging = tmp_path / "staging"
    staging.mkdir()
    for name in ("bench.csv", "bench.json", "bench.md", "latency.png"):
        (staging / name).write_text(f"new {name}")
    (staging / "logs").mkdir()
    real = os.replace
    calls = {"n": 0}

    def failing(src, dst):
        calls["n"] += 1
        if calls["n"] == 7:  # the third entry moved in
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(bench_guard.os, "replace", failing)
    with pytest.raises(OSError):
        bench_guard.swap_in(staging, out_dir)
    monkeypatch.setattr(bench_guard.os, "replace", real)
    assert {p.name: (p.read_text() if p.is_file() else "dir") for p in out_dir.iterdir()} == {
        "bench.json": "old bench.json",
        "bench.csv": "old bench.csv",
        "bench.md": "old bench.md",
        "logs": "dir",
    }
    assert (out_dir / "logs" / "old.log").read_text() == "old"


def test_full_disk_while_writing_results_changes_nothing_and_still_prints_the_table(sweep, tmp_path, monkeypatch, cli):
    root, options, report = sweep
    out_dir = tmp_path / "out"
    shutil.copytree(options.out_dir, out_dir)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("trt_export.report.render.write_csv", full)
    with pytest.raises(OSError):
        write_outputs(report, out_dir)
    assert {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()} == before
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]
    # through the CLI (the cache is warm): the table is printed, the error names the full disk
    code, out, err = cli(
        "bench",
        "--model",
        MODEL,
        "--shapes",
        "[32,32]",
        "--iters",
        "3",
        "--warmup",
        "1",
        "--out",
        str(out_dir),
        "--cache-dir",
        str(options.cache_dir),
        "--no-progress",
    )
    assert code == 2
    (line,) = err.splitlines()
    assert "could not be written" in line and "disk full at" in line and "nothing in --out was changed" in line
    assert "1x3x32x32" in out and "p50 ms" in out
    assert {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()} == before


# ------------------------------------------------------------------ 9: baseline refused before the sweep


def test_baseline_of_another_model_is_refused_before_sweeping(sweep, tmp_path, cli):
    _, options, _ = sweep
    code, out, err = cli(
        "bench",
        "--model",
        "trt_export.zoo:tiny_change_detector",
        "--shapes",
        "[32,32]",
        "--baseline",
        str(options.out_dir / "bench.json"),
        "--out",
        str(tmp_path / "out"),
        "--test",
        "summary",
    )
    assert code == 2
    (line,) = err.splitlines()
    assert "different models" in line
    assert "p50 ms" not in out and not (tmp_path / "out").exists()  # no candidate ran


def test_baseline_of_another_environment_is_refused_before_sweeping(sweep, tmp_path, cli):
    _, options, _ = sweep
    data = json.loads((options.out_dir / "bench.json").read_text())
    data["environment"]["paddle_version"] = "2.6.2"
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(data))
    code, out, err = cli(
        "bench",
        "--model",
        MODEL,
        "--shapes",
        "[32,32]",
        "--baseline",
        str(baseline),
        "--out",
        str(tmp_path / "out"),
        "--test",
        "summary",
    )
    assert code == 2
    assert "environment differs" in err and "'2.6.2'" in err and "--allow-env-mismatch" in err
    assert "p50 ms" not in out and not (tmp_path / "out").exists()  # no candidate ran


# ------------------------------------------------------------------ 10: damaged cache entry re-made


def _prepare(export_dir: Path, reference: Path) -> object:
    """The sweep's prepare job for MODEL at 32x32 into ``export_dir``, run in this process as a worker would."""
    from trt_export.bench.worker import run_job

    return run_job(PrepareJob(SourceSpec(MODEL), [1, 3, 32, 32], "auto", export_dir, reference))


def test_damaged_cached_export_is_made_again(sweep, tmp_path):
    """A truncated params file: the parent's cache lookup discards the entry, the prepare job
    (run in this process, as a worker would) exports it again."""
    _, options, _ = sweep
    cache = tmp_path / "cache"
    shutil.copytree(options.cache_dir, cache)
    (params,) = cache.glob("*/export/model.pdiparams")
    export_dir, reference = params.parent, params.parent.parent / "reference-seed0.npz"
    if not reference.is_file():  # this sweep kept its reference elsewhere: make the entry complete first
        made = _prepare(export_dir, reference)
        assert not isinstance(made, WorkerFailure) and reference.is_file(), made
    good = params.read_bytes()
    params.write_bytes(good[:100])
    assert bench_mod._cached_entry(export_dir, reference) is None
    assert not export_dir.exists() and not reference.exists()
    result = _prepare(export_dir, reference)
    assert not isinstance(result, WorkerFailure), result
    assert bench_mod._cached_entry(export_dir, reference) is not None
    assert len(params.read_bytes()) == len(good)


def test_damaged_export_found_by_the_prepare_job_itself(sweep, tmp_path):

    _, options, _ = sweep
    cache = tmp_path / "cache"
    shutil.copytree(options.cache_dir, cache)
    (model,) = cache.glob("*/export/model.pdmodel")
    model.write_bytes(b"garbage")
    reference = model.parent.parent / "reference-seed0.npz"
    result = _prepare(model.parent, reference)
    assert isinstance(result, PrepareResult) and result.phases_s["export"] > 0, result  # exported again


# ------------------------------------------------------------------ 11, 16, 17: refused up front, named steps


def test_shape_larger_than_memory_is_refused_before_the_sweep(tmp_path, cli):
    code, out, err = cli(
        "bench", "--model", MODEL, "--shapes", "[32,32]", "[100000,100000]", "--out", str(tmp_path / "out")
    )
    assert code == 2
    (line,) = err.splitlines()
    assert "needs at least" in line and "[1, 3, 100000, 100000]" in line and "smaller shape" in line
    assert "bench " not in out


def test_duration_not_shorter_than_timeout_is_refused(tmp_path, cli):
    code, _, err = cli("bench", "--model", MODEL, "--duration", "20", "--timeout", "8", "--out", str(tmp_path / "o"))
    assert code == 2 and "--duration 20 s is not shorter than --timeout 8 s" in err


def test_start_up_timeout_names_no_log_that_is_never_written(tmp_path, cli, monkeypatch):
    """Every log a message names exists after the run: with exec'd workers start-up itself times out
    (exit 2, the log's last line quoted, no idle.log named); with the pre-imported fork server
    start-up is not timed, the candidate times out and its named log is in --out/logs.
    The worker hangs (fixture_slow:worker_hang), so the timeout is certain: a tiny net with a warm
    cache could finish inside any short --timeout."""
    import re

    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
    monkeypatch.setenv("TRT_TEST_SLOW_S", "60")
    code, out, err = cli(
        "bench",
        "--model",
        "fixture_slow:worker_hang",
        "--shapes",
        "[32,32]",
        "--timeout",
        "1",
        "--no-cache",
        "--out",
        str(tmp_path / "out"),
    )
    if code == 2:
        (line,) = err.splitlines()
        assert "cannot start Paddle" in line and "raise --timeout" in line and "idle.log" not in line
        assert not (tmp_path / "out").exists()
    else:
        assert code == 1, err
        named = re.findall(r"log: (\S+\.log)", out)
        assert named and all(Path(p).is_file() for p in named), named


def test_timeout_names_the_step_that_ran_out(tmp_path):
    """The worker records its step before importing Paddle; the parent names it on a timeout
    (here "export", not the default "build" the parent would otherwise guess)."""
    pool = WorkerPool(tmp_path, timeout_s=10)
    pool.env.update(child_env(TRT_TEST_SLOW_S="60"))
    outcome = pool.run(
        PrepareJob(SourceSpec("fixture_slow:worker_hang"), [1, 3, 32, 32], "auto", tmp_path / "e", tmp_path / "r.npz"),
        "p",
        "build",
    )
    assert outcome.failure is not None and outcome.failure.stage == "timeout"
    assert outcome.failure.reason.startswith("export took longer than --timeout 10 s"), outcome.failure.reason


def test_measure_job_records_the_timing_step(sweep, tmp_path, monkeypatch):
    from trt_export.bench import worker as bench_worker
    from trt_export.bench.timing import TimingPolicy
    from trt_export.infer.backends import BackendSettings

    _, options, _ = sweep
    (entry,) = [p for p in options.cache_dir.iterdir() if (p / "export").is_dir()]
    (reference,) = (options.cache_dir / "references").glob("*-seed0.npz")  # keyed apart from the export (sweep_cache)
    stage_file = tmp_path / "m.stage"
    seen = []
    real_loop = bench_worker.run_policy

    def spying_loop(*args, **kwargs):
        seen.append(stage_file.read_text())
        return real_loop(*args, **kwargs)

    monkeypatch.setattr(bench_worker, "run_policy", spying_loop)
    job = MeasureJob(
        entry / "export", reference, "auto", BackendSettings(backend="paddle-cpu"), TimingPolicy.exact(1, warmup=0)
    )
    result = bench_worker.run_job(job, stage_file)
    assert not isinstance(result, WorkerFailure), result
    assert seen == ["timing"]
