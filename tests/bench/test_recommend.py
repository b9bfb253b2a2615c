"""The recommender: budgets, exclusions with reasons, objective switch, ties, nothing eligible."""

from __future__ import annotations

import pytest
from fixture_reports import candidate
from fixture_reports import failed as failed_candidate

from trt_export.bench.recommend import recommend
from trt_export.bench.report import Candidate, Memory, ParitySummary
from trt_export.bench.stats import LatencyStats


def ok(
    h: int,
    w: int,
    median_ms: float,
    p99_ms: float,
    rss_mb: float | None = 500.0,
    n: int = 1,
    parity: bool | None = True,
    gpu_mb: float | None = None,
) -> Candidate:
    # a synthetic latency summary: only the figures the recommender reads need to be right
    lat = LatencyStats(
        samples=50,
        min=median_ms * 0.9,
        mean=median_ms,
        median=median_ms,
        p90=(median_ms + p99_ms) / 2,
        p95=(median_ms + p99_ms) / 2,
        p99=p99_ms,
        max=p99_ms * 1.1,
        std=0.01,
        cv=0.01,
        iqr=0.02,
    )
    return candidate(
        [n, 3, h, w],
        lat,
        memory=None if rss_mb is None and gpu_mb is None else Memory(peak_rss_mb=rss_mb, gpu_peak_mb=gpu_mb),
        parity=None
        if parity is None
        else ParitySummary(parity, "paddle-cpu", 1e-6 if parity else 0.2, [] if parity else ["score_map"]),
    )


def failed(h: int, stage: str, reason: str) -> Candidate:
    return failed_candidate([1, 3, h, h], stage, reason)


def test_throughput_picks_most_megapixels_per_second_and_explains() -> None:
    cands = [ok(256, 256, 3.0, 4.0), ok(512, 512, 10.0, 12.0), ok(128, 128, 0.2, 50.0)]
    rec = recommend(cands, "throughput", "p99", max_latency_ms=40.0)
    assert rec is not None
    # 128x128 covers most pixels per second (81.9 MP/s) but its p99 50 ms breaks the 40 ms budget;
    # 512x512 (26.21 MP/s) beats 256x256 (21.85 MP/s) although the latter runs more images per second
    assert rec.label == "1x3x512x512" and rec.runner_up == "1x3x256x256"
    assert (
        "26.21 MP/s" in rec.reason
        and "p99 12.0 ms <= 40 ms" in rec.reason
        and "1x3x256x256 at 21.85 MP/s" in rec.reason
    )
    assert rec.excluded == {"1x3x128x128": "p99 50.0 ms > budget 40 ms"}
    assert [c.eligible for c in cands] == [True, True, False]
    assert cands[2].excluded_reason == "p99 50.0 ms > budget 40 ms"
    assert cands[0].excluded_reason is None


def test_latency_objective_uses_chosen_statistic() -> None:
    steady = ok(512, 512, 10.0, 11.0)
    spiky = ok(256, 256, 5.0, 30.0)
    assert recommend([steady, spiky], "latency", "p50").label == spiky.label
    rec = recommend([steady, spiky], "latency", "p99")
    assert rec.label == steady.label and rec.runner_up == spiky.label
    assert "lowest p99 latency, 11.00 ms" in rec.reason
    # the objective switch changes the answer on the same data: 512x512 covers more pixels per second
    assert recommend([steady, spiky], "throughput", "p99").label == steady.label


def test_latency_budget_applies_to_chosen_statistic() -> None:
    cand = ok(256, 256, 5.0, 30.0)
    assert recommend([cand], latency_stat="p50", max_latency_ms=10.0) is not None
    assert recommend([cand], latency_stat="p99", max_latency_ms=10.0) is None
    assert cand.excluded_reason == "p99 30.0 ms > budget 10 ms"


def test_memory_budget_and_unmeasured_memory() -> None:
    big = ok(1024, 1024, 20.0, 25.0, rss_mb=7000.0)
    unmeasured = ok(512, 512, 8.0, 9.0, rss_mb=None)
    small = ok(256, 256, 3.0, 4.0, rss_mb=800.0)
    rec = recommend([big, unmeasured, small], max_memory_mb=6144.0)
    assert rec.label == small.label and rec.runner_up is None
    assert big.excluded_reason == "peak RSS 7000.0 MiB > budget 6144 MiB"
    assert unmeasured.excluded_reason == "memory not measured, so the 6144 MiB budget cannot be checked"
    # without a memory budget the unmeasured candidate is fine
    assert recommend([unmeasured]).label == unmeasured.label


def test_memory_budget_uses_gpu_memory_when_measured() -> None:
    cand = ok(512, 512, 8.0, 9.0, rss_mb=900.0, gpu_mb=3000.0)
    assert recommend([cand], max_memory_mb=2048.0) is None
    assert cand.excluded_reason == "peak GPU memory 3000.0 MiB > budget 2048 MiB"
    assert recommend([cand], max_memory_mb=4096.0) is not None


def test_failed_and_parity_failed_candidates_are_excluded_with_reasons() -> None:
    crashed = failed(1024, "crash", "worker exited with signal 11")
    timed_out = failed(2048, "timeout", "candidate exceeded 600 s")
    bad_parity = ok(128, 128, 1.0, 1.5, parity=False)
    unchecked = ok(192, 192, 1.2, 1.6, parity=None)
    good = ok(512, 512, 10.0, 12.0)
    rec = recommend([crashed, timed_out, bad_parity, unchecked, good])
    assert rec.label == good.label  # the faster ones did not prove parity
    assert rec.excluded == {
        "1x3x1024x1024": "failed at crash: worker exited with signal 11",
        "1x3x2048x2048": "failed at timeout: candidate exceeded 600 s",
        "1x3x128x128": "parity failed on score_map (max abs error 0.2) against paddle-cpu",
        "1x3x192x192": "parity not checked",
    }


def test_several_reasons_are_all_given() -> None:
    cand = ok(1024, 1024, 50.0, 60.0, rss_mb=9000.0, parity=False)
    assert recommend([cand], max_latency_ms=40.0, max_memory_mb=6144.0) is None
    reason = cand.excluded_reason or ""
    assert (
        "parity failed" in reason
        and "p99 60.0 ms > budget 40 ms" in reason
        and "9000.0 MiB > budget 6144 MiB" in reason
    )


def test_no_eligible_candidate_returns_none_and_explains_every_one() -> None:
    cands = [failed(512, "oom", "killed"), ok(256, 256, 30.0, 40.0)]
    assert recommend(cands, max_latency_ms=10.0) is None
    assert all(not c.eligible and c.excluded_reason for c in cands)
    assert cands[0].excluded_reason == "failed at oom: killed"


def test_ties_go_to_the_smaller_input() -> None:
    # same megapixels/s: 256x256 in 5 ms and 512x512 in 20 ms
    small = ok(256, 256, 5.0, 12.0)
    large = ok(512, 512, 20.0, 24.0)
    for order in ([large, small], [small, large]):
        rec = recommend(order, "throughput")
        assert rec.label == small.label and rec.runner_up == large.label
    # same latency at batch 2: 256x256 vs 256x512
    small2 = ok(256, 256, 10.0, 12.0, n=2)
    large2 = ok(256, 512, 10.0, 12.0, n=2)
    for order in ([large2, small2], [small2, large2]):
        assert recommend(order, "latency", "p99").label == small2.label


def test_re_running_resets_previous_verdicts() -> None:
    cand = ok(256, 256, 5.0, 30.0)
    recommend([cand], max_latency_ms=10.0)
    assert not cand.eligible
    recommend([cand])
    assert cand.eligible and cand.excluded_reason is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="objective"):
        recommend([], objective="cheapest")
    with pytest.raises(ValueError, match="latency statistic"):
        recommend([], latency_stat="p42")
    assert recommend([]) is None


def test_a_smaller_input_within_the_timing_noise_of_the_best_is_preferred() -> None:
    def with_iqr(cand: Candidate, iqr: float) -> Candidate:
        cand.latency_ms = LatencyStats(**{**cand.latency_ms.to_dict(), "iqr": iqr})
        return cand

    # 1024x1024 at 52 ms (20.2 MP/s) vs 768x768 at 31 ms (19.0 MP/s): 6 % apart
    large, small = ok(1024, 1024, 52.0, 60.0), ok(768, 768, 31.0, 36.0)
    quiet = recommend([with_iqr(large, 0.5), with_iqr(small, 0.3)], "throughput")
    assert quiet.label == large.label and "timing noise" not in quiet.reason  # 1 % spread: a real difference
    noisy = recommend([with_iqr(large, 6.0), with_iqr(small, 3.0)], "throughput")  # ~11 % spread
    assert noisy.label == small.label and noisy.runner_up == large.label
    assert "within the timing noise" in noisy.reason and "smaller input is preferred" in noisy.reason
