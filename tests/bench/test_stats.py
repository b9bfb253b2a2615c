"""LatencyStats against values computed by hand with numpy / statistics."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from trt_export.bench.stats import NOISY_CV, LatencyStats, throughput

SAMPLES_S = [0.010, 0.012, 0.011, 0.013, 0.050, 0.011, 0.012, 0.010, 0.014, 0.011]


def test_from_samples_matches_hand_computed_values() -> None:
    stats = LatencyStats.from_samples(SAMPLES_S)
    ms = [s * 1000 for s in SAMPLES_S]
    assert stats.samples == 10
    assert stats.min == pytest.approx(10.0)
    assert stats.max == pytest.approx(50.0)
    assert stats.mean == pytest.approx(sum(ms) / 10)  # 15.4
    assert stats.median == pytest.approx(11.5)  # sorted: ..., 11, 12, ... -> (11 + 12) / 2
    assert stats.std == pytest.approx(statistics.stdev(ms))  # sample std, ddof=1
    assert stats.cv == pytest.approx(statistics.stdev(ms) / (sum(ms) / 10))
    # linear interpolation: p90 sits at rank 0.9*9 = 8.1 between the sorted 14 and 50
    assert stats.p90 == pytest.approx(14 + 0.1 * (50 - 14))
    assert stats.p99 == pytest.approx(14 + 0.91 * (50 - 14))
    assert stats.p95 == pytest.approx(float(np.percentile(ms, 95)))
    # sorted 10 10 11 11 11 12 12 13 14 50: p25 at rank 2.25 -> 11.0, p75 at rank 6.75 -> 12.75
    assert stats.iqr == pytest.approx(1.75)


def test_noisy_flag_uses_cv_threshold() -> None:
    steady = LatencyStats.from_samples([0.010, 0.0101, 0.0099, 0.0100])
    assert steady.cv < NOISY_CV and not steady.noisy
    assert LatencyStats.from_samples(SAMPLES_S).noisy  # the 50 ms outlier gives cv ~0.8


def test_single_sample_has_zero_spread() -> None:
    stats = LatencyStats.from_samples([0.004])
    assert (stats.min, stats.median, stats.p99, stats.max) == pytest.approx((4.0, 4.0, 4.0, 4.0))
    assert stats.std == 0.0 and stats.cv == 0.0 and stats.iqr == 0.0


@pytest.mark.parametrize("bad", [[], [0.01, float("nan")], [-0.001], [[0.01, 0.02]]])
def test_bad_samples_rejected(bad: list) -> None:
    with pytest.raises(ValueError):
        LatencyStats.from_samples(bad)


def test_stat_lookup_and_aliases() -> None:
    stats = LatencyStats.from_samples(SAMPLES_S)
    assert stats.stat("p50") == stats.median == stats.stat("median")
    assert stats.stat("p99") == stats.p99
    with pytest.raises(ValueError, match="unknown latency statistic"):
        stats.stat("p42")


def test_dict_round_trip_is_plain_python() -> None:
    stats = LatencyStats.from_samples(SAMPLES_S)
    data = stats.to_dict()
    assert all(type(v) in (int, float) for v in data.values())
    assert LatencyStats.from_dict(data) == stats


def test_throughput_from_median() -> None:
    result = throughput(2, 512, 256, median_ms=4.0)
    assert result.samples_per_s == pytest.approx(500.0)  # 2 images per 4 ms
    assert result.megapixels_per_s == pytest.approx(2 * 512 * 256 / 1e6 * 250)
    with pytest.raises(ValueError):
        throughput(1, 8, 8, median_ms=0.0)
