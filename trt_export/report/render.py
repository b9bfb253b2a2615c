"""Show a bench report to people: terminal table, CSV, Markdown and PNG plots.

Reads only :class:`~trt_export.bench.report.BenchReport`; computes nothing the report does not
hold (statistics come from stats.py, the pick from recommend.py). Candidates are always shown in
order of input size so tables and plots read left to right, small to large.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from trt_export.bench.report import BenchReport, Candidate
from trt_export.bench.stats import NOISY_CV
from trt_export.report.render_scene import (
    SCENE_CSV_COLUMNS,
    SCENE_NOTE,
    scene_cells,
    scene_csv,
    scene_headers,
    scene_settings_rows,
    write_scene_plots,
)

BEST, RUNNER_UP = "BEST", "2nd"


def render_bench_table(report: BenchReport) -> str:
    """The terminal summary: one row per candidate, then the recommendation and warnings."""
    headers = _headers(report)
    table = tabulate(
        [_row(report, cand) for cand in _by_size(report)],
        headers=headers,
        tablefmt="simple",
        disable_numparse=True,
        maxcolwidths=[None] * (len(headers) - 1) + [48],
    )
    return "\n".join([table, "", *_summary_lines(report)])


# "build s" is predictor creation, which includes the TensorRT engine build: paid once per deployment.
_HEADERS = [
    "pick",
    "NCHW",
    "status",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "cv",
    "samples/s",
    "MP/s",
    "peak MiB",
    "build s",
    "parity",
    "eligible / why not",
]


def _several(report: BenchReport) -> bool:
    """More than one backend in the report: rows, picks and plots then name the backend."""
    return len(report.all_backends) > 1 or len({c.backend for c in report.candidates if c.backend}) > 1


def _has_flops(report: BenchReport) -> bool:
    return any(c.flops for c in report.candidates)


def _backend_of(report: BenchReport, cand: Candidate) -> str:
    return cand.backend or report.backend


def _roof_gflops(report: BenchReport, cand: Candidate) -> float | None:
    roof = report.roofs.get(_backend_of(report, cand))
    return float(roof["gflops"]) if roof and roof.get("gflops") else None


def _headers(report: BenchReport) -> list[str]:
    headers = _HEADERS[:-1] + scene_headers(report) + _HEADERS[-1:]
    if _has_flops(report):
        at = headers.index("MP/s") + 1
        headers[at:at] = ["GFLOP", "GFLOP/s", "% roof"]
    if _several(report):
        headers.insert(headers.index("NCHW") + 1, "backend")
    return headers


def _row(report: BenchReport, cand: Candidate) -> list[str]:
    cells = _base_row(report, cand)
    row = cells[:-1] + scene_cells(report, cand) + cells[-1:]
    if _has_flops(report):
        roof = _roof_gflops(report, cand)
        share = cand.achieved_gflops / roof * 100 if cand.achieved_gflops and roof else None
        at = _HEADERS.index("MP/s") + 1
        row[at:at] = [
            _num(cand.flops / 1e9 if cand.flops else None, ".3g"),
            _num(cand.achieved_gflops, ".1f"),
            _num(share, ".0f"),
        ]
    if _several(report):
        row.insert(_HEADERS.index("NCHW") + 1, _backend_of(report, cand))
    return row


def _base_row(report: BenchReport, cand: Candidate) -> list[str]:
    lat, thr = cand.latency_ms, cand.throughput
    return [
        _pick(report, cand),
        cand.label,
        cand.status if cand.ok else f"failed ({cand.failure.stage})" if cand.failure else "failed",
        _num(lat.median if lat else None, ".2f"),
        _num(lat.p90 if lat else None, ".2f"),
        _num(lat.p99 if lat else None, ".2f"),
        (_num(lat.cv, ".3f") + (" !" if cand.noisy else "")) if lat else "-",
        _num(thr.samples_per_s if thr else None, ".1f"),
        _num(thr.megapixels_per_s if thr else None, ".2f"),
        _num(cand.peak_memory_mb, ".0f"),
        _num(cand.build_s, ".2f"),
        _parity(cand),
        "yes" if cand.eligible else (cand.excluded_reason or "no"),
    ]


def _summary_lines(report: BenchReport) -> list[str]:
    rec = report.recommendation
    lines = []
    if rec is not None:
        lines.append(f"Recommended: {rec.reason}")
        up_on = f" on {rec.runner_up_backend}" if _several(report) and rec.runner_up_backend else ""
        lines.append(
            f"Runner-up: {rec.runner_up}{up_on}"
            if rec.runner_up
            else "Runner-up: none (only one candidate is eligible)"
        )
    else:
        lines.append("No candidate is eligible; nothing is recommended:")
        lines += [f"  - {_name(report, c)}: {c.excluded_reason or 'not evaluated'}" for c in _by_size(report)]
    lines += [f"warning: {w}" for w in noise_warnings(report)]
    lines += _roof_lines(report)
    lines += [f"note: {n}" for n in report.notes]
    return lines


def _name(report: BenchReport, cand: Candidate) -> str:
    return f"{cand.label} on {_backend_of(report, cand)}" if _several(report) else cand.label


def _roof_lines(report: BenchReport) -> list[str]:
    """Where GFLOP/s and '% roof' come from: the FLOP count and each backend's roof."""
    if not _has_flops(report):
        return []
    lines = [f"FLOPs: {report.flops_method or 'counted from the exported program'}"]
    for backend in report.all_backends:
        roof = report.roofs.get(backend)
        lines.append(
            f"roof {backend}: {roof['gflops']:.1f} GFLOP/s ({roof['source']}: {roof['method']})"
            if roof
            else f"roof {backend}: not known"
        )
    return lines


def _backends_text(report: BenchReport) -> str:
    return ", ".join(report.all_backends)


def noise_warnings(report: BenchReport) -> list[str]:
    return [
        f"{_name(report, c)} timing is noisy (cv {c.latency_ms.cv:.2f} > {NOISY_CV:.2f}); its ranking is uncertain: "
        "re-run with more iterations on an otherwise idle machine"
        for c in _by_size(report)
        if c.noisy and c.latency_ms is not None
    ]


CSV_COLUMNS = [
    "label",
    "n",
    "c",
    "h",
    "w",
    "pixels",
    "status",
    "failure_stage",
    "failure_reason",
    "export_s",
    "build_s",
    "latency_samples",
    "latency_min_ms",
    "latency_mean_ms",
    "latency_median_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "latency_std_ms",
    "latency_cv",
    "latency_iqr_ms",
    "noisy",
    "samples_per_s",
    "megapixels_per_s",
    "peak_rss_mb",
    "rss_increase_mb",
    "gpu_peak_mb",
    "paddle_allocator_peak_mb",
    "parity_passed",
    "parity_backend",
    "parity_max_abs_error",
    "parity_failed_outputs",
    "eligible",
    "excluded_reason",
    "pick",
    "backend",
    "flops",
    "achieved_gflops",
    "roof_gflops",
    *SCENE_CSV_COLUMNS,
]


def write_csv(report: BenchReport, path: str | os.PathLike[str]) -> Path:
    """One row per candidate, every figure in its own column; empty cell = not measured."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cand in _by_size(report):
            writer.writerow({k: "" if v is None else v for k, v in _csv_row(report, cand).items()})
    return target


def _csv_row(report: BenchReport, cand: Candidate) -> dict[str, Any]:
    n, c, h, w = cand.shape_nchw
    lat, thr, mem, par = cand.latency_ms, cand.throughput, cand.memory, cand.parity
    row: dict[str, Any] = {
        "label": cand.label,
        "n": n,
        "c": c,
        "h": h,
        "w": w,
        "pixels": cand.pixels,
        "status": cand.status,
        "failure_stage": cand.failure.stage if cand.failure else None,
        "failure_reason": cand.failure.reason if cand.failure else None,
        "export_s": cand.export_s,
        "build_s": cand.build_s,
        "noisy": cand.noisy,
        "samples_per_s": thr.samples_per_s if thr else None,
        "megapixels_per_s": thr.megapixels_per_s if thr else None,
        "parity_passed": par.passed if par else None,
        "parity_backend": par.backend if par else None,
        "parity_max_abs_error": par.max_abs_error if par else None,
        "parity_failed_outputs": " ".join(par.failed_outputs) if par else None,
        "eligible": cand.eligible,
        "excluded_reason": cand.excluded_reason,
        "pick": _pick(report, cand) or None,
        "backend": _backend_of(report, cand),
        "flops": cand.flops,
        "achieved_gflops": cand.achieved_gflops,
        "roof_gflops": _roof_gflops(report, cand),
    }
    row["latency_samples"] = lat.samples if lat else None
    for key in ("min", "mean", "median", "p90", "p95", "p99", "max", "std", "iqr"):
        row[f"latency_{key}_ms"] = getattr(lat, key) if lat else None
    row["latency_cv"] = lat.cv if lat else None
    for key in ("peak_rss_mb", "rss_increase_mb", "gpu_peak_mb", "paddle_allocator_peak_mb"):
        row[key] = getattr(mem, key) if mem else None
    row.update(scene_csv(cand))
    return row


def write_markdown(
    report: BenchReport, path: str | os.PathLike[str], plots: Sequence[str | os.PathLike[str]] = ()
) -> Path:
    """A report a person reads: what was run where, the table, the pick and every exclusion."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    s = report.settings
    lines = [
        f"# Bench: {report.model.name} on {_backends_text(report)}",
        "",
        f"Model source `{report.model.source}` ({report.model.model_type}), trt-export {report.tool_version}, "
        f"created {report.created_utc}. Latencies in ms, memory in MiB (2^20 bytes).",
        "",
        "## Settings",
        "",
        tabulate(
            [
                ["objective", s.objective],
                ["latency statistic", s.latency_stat],
                ["latency budget", f"{s.max_latency_ms:g} ms" if s.max_latency_ms is not None else "none"],
                ["memory budget", f"{s.max_memory_mb:g} MiB" if s.max_memory_mb is not None else "none"],
                ["warm-up iterations", s.warmup],
                ["timed iterations", s.iters if s.iters is not None else "-"],
                ["timed duration", f"{s.duration_s:g} s" if s.duration_s is not None else "-"],
                ["threads", s.threads if s.threads is not None else "-"],
                ["per-candidate timeout", f"{s.timeout_s:g} s" if s.timeout_s is not None else "none"],
                ["idle worker RSS", f"{report.idle_rss_mb:.1f} MiB" if report.idle_rss_mb is not None else "-"],
                *scene_settings_rows(report),
            ],
            headers=["setting", "value"],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
        "## Environment",
        "",
        tabulate(
            [[k, v] for k, v in report.environment.items() if v is not None],
            headers=["item", "value"],
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
        "## Results",
        "",
        tabulate(
            [_row(report, c) for c in _by_size(report)],
            headers=_headers(report),
            tablefmt="github",
            disable_numparse=True,
        ),
        "",
        f"p50/p90/p99: latency percentiles per batch; cv = std/mean, `!` marks noisy timing (cv > {NOISY_CV:.2f}); "
        "samples/s and MP/s at the median latency; peak MiB is GPU memory when measured, else worker RSS; "
        "build s is predictor creation (with the TensorRT engine build), paid once per deployment, not per inference."
        + (" " + SCENE_NOTE if scene_headers(report) else "")
        + (
            " GFLOP per batch, GFLOP/s at the median latency, % roof of the backend's compute roof (below)."
            if _has_flops(report)
            else ""
        ),
        "",
        *([*(f"- {line}" for line in _roof_lines(report)), ""] if _has_flops(report) else []),
        "## Recommendation",
        "",
    ]
    rec = report.recommendation
    if rec is not None:
        several = _several(report)
        on = f" on **{rec.backend}**" if several and rec.backend else ""
        lines.append(f"**{rec.label}**{on} (objective: {rec.objective}). {rec.reason}.")
        lines.append("")
        up_on = f" on {rec.runner_up_backend}" if several and rec.runner_up_backend else ""
        lines.append(
            f"Runner-up: **{rec.runner_up}**{up_on}."
            if rec.runner_up
            else "Runner-up: none, only one candidate is eligible."
        )
    else:
        lines.append("**No candidate is eligible**, so nothing is recommended. See the exclusions below.")
    excluded = [c for c in _by_size(report) if not c.eligible]
    if excluded:
        lines += ["", "## Exclusions", ""]
        lines += [f"- `{_name(report, c)}`: {c.excluded_reason or 'not evaluated'}" for c in excluded]
    warnings = noise_warnings(report) + [
        f"{_name(report, c)}: {w}" for c in report.candidates for w in getattr(c, "warnings", [])
    ]
    if warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {w}" for w in warnings]
    from trt_export.infer.trt_coverage import coverage_lines

    coverage = coverage_lines(report.candidates)
    if coverage:
        lines += ["", "## TensorRT coverage", "", *coverage]
    if report.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in report.notes]
    if plots:
        lines += ["", "## Plots", ""]
        for plot in plots:
            rel = os.path.relpath(Path(plot), target.parent)
            lines.append(f"![{Path(plot).stem}]({Path(rel).as_posix()})")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def write_plots(report: BenchReport, out_dir: str | os.PathLike[str]) -> list[Path]:
    """latency.png, memory.png, throughput.png (and gflops.png with FLOPs) in ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cands = _by_size(report)
    paths = []
    plots = [("latency.png", _plot_latency), ("memory.png", _plot_memory), ("throughput.png", _plot_throughput)]
    if _has_flops(report):
        plots.append(("gflops.png", _plot_gflops))
    for name, draw in plots:
        fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
        try:
            draw(report, cands, ax)
            fig.tight_layout()
            fig.savefig(out / name)
        finally:
            plt.close(fig)
        paths.append(out / name)
    paths += write_scene_plots(report, out, plt, cands)
    return paths


_OK_COLOR, _P99_COLOR, _BAD_COLOR, _BUDGET_COLOR, _PICK_COLOR = "#1f77b4", "#ff7f0e", "#d62728", "#555555", "#2ca02c"


_BACKEND_COLORS = ("#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e")


def _per_backend(report: BenchReport, cands: list[Candidate]) -> list[tuple[str, str, list[Candidate]]]:
    """(backend, colour, its candidates by size) for each backend of the report."""
    groups = []
    for i, backend in enumerate(report.all_backends):
        groups.append(
            (
                backend,
                _BACKEND_COLORS[i % len(_BACKEND_COLORS)],
                [c for c in cands if _backend_of(report, c) == backend],
            )
        )
    return groups


def _plot_latency(report: BenchReport, cands: list[Candidate], ax: Any) -> None:
    timed = [c for c in cands if c.latency_ms is not None]
    x = [c.pixels / 1e6 for c in timed]
    if timed and _several(report):
        for backend, color, group in _per_backend(report, timed):
            gx = [c.pixels / 1e6 for c in group]
            ax.plot(gx, [c.latency_ms.median for c in group if c.latency_ms], "o-", color=color, label=f"p50 {backend}")
            ax.plot(
                gx,
                [c.latency_ms.p99 for c in group if c.latency_ms],
                "s--",
                color=color,
                alpha=0.6,
                label=f"p99 {backend}",
            )
        for c in timed:
            if not c.eligible and c.latency_ms is not None:
                ax.plot(c.pixels / 1e6, c.latency_ms.median, "o", mfc="none", mec=_BAD_COLOR, ms=13, mew=2)
    elif timed:
        p50 = [c.latency_ms.median for c in timed if c.latency_ms]
        p99 = [c.latency_ms.p99 for c in timed if c.latency_ms]
        lo = [c.latency_ms.min for c in timed if c.latency_ms]
        ax.fill_between(x, lo, p99, color=_OK_COLOR, alpha=0.15, label="min .. p99 band")
        ax.plot(x, p50, "o-", color=_OK_COLOR, label="p50 (median)")
        ax.plot(x, p99, "s--", color=_P99_COLOR, label="p99")
        for c in timed:
            if not c.eligible and c.latency_ms is not None:
                ax.plot(c.pixels / 1e6, c.latency_ms.median, "o", mfc="none", mec=_BAD_COLOR, ms=13, mew=2)
            if c.noisy and c.latency_ms is not None:
                ax.annotate(
                    f"noisy, cv {c.latency_ms.cv:.2f}",
                    (c.pixels / 1e6, c.latency_ms.p99),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    color=_P99_COLOR,
                    fontsize=9,
                )
    s = report.settings
    if s.max_latency_ms is not None:
        ax.axhline(
            s.max_latency_ms,
            color=_BUDGET_COLOR,
            ls=":",
            lw=1.5,
            label=f"budget: {s.latency_stat} <= {s.max_latency_ms:g} ms",
        )
    ax.set_title(f"Latency vs input size: {report.model.name} on {_backends_text(report)}")
    ax.set_xlabel("input pixels per batch, n*h*w (megapixels, log scale)")
    ax.set_ylabel("latency per batch (ms)")
    _finish_size_axes(report, cands, ax, [c.latency_ms.p99 for c in timed if c.latency_ms], "not eligible (see table)")


def _plot_memory(report: BenchReport, cands: list[Candidate], ax: Any) -> None:
    measured = [c for c in cands if c.memory is not None]
    groups = _per_backend(report, measured) if _several(report) else [("", None, measured)]
    for backend, color, group in groups:
        suffix = f" {backend}" if backend else ""
        for key, label, style in (
            ("peak_rss_mb", "peak RSS (worker process)", "o-"),
            ("gpu_peak_mb", "peak GPU memory", "s-"),
        ):
            pts = [(c.pixels / 1e6, getattr(c.memory, key)) for c in group if getattr(c.memory, key) is not None]
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    label=label + suffix,
                    **({"color": color} if color else {}),
                )
    for c in measured:
        if c.ok and not c.eligible and c.peak_memory_mb is not None:
            ax.plot(c.pixels / 1e6, c.peak_memory_mb, "o", mfc="none", mec=_BAD_COLOR, ms=13, mew=2)
    if report.idle_rss_mb is not None:
        ax.axhline(
            report.idle_rss_mb, color="#999999", ls="--", lw=1, label=f"idle worker RSS {report.idle_rss_mb:.0f} MiB"
        )
    if report.settings.max_memory_mb is not None:
        ax.axhline(
            report.settings.max_memory_mb,
            color=_BUDGET_COLOR,
            ls=":",
            lw=1.5,
            label=f"budget {report.settings.max_memory_mb:g} MiB",
        )
    ax.set_title(f"Peak memory vs input size: {report.model.name} on {_backends_text(report)}")
    ax.set_xlabel("input pixels per batch, n*h*w (megapixels, log scale)")
    ax.set_ylabel("peak memory (MiB)")
    _finish_size_axes(
        report,
        cands,
        ax,
        [c.peak_memory_mb for c in measured if c.peak_memory_mb is not None],
        "not eligible (see table)",
    )


def _finish_size_axes(
    report: BenchReport, cands: list[Candidate], ax: Any, ys: list[float], excluded_note: str | None
) -> None:
    """Log x axis labelled with the candidates' H x W, failed ones marked on the floor, pick starred."""
    import matplotlib.ticker as mticker

    if not cands:
        ax.text(0.5, 0.5, "no candidates", transform=ax.transAxes, ha="center")
        return
    ax.set_xscale("log")
    xs = sorted({c.pixels / 1e6 for c in cands})
    ax.xaxis.set_major_locator(mticker.FixedLocator(xs))
    ax.xaxis.set_major_formatter(mticker.FixedFormatter([_size_tick(cands, x) for x in xs]))
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    if len(xs) == 1:
        ax.set_xlim(xs[0] / 2, xs[0] * 2)
    else:
        ax.set_xlim(xs[0] / 1.4, xs[-1] * 1.4)
    ax.set_ylim(bottom=0, top=max(ys + [ax.get_ylim()[1]]) * 1.12)
    failed = [c for c in cands if not c.ok]
    for i, c in enumerate(failed):
        ax.plot(
            c.pixels / 1e6, 0, "X", color=_BAD_COLOR, ms=12, clip_on=False, zorder=5, label="failed" if i == 0 else None
        )
        ax.annotate(
            f"failed: {c.failure.stage if c.failure else '?'}",
            (c.pixels / 1e6, 0),
            textcoords="offset points",
            xytext=(0, 10),
            ha="center",
            color=_BAD_COLOR,
            fontsize=9,
        )
    if excluded_note and any(c.ok and not c.eligible for c in cands):
        ax.plot([], [], "o", mfc="none", mec=_BAD_COLOR, ms=11, mew=2, label=excluded_note)
    rec = report.recommendation
    if rec is not None:
        best = next((c for c in cands if _is(report, c, rec.label, rec.backend)), None)
        y = _y_for(best, ax)
        if best is not None and y is not None:
            ax.plot(best.pixels / 1e6, y, "*", color=_PICK_COLOR, ms=20, zorder=6, label=f"recommended {best.label}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9, framealpha=0.9)


def _y_for(cand: Candidate | None, ax: Any) -> float | None:
    """Where to put the recommended star: on the curve the axes show."""
    if cand is None:
        return None
    if "memory" in ax.get_ylabel():
        return cand.peak_memory_mb
    if "GFLOP" in ax.get_ylabel():
        return cand.achieved_gflops
    return cand.latency_ms.median if cand.latency_ms else None


def _size_tick(cands: list[Candidate], x: float) -> str:
    names = sorted(
        {
            f"{c.shape_nchw[0]}x{c.shape_nchw[2]}x{c.shape_nchw[3]}"
            if c.shape_nchw[0] > 1
            else f"{c.shape_nchw[2]}x{c.shape_nchw[3]}"
            for c in cands
            if c.pixels / 1e6 == x
        }
    )
    return "\n".join(names) + f"\n{x:.2g} MP"


def _plot_throughput(report: BenchReport, cands: list[Candidate], ax: Any) -> None:
    import numpy as np
    from matplotlib.patches import Patch

    idx = np.arange(len(cands))
    width = 0.38
    sps = [c.throughput.samples_per_s if c.throughput else 0.0 for c in cands]
    mps = [c.throughput.megapixels_per_s if c.throughput else 0.0 for c in cands]
    ax2 = ax.twinx()
    bars1 = ax.bar(idx - width / 2, sps, width, color=_OK_COLOR, label="samples/s (left axis)")
    bars2 = ax2.bar(idx + width / 2, mps, width, color=_P99_COLOR, label="megapixels/s (right axis)")
    rec = report.recommendation
    for i, c in enumerate(cands):
        if not c.ok or c.throughput is None:
            why = f"failed:\n{c.failure.stage}" if c.failure else "not\nmeasured"
            ax.annotate(
                why, (idx[i], 0), textcoords="offset points", xytext=(0, 6), ha="center", color=_BAD_COLOR, fontsize=9
            )
            continue
        ax.annotate(
            f"{c.throughput.samples_per_s:.1f}",
            (idx[i] - width / 2, sps[i]),
            textcoords="offset points",
            xytext=(0, 2),
            ha="center",
            fontsize=8,
        )
        ax2.annotate(
            f"{c.throughput.megapixels_per_s:.1f}",
            (idx[i] + width / 2, mps[i]),
            textcoords="offset points",
            xytext=(0, 2),
            ha="center",
            fontsize=8,
        )
        if not c.eligible:
            for bar in (bars1[i], bars2[i]):
                bar.set_hatch("//")
                bar.set_alpha(0.45)
        if rec is not None and _is(report, c, rec.label, rec.backend):
            for bar in (bars1[i], bars2[i]):
                bar.set_edgecolor(_PICK_COLOR)
                bar.set_linewidth(3)
    ax.set_xticks(idx)
    ax.set_xticklabels([_bar_label(report, c) for c in cands])
    ax.set_ylabel("samples per second (batch items/s)")
    ax2.set_ylabel("input megapixels per second (MP/s)")
    ax.set_ylim(0, max(sps + [1e-9]) * 1.18)
    ax2.set_ylim(0, max(mps + [1e-9]) * 1.18)
    ax.set_xlabel("candidate (NCHW); hatched = not eligible, green edge = recommended")
    ax.set_title(f"Throughput at median latency: {report.model.name} on {_backends_text(report)}")
    # proxies: the bar containers would show the first bar's styling (e.g. the pick's green edge)
    handles = [Patch(color=_OK_COLOR, label=bars1.get_label()), Patch(color=_P99_COLOR, label=bars2.get_label())]
    ax.legend(handles=handles, loc="upper right", fontsize=9, framealpha=0.9)
    ax.grid(True, axis="y", alpha=0.3)


def _bar_label(report: BenchReport, cand: Candidate) -> str:
    rec = report.recommendation
    tag = ""
    if rec is not None and _is(report, cand, rec.label, rec.backend):
        tag = "\n(recommended)"
    elif rec is not None and _is(report, cand, rec.runner_up, rec.runner_up_backend):
        tag = "\n(runner-up)"
    on = f"\n{_backend_of(report, cand)}" if _several(report) else ""
    return cand.label + on + tag


def _by_size(report: BenchReport) -> list[Candidate]:
    order = {b: i for i, b in enumerate(report.all_backends)}
    return sorted(report.candidates, key=lambda c: (c.pixels, c.label, order.get(_backend_of(report, c), len(order))))


def _is(report: BenchReport, cand: Candidate, label: str | None, backend: str | None) -> bool:
    """Is ``cand`` the candidate a recommendation names (label, and backend when it names one)?"""
    if label is None or cand.label != label:
        return False
    return backend is None or _backend_of(report, cand) == backend


def _pick(report: BenchReport, cand: Candidate) -> str:
    rec = report.recommendation
    if rec is None:
        return ""
    if _is(report, cand, rec.label, rec.backend):
        return BEST
    if _is(report, cand, rec.runner_up, rec.runner_up_backend):
        return RUNNER_UP
    return ""


def _plot_gflops(report: BenchReport, cands: list[Candidate], ax: Any) -> None:
    """Achieved GFLOP/s per candidate and backend, with each backend's roof as a line."""
    for backend, color, group in _per_backend(report, cands):
        pts = [(c.pixels / 1e6, c.achieved_gflops) for c in group if c.achieved_gflops]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=color, label=f"achieved {backend}")
        roof = report.roofs.get(backend)
        if roof:
            ax.axhline(
                float(roof["gflops"]),
                color=color,
                ls=":",
                lw=1.5,
                label=f"roof {backend}: {float(roof['gflops']):.0f} GFLOP/s ({roof['source']})",
            )
    ax.set_title(f"Achieved GFLOP/s vs input size: {report.model.name} on {_backends_text(report)}")
    ax.set_xlabel("input pixels per batch, n*h*w (megapixels, log scale)")
    ax.set_ylabel("GFLOP/s at the median latency")
    ys = [c.achieved_gflops for c in cands if c.achieved_gflops] + [
        float(r["gflops"]) for r in report.roofs.values() if r.get("gflops")
    ]
    _finish_size_axes(report, cands, ax, ys, None)


def _parity(cand: Candidate) -> str:
    if cand.parity is None:
        return "-"
    if cand.parity.passed:
        return "pass" + (f" ({cand.parity.max_abs_error:.1e})" if cand.parity.max_abs_error is not None else "")
    return "FAIL"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
