"""BenchOptions checks its own settings: run_bench refuses what the CLI refuses, with the flag named."""

from __future__ import annotations

import math

import pytest

from trt_export.bench.options import BenchOptions
from trt_export.bench.report import BenchSettings
from trt_export.bench.scene import SceneSettings
from trt_export.bench.sweep import run_bench
from trt_export.errors import EXIT_USAGE, TrtExportError


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        ({"warmup": -1}, "--warmup must be >= 0, got -1"),
        ({"iters": 0}, "--iters must be at least 1, got 0"),
        ({"duration_s": 0.0}, "--duration must be a positive number of seconds, got 0.0"),
        ({"timeout_s": math.inf}, "--timeout must be a positive finite number, got inf"),
        ({"max_latency_ms": -5.0}, "--max-latency-ms must be a positive finite number, got -5.0"),
        ({"max_memory_mb": math.nan}, "--max-memory-mb must be a positive finite number, got nan"),
        ({"duration_s": 20.0, "timeout_s": 8.0}, "--duration 20 s is not shorter than --timeout 8 s"),
        ({"objective": "fastest"}, "--objective 'fastest' is not one of throughput, latency, scene"),
        ({"latency_stat": "p42"}, "--latency-stat 'p42' is not one of"),
        ({"seed": -1}, "--seed -1 is outside [0, 2**32)"),
        ({"shapes": []}, "give at least one candidate shape with --shapes"),
    ],
)
def test_bad_settings_are_refused_at_construction(fields, flag):
    with pytest.raises(TrtExportError) as caught:
        BenchOptions(**fields)
    (line,) = str(caught.value).splitlines()
    assert line.startswith(flag), line
    assert caught.value.exit_code == EXIT_USAGE


def test_run_bench_checks_options_changed_after_construction(tmp_path):
    """Checked again before any worker starts: nothing is written, no process is forked."""
    options = BenchOptions(out_dir=tmp_path / "out", fork_workers=False)
    options.warmup = -1
    with pytest.raises(TrtExportError, match=r"^--warmup must be >= 0, got -1$"):
        run_bench(options)
    assert not (tmp_path / "out").exists()


def test_report_settings_are_derived_from_the_options():
    options = BenchOptions(
        warmup=3, iters=7, duration_s=None, objective="latency", latency_stat="p90", max_memory_mb=512.0
    )
    scene = SceneSettings(4000, 3000)
    settings = options.report_settings(4, scene=scene, min_agreement=0.9)
    assert settings == BenchSettings(
        warmup=3,
        iters=7,
        duration_s=None,
        threads=4,
        objective="latency",
        latency_stat="p90",
        max_latency_ms=None,
        max_memory_mb=512.0,
        timeout_s=600.0,
        timing_policy=options.timing_policy(),
        scene=scene,
        min_agreement=0.9,
    )
