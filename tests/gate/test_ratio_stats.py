"""The gate's statistics on synthetic samples: seeded, so every assertion is deterministic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trt_export.errors import EXIT_USAGE, ReportError
from trt_export.gate.ratio_stats import (
    MIN_PAIRS,
    MIN_SAMPLES,
    RatioInterval,
    history_ratio,
    latency_verdict,
    paired_ratio,
    ratio_of_medians,
)


def lognormal(median: float, cv: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(math.log(median), cv, n)


def test_identical_samples_give_ratio_one_inside_the_interval() -> None:
    base = lognormal(10.0, 0.14, 116, seed=1)
    interval = ratio_of_medians(base, base.copy())
    assert interval.ratio == pytest.approx(1.0)
    assert interval.low < 1.0 < interval.high
    assert latency_verdict(interval, 0.10)[0] == "PASS"


def test_same_seed_same_interval_other_seed_other_draws() -> None:
    base, cur = lognormal(10.0, 0.14, 116, 1), lognormal(10.5, 0.14, 116, 2)
    a, b = ratio_of_medians(base, cur, seed=0), ratio_of_medians(base, cur, seed=0)
    assert a == b  # reproducible verdicts: the bootstrap is seeded
    c = ratio_of_medians(base, cur, seed=1)
    assert c.ratio == a.ratio and (c.low, c.high) != (a.low, a.high)


def test_the_issues_50_percent_slowdown_with_cv_014_is_caught() -> None:
    # The issue's case: cv 0.14 over 116 samples, every sample 1.5x. The old noise band (2 x sqrt(2)
    # spreads) passed it; the interval of the ratio of medians is far above 1.10.
    base = lognormal(10.0, 0.14, 116, seed=3)
    interval = ratio_of_medians(base, base * 1.5)
    assert interval.ratio == pytest.approx(1.5)
    assert interval.low > 1.10
    assert latency_verdict(interval, 0.10)[0] == "FAIL"


def test_independent_draws_of_one_distribution_pass() -> None:
    verdicts = [
        latency_verdict(ratio_of_medians(lognormal(10, 0.14, 116, s), lognormal(10, 0.14, 116, 100 + s)), 0.10)[0]
        for s in range(10)
    ]
    assert verdicts == ["PASS"] * 10


def test_30_percent_slower_independent_draws_fail() -> None:
    verdicts = [
        latency_verdict(ratio_of_medians(lognormal(10, 0.14, 116, s), lognormal(13, 0.14, 116, 100 + s)), 0.10)[0]
        for s in range(10)
    ]
    assert verdicts == ["FAIL"] * 10


def test_improvement_needs_the_whole_interval_below() -> None:
    base = lognormal(10.0, 0.05, 200, seed=4)
    verdict, reason = latency_verdict(ratio_of_medians(base, base * 0.7), 0.10)
    assert verdict == "IMPROVED" and "below 0.90" in reason


def test_tail_percentile_ratio() -> None:
    base = lognormal(10.0, 0.05, 400, seed=5)
    cur = base.copy()
    cur[cur > np.percentile(cur, 95)] *= 2.0  # only the tail moves
    assert ratio_of_medians(base, cur).ratio == pytest.approx(1.0)
    tail = ratio_of_medians(base, cur, q=99)
    assert tail.stat == "p99" and tail.low > 1.10


@pytest.mark.parametrize(
    ("base", "hint"),
    [
        ([10.0] * (MIN_SAMPLES - 1), f"needs at least {MIN_SAMPLES}"),
        ([10.0] * 30 + [float("nan")], "finite positive"),
        ([10.0] * 30 + [float("inf")], "finite positive"),
        ([10.0] * 30 + [0.0], "finite positive"),
    ],
)
def test_unusable_samples_are_one_line_report_errors(base: list[float], hint: str) -> None:
    with pytest.raises(ReportError, match=hint) as info:
        ratio_of_medians(base, [10.0] * 30)
    assert info.value.exit_code == EXIT_USAGE and "\n" not in str(info.value)


def test_paired_ratios_around_1_3_fail_around_1_pass() -> None:
    slower = np.random.default_rng(6).lognormal(math.log(1.3), 0.08, 30)
    same = np.random.default_rng(7).lognormal(0.0, 0.08, 30)
    assert latency_verdict(paired_ratio(slower), 0.10)[0] == "FAIL"
    assert latency_verdict(paired_ratio(same), 0.10)[0] == "PASS"
    assert paired_ratio(same).method == "paired" and paired_ratio(same).n_current == 30


def test_paired_is_symmetric_on_the_log_scale() -> None:
    ratios = np.random.default_rng(8).lognormal(0.2, 0.1, 31)
    up, down = paired_ratio(ratios), paired_ratio(1 / ratios)
    assert up.ratio == pytest.approx(1 / down.ratio)


def test_too_few_pairs_refused() -> None:
    with pytest.raises(ReportError, match=f"at least {MIN_PAIRS}"):
        paired_ratio([1.0] * (MIN_PAIRS - 1))


def test_history_absorbs_between_run_drift() -> None:
    # Three baselines of one build whose medians drift 9..12 ms between runs, and a current run at
    # 11 ms: against the 9 ms run alone the bootstrap calls it 22 % slower; the history does not.
    runs = [lognormal(m, 0.05, 200, seed=10 + i) for i, m in enumerate((9.0, 12.0, 10.0))]
    current = lognormal(11.0, 0.05, 200, seed=20)
    assert latency_verdict(ratio_of_medians(runs[0], current), 0.10)[0] == "FAIL"
    interval = history_ratio(runs, current)
    assert interval.method == "history" and interval.n_base == 3
    assert interval.between_run_cv is not None and interval.between_run_cv > 0.1
    assert latency_verdict(interval, 0.10)[0] == "PASS"


def test_history_still_catches_a_slowdown_beyond_the_drift() -> None:
    runs = [lognormal(m, 0.05, 200, seed=30 + i) for i, m in enumerate((10.0, 10.3, 9.8, 10.1, 9.9))]
    interval = history_ratio(runs, lognormal(20.0, 0.05, 200, seed=40))
    assert latency_verdict(interval, 0.10)[0] == "FAIL"


def test_history_is_never_narrower_than_the_bootstrap() -> None:
    runs = [lognormal(10.0, 0.2, 100, seed=50), lognormal(10.0, 0.2, 100, seed=51)]
    cur = lognormal(10.0, 0.2, 100, seed=52)
    boot, hist = ratio_of_medians(runs[0], cur), history_ratio(runs, cur)
    shift = float(np.median(runs[0]) / math.exp(np.mean(np.log([np.median(r) for r in runs]))))
    assert hist.low <= boot.low * shift + 1e-12 and hist.high >= boot.high * shift - 1e-12


def test_history_needs_two_baselines() -> None:
    with pytest.raises(ReportError, match="at least 2 baseline"):
        history_ratio([lognormal(10, 0.1, 50, 1)], lognormal(10, 0.1, 50, 2))


@pytest.mark.parametrize(
    ("interval", "verdict", "words"),
    [
        (RatioInterval(1.30, 1.15, 1.45, 0.95, "paired", 30, 30), "FAIL", "above 1.10"),
        (RatioInterval(1.20, 1.05, 1.35, 0.95, "paired", 30, 30), "PASS", "not distinguishable from noise"),
        (RatioInterval(1.02, 0.98, 1.06, 0.95, "paired", 30, 30), "PASS", "within 10% tolerance"),
        (RatioInterval(0.70, 0.60, 0.85, 0.95, "paired", 30, 30), "IMPROVED", "below 0.90"),
    ],
)
def test_verdict_from_where_the_interval_lies(interval: RatioInterval, verdict: str, words: str) -> None:
    got, reason = latency_verdict(interval, 0.10)
    assert got == verdict and words in reason and "ratio" in reason


def test_bad_confidence_refused() -> None:
    with pytest.raises(ValueError):
        ratio_of_medians([10.0] * 30, [10.0] * 30, confidence=1.0)
