"""The report vocabulary: every per-candidate figure of a bench report, defined once.

A :class:`Metric` says what a figure is called (its CSV key and table header), its unit, which
direction is better, how to read it from a :class:`~trt_export.bench.report.Candidate` and how to
print it. :data:`METRICS` (in CSV column order) drives the terminal and Markdown tables, the CSV
and the plots (report/render.py, report/render_scene.py); recommend looks objectives and budgets
up by key, the gate compares memory by :func:`shared_memory_figure`. Adding a metric is one entry
here (plus its producer); :data:`TABLE` places it among the table's columns.

Also here: the memory precedence ("the memory number of a candidate") and the status and parity
texts. Imports neither Paddle nor numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from trt_export.bench.report import BenchReport, Candidate, Memory, ParitySummary

Better = Literal["lower", "higher"]

BEST, RUNNER_UP = "BEST", "2nd"
"""The pick column's words for the recommendation and the runner-up."""

# --- memory ----------------------------------------------------------------------------------------

MEMORY_FIELDS = ("gpu_peak_mb", "paddle_allocator_peak_mb", "peak_rss_mb")
"""Memory figures in precedence order: GPU memory (NVML) is what runs out first on a GPU runner,
else Paddle's allocator peak, else host RSS (the CPU backends' figure)."""

MEMORY_NAMES = {
    "gpu_peak_mb": "peak GPU memory",
    "paddle_allocator_peak_mb": "Paddle GPU allocator peak",
    "peak_rss_mb": "peak RSS",
}
"""How reasons name each memory figure."""


def memory_figure(memory: Memory | None) -> tuple[str, float] | None:
    """The memory number of a candidate: (field, MiB) of the first measured figure in precedence order."""
    if memory is None:
        return None
    for name in MEMORY_FIELDS:
        value = getattr(memory, name)
        if value is not None:
            return name, value
    return None


def memory_mb(memory: Memory | None) -> float | None:
    """The MiB a memory budget applies to (:func:`memory_figure`), None when nothing was measured."""
    figure = memory_figure(memory)
    return None if figure is None else figure[1]


def memory_name(memory: Memory | None) -> str:
    """The name of :func:`memory_figure`'s figure in a reason."""
    figure = memory_figure(memory)
    return MEMORY_NAMES[figure[0]] if figure is not None else MEMORY_NAMES[MEMORY_FIELDS[0]]


def shared_memory_figure(base: Memory, cur: Memory) -> tuple[str, float, float] | None:
    """(field, baseline MiB, current MiB) of the first figure, in precedence order, both runs measured."""
    for name in MEMORY_FIELDS:
        b, c = getattr(base, name), getattr(cur, name)
        if b is not None and c is not None:
            return name, b, c
    return None


# --- status and parity texts ------------------------------------------------------------------------


def failed_text(cand: Candidate) -> str:
    return f"failed ({cand.failure.stage})" if cand.failure else "failed"


def status_text(cand: Candidate) -> str:
    """The bench table's status cell."""
    return cand.status if cand.ok else failed_text(cand)


def gate_status_text(cand: Candidate | None) -> str:
    """A gate status row's baseline/current cell: ran, parity and presence in one word or two."""
    if cand is None:
        return "missing"
    if not cand.ok:
        return failed_text(cand)
    if cand.parity is None:
        return "ok (no parity check)"
    return "parity ok" if cand.parity.passed else "parity FAILED"


def parity_text(cand: Candidate) -> str:
    """The bench table's parity cell."""
    if cand.parity is None:
        return "-"
    if cand.parity.passed:
        return "pass" + (f" ({cand.parity.max_abs_error:.1e})" if cand.parity.max_abs_error is not None else "")
    return "FAIL"


def _failed_outputs(parity: ParitySummary) -> str:
    return ", ".join(parity.failed_outputs) or "unnamed outputs"


def parity_exclusion(parity: ParitySummary) -> str:
    """Why recommend leaves out a candidate whose parity failed."""
    err = f" (max abs error {parity.max_abs_error:.3g})" if parity.max_abs_error is not None else ""
    return f"parity failed on {_failed_outputs(parity)}{err} against {parity.backend}"


def parity_regression(parity: ParitySummary) -> str:
    """Why the gate fails a shape whose parity failed."""
    err = f", max abs error {parity.max_abs_error:.3g}" if parity.max_abs_error is not None else ""
    return f"parity failed on {parity.backend}: {_failed_outputs(parity)}{err}"


# --- what a report holds ------------------------------------------------------------------------------


def backend_of(report: BenchReport, cand: Candidate) -> str:
    return cand.backend or report.backend


def several_backends(report: BenchReport) -> bool:
    """More than one backend in the report: rows, picks and plots then name the backend."""
    return len(report.all_backends) > 1 or len({c.backend for c in report.candidates if c.backend}) > 1


def has_flops(report: BenchReport) -> bool:
    return any(c.flops for c in report.candidates)


def has_scene(report: BenchReport) -> bool:
    return report.settings.scene is not None or any(c.scene is not None for c in report.candidates)


def has_agreement(report: BenchReport) -> bool:
    return any(c.agreement is not None for c in report.candidates)


def roof_gflops(report: BenchReport, cand: Candidate) -> float | None:
    roof = report.roofs.get(backend_of(report, cand))
    return float(roof["gflops"]) if roof and roof.get("gflops") else None


def is_named(report: BenchReport, cand: Candidate, label: str | None, backend: str | None) -> bool:
    """Is ``cand`` the candidate a recommendation names (label, and backend when it names one)?"""
    if label is None or cand.label != label:
        return False
    return backend is None or backend_of(report, cand) == backend


def pick_text(report: BenchReport, cand: Candidate) -> str:
    rec = report.recommendation
    if rec is None:
        return ""
    if is_named(report, cand, rec.label, rec.backend):
        return BEST
    if is_named(report, cand, rec.runner_up, rec.runner_up_backend):
        return RUNNER_UP
    return ""


def format_value(value: float | None, spec: str) -> str:
    """A table cell: ``-`` for not measured, else the number formatted by ``spec``."""
    return "-" if value is None else format(value, spec)


# --- the registry ---------------------------------------------------------------------------------------

Reader = Callable[["Candidate"], Any]
ReportReader = Callable[["BenchReport", "Candidate"], Any]


def _always(report: BenchReport) -> bool:
    return True


@dataclass(frozen=True)
class Metric:
    """One per-candidate figure (or describing column) of a bench report.

    ``key``: the CSV column and the name recommend and the gate look it up by. ``label``: the table
    header (None: not a table column). ``better``: which direction ranks higher (None: describes the
    candidate, never ranked). ``read``: the value from a candidate (None: not measured), or
    ``read_in`` when the value needs the report too. ``spec`` formats the table cell; ``text``
    replaces it for cells that are not one formatted number. ``csv``: a CSV column. ``shown``: whether
    the table has this column for a report. ``note``: the Markdown legend's sentence for it, if any.
    ``plot_label``: the curve's name where a plot draws it.
    """

    key: str
    label: str | None
    unit: str
    better: Better | None
    read: Reader | None = None
    read_in: ReportReader | None = None
    spec: str = ""
    text: ReportReader | None = None
    csv: bool = True
    shown: Callable[[BenchReport], bool] = _always
    note: str | None = None
    plot_label: str | None = None

    def value(self, cand: Candidate, report: BenchReport | None = None) -> Any:
        """The figure of ``cand``; a report-dependent metric needs ``report``."""
        if self.read is not None:
            return self.read(cand)
        if self.read_in is None or report is None:
            raise ValueError(f"metric {self.key!r} is read from the report: pass the report")
        return self.read_in(report, cand)

    def cell(self, report: BenchReport, cand: Candidate) -> str:
        """The table cell of ``cand``."""
        if self.text is not None:
            return str(self.text(report, cand))
        return format_value(self.value(cand, report), self.spec)

    def score(self, cand: Candidate) -> float:
        """Smaller is better: the value, negated for a higher-is-better metric."""
        if self.better is None:
            raise ValueError(f"metric {self.key!r} is not ranked (no better direction)")
        value = float(self.value(cand))
        return value if self.better == "lower" else -value


def _part(part: str, name: str) -> Reader:
    """A reader of ``cand.<part>.<name>``; None when the candidate has no ``part`` (not measured)."""

    def read(cand: Candidate) -> Any:
        whole = getattr(cand, part)
        return None if whole is None else getattr(whole, name)

    return read


def _dim(i: int) -> Reader:
    return lambda c: c.shape_nchw[i]


def _cv_text(report: BenchReport, cand: Candidate) -> str:
    lat = cand.latency_ms
    return (format_value(lat.cv, ".3f") + (" !" if cand.noisy else "")) if lat else "-"


def _roof_share(report: BenchReport, cand: Candidate) -> float | None:
    roof = roof_gflops(report, cand)
    return cand.achieved_gflops / roof * 100 if cand.achieved_gflops and roof else None


def _lat_metric(name: str, label: str | None = None, better: Better | None = "lower") -> Metric:
    return Metric(f"latency_{name}_ms", label, "ms", better, _part("latency_ms", name), spec=".2f")


METRICS: tuple[Metric, ...] = (
    Metric("label", "NCHW", "", None, lambda c: c.label, spec="s"),
    Metric("n", None, "", None, _dim(0)),
    Metric("c", None, "", None, _dim(1)),
    Metric("h", None, "", None, _dim(2)),
    Metric("w", None, "", None, _dim(3)),
    Metric("pixels", None, "px", None, lambda c: c.pixels),
    Metric("status", "status", "", None, lambda c: c.status, text=lambda r, c: status_text(c)),
    Metric("failure_stage", None, "", None, lambda c: c.failure.stage if c.failure else None),
    Metric("failure_reason", None, "", None, lambda c: c.failure.reason if c.failure else None),
    Metric("export_s", None, "s", "lower", lambda c: c.export_s),
    Metric("build_s", "build s", "s", "lower", lambda c: c.build_s, spec=".2f"),
    Metric("latency_samples", None, "", None, _part("latency_ms", "samples")),
    _lat_metric("min"),
    _lat_metric("mean"),
    _lat_metric("median", "p50 ms"),
    _lat_metric("p90", "p90 ms"),
    _lat_metric("p95"),
    _lat_metric("p99", "p99 ms"),
    _lat_metric("max"),
    _lat_metric("std", better=None),
    Metric("latency_cv", "cv", "", "lower", _part("latency_ms", "cv"), text=_cv_text),
    _lat_metric("iqr", better=None),
    Metric("noisy", None, "", None, lambda c: c.noisy),
    Metric("samples_per_s", "samples/s", "1/s", "higher", _part("throughput", "samples_per_s"), spec=".1f"),
    Metric("megapixels_per_s", "MP/s", "MP/s", "higher", _part("throughput", "megapixels_per_s"), spec=".2f"),
    Metric("peak_rss_mb", None, "MiB", "lower", _part("memory", "peak_rss_mb"), plot_label="peak RSS (worker process)"),
    Metric("rss_increase_mb", None, "MiB", "lower", _part("memory", "rss_increase_mb")),
    Metric("gpu_peak_mb", None, "MiB", "lower", _part("memory", "gpu_peak_mb"), plot_label="peak GPU memory"),
    Metric("paddle_allocator_peak_mb", None, "MiB", "lower", _part("memory", "paddle_allocator_peak_mb")),
    Metric("parity_passed", None, "", None, _part("parity", "passed")),
    Metric("parity_backend", None, "", None, _part("parity", "backend")),
    Metric("parity_max_abs_error", None, "", "lower", _part("parity", "max_abs_error")),
    Metric("parity_failed_outputs", None, "", None, lambda c: " ".join(c.parity.failed_outputs) if c.parity else None),
    Metric(
        "eligible",
        "eligible / why not",
        "",
        None,
        lambda c: c.eligible,
        text=lambda r, c: "yes" if c.eligible else (c.excluded_reason or "no"),
    ),
    Metric("excluded_reason", None, "", None, lambda c: c.excluded_reason),
    Metric("pick", "pick", "", None, read_in=lambda r, c: pick_text(r, c) or None, text=pick_text),
    Metric("backend", "backend", "", None, read_in=backend_of, text=backend_of, shown=several_backends),
    Metric(
        "flops",
        "GFLOP",
        "FLOP",
        None,
        lambda c: c.flops,
        text=lambda r, c: format_value(c.flops / 1e9 if c.flops else None, ".3g"),
        shown=has_flops,
    ),
    Metric("achieved_gflops", "GFLOP/s", "GFLOP/s", "higher", lambda c: c.achieved_gflops, spec=".1f", shown=has_flops),
    Metric("roof_gflops", None, "GFLOP/s", None, read_in=roof_gflops),
    Metric("scene_tiles", "tiles", "", None, _part("scene", "tiles"), spec="d", shown=has_scene),
    Metric("scene_batches", None, "", None, _part("scene", "batches")),
    Metric("scene_redundancy", None, "x", "lower", _part("scene", "redundancy")),
    Metric("scene_host_ms_per_tile", None, "ms", "lower", _part("scene", "host_ms_per_tile")),
    Metric("scene_s", "scene s", "s", "lower", _part("scene", "scene_s"), spec=".2f", shown=has_scene),
    Metric(
        "scene_effective_mp_per_s",
        "eff MP/s",
        "MP/s",
        "higher",
        _part("scene", "effective_mp_per_s"),
        spec=".2f",
        shown=has_scene,
    ),
    Metric("agreement", None, "", "higher", _part("agreement", "agreement")),
    Metric("agreement_miou", "mIoU", "", "higher", _part("agreement", "miou"), spec=".3f", shown=has_agreement),
    Metric(
        "agreement_per_class_iou",
        None,
        "",
        None,
        lambda c: " ".join(f"{k}:{v:.4f}" for k, v in c.agreement.per_class_iou.items()) if c.agreement else None,
    ),
    Metric(
        "ms_per_sample",
        "ms/sample",
        "ms",
        "lower",
        _part("throughput", "ms_per_sample"),
        spec=".2f",
        shown=lambda r: any(c.shape_nchw[0] > 1 for c in r.candidates),
        note="ms/sample: p50 latency per batch item (shown when a candidate batches several).",
    ),
    # table-only columns (the CSV has their raw figures above)
    Metric("roof_pct", "% roof", "%", "higher", read_in=_roof_share, spec=".0f", csv=False, shown=has_flops),
    Metric("peak_mb", "peak MiB", "MiB", "lower", lambda c: memory_mb(c.memory), spec=".0f", csv=False),
    Metric("parity", "parity", "", None, lambda c: c.parity, text=lambda r, c: parity_text(c), csv=False),
    Metric(
        "agreement_pct",
        "agree %",
        "%",
        "higher",
        lambda c: c.agreement.agreement * 100 if c.agreement else None,
        spec=".2f",
        csv=False,
        shown=has_agreement,
    ),
)
"""Every per-candidate column, in CSV column order."""

TABLE: tuple[str, ...] = (
    "pick",
    "label",
    "backend",
    "status",
    "latency_median_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_cv",
    "ms_per_sample",
    "samples_per_s",
    "megapixels_per_s",
    "flops",
    "achieved_gflops",
    "roof_pct",
    "peak_mb",
    "build_s",
    "parity",
    "scene_tiles",
    "scene_s",
    "scene_effective_mp_per_s",
    "agreement_pct",
    "agreement_miou",
    "eligible",
)
"""The keys of the terminal and Markdown table's columns, left to right (each when its ``shown`` says so)."""

BY_KEY: Mapping[str, Metric] = {m.key: m for m in METRICS}


def metric(key: str) -> Metric:
    """The metric called ``key``; a one-line error naming the known keys otherwise."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown metric {key!r}; known metrics: {', '.join(BY_KEY)}") from None


def csv_metrics() -> list[Metric]:
    return [m for m in METRICS if m.csv]


def table_metrics(report: BenchReport) -> list[Metric]:
    """The table's columns for ``report``."""
    return [m for m in (BY_KEY[k] for k in TABLE) if m.shown(report)]


def latency_metric(stat: str) -> Metric:
    """The metric of a latency statistic name (``p50`` is the median)."""
    return metric(f"latency_{'median' if stat == 'p50' else stat}_ms")


OBJECTIVE_METRICS = {"throughput": "megapixels_per_s", "scene": "scene_s"}
"""What each objective ranks on; ``latency`` ranks on the chosen latency statistic."""


def objective_metric(objective: str, stat: str) -> Metric:
    return metric(OBJECTIVE_METRICS[objective]) if objective in OBJECTIVE_METRICS else latency_metric(stat)
