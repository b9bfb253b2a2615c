"""Statistics behind the gate's latency verdict: intervals of a slowdown ratio from raw samples.

Pure numpy/scipy, no Paddle. Every interval is of the ratio current / baseline (1.30 = 30 %
slower) at a confidence level (default 95 %), from a seeded bootstrap so the same samples always
give the same verdict. Three sources of evidence, one result type (:class:`RatioInterval`):

- :func:`ratio_of_medians` - two independent runs (a stored baseline and this run): percentile
  bootstrap of median(current) / median(baseline), resampling each run on its own;
- :func:`paired_ratio` - an interleaved A/B run: per pair of adjacent blocks the ratio of block
  medians; percentile bootstrap of the median of those ratios (on the log scale);
- :func:`history_ratio` - several stored baselines: a prediction interval for one more run's
  median from the spread of the baselines' medians (between-run noise), widened to at least the
  within-run bootstrap interval.

:func:`latency_verdict` turns an interval and a tolerance into FAIL / IMPROVED / PASS: fail when
the whole interval lies above 1 + tolerance, improved when it lies below 1 - tolerance. Why these
methods and not others is argued in docs/ci-gate.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trt_export.bench.stats import MIN_PAIRS, MIN_SAMPLES_FOR_INTERVAL
from trt_export.errors import ReportError
from trt_export.serial import JsonRecord

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0

MIN_SAMPLES = MIN_SAMPLES_FOR_INTERVAL  # owned by stats.py; the timing policy's default minimum too


MIN_HISTORY = 2
"""Baselines needed to estimate between-run noise (one spread needs two runs)."""

METHODS = ("bootstrap", "paired", "history", "summary")


@dataclass(frozen=True)
class RatioInterval(JsonRecord):
    """current / baseline latency ratio with a confidence interval.

    ``method``: ``bootstrap`` (two independent runs), ``paired`` (interleaved A/B), ``history``
    (several baselines), ``summary`` (version 1 reports: no interval, see gate.py).
    ``between_run_cv`` is the baselines' run-to-run spread (history only).
    """

    ratio: float
    low: float
    high: float
    confidence: float
    method: str
    n_base: int
    n_current: int
    between_run_cv: float | None = None
    stat: str = "p50"

    def describe(self) -> str:
        """``ratio 1.31 [1.27, 1.35] (95% paired bootstrap, 30 pairs)``."""
        what = {
            "bootstrap": f"bootstrap of {self.stat}s, {self.n_base} vs {self.n_current} samples",
            "paired": f"paired A/B bootstrap, {self.n_current} pairs",
            "history": f"{self.n_base} baselines, between-run cv {self.between_run_cv or 0:.1%}",
        }.get(self.method, self.method)
        return f"ratio {self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.confidence:.0%} {what})"


def _as_samples(values: Sequence[float] | np.ndarray, what: str, minimum: int) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1:
        raise ReportError(f"{what}: samples must be a flat list of numbers")
    if not np.all(np.isfinite(data)) or np.any(data <= 0):
        raise ReportError(f"{what}: timing samples must be finite positive numbers; re-run bench to get clean ones")
    if data.size < minimum:
        raise ReportError(
            f"{what} has {data.size} timed samples, the interval needs at least {minimum}; "
            f"re-run bench with --iters {minimum} or more"
        )
    return data


def _check_confidence(confidence: float) -> None:
    if not (0.5 <= confidence < 1):
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence!r}")


@dataclass(frozen=True)
class IntervalSpec:
    """How a latency ratio's interval is computed: its confidence level, bootstrap resamples and seed,
    what it is of (named in errors) and the percentile compared (50: the median; 90, 99: the tail)."""

    confidence: float = DEFAULT_CONFIDENCE
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    what: str = "latency"
    q: float = 50.0


def ratio_of_medians(
    base: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    what: str = "latency",
    q: float = 50.0,
) -> RatioInterval:
    """Percentile-bootstrap interval of median(current) / median(base), two independent samples.

    ``q`` other than 50 compares that percentile instead (p90, p99: the tail)."""
    return bootstrap_ratio(base, current, IntervalSpec(confidence, n_resamples, seed, what, q))


def bootstrap_ratio(
    base: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, spec: IntervalSpec
) -> RatioInterval:
    """:func:`ratio_of_medians` with its options in one :class:`IntervalSpec`."""
    from scipy import stats

    confidence, q = spec.confidence, spec.q
    _check_confidence(confidence)
    b = _as_samples(base, f"baseline {spec.what}", MIN_SAMPLES)
    c = _as_samples(current, f"current {spec.what}", MIN_SAMPLES)

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.percentile(y, q, axis=axis) / np.percentile(x, q, axis=axis)

    res = stats.bootstrap(
        (b, c),
        statistic,
        n_resamples=spec.n_resamples,
        paired=False,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(spec.seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    ratio = float(np.percentile(c, q) / np.percentile(b, q))
    return RatioInterval(
        ratio, min(low, ratio), max(high, ratio), confidence, "bootstrap", int(b.size), int(c.size), stat=f"p{q:g}"
    )


def paired_ratio(
    pair_ratios: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    what: str = "A/B",
) -> RatioInterval:
    """Percentile-bootstrap interval of the median of per-pair ratios (current block / baseline block).

    Resampled on the log scale, so a pair 2x slower and a pair 2x faster weigh the same.
    """
    from scipy import stats

    _check_confidence(confidence)
    ratios = np.asarray(pair_ratios, dtype=np.float64)
    if ratios.ndim != 1 or not np.all(np.isfinite(ratios)) or np.any(ratios <= 0):
        raise ReportError(f"{what}: pair ratios must be finite positive numbers")
    if ratios.size < MIN_PAIRS:
        raise ReportError(
            f"{what}: {ratios.size} pairs, the paired interval needs at least {MIN_PAIRS}; give --pairs {MIN_PAIRS} or more"
        )
    logs = np.log(ratios)
    res = stats.bootstrap(
        (logs,),
        np.median,
        n_resamples=n_resamples,
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ratio = float(np.exp(np.median(logs)))
    low, high = float(np.exp(res.confidence_interval.low)), float(np.exp(res.confidence_interval.high))
    return RatioInterval(
        ratio, min(low, ratio), max(high, ratio), confidence, "paired", int(ratios.size), int(ratios.size)
    )


def history_ratio(
    base_runs: Sequence[Sequence[float]], current: Sequence[float], spec: IntervalSpec = IntervalSpec()
) -> RatioInterval:
    """Ratio of this run's median to the baselines' (geometric mean of their medians), with an
    interval that covers between-run noise.

    The baselines are k earlier runs of the same build; the spread of their log medians, s, is
    the run-to-run noise (drift, load, clocks), which no within-run statistic sees. If nothing
    changed, this run is one more draw, so its log median lies within the prediction interval
    mean ± t(k-1) · s · sqrt(1 + 1/k) (Student t, k-1 degrees of freedom; wide for small k,
    as it should be). The interval reported is the envelope of that and the within-run bootstrap
    interval against the primary baseline (``base_runs[0]``), so it is never narrower than either.
    """
    from scipy import stats

    confidence, what, q = spec.confidence, spec.what, spec.q
    _check_confidence(confidence)
    if len(base_runs) < MIN_HISTORY:
        raise ReportError(f"history needs at least {MIN_HISTORY} baseline reports, got {len(base_runs)}")
    runs = [_as_samples(run, f"baseline {i + 1} {what}", MIN_SAMPLES) for i, run in enumerate(base_runs)]
    cur = _as_samples(current, f"current {what}", MIN_SAMPLES)
    log_medians = np.log([np.percentile(run, q) for run in runs])
    k = log_medians.size
    center = float(log_medians.mean())
    spread = float(log_medians.std(ddof=1))
    t = float(stats.t.ppf(0.5 + confidence / 2, df=k - 1))
    half = t * spread * math.sqrt(1 + 1 / k)
    log_ratio = float(np.log(np.percentile(cur, q))) - center
    within = bootstrap_ratio(runs[0].tolist(), cur.tolist(), spec)
    ratio = math.exp(log_ratio)
    # the bootstrap interval is about the primary baseline; shift it onto the history's center
    shift = math.exp(float(log_medians[0]) - center)
    low = min(math.exp(log_ratio - half), within.low * shift, ratio)
    high = max(math.exp(log_ratio + half), within.high * shift, ratio)
    return RatioInterval(
        ratio, low, high, confidence, "history", k, int(cur.size), between_run_cv=math.expm1(spread), stat=f"p{q:g}"
    )


def latency_verdict(interval: RatioInterval, tolerance: float) -> tuple[str, str]:
    """("FAIL" | "IMPROVED" | "PASS", reason) from where the interval lies against 1 ± tolerance."""
    hi_bar, lo_bar = 1 + tolerance, 1 - tolerance
    text = interval.describe()
    pct = f"{tolerance:.0%} tolerance"
    if interval.low > hi_bar:
        return "FAIL", f"{text}: slower beyond {pct} (the whole interval is above {hi_bar:.2f})"
    if interval.high < lo_bar:
        return "IMPROVED", f"{text}: faster beyond {pct} (the whole interval is below {lo_bar:.2f})"
    if interval.ratio > hi_bar or interval.ratio < lo_bar:
        return (
            "PASS",
            f"{text}: the change is beyond {pct} but the interval reaches inside it: not distinguishable from noise",
        )
    return "PASS", f"{text}: within {pct}"
