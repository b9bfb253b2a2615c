"""The timing policy: how many runs a candidate gets, and when its timing loop stops.

Like trtexec (``--duration`` with a minimum of ``--iterations``) and pytest-benchmark's
calibration (``min_rounds``, ``max_time``): a candidate is timed for at least ``min_runs`` runs
and at least ``min_time_s`` seconds, at most ``max_time_s`` seconds (and at most ``max_runs``),
and stops early, once both minimums are met, when the 95 % confidence interval of the median is
within ``target_ci`` of the median. A step deadline (what is left of the worker's timeout) always
wins: a heavy candidate ends its loop in time, with fewer runs than the minimum and a note saying
how many it got, instead of being killed for a timeout with nothing measured.

The confidence interval is distribution-free (binomial order statistics, as in
benchmarks/test_measurement_integrity.py): the ranks n/2 -/+ 1.96 sqrt(n)/2 of the sorted samples.
It is checked at geometrically spaced sample counts (every ~20 % more samples, see
:func:`next_ci_check`), outside the timed region; benchmarks/ measures its amortised cost.

This module owns the vocabulary of the policy (its defaults, stop reasons and their notes);
``bench_worker`` runs it, ``bench`` and ``cli`` build it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from trt_export.bench.stats import MIN_SAMPLES_FOR_INTERVAL
from trt_export.serial import JsonRecord, finite_or_none, json_field, rounded

DEFAULT_WARMUP = 5
DEFAULT_WARMUP_MAX_S = 0.5
DEFAULT_MIN_RUNS = MIN_SAMPLES_FOR_INTERVAL  # a default sweep has enough samples for the gate
DEFAULT_MIN_TIME_S = 0.5
DEFAULT_MAX_TIME_S = 5.0
DEFAULT_TARGET_CI = 0.025
"""Half-width of the median's 95 % CI, relative to the median, at which timing may stop early.
2.5 %: well inside the gate's default 10 % latency tolerance, so two runs' medians are comparable."""

STOP_REASONS = ("ci", "min", "max_runs", "max_time", "deadline")
"""Why a loop ended: the CI got tight; the minimums were met (no CI target); the run cap; the
time cap; the step deadline (what is left of --timeout)."""

# A deadline keeps this much of the step's time back for the worker to report and exit.
DEADLINE_MARGIN_S = 2.0
DEADLINE_MARGIN_FRACTION = 0.05


@dataclass(frozen=True)
class TimingPolicy(JsonRecord):
    """How a candidate is timed. ``None`` switches a bound off."""

    warmup: int = DEFAULT_WARMUP  # at most this many untimed runs first ...
    warmup_max_s: float | None = DEFAULT_WARMUP_MAX_S  # ... ending early after this long (at least one run)
    min_runs: int = DEFAULT_MIN_RUNS
    min_time_s: float | None = DEFAULT_MIN_TIME_S
    max_time_s: float | None = DEFAULT_MAX_TIME_S
    max_runs: int | None = None
    target_ci: float | None = DEFAULT_TARGET_CI

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warm-up runs must be >= 0, got {self.warmup}")
        if self.min_runs < 1:
            raise ValueError(f"the minimum of timed runs must be >= 1, got {self.min_runs}")
        if self.max_runs is not None and self.max_runs < self.min_runs:
            raise ValueError(f"max_runs {self.max_runs} is below min_runs {self.min_runs}")
        for name in ("warmup_max_s", "min_time_s", "max_time_s", "target_ci"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number or None, got {value!r}")
        if self.min_time_s is not None and self.max_time_s is not None and self.max_time_s < self.min_time_s:
            raise ValueError(f"max_time_s {self.max_time_s} is below min_time_s {self.min_time_s}")

    @classmethod
    def exact(cls, runs: int, warmup: int = DEFAULT_WARMUP) -> TimingPolicy:
        """Exactly ``runs`` timed runs (bounded only by the step deadline)."""
        return cls(
            warmup=warmup,
            warmup_max_s=None,
            min_runs=runs,
            min_time_s=None,
            max_time_s=None,
            max_runs=runs,
            target_ci=None,
        )

    def describe(self) -> str:
        parts = [f"at least {self.min_runs} runs"]
        if self.min_time_s:
            parts.append(f"at least {self.min_time_s:g} s")
        if self.max_runs is not None:
            parts.append(f"at most {self.max_runs} runs")
        if self.max_time_s:
            parts.append(f"at most {self.max_time_s:g} s")
        if self.target_ci:
            parts.append(f"stopping when the median's 95% CI is within +-{self.target_ci:.1%}")
        return ", ".join(parts)


def policy_from_budget(warmup: int, iters: int | None, duration_s: float | None) -> TimingPolicy:
    """The policy behind the older ``--iters`` / ``--duration`` flags (and BenchOptions fields).

    Neither: the default policy. ``iters`` alone: exactly that many runs. ``duration_s`` (with or
    without ``iters`` as the minimum): at least that long, then the default CI stop and time cap
    (raised to the duration when it is longer).
    """
    if iters is not None and iters < 1:
        raise ValueError(f"iters must be at least 1, got {iters}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s}")
    if iters is None and duration_s is None:
        return TimingPolicy(warmup=warmup)
    if duration_s is None:
        return TimingPolicy.exact(int(iters or 1), warmup=warmup)
    return TimingPolicy(
        warmup=warmup,
        min_runs=int(iters or 1),
        min_time_s=duration_s,
        max_time_s=max(DEFAULT_MAX_TIME_S, duration_s),
    )


def parse_target_ci(text: str | float | None) -> float | None:
    """``--target-ci``: '2.5%', '0.025' or 'off' (no early stop) -> a fraction or None."""
    if text is None:
        return DEFAULT_TARGET_CI
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = text.strip().lower()
        if raw in ("off", "none", "0", "0%"):
            return None
        try:
            value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        except ValueError:
            raise ValueError(f"--target-ci must be a percentage such as 2.5% (or off), got {text!r}") from None
    if not (math.isfinite(value) and 0 < value < 1):
        raise ValueError(f"--target-ci must be between 0% and 100% (or off), got {text!r}")
    return value


def policy_from_flags(
    warmup: int,
    iters: int | None,
    duration_s: float | None,
    max_duration_s: float | None = None,
    target_ci: str | float | None = None,
) -> TimingPolicy:
    """The CLI's policy: :func:`policy_from_budget`, then ``--max-duration`` and ``--target-ci`` on top.

    ``--max-duration`` caps the timed runs (also of an explicit ``--iters``); ``--target-ci``
    enables the early stop (also for ``--iters``, which then becomes the minimum).
    """
    policy = policy_from_budget(warmup, iters, duration_s)
    changes: dict[str, Any] = {}
    if max_duration_s is not None:
        if not (math.isfinite(max_duration_s) and max_duration_s > 0):
            raise ValueError(f"--max-duration must be a positive number of seconds, got {max_duration_s}")
        if policy.min_time_s is not None and max_duration_s < policy.min_time_s:
            raise ValueError(
                f"--max-duration {max_duration_s:g} s is below the minimum time {policy.min_time_s:g} s (--duration)"
            )
        changes["max_time_s"] = max_duration_s
    if target_ci is not None:
        changes["target_ci"] = parse_target_ci(target_ci)
        if changes["target_ci"] is not None and policy.max_runs is not None:
            changes["max_runs"] = None  # --iters N --target-ci: N is the minimum, the CI decides the rest
            changes.setdefault("max_time_s", DEFAULT_MAX_TIME_S)
    return replace(policy, **changes) if changes else policy


def step_deadline(timeout_s: float | None, now: float | None = None) -> float | None:
    """The monotonic time by which a step's timing must end, leaving the worker time to report."""
    if timeout_s is None:
        return None
    margin = min(DEADLINE_MARGIN_S + DEADLINE_MARGIN_FRACTION * timeout_s, 0.25 * timeout_s)
    return (time.monotonic() if now is None else now) + timeout_s - margin


def _ci_ranks(samples: Any) -> tuple[Any, int, int]:
    """The samples as float64 and the ranks (lo, hi) of the median's 95 % CI: n/2 -/+ 1.96 sqrt(n)/2."""
    import numpy as np  # here, not at the top: the CLI reads this module's defaults before it starts anything

    values = np.asarray(samples, dtype=np.float64)
    n = values.size
    if n == 0:
        raise ValueError("a confidence interval needs at least one sample")
    half = 1.96 * math.sqrt(n) / 2
    return values, max(0, int(math.floor(n / 2 - half))), min(n - 1, int(math.ceil(n / 2 + half)))


def median_ci95(samples: Any) -> tuple[float, float]:
    """Distribution-free 95 % CI of the median: order statistics at n/2 -/+ 1.96 sqrt(n)/2."""
    values, lo, hi = _ci_ranks(samples)
    part = values.copy()
    part.partition((lo, hi))
    return float(part[lo]), float(part[hi])


def next_ci_check(n: int) -> int:
    """After a CI check at ``n`` samples, the next one: ~20 % more samples (at least 5), so a loop
    of thousands of runs checks a few dozen times and the checks cost well under 1 % of it."""
    return n + max(5, n // 5)


def ci_halfwidth(samples: Any) -> float:
    """Half-width of :func:`median_ci95` relative to the median (inf for a zero median)."""
    values, lo, hi = _ci_ranks(samples)
    n = values.size
    mid = (n - 1) // 2
    part = values.copy()
    part.partition(sorted({lo, mid, hi, n // 2}))  # one partition for the CI and the median
    median = float(part[mid] + part[n // 2]) / 2
    return float(part[hi] - part[lo]) / 2 / median if median > 0 else math.inf


@dataclass
class TimingOutcome:
    """What a timing loop did: the raw samples (s) and how and why it stopped."""

    samples_s: list[float]
    warmup_runs: int
    warmup_s: float
    timed_s: float
    stop: str
    ci_halfwidth: float | None = None  # relative, at the stop
    notes: list[str] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return len(self.samples_s)


@dataclass(frozen=True)
class TimingSummary(JsonRecord):
    """How a candidate's timing loop went, as bench.json keeps it (``candidates[].timing``)."""

    runs: int
    warmup_runs: int
    stop: str
    # written to 6 places; a non-finite one (no interval) is written and read as null
    ci_halfwidth: float | None = json_field(default=None, dump=rounded(6, nonfinite_as_none=True), load=finite_or_none)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.stop not in STOP_REASONS:
            raise ValueError(f"timing.stop {self.stop!r} is not one of {', '.join(STOP_REASONS)}")


def run_policy(
    step: Callable[[], Any],
    policy: TimingPolicy,
    deadline: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    now: Callable[[], float] = time.monotonic,
) -> TimingOutcome:
    """Warm up, then time ``step`` per call under ``policy``; stop by ``deadline`` (monotonic s).

    The timed region is the same as :func:`trt_export.bench.worker.timed_loop`'s: two ``clock()``
    calls around ``step()``; the stop checks run between iterations.
    """
    warm_start = clock()
    warmup_runs = 0
    notes: list[str] = []
    last = 0.0
    while warmup_runs < policy.warmup:
        # keep the time the minimum of timed runs needs before the deadline
        if warmup_runs and deadline is not None and now() + last * (1 + policy.min_runs) > deadline:
            break
        begin = clock()
        step()
        last = clock() - begin
        warmup_runs += 1
        if policy.warmup_max_s is not None and clock() - warm_start >= policy.warmup_max_s:
            break
    warmup_s = clock() - warm_start
    if warmup_runs < policy.warmup:
        notes.append(f"{warmup_runs} of {policy.warmup} warm-up runs (they took {warmup_s:.2f} s)")

    samples: list[float] = []
    append = samples.append
    spent = 0.0
    # plain locals: the checks run between every two timed calls
    max_runs = policy.max_runs if policy.max_runs is not None else math.inf
    max_time = policy.max_time_s if policy.max_time_s is not None else math.inf
    min_runs, min_time = policy.min_runs, policy.min_time_s or 0.0
    target = policy.target_ci
    next_check = min_runs
    n = 0
    stop = ""
    ci: float | None = None
    while True:
        begin = clock()
        step()
        elapsed = clock() - begin
        append(elapsed)
        spent += elapsed
        n += 1
        if n >= max_runs:
            stop = "max_runs"
            break
        if deadline is not None and now() + 1.5 * (spent / n) > deadline:
            stop = "deadline"
            break
        if spent >= max_time:
            stop = "max_time"
            break
        if n < next_check or spent < min_time:
            continue
        if target is None:
            stop = "min"
            break
        ci = ci_halfwidth(samples)
        if ci <= target:
            stop = "ci"
            break
        next_check = next_ci_check(n)
    if ci is None or stop != "ci":
        ci = ci_halfwidth(samples)
    outcome = TimingOutcome(samples, warmup_runs, warmup_s, spent, stop, ci, notes)
    note = stop_note(outcome, policy)
    if note:
        outcome.notes.append(note)
    return outcome


def stop_note(outcome: TimingOutcome, policy: TimingPolicy) -> str | None:
    """A sentence for a loop that ended before its minimums were met (None when they were)."""
    short_runs = outcome.runs < policy.min_runs
    short_time = policy.min_time_s is not None and outcome.timed_s < policy.min_time_s
    if outcome.stop not in ("deadline", "max_time") or not (short_runs or short_time):
        return None
    why = (
        "the step timeout (--timeout) was near"
        if outcome.stop == "deadline"
        else f"the timing cap of {policy.max_time_s:g} s was reached"
    )
    return (
        f"{outcome.runs} timed run{'s' if outcome.runs != 1 else ''} ({outcome.timed_s:.1f} s) instead of the minimum "
        f"{policy.min_runs}: {why}; its percentiles rest on few samples"
    )


__all__ = [
    "DEFAULT_TARGET_CI",
    "STOP_REASONS",
    "TimingOutcome",
    "TimingPolicy",
    "TimingSummary",
    "ci_halfwidth",
    "median_ci95",
    "parse_target_ci",
    "policy_from_budget",
    "policy_from_flags",
    "run_policy",
    "step_deadline",
    "stop_note",
]
