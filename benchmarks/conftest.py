"""Fixtures for the measurement-integrity benchmarks (see docs/measurement.md).

Not part of the unit suite: pyproject's ``testpaths`` is ``tests`` only. Run with

    /tmp/venv/bin/python -m pytest benchmarks/ --benchmark-only

One small model is exported once per session and one Paddle Inference predictor is built on
it; every benchmark then uses that same predictor, so the comparisons are within one process,
one predictor and one run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trt_export.errors import BackendUnavailable
from trt_export.export.exporter import export_model
from trt_export.export.manifest import Manifest
from trt_export.infer.backends import BackendSettings
from trt_export.infer.inputs import random_inputs
from trt_export.infer.runners import PaddleInferenceRunner
from trt_export.model.shapes import FixedShape
from trt_export.model.sources import load_source

MODEL_SPEC = "trt_export.zoo:tiny_segnet"
SHAPE_NCHW = (1, 3, 64, 64)
BACKEND = "paddle-onednn"
MODEL_FORMAT = "legacy"  # oneDNN + bilinear interpolate needs the legacy program (PADDLE-FACTS.md)

# Figures printed in the terminal summary (pytest captures the tests' own prints).
_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    source = load_source(MODEL_SPEC)
    save_dir = tmp_path_factory.mktemp("bench") / "model"
    result = export_model(source, save_dir, FixedShape.from_nchw(list(SHAPE_NCHW)), model_format=MODEL_FORMAT)
    return result.manifest


@pytest.fixture(scope="session")
def runner(exported: Manifest) -> Iterator[PaddleInferenceRunner]:
    """A ready predictor with the inputs copied in once (as bench_worker does before timing)."""
    settings = BackendSettings(BACKEND, cpu_threads=1)
    runner = PaddleInferenceRunner(exported.export_dir, exported, settings, model_format=MODEL_FORMAT)
    try:
        runner.activate()
    except BackendUnavailable as exc:
        pytest.skip(f"{BACKEND} is not available here: {exc}")
    try:
        runner.infer(random_inputs(exported.inputs, seed=0))
        yield runner
    finally:
        runner.deactivate()


@pytest.fixture(scope="session")
def step(runner: PaddleInferenceRunner) -> Callable[[], None]:
    """Exactly the timed step of trt_export.bench.worker._job_measure."""

    def step() -> None:
        runner.run_raw()
        runner.fetch_outputs()

    return step


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``figures("...")`` records a line for the end-of-run summary, prefixed with the test name."""

    def add(line: str) -> None:
        _FIGURES.append(f"{request.node.name}: {line}")

    return add


@pytest.fixture
def setup_info() -> Callable[[], dict[str, Any]]:
    """``setup_info()``: what every benchmark records in extra_info (model, shape, backend, load)."""
    return _setup_info


def _setup_info() -> dict[str, Any]:
    return {
        "model": MODEL_SPEC,
        "shape_nchw": list(SHAPE_NCHW),
        "backend": BACKEND,
        "format": MODEL_FORMAT,
        "cpu_threads": 1,
        "cpu_count": os.cpu_count(),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measurement integrity")
        for line in _FIGURES:
            terminalreporter.write_line(line)
