"""Pick the best candidate shape under the budgets, and say why every other one lost.

A candidate is eligible when it ran, its parity check passed, and it fits both budgets. Among
eligible candidates the objective decides: ``throughput`` takes the most input megapixels/s (at the
median latency) -- candidates differ in tile size, so images/s would always favour the smallest
tile while megapixels/s says how fast a scene is covered; for one tile size the two rank alike --
``latency`` the lowest value of the chosen latency statistic. Exact ties go to the
smaller input (fewer n*h*w pixels: less memory, less upscaling of small scenes), then to the label
so the result never depends on sweep order. For throughput, a smaller input whose MP/s is within
the timing noise of the best (IQR/median of either run) counts as a tie too, and the reason says so.

Budgets: the latency budget applies to the chosen statistic (``p99`` by default, because a budget
is about the slow requests); the memory budget to :attr:`Candidate.peak_memory_mb` (device memory
on GPU backends, else peak RSS). A memory budget with no memory figure excludes the candidate:
an unmeasured figure cannot be shown to fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from trt_export.bench.metrics import latency_metric, memory_mb, memory_name, objective_metric, parity_exclusion
from trt_export.bench.recommend_scene import (
    prefer_smaller_scene_within_noise,
    scene_exclusions,
    scene_lead,
    smaller_within_noise,
)
from trt_export.bench.report import OBJECTIVES, BenchReport, Candidate, Recommendation
from trt_export.bench.stats import LATENCY_STATS


def recommend(
    candidates: Sequence[Candidate],
    objective: str = "throughput",
    latency_stat: str = "p99",
    max_latency_ms: float | None = None,
    max_memory_mb: float | None = None,
    min_agreement: float | None = None,
) -> Recommendation | None:
    """Set every candidate's ``eligible``/``excluded_reason`` and return the pick (None if none fits)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    if latency_stat not in LATENCY_STATS:
        raise ValueError(f"unknown latency statistic {latency_stat!r}; use one of {', '.join(LATENCY_STATS)}")

    eligible: list[Candidate] = []
    for cand in candidates:
        reasons = _exclusions(cand, objective, latency_stat, max_latency_ms, max_memory_mb) + scene_exclusions(
            cand, objective, min_agreement
        )
        cand.eligible = not reasons
        cand.excluded_reason = "; ".join(reasons) if reasons else None
        if cand.eligible:
            eligible.append(cand)
    if not eligible:
        return None

    ranked = sorted(eligible, key=lambda c: (_score(c, objective, latency_stat), c.pixels, c.label, c.backend or ""))
    tie_note = None
    if objective == "throughput":
        ranked, tie_note = _prefer_smaller_within_noise(ranked)
    elif objective == "scene":
        ranked, tie_note = prefer_smaller_scene_within_noise(ranked)
    best = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    # Several backends in one sweep: the same shape appears once per backend, so every name says which.
    several = len({c.backend for c in candidates}) > 1
    reason = _reason(best, runner_up, objective, latency_stat, max_latency_ms, max_memory_mb, several)
    return Recommendation(
        label=best.label,
        runner_up=runner_up.label if runner_up else None,
        objective=objective,
        reason=reason + (f"; {tie_note}" if tie_note else ""),
        excluded={(c.key if several else c.label): c.excluded_reason or "" for c in candidates if not c.eligible},
        backend=best.backend,
        runner_up_backend=runner_up.backend if runner_up else None,
    )


def _relative_noise(cand: Candidate) -> float:
    """Robust relative spread of a candidate's timing: IQR / median (one stall does not move it)."""
    lat = cand.latency_ms
    return lat.iqr / lat.median if lat is not None and lat.median > 0 else 0.0


def _prefer_smaller_within_noise(ranked: list[Candidate]) -> tuple[list[Candidate], str | None]:
    """Move to the front the smallest input whose throughput is within the timing noise of the best.

    Two throughputs closer than their own runs' spread cannot be ranked; the smaller input then
    wins (less memory, lower latency per tile), and the reason says so rather than crowning noise.
    """
    best = ranked[0]
    assert best.throughput is not None
    found = smaller_within_noise(
        ranked,
        lambda c: max(_relative_noise(best), _relative_noise(c)),
        lambda c, band: _mp_per_s(c) >= _mp_per_s(best) * (1 - band),
    )
    if found is None:
        return ranked, None
    reordered, pick, band = found
    note = (
        f"{pick.key if pick.backend != best.backend else pick.label} is within the timing noise (+-{band:.0%}, IQR/median) of "
        f"{best.key if pick.backend != best.backend else best.label}'s "
        f"{best.throughput.megapixels_per_s:.2f} MP/s, so the smaller input is preferred"
    )
    return reordered, note


def _mp_per_s(cand: Candidate) -> float:
    assert cand.throughput is not None
    return cand.throughput.megapixels_per_s


def recommend_report(report: BenchReport) -> Recommendation | None:
    """Apply :func:`recommend` with the report's own settings and store the result in it."""
    s = report.settings
    report.recommendation = recommend(
        report.candidates, s.objective, s.latency_stat, s.max_latency_ms, s.max_memory_mb, s.min_agreement
    )
    return report.recommendation


def _exclusions(
    cand: Candidate, objective: str, stat: str, max_latency_ms: float | None, max_memory_mb: float | None
) -> list[str]:
    if not cand.ok:
        return [str(cand.failure) if cand.failure else "failed (no failure recorded)"]
    reasons = []
    if cand.parity is None:
        reasons.append("parity not checked")
    elif not cand.parity.passed:
        reasons.append(parity_exclusion(cand.parity))
    if cand.latency_ms is None:
        reasons.append("no latency measured")
    elif max_latency_ms is not None and latency_metric(stat).value(cand) > max_latency_ms:
        reasons.append(f"{stat} {latency_metric(stat).value(cand):.1f} ms > budget {max_latency_ms:g} ms")
    if objective == "throughput" and cand.latency_ms is not None and cand.throughput is None:
        reasons.append("no throughput measured")
    if max_memory_mb is not None:
        peak = memory_mb(cand.memory)
        if peak is None:
            reasons.append(f"memory not measured, so the {max_memory_mb:g} MiB budget cannot be checked")
        elif peak > max_memory_mb:
            reasons.append(f"{memory_name(cand.memory)} {peak:.1f} MiB > budget {max_memory_mb:g} MiB")
    return reasons


def _score(cand: Candidate, objective: str, stat: str) -> float:
    """Smaller is better: the objective's metric, in its better direction."""
    assert cand.latency_ms is not None  # eligible candidates have latency
    return objective_metric(objective, stat).score(cand)


def _reason(
    best: Candidate,
    runner_up: Candidate | None,
    objective: str,
    stat: str,
    max_latency_ms: float | None,
    max_memory_mb: float | None,
    several: bool = False,
) -> str:
    assert best.latency_ms is not None
    if objective == "throughput":
        assert best.throughput is not None
        lead = f"highest throughput, {best.throughput.megapixels_per_s:.2f} MP/s ({best.throughput.samples_per_s:.1f} samples/s)"
    elif objective == "scene":
        lead = scene_lead(best)
    else:
        lead = f"lowest {stat} latency, {best.latency_ms.stat(stat):.2f} ms"
    budget = f" <= {max_latency_ms:g} ms" if max_latency_ms is not None else " (no latency budget)"
    checks = [f"{stat} {best.latency_ms.stat(stat):.1f} ms{budget}"]
    peak = memory_mb(best.memory)
    if peak is not None:
        mem_budget = f" <= {max_memory_mb:g} MiB" if max_memory_mb is not None else ""
        checks.append(f"{memory_name(best.memory)} {peak:.1f} MiB{mem_budget}")
    name = best.key if several else best.label
    text = f"{name}: {lead}, with {' and '.join(checks)}"
    if best.noisy:
        text += f" (timing noisy: cv {best.latency_ms.cv:.2f})"
    if runner_up is not None:
        assert runner_up.latency_ms is not None
        other = runner_up.key if several else runner_up.label
        if objective == "throughput" and runner_up.throughput is not None:
            text += f"; runner-up {other} at {runner_up.throughput.megapixels_per_s:.2f} MP/s"
        elif objective == "scene" and runner_up.scene is not None:
            text += f"; runner-up {other} at {runner_up.scene.scene_s:.2f} s per scene"
        else:
            text += f"; runner-up {other} at {stat} {runner_up.latency_ms.stat(stat):.2f} ms"
    return text
