"""Rendering stored bench reports gives, byte for byte, the output captured in tests/data/render_golden/.

The golden files were captured before the metric registry (trt_export/bench/metrics.py) took over
the columns; any difference is a change of the CLI's output. tests/render_golden_reports.py
rebuilds them when a change is intended.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from render_golden_reports import GATE_PAIRS, GOLDEN, REPORTS

from trt_export.bench.report import load_bench_report
from trt_export.gate.verdict import GateSettings, gate_files
from trt_export.report.gate_output import render_gate_table, write_gate_outputs
from trt_export.report.render import render_bench_table, write_csv, write_markdown


def _golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", REPORTS)
def test_bench_renderings_match_the_golden_files(name: str, tmp_path: Path) -> None:
    report = load_bench_report(GOLDEN / f"{name}.bench.json")
    assert render_bench_table(report) + "\n" == _golden(f"{name}.table.txt")
    assert write_markdown(report, tmp_path / f"{name}.md").read_text(encoding="utf-8") == _golden(f"{name}.md")
    assert write_csv(report, tmp_path / f"{name}.csv").read_text(encoding="utf-8") == _golden(f"{name}.csv")


@pytest.mark.parametrize(("baseline", "current"), GATE_PAIRS)
def test_gate_renderings_match_the_golden_files(baseline: str, current: str, tmp_path: Path) -> None:
    result = gate_files(
        GOLDEN / f"{baseline}.bench.json", GOLDEN / f"{current}.bench.json", GateSettings(test="bootstrap")
    )
    write_gate_outputs(result, junit_path=tmp_path / "gate.xml", markdown_path=tmp_path / "gate.md")
    assert render_gate_table(result) + "\n" == _golden(f"gate-{current}.txt")
    assert (tmp_path / "gate.md").read_text(encoding="utf-8") == _golden(f"gate-{current}.md")
    assert (tmp_path / "gate.xml").read_text(encoding="utf-8") == _golden(f"gate-{current}.xml")
