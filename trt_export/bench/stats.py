"""Latency statistics from raw timing samples: the one place they are computed.

Raw samples (seconds, from ``time.perf_counter``) stay in memory with the caller; the report
keeps only the summary, in milliseconds. Conventions, fixed here so every report agrees:

- percentiles use numpy's default linear interpolation (``numpy.percentile(..., method="linear")``);
- ``std`` is the sample standard deviation (ddof=1, as pytest-benchmark and ``statistics.stdev``),
  0.0 for a single sample;
- ``cv`` = std / mean; a candidate is *noisy* when cv > :data:`NOISY_CV`;
- ``iqr`` = p75 - p25.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trt_export.serial import JsonRecord

MIN_SAMPLES_FOR_INTERVAL = 20
MIN_PAIRS = 10
"""Fewest A/B pairs for the paired interval of a slowdown ratio (gate/ratio_stats.py; --pairs)."""
"""Fewest timed samples per run for a bootstrap interval of its median (below it the interval's
coverage is far from nominal: the median of 10 samples has only 10 distinct bootstrap values).
The gate refuses fewer (gate_stats); bench's timing policy never takes fewer by default (timing),
so a default sweep is always a usable baseline."""

NOISY_CV = 0.10
"""Above 10 % coefficient of variation the median is not trustworthy enough to rank on alone."""

LATENCY_STATS = ("p50", "median", "p90", "p95", "p99", "mean", "max")
"""Names accepted by :meth:`LatencyStats.stat` (``p50`` is an alias of ``median``)."""


@dataclass(frozen=True)
class LatencyStats(JsonRecord):
    """Summary of one candidate's timing loop; times in milliseconds."""

    samples: int
    min: float
    mean: float
    median: float
    p90: float
    p95: float
    p99: float
    max: float
    std: float
    cv: float
    iqr: float

    @classmethod
    def from_samples(cls, samples_seconds: Sequence[float]) -> LatencyStats:
        ms = np.asarray(samples_seconds, dtype=np.float64) * 1000.0
        if ms.ndim != 1 or ms.size == 0:
            raise ValueError("latency statistics need at least one timing sample")
        if not np.all(np.isfinite(ms)) or np.any(ms < 0):
            raise ValueError("timing samples must be finite and non-negative (seconds)")
        p25, median, p75, p90, p95, p99 = np.percentile(ms, [25, 50, 75, 90, 95, 99])
        mean = float(ms.mean())
        std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
        return cls(
            samples=int(ms.size),
            min=float(ms.min()),
            mean=mean,
            median=float(median),
            p90=float(p90),
            p95=float(p95),
            p99=float(p99),
            max=float(ms.max()),
            std=std,
            # a zero mean only happens with a broken clock; report no spread rather than divide by 0
            cv=std / mean if mean > 0 else 0.0,
            iqr=float(p75 - p25),
        )

    @property
    def noisy(self) -> bool:
        return self.cv > NOISY_CV

    def stat(self, name: str) -> float:
        """The statistic a budget or objective refers to: p50/median, p90, p95, p99, mean, max."""
        if name not in LATENCY_STATS:
            raise ValueError(f"unknown latency statistic {name!r}; use one of {', '.join(LATENCY_STATS)}")
        return float(getattr(self, "median" if name == "p50" else name))


@dataclass(frozen=True)
class Throughput(JsonRecord):
    """Work per second at the median latency: batch items and input megapixels."""

    samples_per_s: float
    megapixels_per_s: float

    @property
    def ms_per_sample(self) -> float:
        """Median latency per batch item: what one image costs when it rides in a batch of n."""
        return 1000.0 / self.samples_per_s


def throughput(n: int, h: int, w: int, median_ms: float) -> Throughput:
    """Throughput of a batch of ``n`` images of ``h`` x ``w`` pixels run in ``median_ms``.

    The median, not the mean, so one slow outlier iteration does not move the ranking.
    """
    if median_ms <= 0 or not math.isfinite(median_ms):
        raise ValueError(f"median latency must be a positive number of ms, got {median_ms!r}")
    per_s = 1000.0 / median_ms
    return Throughput(samples_per_s=n * per_s, megapixels_per_s=n * h * w / 1e6 * per_s)
