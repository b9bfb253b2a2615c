"""The bench sweep on real models on CPU: report files, budgets, fault isolation, export cache, CLI.

Every candidate costs worker processes that each import Paddle (~3 s), so sweeps are module-scoped
and shared between the assertions. Faults are injected with ``fixture_models:width_traps`` (a net
that fails parity at one width and aborts at another): the workers inherit the test process's
``sys.path``, where pytest put ``tests/``.
"""

from __future__ import annotations

import copy
import csv
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from fixture_cli import run_cli
from fixture_paths import child_env

from trt_export.bench.protocol import IdleJob
from trt_export.bench.recommend import recommend_report
from trt_export.bench.report import load_bench_report
from trt_export.bench.sweep import BenchOptions, WorkerPool, export_cache_key, parse_shapes, run_bench
from trt_export.errors import TrtExportError
from trt_export.export.manifest import MANIFEST_NAME
from trt_export.infer.backends import BackendSettings
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import load_source
from trt_export.report.render import render_bench_table

MODEL = "paddle.vision.models:mobilenet_v3_small"
SHAPES = ["[32,32]", "[48,48]", "[64,64]"]
LABELS = ["1x3x32x32", "1x3x48x48", "1x3x64x64"]
ITERS, WARMUP = 5, 1
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Keys of the environment fingerprint (docs/bench-report-schema.md): the gate compares them.
FINGERPRINT_KEYS = {
    "paddle_version",
    "paddle_commit",
    "cuda_version",
    "cudnn_version",
    "tensorrt_compile_version",
    "tensorrt_runtime_version",
    "gpu_name",
    "gpu_driver",
    "gpu_count",
    "cpu_model",
    "cpu_count",
    "python",
    "platform",
    "onednn",
}


def _options(root: Path, **overrides) -> BenchOptions:
    values = dict(
        model=MODEL,
        shapes=parse_shapes(SHAPES),
        warmup=WARMUP,
        iters=ITERS,
        duration_s=None,
        out_dir=root / "out",
        cache_dir=root / "cache",
        progress=False,
    )
    values.update(overrides)
    return BenchOptions(**values)


def _manifest_mtimes(cache: Path) -> dict[str, int]:
    return {str(p.relative_to(cache)): p.stat().st_mtime_ns for p in sorted(cache.glob(f"*/export/{MANIFEST_NAME}"))}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """mobilenet_v3_small at three sizes, no budgets: the measurements the other tests read."""
    root = tmp_path_factory.mktemp("bench")
    options = _options(root)
    report = run_bench(options)
    return SimpleNamespace(
        root=root,
        options=options,
        report=report,
        out=options.out_dir,
        cache=options.cache_dir,
        manifests=_manifest_mtimes(options.cache_dir),
    )


# --- one sweep of a real model -------------------------------------------------------------------


def test_sweep_writes_every_report_file(sweep):
    out, report = sweep.out, sweep.report
    assert load_bench_report(out / "bench.json").to_dict() == report.to_dict()

    with (out / "bench.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["label"] for r in rows] == LABELS
    assert all(r["status"] == "ok" and r["latency_samples"] == str(ITERS) for r in rows)
    assert [r["label"] for r in rows if r["pick"] == "BEST"] == [report.recommendation.label]

    markdown = (out / "bench.md").read_text(encoding="utf-8")
    assert "## Recommendation" in markdown and f"**{report.recommendation.label}**" in markdown
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    # gflops.png: achieved GFLOP/s against the roof, since every candidate's FLOPs were counted
    assert sorted(links) == ["gflops.png", "latency.png", "memory.png", "throughput.png"]
    for link in links:  # the Markdown's images must resolve next to it
        png = (out / link).read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 10_000, link

    logs = {p.name for p in (out / "logs").iterdir()}
    assert "idle.log" in logs
    for label in LABELS:
        assert {f"{label}-prepare.log", f"{label}-measure.log", f"{label}-measure.result.json"} <= logs
    assert not list(out.glob(".bench.partial-*")), "the staging dir must not be left behind"


def test_every_candidate_is_measured(sweep):
    report = sweep.report
    assert [c.label for c in report.candidates] == LABELS
    assert report.model.source == MODEL and report.model.model_type == "classifier"
    assert report.backend in ("paddle-onednn", "paddle-cpu")
    assert set(report.environment) >= FINGERPRINT_KEYS
    assert report.environment["gpu_count"] == 0 and report.environment["cpu_count"] >= 1
    assert report.settings.iters == ITERS and report.settings.warmup == WARMUP
    assert report.idle_rss_mb > 100  # a process that imported Paddle
    for cand in report.candidates:
        n, _, h, w = cand.shape_nchw
        assert cand.status == "ok" and cand.failure is None, cand.label
        assert cand.export_s > 0 and cand.build_s > 0
        lat = cand.latency_ms
        assert lat.samples == ITERS
        assert 0 < lat.min <= lat.median <= lat.p90 <= lat.p99 <= lat.max
        assert cand.noisy == (lat.cv > 0.10)
        assert cand.throughput.samples_per_s == pytest.approx(n * 1000 / lat.median)
        assert cand.throughput.megapixels_per_s == pytest.approx(n * h * w / 1e6 * 1000 / lat.median)
        mem = cand.memory
        assert mem.peak_rss_mb > report.idle_rss_mb
        assert mem.rss_increase_mb == pytest.approx(mem.peak_rss_mb - report.idle_rss_mb, abs=0.11)
        assert mem.gpu_peak_mb is None and mem.paddle_allocator_peak_mb is None  # CPU: not measured, not 0
        assert cand.parity.passed and cand.parity.backend == report.backend and cand.parity.failed_outputs == []
        assert cand.eligible and cand.excluded_reason is None
    rec = report.recommendation
    assert rec.objective == "throughput" and rec.excluded == {}
    assert rec.runner_up in LABELS and rec.runner_up != rec.label
    # Which of two noisy timings wins is not asserted: the pick is the highest throughput, or a
    # smaller input within the timing noise of it (recommend's documented rule), named as such.
    best = max(report.candidates, key=lambda c: c.throughput.megapixels_per_s)
    pick = next(c for c in report.candidates if c.label == rec.label)
    if pick is best:
        assert "within the timing noise" not in rec.reason
    else:
        band = max(c.latency_ms.iqr / c.latency_ms.median for c in (pick, best))
        assert pick.pixels < best.pixels
        assert pick.throughput.megapixels_per_s >= best.throughput.megapixels_per_s * (1 - band)
        assert f"{pick.label} is within the timing noise" in rec.reason and best.label in rec.reason


def test_budgets_from_measured_figures_exclude_candidates(sweep):
    # Budgets between the candidates' own figures, applied to a copy: deterministic however fast
    # or busy this machine is.
    report = copy.deepcopy(sweep.report)
    fastest, second, *_ = sorted(report.candidates, key=lambda c: c.latency_ms.p99)
    assert fastest.latency_ms.p99 < second.latency_ms.p99
    report.settings = replace(report.settings, max_latency_ms=(fastest.latency_ms.p99 + second.latency_ms.p99) / 2)
    rec = recommend_report(report)
    assert rec.label == fastest.label and rec.runner_up is None
    for cand in report.candidates:
        if cand is not fastest:
            assert not cand.eligible and re.fullmatch(r"p99 [\d.]+ ms > budget [\d.e+-]+ ms", cand.excluded_reason)
            assert rec.excluded[cand.label] == cand.excluded_reason
    assert ["BEST", fastest.label] in [line.split()[:2] for line in render_bench_table(report).splitlines()]

    peaks = sorted(c.memory.peak_rss_mb for c in report.candidates)
    report.settings = replace(report.settings, max_latency_ms=None, max_memory_mb=peaks[-1])
    assert recommend_report(report) is not None and all(
        c.eligible for c in report.candidates
    )  # the budget is inclusive
    middle = (peaks[0] + peaks[-1]) / 2
    report.settings = replace(report.settings, max_memory_mb=middle)
    rec = recommend_report(report)
    fits = {c.label for c in report.candidates if c.memory.peak_rss_mb <= middle}
    assert {c.label for c in report.candidates if c.eligible} == fits and rec.label in fits
    for cand in report.candidates:
        assert cand.eligible or re.fullmatch(r"peak RSS [\d.]+ MiB > budget [\d.e+-]+ MiB", cand.excluded_reason)
    report.settings = replace(report.settings, max_memory_mb=peaks[0] - 1)
    assert recommend_report(report) is None and not any(c.eligible for c in report.candidates)
    assert "No candidate is eligible" in render_bench_table(report)


# --- fault isolation -----------------------------------------------------------------------------

TRAP_SHAPES = ["[64,32]", "[80,32]", "[96,32]", "[128,32]"]  # widths 64..128, height 32
CRASHES, BREAKS_PARITY, GOOD = "1x3x32x80", "1x3x32x96", {"1x3x32x64", "1x3x32x128"}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    root = tmp_path_factory.mktemp("faulty")
    options = _options(
        root,
        model="fixture_models:width_traps",
        model_kwargs={"parity_width": 96, "crash_width": 80},
        shapes=parse_shapes(TRAP_SHAPES),
    )
    return SimpleNamespace(report=run_bench(options), out=options.out_dir)


def test_parity_failure_excludes_only_that_candidate(faulty):
    cand = faulty.report.candidate(BREAKS_PARITY)
    assert cand.status == "ok" and cand.failure is None and cand.latency_ms is not None  # it ran and was timed
    # exactly the dygraph-only +1: jit.save traced the static branch
    assert not cand.parity.passed and cand.parity.max_abs_error == pytest.approx(1.0, abs=1e-4)
    assert cand.parity.failed_outputs == ["output_0"]
    assert not cand.eligible and "parity failed on output_0" in cand.excluded_reason
    for label in GOOD:
        good = faulty.report.candidate(label)
        assert good.parity.passed and good.parity.max_abs_error < 1e-4 and good.eligible


def test_crashing_candidate_is_recorded_and_the_sweep_goes_on(faulty):
    report = faulty.report
    cand = report.candidate(CRASHES)
    assert cand.status == "failed" and cand.failure.stage == "crash"
    assert "SIGABRT" in cand.failure.reason and "during export" in cand.failure.reason
    assert "FatalError" in cand.failure.reason  # Paddle's summary line, not its PID/address trailer
    log = Path(cand.failure.reason.rsplit("log: ", 1)[1])
    assert log == faulty.out / "logs" / f"{CRASHES}-prepare.log" and log.is_file(), (
        "the reason must name a log that exists"
    )
    assert cand.latency_ms is None and cand.memory is None and cand.parity is None
    assert not cand.eligible and cand.excluded_reason.startswith("failed at crash: ")
    # the candidates after the crash ran normally
    assert {c.label for c in report.candidates if c.ok} == GOOD | {BREAKS_PARITY}
    rec = report.recommendation
    assert rec.label in GOOD and rec.runner_up in GOOD - {rec.label}
    assert set(rec.excluded) == {CRASHES, BREAKS_PARITY}
    assert load_bench_report(faulty.out / "bench.json").candidate(CRASHES).failure == cand.failure
    table = render_bench_table(report)
    assert "failed (crash)" in table and "FAIL" in table


def test_worker_timeout_is_a_failure_not_a_hang(tmp_path):
    # An idle worker needs seconds to import Paddle; half a second is a timeout.
    pool = WorkerPool(tmp_path, timeout_s=0.5, shown_log_dir=tmp_path / "shown")
    outcome = pool.run(IdleJob(), "idle", "start-up")
    assert outcome.result is None
    assert outcome.failure.stage == "timeout"
    assert (
        outcome.failure.reason == f"start-up took longer than --timeout 0.5 s; log: {tmp_path / 'shown' / 'idle.log'}"
    )


def test_worker_death_is_classified(tmp_path):
    log = tmp_path / "w.log"
    log.write_text(
        "loading\nFatalError: `Segmentation fault` is detected by the operating system.\n  [SignalInfo: *** SIGSEGV ***]\n"
    )
    segv = WorkerPool._crash(-11, log, "build")
    assert segv.stage == "crash"
    assert (
        segv.reason
        == f"worker died of SIGSEGV during build: FatalError: `Segmentation fault` is detected by the operating system.; log: {log}"
    )
    assert WorkerPool._crash(-9, log, "build").stage == "oom"
    log.write_text("Traceback (most recent call last):\nImportError: no module named x\n")
    assert WorkerPool._crash(1, log, "export").reason.startswith(
        "worker exited 1 during export: ImportError: no module named x"
    )


# --- export cache --------------------------------------------------------------------------------


def test_export_cache_key(tmp_path):
    import paddle

    source = load_source("fixture_models:width_traps")
    small, large = parse_fixed_shape("[64,32]"), parse_fixed_shape("[128,32]")
    key = export_cache_key(source, small, "legacy", "3.3.1")
    assert key == export_cache_key(load_source("fixture_models:width_traps"), small, "legacy", "3.3.1")
    assert key != export_cache_key(source, large, "legacy", "3.3.1")
    assert key != export_cache_key(source, small, "pir", "3.3.1")
    assert key != export_cache_key(source, small, "legacy", "3.0.0")
    assert key != export_cache_key(
        load_source("fixture_models:width_traps", kwargs={"parity_width": 64}), small, "legacy", "3.3.1"
    )

    state = source.build().state_dict()
    weights_a, weights_b = tmp_path / "a.pdparams", tmp_path / "b.pdparams"
    paddle.save(state, str(weights_a))
    paddle.save({k: v + 1.0 for k, v in state.items()}, str(weights_b))
    key_a = export_cache_key(load_source(source.spec, weights=str(weights_a)), small, "legacy", "3.3.1")
    key_b = export_cache_key(load_source(source.spec, weights=str(weights_b)), small, "legacy", "3.3.1")
    assert len({key, key_a, key_b}) == 3


# --- command line ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_rerun(sweep):
    """The sweep again through the CLI, on the first run's export cache, gated against its bench.json."""
    out = sweep.root / "cli-out"
    proc = run_cli(
        "bench",
        "--model",
        MODEL,
        "--shapes",
        *SHAPES,
        "--iters",
        str(ITERS),
        "--warmup",
        str(WARMUP),
        "--out",
        str(out),
        "--cache-dir",
        str(sweep.cache),
        "--no-progress",
        "--baseline",
        str(sweep.out / "bench.json"),
        # this test is about the files and exit code; two 5-iteration runs on a shared CI box can
        # differ by more than the default 10 % (the gate's own verdicts are tested in tests/gate/test_verdict.py)
        "--latency-tolerance",
        "500%",
        # and 5 samples are too few for the bootstrap interval (exit 2): the version 1 noise band
        "--test",
        "summary",
        cwd=sweep.root,
    )
    return SimpleNamespace(proc=proc, out=out)


def test_cli_bench_prints_table_and_gates_against_baseline(cli_rerun):
    proc, out = cli_rerun.proc, cli_rerun.out
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"bench {MODEL} on ")
    assert any(line.split()[:2] == ["pick", "NCHW"] for line in lines), proc.stdout
    best = [line.split()[1] for line in lines if line.startswith("BEST ")]
    assert len(best) == 1 and best[0] in LABELS, proc.stdout
    assert any(line.startswith("Recommended: ") for line in lines)
    assert "gate PASSED" in proc.stdout
    report = load_bench_report(out / "bench.json")
    assert [c.label for c in report.candidates] == LABELS and best == [report.recommendation.label]
    assert {
        "bench.json",
        "bench.csv",
        "bench.md",
        "latency.png",
        "memory.png",
        "throughput.png",
        "logs",
        "gate-junit.xml",
        "gate.md",
    } <= {p.name for p in out.iterdir()}
    junit = (out / "gate-junit.xml").read_text(encoding="utf-8")
    assert junit.startswith("<?xml") and all(label in junit for label in LABELS) and "<failure" not in junit


def test_second_run_uses_the_export_cache(sweep, cli_rerun):
    assert cli_rerun.proc.returncode == 0, cli_rerun.proc.stderr
    first, second = sweep.report, load_bench_report(cli_rerun.out / "bench.json")
    # export_s is read from the cached manifest: the very figure the first run recorded
    assert [c.export_s for c in second.candidates] == [c.export_s for c in first.candidates]
    assert _manifest_mtimes(sweep.cache) == sweep.manifests and len(sweep.manifests) == len(LABELS)
    logs = {p.name for p in (cli_rerun.out / "logs").iterdir()}
    assert not [name for name in logs if "prepare" in name], "a complete cache entry needs no prepare worker"
    assert all(c.ok and c.parity.passed for c in second.candidates)


def test_cli_exits_1_when_no_candidate_fits_the_budgets(sweep, cli):
    out = sweep.root / "cli-none"
    proc = cli(
        "bench",
        "--model",
        MODEL,
        "--shapes",
        *SHAPES,
        "--iters",
        "3",
        "--warmup",
        "0",
        "--out",
        str(out),
        "--cache-dir",
        str(sweep.cache),
        "--no-progress",
        "--max-latency-ms",
        "0.0001",
        cwd=sweep.root,
    )
    assert proc.returncode == 1, proc.stderr
    assert "No candidate is eligible" in proc.stdout
    report = load_bench_report(out / "bench.json")
    assert report.recommendation is None and all("budget" in c.excluded_reason for c in report.candidates)


def _bench(cli, tmp_path: Path, *flags: str, shapes: tuple[str, ...] = ("[32,32]",)):
    """``bench`` of MODEL into tmp_path/out with its own cache tmp_path/c; ``flags`` come last and win."""
    return cli(
        "bench",
        "--model",
        MODEL,
        "--shapes",
        *shapes,
        "--out",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--no-progress",
        *flags,
        cwd=tmp_path,
    )


def test_cli_refuses_a_bad_shape_before_any_work(tmp_path, cli):
    out = tmp_path / "out"
    proc = _bench(cli, tmp_path, shapes=("[32,32]", "[32,-1]"))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("trt-export: error: ") and "-1" in proc.stderr
    )
    assert not out.exists() and not (tmp_path / "c").exists()


def test_cli_refuses_an_unavailable_backend(tmp_path, cli):
    out = tmp_path / "out"
    proc = _bench(cli, tmp_path, "--backend", "trt-fp16")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("trt-export: error: ") and "trt-fp16" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


def test_cli_refuses_a_missing_baseline(tmp_path, cli):
    out = tmp_path / "out"
    proc = _bench(cli, tmp_path, "--baseline", str(tmp_path / "nope.json"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope.json" in proc.stderr and "does not exist" in proc.stderr
    assert not out.exists()


# --- the timing loop itself ----------------------------------------------------------------------


def test_timed_loop_counts_warmup_apart_and_times_exactly_iters():
    from trt_export.bench.worker import timed_loop

    calls = []
    samples = timed_loop(lambda: calls.append(1), warmup=3, iters=7, duration_s=None)
    assert len(samples) == 7 and len(calls) == 10
    assert all(s >= 0 for s in samples)


def test_timed_loop_with_duration_runs_at_least_iters_and_at_least_the_duration():
    import time

    from trt_export.bench.worker import timed_loop

    samples = timed_loop(lambda: time.sleep(0.002), warmup=0, iters=3, duration_s=0.05)
    assert len(samples) >= 3 and sum(samples) >= 0.05
    # a long step: the iteration minimum, not the duration, decides
    slow = timed_loop(lambda: time.sleep(0.03), warmup=0, iters=4, duration_s=0.01)
    assert len(slow) == 4


def test_timing_budget_defaults_and_explicit_values():
    from trt_export.bench.options import timing_budget
    from trt_export.bench.timing import DEFAULT_MIN_RUNS, DEFAULT_MIN_TIME_S
    from trt_export.errors import TrtExportError

    assert timing_budget(None, None) == (DEFAULT_MIN_RUNS, DEFAULT_MIN_TIME_S)
    assert timing_budget(5, None) == (5, None)
    assert timing_budget(None, 2.0) == (1, 2.0)
    for iters, duration in ((0, None), (None, 0.0)):
        with pytest.raises(TrtExportError):
            timing_budget(iters, duration)


def test_auto_chosen_onednn_gives_way_to_paddle_cpu_for_a_pir_only_export(tmp_path):
    """A PaddleRS-style segmenter (argmax label map) only exports as PIR, where oneDNN + interpolate crashes."""
    options = _options(
        tmp_path,
        model="fixture_models:paddlers_style_segmenter",
        shapes=parse_shapes(["[32,32]"]),
        auto_backend=True,
        settings=BackendSettings(backend="paddle-onednn"),
    )
    report = run_bench(options)
    assert report.backend == "paddle-cpu"
    assert len(report.notes) == 1 and "paddle-cpu" in report.notes[0]
    assert report.candidates[0].ok and report.candidates[0].parity.passed
    assert "## Notes" in (options.out_dir / "bench.md").read_text(encoding="utf-8")
    # a backend the user named is kept, even when it then fails with the one-line reason
    # (also the exec path: a fresh interpreter per worker, as where fork is unavailable)
    named = run_bench(
        _options(
            tmp_path / "named",
            model="fixture_models:paddlers_style_segmenter",
            shapes=parse_shapes(["[32,32]"]),
            settings=BackendSettings(backend="paddle-onednn"),
            fork_workers=False,
        )
    )
    assert named.backend == "paddle-onednn" and named.notes == []
    assert not named.candidates[0].ok and "paddle-cpu" in named.candidates[0].failure.reason


def test_shapes_crossed_with_batches_keep_order_and_drop_duplicates():
    shapes = parse_shapes(["[256,256]", "[512,512]", "[2,3,256,256]"], batches=[1, 2])
    assert [s.label for s in shapes] == ["1x3x256x256", "2x3x256x256", "1x3x512x512", "2x3x512x512"]
    assert [s.label for s in parse_shapes(["[64,64]", "[1,3,64,64]"])] == ["1x3x64x64"]
    with pytest.raises(TrtExportError):
        parse_shapes(["[64,64]"], batches=[0])


def _trt_unavailable_reason() -> str | None:
    from trt_export.infer.backends import backend_availability

    availability = backend_availability("trt-fp16")
    return None if availability.available else f"trt-fp16 is not available here: {availability.reason}"


@pytest.mark.gpu
@pytest.mark.skipif(_trt_unavailable_reason() is not None, reason=_trt_unavailable_reason() or "")
def test_gpu_sweep_on_tensorrt_fp16_measures_device_memory_and_passes_parity(tmp_path):
    """Runs unchanged on a GPU runner with a CUDA + TensorRT build of Paddle (skipped elsewhere)."""
    options = _options(
        tmp_path,
        shapes=parse_shapes(["[64,64]", "[128,128]"]),
        settings=BackendSettings(backend="trt-fp16"),
        model="trt_export.zoo:tiny_segnet",
    )
    report = run_bench(options)
    assert report.backend == "trt-fp16" and report.environment["gpu_count"] >= 1
    assert report.environment["tensorrt_runtime_version"]
    for cand in report.candidates:
        assert cand.ok, cand.failure
        assert cand.parity.passed, cand.parity
        assert cand.build_s is not None and cand.build_s > 0  # includes the TensorRT engine build
        assert cand.memory.gpu_peak_mb is not None or cand.memory.paddle_allocator_peak_mb is not None
    assert report.recommendation is not None


def test_a_new_sweep_removes_the_previous_gate_verdict(tmp_path, sweep):
    from trt_export.bench.sweep import write_outputs
    from trt_export.gate.verdict import JUNIT_FILENAME, MARKDOWN_FILENAME

    out = tmp_path / "out"
    out.mkdir()
    for stale in (JUNIT_FILENAME, MARKDOWN_FILENAME):
        (out / stale).write_text("from an earlier run")
    write_outputs(sweep.report, out)
    assert (out / "bench.json").is_file()
    assert not (out / JUNIT_FILENAME).exists() and not (out / MARKDOWN_FILENAME).exists()


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--max-latency-ms", "-5"),
        ("--max-latency-ms", "nan"),
        ("--max-memory-mb", "inf"),
        ("--max-memory-mb", "0"),
        ("--timeout", "0"),
    ],
)
def test_cli_refuses_a_budget_or_timeout_that_is_not_positive_and_finite(tmp_path, flag, value, cli):
    # These used to sweep first, then exclude every candidate (negative), time out every worker
    # (0) or crash writing bench.json (nan/inf: an internal error).
    out = tmp_path / "out"
    proc = _bench(cli, tmp_path, flag, value)
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("trt-export: error: ") and flag in proc.stderr
    )
    assert not out.exists() and not (tmp_path / "c").exists()


def test_cli_refuses_a_cache_dir_that_is_a_file(tmp_path, cli):
    cache = tmp_path / "cache"
    cache.write_text("not a dir")
    proc = _bench(cli, tmp_path, "--iters", "1", "--cache-dir", str(cache))
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.startswith("trt-export: error: ")
        and "--cache-dir" in proc.stderr
        and "internal error" not in proc.stderr
    )


@pytest.mark.parametrize(
    "content",
    [
        "{",
        '{"schema": "trt-export/bench", "schema_version": 0}',
        '{"schema": "trt-export/verify", "schema_version": 1}',
    ],
)
def test_cli_refuses_an_unreadable_baseline_before_sweeping(tmp_path, content, cli):
    # It used to sweep every candidate first and only then say the baseline was unusable.
    baseline = tmp_path / "base.json"
    baseline.write_text(content)
    out = tmp_path / "out"
    proc = _bench(cli, tmp_path, "--baseline", str(baseline))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("trt-export: error: baseline")
    assert not out.exists() and not (tmp_path / "c").exists()


def test_worker_peak_rss_does_not_inherit_the_parents():
    """ru_maxrss survives fork+exec; a worker's peak must not be floored at a large parent's RSS."""
    ballast = bytearray(400 * 2**20)  # touched pages: this process now holds >= 400 MiB
    ballast[::4096] = b"x" * len(ballast[::4096])
    proc = subprocess.run(
        [sys.executable, "-c", "from trt_export.bench.worker import rss_peak_mb; print(rss_peak_mb())"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) < 200
    del ballast


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--target-ci", "150%"], "--target-ci must be between"),
        (["--duration", "10", "--max-duration", "2"], "--max-duration 2 s is below the minimum time 10 s"),
    ],
)
def test_cli_refuses_a_bad_timing_policy_before_any_work(tmp_path, flags, message, cli):
    out = tmp_path / "out"
    proc = _bench(cli, tmp_path, *flags)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr
    assert not out.exists()


def test_sweep_accounts_where_its_time_went(sweep, cli_rerun):
    from trt_export.bench.time_accounting import PHASES

    data = sweep.report.time_s.to_dict()
    assert sum(data[phase] for phase in PHASES) == pytest.approx(data["wall"], abs=1e-3)
    assert data["export"] > 0 and data["timed"] > 0 and data["build"] > 0
    assert data["overhead_ratio"] == pytest.approx(data["wall"] / data["irreducible"], rel=1e-3)
    for cand in sweep.report.candidates:
        assert cand.time_s.get("export") > 0 and cand.time_s.get("timed") > 0
        assert cand.timing.runs == ITERS and cand.timing.stop == "max_runs"  # --iters alone: exactly that many
    warm = load_bench_report(cli_rerun.out / "bench.json")
    assert warm.time_s.phases.get("export") == 0 and warm.time_s.phases.get("reference") == 0
    assert "sweep took" in cli_rerun.proc.stdout
