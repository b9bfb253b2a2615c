"""Interleaved A/B re-measurement: block alternation on a fake clock, export checks, CLI refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fixture_reports import samples, v2_candidate, v2_report

from trt_export.bench import interleave
from trt_export.bench.interleave import PairedRun, RerunOptions, block_iterations, check_export, interleave_blocks
from trt_export.bench.report import BenchReport
from trt_export.errors import ReportError, TrtExportError
from trt_export.gate.verdict import GateSettings, Verdict, run_gate

LABEL = "1x3x32x32"


class FakeClock:
    """perf_counter stand-in: each step advances it by exactly its cost, so ratios are exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float):
        def run() -> None:
            self.now += seconds

        return run


def test_blocks_alternate_with_a_seeded_order(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(interleave.time, "perf_counter", clock)
    result = interleave_blocks(clock.step(0.001), clock.step(0.0013), pairs=12, iters=4, seed=3)
    again = interleave_blocks(clock.step(0.001), clock.step(0.0013), pairs=12, iters=4, seed=3)
    assert result["base_first"] == again["base_first"]  # seeded
    assert 0 < sum(result["base_first"]) < 12  # both orders occur
    assert [len(b) for b in result["base_blocks"]] == [4] * 12
    run = PairedRun(LABEL, result["base_blocks"], result["cur_blocks"], result["base_first"], 4)
    assert run.pair_ratios == pytest.approx([1.3] * 12)
    assert run.base_median_ms == pytest.approx(1.0) and run.cur_median_ms == pytest.approx(1.3)


def test_paired_run_drives_the_latency_verdict_and_replaces_the_stored_one(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(interleave.time, "perf_counter", clock)
    blocks = interleave_blocks(clock.step(0.001), clock.step(0.0013), pairs=12, iters=3, seed=0)
    paired = PairedRun(LABEL, blocks["base_blocks"], blocks["cur_blocks"], blocks["base_first"], 3)
    # The stored reports say "identical" (a drifted machine could say anything); the A/B run decides.
    report = BenchReport.from_dict(v2_report(v2_candidate(LABEL, samples(10.0))))
    result = run_gate(report, report, GateSettings(), paired={LABEL: paired})
    row = next(r for r in result.rows if r.metric.startswith("latency"))
    assert row.metric == "latency p50 ms (A/B)" and row.verdict is Verdict.FAIL
    assert row.interval is not None and row.interval.method == "paired" and row.interval.ratio == pytest.approx(1.3)
    assert any("A/B" in n for n in result.notes)


def test_cpu_clock_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(interleave.time, "process_time", clock)
    result = interleave_blocks(clock.step(0.002), clock.step(0.002), pairs=10, iters=3, seed=0, clock="cpu")
    assert PairedRun(LABEL, result["base_blocks"], result["cur_blocks"]).pair_ratios == pytest.approx([1.0] * 10)


@pytest.mark.parametrize(
    ("step_s", "block_ms", "iters"), [(0.001, 20.0, 20), (0.05, 20.0, 3), (0.0, 20.0, 3), (0.0004, 1.0, 3)]
)
def test_block_iterations(step_s: float, block_ms: float, iters: int) -> None:
    assert block_iterations(step_s, block_ms) == iters


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"pairs": 5}, "--pairs"),
        ({"block_ms": 0.0}, "--block-ms"),
        ({"warmup": -1}, "--warmup"),
        ({"clock": "tsc"}, "--ab-clock"),
    ],
)
def test_rerun_options_refuse_bad_values(kwargs: dict[str, Any], hint: str) -> None:
    with pytest.raises(TrtExportError, match=hint):
        RerunOptions(**kwargs)


# --- the exports --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trt_export.export.exporter import export_model
    from trt_export.model.shapes import FixedShape
    from trt_export.model.sources import load_source

    out = tmp_path_factory.mktemp("ab") / "export"
    export_model(
        load_source("trt_export.zoo:tiny_segnet", kwargs={"width": 4}),
        out,
        FixedShape.from_nchw([1, 3, 32, 32]),
        model_format="legacy",
    )
    return out


def _exports(root: Path, export_dir: Path) -> Path:
    shutil.copytree(export_dir, root / LABEL)
    return root


def test_check_export_accepts_an_intact_export(tmp_path: Path, export_dir: Path) -> None:
    root = _exports(tmp_path / "exports", export_dir)
    assert check_export(root, LABEL, "baseline", [1, 3, 32, 32]) == root / LABEL


def test_missing_export_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="baseline export of 1x3x32x32 is missing.*--keep-exports"):
        check_export(tmp_path, LABEL, "baseline", [1, 3, 32, 32])


def test_damaged_export_is_refused_before_paddle_sees_it(tmp_path: Path, export_dir: Path) -> None:
    root = _exports(tmp_path / "exports", export_dir)
    model = root / LABEL / "model.pdmodel"
    model.write_bytes(model.read_bytes()[: len(model.read_bytes()) // 2])
    with pytest.raises(ReportError, match="current export of 1x3x32x32 is damaged.*sha256"):
        check_export(root, LABEL, "current", [1, 3, 32, 32])


def test_export_of_another_shape_is_refused(tmp_path: Path, export_dir: Path) -> None:
    root = tmp_path / "exports"
    shutil.copytree(export_dir, root / "1x3x64x64")
    with pytest.raises(ReportError, match="fixed at 1x3x32x32, not 1x3x64x64"):
        check_export(root, "1x3x64x64", "baseline", [1, 3, 64, 64])


def _cpu_report(tmp_path: Path, name: str) -> str:
    report = v2_report(v2_candidate(LABEL, samples(10.0)))
    report["backend"] = "paddle-cpu"
    path = tmp_path / name / "bench.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(report))
    return str(path)


@pytest.mark.parametrize("what", ["missing", "damaged"])
def test_cli_rerun_with_a_missing_or_damaged_baseline_export_exits_2(
    tmp_path: Path, export_dir: Path, what: str, cli
) -> None:
    base, cur = _cpu_report(tmp_path, "base"), _cpu_report(tmp_path, "cur")
    _exports(Path(cur).parent / "exports", export_dir)
    if what == "damaged":
        root = _exports(Path(base).parent / "exports", export_dir)
        (root / LABEL / "model.pdiparams").write_bytes(b"garbage")
    run = cli("gate", "--baseline", base, "--current", cur, "--rerun")
    assert run.returncode == 2, run.stderr
    err = run.stderr
    assert err.startswith("trt-export: error:") and err.count("\n") == 1 and "internal error" not in err
    assert f"baseline export of {LABEL} is {what}" in err


def test_cli_exports_flags_need_rerun(tmp_path: Path, cli) -> None:
    base = _cpu_report(tmp_path, "base")
    run = cli("gate", "--baseline", base, "--current", base, "--baseline-exports", str(tmp_path))
    assert run.returncode == 2 and "--rerun" in run.stderr, run.stderr


def test_cli_cpu_clock_refused_on_a_gpu_backend(tmp_path: Path, export_dir: Path, cli) -> None:
    report = v2_report(v2_candidate(LABEL, samples(10.0)))  # trt-fp16
    path = tmp_path / "r" / "bench.json"
    path.parent.mkdir()
    path.write_text(json.dumps(report))
    _exports(path.parent / "exports", export_dir)
    run = cli("gate", "--baseline", str(path), "--current", str(path), "--rerun", "--ab-clock", "cpu")
    assert run.returncode == 2 and "--ab-clock wall" in run.stderr, run.stderr
