"""Show a gate result to people and CI: terminal table, GitHub Markdown and JUnit XML.

Reads only :class:`~trt_export.gate.verdict.GateResult` (the decisions are gate/verdict.py's);
writes no verdict of its own.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from trt_export.errors import ReportError, TrtExportError
from trt_export.gate.verdict import format_pct

if TYPE_CHECKING:
    from trt_export.gate.verdict import GateResult, GateRow

_FAIL, _NEW = "FAIL", "NEW"
"""Verdict values (gate.verdict.Verdict is a StrEnum, equal to these strings)."""


# No backend column: one report is one backend, and the heading/summary line names it.
_HEADERS = ("shape", "metric", "baseline", "current", "change", "ratio [CI] / noise", "verdict", "reason")


def _fmt_value(value: float | str | None, metric: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if metric.startswith("latency"):
        return f"{value:.2f}" if value >= 1 else f"{value:.3g}"  # sub-ms models keep 3 digits
    return f"{value:.1f}"


def _fmt_spread(row: GateRow) -> str:
    if row.interval is not None:
        i = row.interval
        return f"{i.ratio:.3f} [{i.low:.3f}, {i.high:.3f}]"
    return "" if row.noise is None else f"±{row.noise:.3g}"


def _table_rows(result: GateResult) -> list[list[str]]:
    return [
        [
            row.label,
            row.metric,
            _fmt_value(row.baseline, row.metric),
            _fmt_value(row.current, row.metric),
            "" if row.change_pct is None else format_pct(row.change_pct),
            _fmt_spread(row),
            str(row.verdict),
            row.reason,
        ]
        for row in result.rows
    ]


def render_gate_table(result: GateResult) -> str:
    """Terminal view: a summary line, warnings, then every metric of every shape."""
    lines = [f"{result.summary()} ({result.model} on {result.backend})"]
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"note: {n}" for n in result.notes]
    lines.append(tabulate(_table_rows(result), headers=_HEADERS, tablefmt="simple", disable_numparse=True))
    return "\n".join(lines)


def gate_markdown(result: GateResult) -> str:
    """GitHub-flavoured Markdown: heading, summary, warnings, and the table (failures first)."""
    icon = "✅" if result.passed else "❌"
    lines = [f"### {icon} trt-export gate: {result.model} on {result.backend}", "", result.summary(), ""]
    if result.warnings:
        lines += [f"> ⚠️ {w}" for w in result.warnings] + [""]
    if result.notes:
        lines += [f"> ℹ️ {n}" for n in result.notes] + [""]
    if any(row.interval is not None for row in result.rows):
        lines += [
            f"Latency ratio is current / baseline with its {result.settings.confidence:.0%} confidence interval; "
            f"a shape fails when the whole interval is above 1 + {result.settings.latency_tolerance:.0%}.",
            "",
        ]
    # Failures first so a reviewer sees what broke without scrolling; otherwise keep shape order.
    order = {_FAIL: 0, "IMPROVED": 1, _NEW: 2, "PASS": 3}
    rows = sorted(_table_rows(result), key=lambda r: order[r[6]])
    escaped = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    lines.append(tabulate(escaped, headers=_HEADERS, tablefmt="github", disable_numparse=True))
    return "\n".join(lines) + "\n"


def append_github_step_summary(markdown: str) -> Path | None:
    """Append to the file named by ``GITHUB_STEP_SUMMARY`` (set by GitHub Actions); None outside CI."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    except OSError as exc:
        raise TrtExportError(f"cannot append the gate summary to GITHUB_STEP_SUMMARY={target}: {exc}") from exc
    return path


def write_junit_xml(result: GateResult, path: str | os.PathLike[str]) -> Path:
    """One ``<testcase>`` per shape; a failure lists every failing metric; NEW shapes are skipped."""
    shapes = result.shapes()
    suite = ET.Element("testsuite", name="trt_export.gate", tests=str(len(shapes)))
    failures = skipped = 0
    for label in shapes:
        rows = result.rows_for(label)
        case = ET.SubElement(suite, "testcase", classname=f"trt_export.gate.{rows[0].backend}", name=label)
        intervals = [row.interval for row in rows if row.interval is not None]
        if intervals:
            props = ET.SubElement(case, "properties")
            for key in ("ratio", "low", "high", "confidence", "method"):
                name = "latency_ratio" if key == "ratio" else f"latency_ratio_{key}"
                ET.SubElement(props, "property", name=name, value=str(getattr(intervals[0], key)))
        failing = [row for row in rows if row.verdict == _FAIL]
        detail = "\n".join(f"{row.metric}: {row.verdict} - {row.reason}" for row in rows)
        if failing:
            failures += 1
            message = "; ".join(f"{row.metric}: {row.reason}" for row in failing)
            ET.SubElement(case, "failure", message=message, type="regression").text = detail
            continue  # the failure body already lists every metric
        if any(row.verdict == _NEW for row in rows):
            skipped += 1
            ET.SubElement(case, "skipped", message="new shape, no baseline to compare against")
        ET.SubElement(case, "system-out").text = detail
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    if result.warnings or result.notes:
        ET.SubElement(suite, "system-err").text = "\n".join([*result.warnings, *(f"note: {n}" for n in result.notes)])
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(suite)
    ET.ElementTree(suite).write(target, encoding="utf-8", xml_declaration=True)
    return target


def check_gate_output_paths(
    junit_path: str | os.PathLike[str] | None, markdown_path: str | os.PathLike[str] | None
) -> None:
    """Refuse output paths the gate could not write, before any report is loaded or re-measured."""
    for what, path in (("JUnit XML", junit_path), ("Markdown summary", markdown_path)):
        if path is not None and Path(path).is_dir():
            raise ReportError(f"cannot write the gate's {what} to {str(path)!r}: it is a directory; give a file path")


def write_gate_outputs(
    result: GateResult,
    junit_path: str | os.PathLike[str] | None = None,
    markdown_path: str | os.PathLike[str] | None = None,
) -> None:
    """Write the JUnit XML and the Markdown summary when asked, and append the Markdown to the CI
    step summary (``GITHUB_STEP_SUMMARY``); an unwritable path is one ReportError line (exit 2)."""
    check_gate_output_paths(junit_path, markdown_path)
    markdown = gate_markdown(result)
    try:
        if junit_path is not None:
            write_junit_xml(result, junit_path)
        if markdown_path is not None:
            target = Path(markdown_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        raise ReportError(
            f"cannot write the gate's output {exc.filename or ''!s}: {exc.strerror or exc}; give a writable file path"
        ) from exc
    append_github_step_summary(markdown)
