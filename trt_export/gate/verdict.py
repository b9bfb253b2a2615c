"""Regression gate: compare a bench report against a baseline, shape by shape.

For every candidate shape the gate looks at three things:

- latency (one statistic, ``p50``/``p90``/``p99``), as the ratio current / baseline with a
  confidence interval (trt_export/gate/ratio_stats.py): from an interleaved A/B re-measurement when one
  was made (``paired``), else from several baselines' between-run noise (``history``), else from a
  bootstrap of the two reports' raw samples; the shape fails when the whole interval lies above
  1 + tolerance. Version 1 reports have no raw samples: they fall back to the summary comparison
  (the increase must exceed the tolerance AND the noise band, :func:`noise_threshold_ms`), with a
  note;
- memory (``gpu_peak_mb`` when both runs measured it, else ``paddle_allocator_peak_mb``, else
  ``peak_rss_mb``): growth beyond the memory tolerance;
- status and parity: a parity failure always fails; a shape that ran and passed parity in the
  baseline and now fails or is missing fails. A shape only in the current run is NEW
  (informational).

Two reports from different machines or software stacks are not comparable, so the gate refuses
them (exit 2) unless the caller explicitly allows it; reports of different models are always
refused. Results render (report/gate_output.py) as a terminal table, Markdown (also appended to
GitHub's step summary) and JUnit XML with one test case per shape.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from trt_export.bench.comparable import check_reports_comparable
from trt_export.bench.metrics import gate_status_text, parity_regression, shared_memory_figure
from trt_export.bench.report import BenchReport, Candidate, load_bench_report
from trt_export.bench.stats import LatencyStats
from trt_export.errors import EXIT_CHECK_FAILED, EXIT_OK, ReportError, TrtExportError
from trt_export.gate.files import JUNIT_FILENAME, MARKDOWN_FILENAME
from trt_export.gate.ratio_stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_SEED,
    IntervalSpec,
    RatioInterval,
    bootstrap_ratio,
    history_ratio,
    latency_verdict,
    paired_ratio,
)
from trt_export.infer.backend_names import is_cpu_backend
from trt_export.serial import JsonRecord

GATE_STATS = ("p50", "p90", "p99")
GATE_TESTS = ("auto", "bootstrap", "summary")
"""auto: bootstrap where both reports have raw samples, else the summary noise band with a note;
bootstrap: refuse reports without raw samples; summary: the version 1 noise band only."""
_PERCENTILE = {"p50": 50.0, "p90": 90.0, "p99": 99.0}

SETTINGS_FIELDS = ("warmup", "iters", "duration_s", "threads")
"""Sweep settings that shift timings; a difference is a warning, not a refusal."""

IQR_PER_SIGMA = 1.349
"""IQR of a normal distribution in standard deviations: turns an IQR into a robust sigma."""


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NEW = "NEW"
    IMPROVED = "IMPROVED"


DEFAULT_LATENCY_TOLERANCE = 0.10
DEFAULT_MEMORY_TOLERANCE = 0.05
DEFAULT_GATE_STAT = "p50"
DEFAULT_GATE_TEST = "auto"


@dataclass(frozen=True)
class GateSettings:
    """Tolerances are fractions (0.10 = 10 %); ``noise_k`` scales the combined spread of two runs."""

    latency_tolerance: float = DEFAULT_LATENCY_TOLERANCE
    memory_tolerance: float = DEFAULT_MEMORY_TOLERANCE
    stat: str = DEFAULT_GATE_STAT
    allow_env_mismatch: bool = False
    # 2 x the combined spread: about a 95 % band for a difference of two normal-ish measurements.
    noise_k: float = 2.0
    test: str = DEFAULT_GATE_TEST
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        for name in ("latency_tolerance", "memory_tolerance", "noise_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise TrtExportError(f"gate setting {name} must be a non-negative number, got {value!r}")
        if self.stat not in GATE_STATS:
            raise TrtExportError(f"gate statistic {self.stat!r} is not one of {', '.join(GATE_STATS)}")
        if self.test not in GATE_TESTS:
            raise TrtExportError(f"gate test {self.test!r} is not one of {', '.join(GATE_TESTS)}")
        if (
            isinstance(self.confidence, bool)
            or not isinstance(self.confidence, (int, float))
            or not 0.5 <= self.confidence < 1
        ):
            raise TrtExportError(
                f"gate confidence must be at least 0.5 and below 1 (e.g. 0.95), got {self.confidence!r}"
            )


_TOLERANCE_RE = re.compile(r"^\s*((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(%?)\s*$")


def parse_tolerance(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1. A bare number above 1 is refused as ambiguous (10 or 10 %?)."""
    raw = str(text)
    if raw.strip().startswith("-"):
        raise TrtExportError(f"tolerance {raw!r} is negative; give a growth allowance such as 10% or 0.1")
    match = _TOLERANCE_RE.match(raw)
    if not match:
        raise TrtExportError(
            f"tolerance {raw!r} is not a number; write a percentage such as 10% or a fraction such as 0.1"
        )
    value = float(match.group(1))
    if match.group(2):
        return value / 100.0
    if value > 1:
        raise TrtExportError(
            f"tolerance {raw!r} is ambiguous: write {value:g}% for percent or {value / 100:g} as a fraction"
        )
    return value


@dataclass(frozen=True)
class GateRow:
    """One metric of one shape. ``noise`` is the latency noise band in ms of the summary comparison;
    ``interval`` the latency ratio and its confidence interval (None for other metrics)."""

    label: str
    backend: str
    metric: str
    baseline: float | str | None
    current: float | str | None
    change_pct: float | None
    noise: float | None
    verdict: Verdict
    reason: str
    interval: RatioInterval | None = None


@dataclass
class GateResult(JsonRecord):
    json_keys: ClassVar[tuple[str, ...]] = ("passed", "exit_code", "model", "backend", "settings")

    rows: list[GateRow]
    warnings: list[str] = field(default_factory=list)
    settings: GateSettings = field(default_factory=GateSettings)
    model: str = ""
    backend: str = ""
    notes: list[str] = field(default_factory=list)
    """What the verdicts rest on (A/B, history, a version 1 fallback); not problems."""

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

    def latency_methods(self) -> list[str]:
        """How latency was judged, each method once: paired, history, bootstrap, summary."""
        return list(
            dict.fromkeys(
                row.interval.method if row.interval else "summary"
                for row in self.rows
                if row.metric.startswith("latency")
            )
        )

    def json_derived(self) -> dict[str, Any]:
        return {"passed": self.passed, "exit_code": self.exit_code}


# --- comparing -----------------------------------------------------------------------------------


def run_gate(
    baseline: BenchReport,
    current: BenchReport,
    settings: GateSettings | None = None,
    *,
    history: Sequence[BenchReport] = (),
    paired: Mapping[str, Any] | None = None,
) -> GateResult:
    """Compare ``current`` against ``baseline``; raise ReportError (exit 2) when not comparable.

    ``history``: further baselines (earlier runs of the same build) whose spread estimates the
    between-run noise. ``paired``: label -> :class:`trt_export.bench.interleave.PairedRun` from an
    interleaved A/B re-measurement on this machine; their latency verdict replaces the stored one.
    """
    settings = settings or GateSettings()
    history = list(history)
    notes: list[str] = []
    # An A/B run measures both builds here and now, so the stored reports' machines only matter
    # for the stored (memory) figures: a mismatch is then a warning, not a refusal.
    allow = settings.allow_env_mismatch or paired is not None
    warnings = check_reports_comparable(baseline, current, allow)
    for i, other in enumerate(history):
        warnings += check_reports_comparable(other, current, allow, role=f"baseline {i + 2}")
    if paired is not None and warnings and not settings.allow_env_mismatch:
        warnings = [
            w.replace(
                "compared anyway (--allow-env-mismatch)",
                "latency comes from the A/B run on this machine; stored memory figures compared anyway",
            )
            for w in warnings
        ]
    warnings += _comparability_warnings(baseline, current)
    result = GateResult(
        rows=[], warnings=warnings, settings=settings, model=current.model.name, backend=current.backend, notes=notes
    )
    # Keyed by (backend, shape): a sweep over several backends (--backends) has each shape once per backend.
    base_by_label = {(cand.backend or baseline.backend, cand.label): cand for cand in baseline.candidates}
    cur_by_label = {(cand.backend or current.backend, cand.label): cand for cand in current.candidates}
    # Baseline order first, then shapes the current sweep added.
    labels = list(dict.fromkeys([*base_by_label, *cur_by_label]))
    several = len({backend for backend, _ in labels}) > 1
    for backend, label in labels:
        base, cur = base_by_label.get((backend, label)), cur_by_label.get((backend, label))
        older = [report_candidate(report, label) for report in history]
        # Rows (table, JUnit test case, Markdown) name the backend when shapes repeat across backends.
        name = f"{label} on {backend}" if several else label
        result.rows.extend(_compare_shape(name, base, cur, backend, settings, older, (paired or {}).get(label)))
    methods = result.latency_methods()
    if "summary" in methods and settings.test == "auto":
        v1 = [role for role, report in (("baseline", baseline), ("current", current)) if not report.has_samples]
        notes.append(
            f"the {' and '.join(v1) or 'reports'} {'has' if len(v1) == 1 else 'have'} no raw latency samples (bench.json schema version 1): latency was "
            "gated on summary statistics (tolerance and noise band), not on a confidence interval; re-run bench to get version 2"
        )
        for which, report in (("baseline", baseline), ("current", current)):
            for cand in report.candidates:
                if cand.noisy and cand.latency_ms is not None:
                    result.warnings.append(
                        f"{which} {cand.label} is noisy (cv {cand.latency_ms.cv:.0%}); its latency verdict leans on the noise band"
                    )
    if "paired" in methods:
        notes.append(
            "latency from an interleaved A/B re-measurement on this machine: the verdict rests on paired block ratios"
        )
    if "history" in methods:
        notes.append(f"latency judged against {len(history) + 1} baselines: their spread is the between-run noise")
    return result


def report_candidate(report: BenchReport, label: str) -> Candidate | None:
    return next((cand for cand in report.candidates if cand.label == label), None)


def _comparability_warnings(baseline: BenchReport, current: BenchReport) -> list[str]:
    """What differs between the runs but may be intended (the refusals are in comparable.py)."""
    warnings: list[str] = []
    b_sha, c_sha = baseline.model.weights_sha256, current.model.weights_sha256
    if b_sha and c_sha and b_sha != c_sha:
        warnings.append(
            f"model weights differ (sha256 {b_sha[:12]} vs {c_sha[:12]}); parity and timings may shift with them"
        )
    b_set, c_set = baseline.settings, current.settings
    # on a CPU backend the thread count is part of the fingerprint (a refusal, comparable.py)
    cpu = is_cpu_backend(current.backend)
    setting_diffs = [
        f"{key} {getattr(b_set, key)!r} vs {getattr(c_set, key)!r}"
        for key in SETTINGS_FIELDS
        if getattr(b_set, key) != getattr(c_set, key) and not (cpu and key == "threads")
    ]
    if setting_diffs:
        warnings.append(f"sweep settings differ (baseline vs current): {', '.join(setting_diffs)}")
    return warnings


def _runs_clean(cand: Candidate) -> bool:
    """Ran and did not fail parity (no parity check counts as clean: nothing was shown wrong)."""
    return cand.ok and (cand.parity is None or cand.parity.passed)


def _compare_shape(
    label: str,
    base: Candidate | None,
    cur: Candidate | None,
    backend: str,
    settings: GateSettings,
    older: Sequence[Candidate | None] = (),
    paired: Any = None,
) -> list[GateRow]:
    rows = [_status_row(label, base, cur, backend)]
    if base is None or cur is None:
        return rows
    if paired is not None:
        rows.append(_paired_row(label, backend, paired, settings))
    elif base.latency_ms is not None and cur.latency_ms is not None:
        rows.append(_latency_row(label, backend, base, cur, settings, older))
    memory_row = _memory_row(label, backend, base, cur, settings)
    if memory_row is not None:
        rows.append(memory_row)
    return rows


def _status_row(label: str, base: Candidate | None, cur: Candidate | None, backend: str) -> GateRow:
    def row(verdict: Verdict, reason: str) -> GateRow:
        return GateRow(
            label, backend, "status", gate_status_text(base), gate_status_text(cur), None, None, verdict, reason
        )

    if cur is None:
        assert base is not None
        if _runs_clean(base):
            return row(Verdict.FAIL, "missing from the current sweep; it ran and passed parity in the baseline")
        return row(Verdict.PASS, "missing from the current sweep; it was not clean in the baseline either")
    # Wrong outputs are a defect whatever the baseline said, so this check comes first.
    if cur.ok and cur.parity is not None and not cur.parity.passed:
        return row(Verdict.FAIL, parity_regression(cur.parity) + (" (new shape)" if base is None else ""))
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


def _interval_row(
    label: str, backend: str, metric: str, b: float, c: float, interval: RatioInterval, settings: GateSettings
) -> GateRow:
    verdict, reason = latency_verdict(interval, settings.latency_tolerance)
    # the change shown is the ratio judged (for A/B the median of pair ratios, which the pooled
    # medians in the baseline/current columns need not match on a noisy machine)
    return GateRow(
        label, backend, metric, b, c, (interval.ratio - 1.0) * 100.0, None, Verdict(verdict), reason, interval
    )


def _paired_row(label: str, backend: str, paired: Any, settings: GateSettings) -> GateRow:
    """Latency from an interleaved A/B run: paired block ratios (always the median: blocks are short)."""
    interval = paired_ratio(
        paired.pair_ratios, confidence=settings.confidence, seed=settings.seed, what=f"A/B run of {label}"
    )
    metric = "latency p50 ms (A/B)" if getattr(paired, "clock", "wall") == "wall" else "latency p50 ms (A/B, CPU time)"
    return _interval_row(label, backend, metric, paired.base_median_ms, paired.cur_median_ms, interval, settings)


def _latency_row(
    label: str,
    backend: str,
    base: Candidate,
    cur: Candidate,
    settings: GateSettings,
    older: Sequence[Candidate | None] = (),
) -> GateRow:
    stat = settings.stat
    assert base.latency_ms is not None and cur.latency_ms is not None
    metric = f"latency {stat} ms"
    spec = IntervalSpec(
        confidence=settings.confidence, seed=settings.seed, what=f"latency of {label}", q=_PERCENTILE[stat]
    )
    if older:
        runs = [base, *older]
        lacking = [i for i, cand in enumerate(runs) if cand is None or cand.samples_ms is None]
        if lacking or cur.samples_ms is None:
            which = "the current report" if cur.samples_ms is None else f"baseline {lacking[0] + 1}"
            raise ReportError(
                f"{label}: {which} has no raw latency samples (missing shape, or bench.json schema version 1); "
                "history needs version 2 reports with this shape: re-run bench, or give a single --baseline"
            )
        samples = [cand.samples_ms for cand in runs if cand is not None and cand.samples_ms is not None]
        interval = history_ratio(samples, cur.samples_ms, spec)
    elif settings.test != "summary" and base.samples_ms is not None and cur.samples_ms is not None:
        interval = bootstrap_ratio(base.samples_ms, cur.samples_ms, spec)
    else:
        interval = None
    if interval is not None:
        return _interval_row(
            label, backend, metric, base.latency_ms.stat(stat), cur.latency_ms.stat(stat), interval, settings
        )
    if settings.test == "bootstrap":
        which = "baseline" if base.samples_ms is None else "current report"
        raise ReportError(
            f"{label}: the {which} has no raw latency samples (bench.json schema version 1), which --test bootstrap needs; "
            "re-run that bench with this trt-export, or use --test auto"
        )
    return _summary_latency_row(label, backend, base.latency_ms, cur.latency_ms, settings)


def _summary_latency_row(
    label: str, backend: str, base: LatencyStats, cur: LatencyStats, settings: GateSettings
) -> GateRow:
    """The version 1 comparison: tolerance AND a noise band from the two runs' spreads."""
    stat = settings.stat
    b, c = base.stat(stat), cur.stat(stat)
    delta = c - b
    pct = _pct(b, c)
    noise = noise_threshold_ms(base, cur, stat, settings.noise_k)
    tol_ms = b * settings.latency_tolerance
    tol = f"{settings.latency_tolerance:.0%} tolerance ({tol_ms:.3g} ms)"
    move = f"{delta:+.3g} ms ({format_pct(pct)})"
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
    # The first figure, in the registry's memory precedence, both runs measured is compared.
    shared = shared_memory_figure(base.memory, cur.memory)
    if shared is None:
        return None
    metric, b, c = shared
    delta = c - b
    pct = _pct(b, c)
    tol_mb = b * settings.memory_tolerance
    tol = f"{settings.memory_tolerance:.0%} tolerance ({tol_mb:.4g} MiB)"
    move = f"{delta:+.4g} MiB ({format_pct(pct)})"
    if delta > tol_mb:
        verdict, reason = Verdict.FAIL, f"{move} grows beyond {tol}"
    elif -delta > tol_mb:
        verdict, reason = Verdict.IMPROVED, f"{move} shrinks beyond {tol}"
    else:
        verdict, reason = Verdict.PASS, f"{move} is within {tol}"
    return GateRow(label, backend, metric, b, c, pct, None, verdict, reason)


def _pct(base: float, cur: float) -> float | None:
    return (cur - base) / base * 100.0 if base > 0 else None


# --- files -----------------------------------------------------------------------------------------


PathArg = str | os.PathLike[str]


class Rerun(Protocol):
    """An interleaved A/B re-measurement from two runs' kept exports: label -> PairedRun.

    The CLI passes :func:`trt_export.bench.interleave.rerun_ab` bound to its options; the gate
    package itself never imports the measuring side (it needs Paddle)."""

    def __call__(
        self,
        baseline: BenchReport,
        current: BenchReport,
        baseline_path: PathArg,
        current_path: PathArg,
        *,
        progress: Callable[[str], None] | None = None,
    ) -> Mapping[str, Any]: ...


def check_baselines(baselines: Sequence[BenchReport], settings: GateSettings) -> None:
    """Refuse, before any measuring, baselines the chosen test cannot use (ReportError, exit 2).

    Too few raw samples for an interval; no samples (version 1) when ``--test bootstrap`` or a
    history of several baselines asks for them. Model and environment are comparable.py's job.
    """
    from trt_export.gate.ratio_stats import MIN_SAMPLES

    for i, report in enumerate(baselines):
        role = "baseline" if i == 0 else f"baseline {i + 1}"
        if settings.test == "summary":
            continue
        if not report.has_samples:
            if settings.test == "bootstrap" or len(baselines) > 1:
                need = "--test bootstrap" if settings.test == "bootstrap" else "a history of several baselines"
                raise ReportError(
                    f"{role} is bench.json schema version {report.schema_version} without raw latency samples, "
                    f"which {need} needs; re-run that bench with this trt-export (it writes version 2)"
                )
            continue
        for cand in report.candidates:
            if cand.samples_ms is not None and len(cand.samples_ms) < MIN_SAMPLES:
                raise ReportError(
                    f"{role} {cand.label} has {len(cand.samples_ms)} timed samples, the confidence interval needs at least "
                    f"{MIN_SAMPLES}; re-run that bench with --iters {MIN_SAMPLES} or more (or --test summary)"
                )


def format_pct(pct: float | None) -> str:
    """A change in percent, signed; ``n/a`` when the baseline was zero."""
    return "n/a" if pct is None else f"{pct:+.1f}%"


def gate_files(
    baseline_path: PathArg | Sequence[PathArg],
    current_path: PathArg,
    settings: GateSettings | None = None,
    *,
    rerun: Rerun | None = None,
    progress: Callable[[str], None] | None = None,
) -> GateResult:
    """Load the reports and gate them. The outputs (JUnit XML, Markdown, the CI step summary) are
    report/gate_output.py's ``write_gate_outputs(result, junit_path, markdown_path)``.

    ``baseline_path``: one bench.json, or several (the first is the baseline, all of them the
    history). ``rerun``: a :class:`Rerun` (the CLI binds :func:`trt_export.bench.interleave.rerun_ab`
    to its options) to re-measure latency A/B interleaved from the two runs' kept exports. Raises ReportError (exit 2) for an unusable or
    incomparable report, before any measuring; a regression is not an exception but
    ``result.exit_code == 1``, so callers can still print and upload everything.
    """
    settings = settings or GateSettings()
    paths = [baseline_path] if isinstance(baseline_path, (str, os.PathLike)) else list(baseline_path)
    if not paths:
        raise ReportError("give at least one baseline bench.json")
    baselines = [load_report(path, "baseline" if i == 0 else f"baseline {i + 1}") for i, path in enumerate(paths)]
    current = load_report(current_path, "current report")
    paired = None
    if rerun is not None:
        for i, report in enumerate(baselines):
            check_reports_comparable(
                report, current, allow_env_mismatch=True, role="baseline" if i == 0 else f"baseline {i + 1}"
            )
        paired = rerun(baselines[0], current, paths[0], current_path, progress=progress)
        history: list[BenchReport] = []  # the A/B run decides latency; older baselines add nothing to it
    else:
        check_baselines(baselines, settings)
        history = baselines[1:]
    result = run_gate(baselines[0], current, settings, history=history, paired=paired)
    if rerun is not None and len(baselines) > 1:
        result.notes.append(
            f"{len(baselines) - 1} further baseline(s) not used for latency: the A/B re-measurement decides it"
        )
    return result


def load_report(path: str | os.PathLike[str], role: str) -> BenchReport:
    """A bench.json for the gate; a load error names the side (``role``: "baseline", "current
    report"), since both are bench.json."""
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
    "check_baselines",
    "gate_files",
    "load_report",
    "noise_threshold_ms",
    "parse_tolerance",
    "run_gate",
)
