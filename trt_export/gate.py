"""Regression gate: compare a bench report against a baseline, shape by shape.

For every candidate shape the gate looks at three things:

- latency (one statistic, ``p50``/``p90``/``p99``): a regression needs the increase to exceed the
  relative tolerance AND the noise of the two runs (see :func:`noise_threshold_ms`), so a real
  slowdown on a quiet machine fails while jitter on a busy one does not;
- memory (``gpu_peak_mb`` when both runs measured it, else ``paddle_allocator_peak_mb``, else
  ``peak_rss_mb``): growth beyond the memory tolerance;
- status and parity: a parity failure always fails; a shape that ran and passed parity in the
  baseline and now fails or is missing fails. A shape only in the current run is NEW
  (informational).

Two reports from different machines or software stacks are not comparable, so the gate refuses
them (exit 2) unless the caller explicitly allows it; reports of different models are always
refused. Results render as a terminal table, Markdown (also appended to GitHub's step summary)
and JUnit XML with one test case per shape.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tabulate import tabulate

from trt_export.bench_report import BenchReport, Candidate, load_bench_report
from trt_export.errors import EXIT_CHECK_FAILED, EXIT_OK, ReportError, TrtExportError
from trt_export.stats import LatencyStats

GATE_STATS = ("p50", "p90", "p99")

ENV_FIELDS = (
    "gpu_name",
    "gpu_driver",
    "tensorrt_runtime_version",
    "tensorrt_compile_version",
    "paddle_version",
    "cuda_version",
)
"""Fingerprint fields that change what a latency number means; ``backend`` is checked too."""

SETTINGS_FIELDS = ("warmup", "iters", "duration_s", "threads")
"""Sweep settings that shift timings; a difference is a warning, not a refusal."""

IQR_PER_SIGMA = 1.349
"""IQR of a normal distribution in standard deviations: turns an IQR into a robust sigma."""

JUNIT_FILENAME = "gate-junit.xml"
MARKDOWN_FILENAME = "gate.md"
"""File names the bench/gate commands use inside ``--out`` (the CI example relies on them)."""


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NEW = "NEW"
    IMPROVED = "IMPROVED"


@dataclass(frozen=True)
class GateSettings:
    """Tolerances are fractions (0.10 = 10 %); ``noise_k`` scales the combined spread of two runs."""

    latency_tolerance: float = 0.10
    memory_tolerance: float = 0.05
    stat: str = "p50"
    allow_env_mismatch: bool = False
    # 2 x the combined spread: about a 95 % band for a difference of two normal-ish measurements.
    noise_k: float = 2.0

    def __post_init__(self) -> None:
        for name in ("latency_tolerance", "memory_tolerance", "noise_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise TrtExportError(f"gate setting {name} must be a non-negative number, got {value!r}")
        if self.stat not in GATE_STATS:
            raise TrtExportError(f"gate statistic {self.stat!r} is not one of {', '.join(GATE_STATS)}")


_TOLERANCE_RE = re.compile(r"^\s*((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(%?)\s*$")


def parse_tolerance(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1. A bare number above 1 is refused as ambiguous (10 or 10 %?)."""
    raw = str(text)
    if raw.strip().startswith("-"):
        raise TrtExportError(f"tolerance {raw!r} is negative; give a growth allowance such as 10% or 0.1")
    match = _TOLERANCE_RE.match(raw)
    if not match:
        raise TrtExportError(f"tolerance {raw!r} is not a number; write a percentage such as 10% or a fraction such as 0.1")
    value = float(match.group(1))
    if match.group(2):
        return value / 100.0
    if value > 1:
        raise TrtExportError(f"tolerance {raw!r} is ambiguous: write {value:g}% for percent or {value / 100:g} as a fraction")
    return value


@dataclass(frozen=True)
class GateRow:
    """One metric of one shape. ``noise`` is the latency noise band in ms (None for other metrics)."""

    label: str
    backend: str
    metric: str
    baseline: float | str | None
    current: float | str | None
    change_pct: float | None
    noise: float | None
    verdict: Verdict
    reason: str


@dataclass
class GateResult:
    rows: list[GateRow]
    warnings: list[str] = field(default_factory=list)
    settings: GateSettings = field(default_factory=GateSettings)
    model: str = ""
    backend: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_CHECK_FAILED

    @property
    def failures(self) -> list[GateRow]:
        return [row for row in self.rows if row.verdict is Verdict.FAIL]

    def shapes(self) -> list[str]:
        """Shape labels in row order, each once."""
        return list(dict.fromkeys(row.label for row in self.rows))

    def rows_for(self, label: str) -> list[GateRow]:
        return [row for row in self.rows if row.label == label]

    def summary(self) -> str:
        """One line for the terminal and the top of the Markdown."""
        shapes = self.shapes()
        failed = {row.label for row in self.failures}
        new = [s for s in shapes if any(r.verdict is Verdict.NEW for r in self.rows_for(s))]
        improved = {row.label for row in self.rows if row.verdict is Verdict.IMPROVED}
        head = "gate PASSED" if self.passed else "gate FAILED"
        parts = [f"{len(shapes)} shape(s) compared on {self.settings.stat}"]
        if failed:
            parts.append(f"{len(self.failures)} regression(s) in {len(failed)} shape(s): {', '.join(sorted(failed))}")
        if improved:
            parts.append(f"{len(improved)} improved")
        if new:
            parts.append(f"{len(new)} new")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning(s)")
        return f"{head}: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "model": self.model,
            "backend": self.backend,
            "settings": asdict(self.settings),
            "warnings": list(self.warnings),
            "rows": [{**asdict(row), "verdict": str(row.verdict)} for row in self.rows],
        }


# --- comparing -----------------------------------------------------------------------------------


def run_gate(baseline: BenchReport, current: BenchReport, settings: GateSettings | None = None) -> GateResult:
    """Compare ``current`` against ``baseline``; raise ReportError (exit 2) when not comparable."""
    settings = settings or GateSettings()
    _check_same_model(baseline, current)
    warnings = _comparability_warnings(baseline, current, settings)
    result = GateResult(rows=[], warnings=warnings, settings=settings, model=current.model.name, backend=current.backend)
    base_by_label = {cand.label: cand for cand in baseline.candidates}
    cur_by_label = {cand.label: cand for cand in current.candidates}
    # Baseline order first, then shapes the current sweep added.
    labels = list(dict.fromkeys([*base_by_label, *cur_by_label]))
    for label in labels:
        base, cur = base_by_label.get(label), cur_by_label.get(label)
        result.rows.extend(_compare_shape(label, base, cur, current.backend, settings))
    for which, report in (("baseline", baseline), ("current", current)):
        for cand in report.candidates:
            if cand.noisy and cand.latency_ms is not None:
                result.warnings.append(
                    f"{which} {cand.label} is noisy (cv {cand.latency_ms.cv:.0%}); its latency verdict leans on the noise band"
                )
    return result


def _check_same_model(baseline: BenchReport, current: BenchReport) -> None:
    b, c = baseline.model, current.model
    if (b.source, b.name) != (c.source, c.name):
        raise ReportError(
            f"reports are of different models: baseline {b.name} ({b.source}) vs current {c.name} ({c.source}); "
            "gate a sweep only against a baseline of the same model"
        )


def _comparability_warnings(baseline: BenchReport, current: BenchReport, settings: GateSettings) -> list[str]:
    """Refuse a different environment unless allowed; return what differs but may be intended."""
    diffs = [f"backend {baseline.backend!r} vs {current.backend!r}"] if baseline.backend != current.backend else []
    for key in ENV_FIELDS:
        b, c = baseline.environment.get(key), current.environment.get(key)
        if b != c:
            diffs.append(f"{key} {b!r} vs {c!r}")
    warnings: list[str] = []
    if diffs:
        if not settings.allow_env_mismatch:
            raise ReportError(
                f"environment differs (baseline vs current): {', '.join(diffs)}; "
                "pass --allow-env-mismatch to compare anyway"
            )
        warnings.append(f"environment differs (baseline vs current): {', '.join(diffs)}; compared anyway (--allow-env-mismatch)")
    b_sha, c_sha = baseline.model.weights_sha256, current.model.weights_sha256
    if b_sha and c_sha and b_sha != c_sha:
        warnings.append(f"model weights differ (sha256 {b_sha[:12]} vs {c_sha[:12]}); parity and timings may shift with them")
    b_set, c_set = baseline.settings, current.settings
    setting_diffs = [
        f"{key} {getattr(b_set, key)!r} vs {getattr(c_set, key)!r}"
        for key in SETTINGS_FIELDS
        if getattr(b_set, key) != getattr(c_set, key)
    ]
    if setting_diffs:
        warnings.append(f"sweep settings differ (baseline vs current): {', '.join(setting_diffs)}")
    return warnings


def _runs_clean(cand: Candidate) -> bool:
    """Ran and did not fail parity (no parity check counts as clean: nothing was shown wrong)."""
    return cand.ok and (cand.parity is None or cand.parity.passed)


def _status_text(cand: Candidate | None) -> str:
    if cand is None:
        return "missing"
    if not cand.ok:
        return f"failed ({cand.failure.stage})" if cand.failure else "failed"
    if cand.parity is None:
        return "ok (no parity check)"
    return "parity ok" if cand.parity.passed else "parity FAILED"


def _parity_failure_reason(cand: Candidate) -> str:
    assert cand.parity is not None
    outputs = ", ".join(cand.parity.failed_outputs) or "unnamed outputs"
    err = f", max abs error {cand.parity.max_abs_error:.3g}" if cand.parity.max_abs_error is not None else ""
    return f"parity failed on {cand.parity.backend}: {outputs}{err}"


def _compare_shape(
    label: str, base: Candidate | None, cur: Candidate | None, backend: str, settings: GateSettings
) -> list[GateRow]:
    rows = [_status_row(label, base, cur, backend)]
    if base is None or cur is None:
        return rows
    if base.latency_ms is not None and cur.latency_ms is not None:
        rows.append(_latency_row(label, backend, base.latency_ms, cur.latency_ms, settings))
    memory_row = _memory_row(label, backend, base, cur, settings)
    if memory_row is not None:
        rows.append(memory_row)
    return rows


def _status_row(label: str, base: Candidate | None, cur: Candidate | None, backend: str) -> GateRow:
    def row(verdict: Verdict, reason: str) -> GateRow:
        return GateRow(label, backend, "status", _status_text(base), _status_text(cur), None, None, verdict, reason)

    if cur is None:
        assert base is not None
        if _runs_clean(base):
            return row(Verdict.FAIL, "missing from the current sweep; it ran and passed parity in the baseline")
        return row(Verdict.PASS, "missing from the current sweep; it was not clean in the baseline either")
    # Wrong outputs are a defect whatever the baseline said, so this check comes first.
    if cur.ok and cur.parity is not None and not cur.parity.passed:
        return row(Verdict.FAIL, _parity_failure_reason(cur) + (" (new shape)" if base is None else ""))
    if base is None:
        what = "ran" if cur.ok else str(cur.failure or "failed")
        return row(Verdict.NEW, f"new shape, not in the baseline ({what})")
    if not cur.ok:
        failure = str(cur.failure or "failed")
        if _runs_clean(base):
            return row(Verdict.FAIL, f"ran in the baseline, now {failure}")
        # A too-large shape that OOMs or times out in both runs is a known limit, not a regression.
        return row(Verdict.PASS, f"{failure}; it failed in the baseline too")
    if not _runs_clean(base):
        return row(Verdict.IMPROVED, "runs and passes parity now; it did not in the baseline")
    return row(Verdict.PASS, "runs, parity unchanged")


def _spread_ms(stats: LatencyStats, stat: str) -> float:
    """The per-run spread that moves ``stat``.

    The median ignores a few slow outliers, so its spread is the robust IQR / 1.349 (one outlier
    hiccup must not widen the band and hide a real regression). Tail percentiles are made of those
    outliers, so their spread is the plain std, which grows with them.
    """
    return stats.iqr / IQR_PER_SIGMA if stat == "p50" else stats.std


def noise_threshold_ms(base: LatencyStats, cur: LatencyStats, stat: str, k: float) -> float:
    """k times the spread of a difference of two independent runs: k * sqrt(s_base^2 + s_cur^2)."""
    return k * math.hypot(_spread_ms(base, stat), _spread_ms(cur, stat))


def _latency_row(label: str, backend: str, base: LatencyStats, cur: LatencyStats, settings: GateSettings) -> GateRow:
    stat = settings.stat
    b, c = base.stat(stat), cur.stat(stat)
    delta = c - b
    pct = _pct(b, c)
    noise = noise_threshold_ms(base, cur, stat, settings.noise_k)
    tol_ms = b * settings.latency_tolerance
    tol = f"{settings.latency_tolerance:.0%} tolerance ({tol_ms:.3g} ms)"
    move = f"{delta:+.3g} ms ({_fmt_pct(pct)})"
    noise_txt = f"noise band {noise:.3g} ms"
    if abs(delta) > tol_ms and abs(delta) > noise:
        verdict = Verdict.FAIL if delta > 0 else Verdict.IMPROVED
        reason = f"{move} is beyond {tol} and {noise_txt}"
    elif abs(delta) > tol_ms:
        verdict, reason = Verdict.PASS, f"{move} is beyond {tol} but within {noise_txt}: not distinguishable from noise"
    else:
        verdict, reason = Verdict.PASS, f"{move} is within {tol}"
    return GateRow(label, backend, f"latency {stat} ms", b, c, pct, noise, verdict, reason)


def _memory_row(label: str, backend: str, base: Candidate, cur: Candidate, settings: GateSettings) -> GateRow | None:
    if base.memory is None or cur.memory is None:
        return None
    # GPU memory is what runs out first on a GPU runner (NVML, else Paddle's allocator peak);
    # host RSS is the fallback on CPU. The first figure both runs measured is compared.
    for metric in ("gpu_peak_mb", "paddle_allocator_peak_mb", "peak_rss_mb"):
        b, c = getattr(base.memory, metric), getattr(cur.memory, metric)
        if b is not None and c is not None:
            break
    else:
        return None
    delta = c - b
    pct = _pct(b, c)
    tol_mb = b * settings.memory_tolerance
    tol = f"{settings.memory_tolerance:.0%} tolerance ({tol_mb:.4g} MiB)"
    move = f"{delta:+.4g} MiB ({_fmt_pct(pct)})"
    if delta > tol_mb:
        verdict, reason = Verdict.FAIL, f"{move} grows beyond {tol}"
    elif -delta > tol_mb:
        verdict, reason = Verdict.IMPROVED, f"{move} shrinks beyond {tol}"
    else:
        verdict, reason = Verdict.PASS, f"{move} is within {tol}"
    return GateRow(label, backend, metric, b, c, pct, None, verdict, reason)


def _pct(base: float, cur: float) -> float | None:
    return (cur - base) / base * 100.0 if base > 0 else None


def _fmt_pct(pct: float | None) -> str:
    return "n/a" if pct is None else f"{pct:+.1f}%"


# --- rendering -----------------------------------------------------------------------------------

# No backend column: one report is one backend, and the heading/summary line names it.
_HEADERS = ("shape", "metric", "baseline", "current", "change", "noise", "verdict", "reason")


def _fmt_value(value: float | str | None, metric: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if metric.startswith("latency"):
        return f"{value:.2f}" if value >= 1 else f"{value:.3g}"  # sub-ms models keep 3 digits
    return f"{value:.1f}"


def _table_rows(result: GateResult) -> list[list[str]]:
    return [
        [
            row.label,
            row.metric,
            _fmt_value(row.baseline, row.metric),
            _fmt_value(row.current, row.metric),
            "" if row.change_pct is None else _fmt_pct(row.change_pct),
            "" if row.noise is None else f"±{row.noise:.3g}",
            str(row.verdict),
            row.reason,
        ]
        for row in result.rows
    ]


def render_gate_table(result: GateResult) -> str:
    """Terminal view: a summary line, warnings, then every metric of every shape."""
    lines = [f"{result.summary()} ({result.model} on {result.backend})"]
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append(tabulate(_table_rows(result), headers=_HEADERS, tablefmt="simple", disable_numparse=True))
    return "\n".join(lines)


def gate_markdown(result: GateResult) -> str:
    """GitHub-flavoured Markdown: heading, summary, warnings, and the table (failures first)."""
    icon = "✅" if result.passed else "❌"
    lines = [f"### {icon} trt-export gate: {result.model} on {result.backend}", "", result.summary(), ""]
    if result.warnings:
        lines += [f"> ⚠️ {w}" for w in result.warnings] + [""]
    # Failures first so a reviewer sees what broke without scrolling; otherwise keep shape order.
    order = {Verdict.FAIL: 0, Verdict.IMPROVED: 1, Verdict.NEW: 2, Verdict.PASS: 3}
    rows = sorted(_table_rows(result), key=lambda r: order[Verdict(r[6])])
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
        failing = [row for row in rows if row.verdict is Verdict.FAIL]
        detail = "\n".join(f"{row.metric}: {row.verdict} - {row.reason}" for row in rows)
        if failing:
            failures += 1
            message = "; ".join(f"{row.metric}: {row.reason}" for row in failing)
            ET.SubElement(case, "failure", message=message, type="regression").text = detail
            continue  # the failure body already lists every metric
        if any(row.verdict is Verdict.NEW for row in rows):
            skipped += 1
            ET.SubElement(case, "skipped", message="new shape, no baseline to compare against")
        ET.SubElement(case, "system-out").text = detail
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    if result.warnings:
        ET.SubElement(suite, "system-err").text = "\n".join(result.warnings)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(suite)
    ET.ElementTree(suite).write(target, encoding="utf-8", xml_declaration=True)
    return target


# --- files -----------------------------------------------------------------------------------------


def gate_files(
    baseline_path: str | os.PathLike[str],
    current_path: str | os.PathLike[str],
    settings: GateSettings | None = None,
    junit_path: str | os.PathLike[str] | None = None,
    markdown_path: str | os.PathLike[str] | None = None,
) -> GateResult:
    """Load both reports, gate, write JUnit/Markdown when asked, append the CI step summary.

    Raises ReportError (exit 2) for an unusable or incomparable report; a regression is not an
    exception but ``result.exit_code == 1``, so callers can still print and upload everything.
    """
    baseline = _load(baseline_path, "baseline")
    current = _load(current_path, "current report")
    for what, path in (("JUnit XML", junit_path), ("Markdown summary", markdown_path)):
        if path is not None and Path(path).is_dir():
            raise ReportError(f"cannot write the gate's {what} to {str(path)!r}: it is a directory; give a file path")
    result = run_gate(baseline, current, settings)
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
    return result


def _load(path: str | os.PathLike[str], role: str) -> BenchReport:
    try:
        return load_bench_report(path)
    except ReportError as exc:
        # The loader names the file; say which side it was, since both are bench.json.
        raise ReportError(f"{role}: {exc}") from exc


__all__: Sequence[str] = (
    "GATE_STATS",
    "GateResult",
    "GateRow",
    "GateSettings",
    "JUNIT_FILENAME",
    "MARKDOWN_FILENAME",
    "Verdict",
    "append_github_step_summary",
    "gate_files",
    "gate_markdown",
    "noise_threshold_ms",
    "parse_tolerance",
    "render_gate_table",
    "run_gate",
    "write_junit_xml",
)
