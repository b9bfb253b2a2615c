"""The timing policy on a fake clock: every stop rule, deterministic (no real time is measured)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from trt_export.bench.time_accounting import PHASES, PhaseTimes, SweepTime
from trt_export.bench.timing import (
    DEFAULT_MAX_TIME_S,
    DEFAULT_MIN_RUNS,
    TimingPolicy,
    TimingSummary,
    median_ci95,
    parse_target_ci,
    policy_from_budget,
    policy_from_flags,
    run_policy,
    step_deadline,
)


class FakeClock:
    """A clock that only moves when a step runs: step i takes durations[i % len] seconds."""

    def __init__(self, durations: list[float]) -> None:
        self.t = 1000.0
        self.durations = itertools.cycle(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.t

    def step(self) -> None:
        self.calls += 1
        self.t += next(self.durations)


def _run(durations, policy, deadline=None):
    clock = FakeClock(durations)
    outcome = run_policy(clock.step, policy, deadline=deadline, clock=clock, now=clock)
    return outcome, clock


def test_exact_runs_exactly_n_after_the_warmup():
    outcome, clock = _run([0.01], TimingPolicy.exact(7, warmup=3))
    assert outcome.runs == 7 and outcome.warmup_runs == 3 and clock.calls == 10
    assert outcome.stop == "max_runs" and outcome.notes == []
    assert outcome.samples_s == pytest.approx([0.01] * 7)


def test_minimums_without_a_ci_target():
    policy = TimingPolicy(warmup=0, min_runs=10, min_time_s=0.5, max_time_s=None, target_ci=None)
    outcome, _ = _run([0.01], policy)  # 0.5 s of 10 ms runs: 50 runs, more than the 10 minimum
    assert outcome.stop == "min" and 50 <= outcome.runs <= 51  # float sums of 0.01
    slow, _ = _run([0.2], policy)  # 10 runs of 0.2 s: the run minimum decides
    assert slow.stop == "min" and slow.runs == 10


def test_steady_timings_stop_at_the_minimums_with_a_tight_ci():
    outcome, _ = _run([0.010, 0.0101, 0.0099], TimingPolicy(warmup=0, min_runs=10, min_time_s=0.2))
    assert outcome.stop == "ci" and outcome.ci_halfwidth <= 0.025
    assert 20 <= outcome.runs <= 22  # 0.2 s of ~10 ms runs


def test_noisy_timings_run_until_the_time_cap():
    # every other run twice as long: the median's CI never gets within 2.5 %
    outcome, _ = _run([0.01, 0.02], TimingPolicy(warmup=0, min_runs=10, min_time_s=0.1, max_time_s=3.0))
    assert outcome.stop == "max_time" and outcome.timed_s >= 3.0
    assert outcome.ci_halfwidth > 0.025
    assert outcome.notes == []  # the minimums were met: nothing to warn about


def test_a_heavy_candidate_ends_before_the_deadline_with_a_note():
    """10 s a run, the default minimum of runs asked, 60 s left: it stops in time with the runs it got."""
    clock = FakeClock([10.0])
    deadline = clock.t + 60.0
    outcome = run_policy(clock.step, TimingPolicy(warmup=5, max_time_s=None), deadline=deadline, clock=clock, now=clock)
    assert outcome.stop == "deadline" and clock.t <= deadline
    assert 1 <= outcome.runs < DEFAULT_MIN_RUNS
    assert outcome.warmup_runs == 1  # warm-up gives way to the timed runs (and is capped at 0.5 s)
    assert any(
        f"{outcome.runs} timed runs" in note
        and f"instead of the minimum {DEFAULT_MIN_RUNS}" in note
        and "--timeout" in note
        for note in outcome.notes
    )


def test_the_time_cap_wins_over_the_run_minimum_with_a_note():
    outcome, _ = _run([4.0], TimingPolicy(warmup=0, min_runs=10, min_time_s=1.0, max_time_s=10.0))
    assert outcome.stop == "max_time" and outcome.runs == 3
    assert any("the timing cap of 10 s" in note for note in outcome.notes)


def test_warmup_stops_after_its_time_budget():
    outcome, _ = _run([0.3], TimingPolicy(warmup=5, warmup_max_s=0.5, min_runs=1, min_time_s=None, target_ci=None))
    assert outcome.warmup_runs == 2
    assert outcome.notes == ["2 of 5 warm-up runs (they took 0.60 s)"]


def test_median_ci95_is_the_order_statistic_interval():
    values = np.arange(1, 101, dtype=float)  # n = 100: ranks 50 -/+ 9.8 -> indices 40 and 60
    assert median_ci95(values) == (41.0, 61.0)
    assert median_ci95([5.0]) == (5.0, 5.0)
    with pytest.raises(ValueError):
        median_ci95([])


def test_policy_from_the_older_flags():
    assert policy_from_budget(5, None, None) == TimingPolicy()
    exact = policy_from_budget(2, 30, None)
    assert exact.min_runs == exact.max_runs == 30 and exact.target_ci is None and exact.max_time_s is None
    timed = policy_from_budget(5, 20, 3.0)
    assert timed.min_runs == 20 and timed.min_time_s == 3.0 and timed.max_time_s == DEFAULT_MAX_TIME_S
    assert policy_from_budget(5, None, 60.0).max_time_s == 60.0  # a long minimum raises the cap
    for bad in ((5, 0, None), (5, None, 0.0), (5, None, math.inf)):
        with pytest.raises(ValueError):
            policy_from_budget(*bad)


def test_policy_from_the_new_flags():
    assert policy_from_flags(5, None, None, max_duration_s=4.0).max_time_s == 4.0
    assert policy_from_flags(5, None, None, target_ci="off").target_ci is None
    assert policy_from_flags(5, None, None, target_ci="1%").target_ci == pytest.approx(0.01)
    iters_ci = policy_from_flags(5, 30, None, target_ci="5%")
    assert iters_ci.min_runs == 30 and iters_ci.max_runs is None and iters_ci.target_ci == pytest.approx(0.05)
    with pytest.raises(ValueError, match="below the minimum time"):
        policy_from_flags(5, None, 10.0, max_duration_s=2.0)
    for bad in ("abc", "150%", "-1%"):
        with pytest.raises(ValueError, match="--target-ci"):
            parse_target_ci(bad)


def test_policy_validation_and_round_trip():
    with pytest.raises(ValueError):
        TimingPolicy(min_runs=0)
    with pytest.raises(ValueError):
        TimingPolicy(min_time_s=5.0, max_time_s=1.0)
    policy = TimingPolicy(warmup=2, max_runs=40)
    assert TimingPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(ValueError, match="min_runs"):
        TimingPolicy.from_dict({**policy.to_dict(), "min_runs": "many"})
    summary = TimingSummary(runs=12, warmup_runs=5, stop="ci", ci_halfwidth=0.02, notes=["x"])
    assert TimingSummary.from_dict(summary.to_dict()) == summary
    with pytest.raises(ValueError):
        TimingSummary(runs=1, warmup_runs=0, stop="bored")


def test_step_deadline_keeps_a_margin():
    assert step_deadline(None) is None
    assert step_deadline(600.0, now=0.0) == pytest.approx(600.0 - 2.0 - 30.0)
    assert step_deadline(4.0, now=0.0) == pytest.approx(3.0)  # at most a quarter of a short timeout


def test_sweep_phases_add_up_to_the_wall_time():
    workers = PhaseTimes()
    for phase, seconds in {
        "startup": 2.0,
        "export": 4.0,
        "reference": 0.5,
        "build": 1.0,
        "parity": 0.2,
        "scene": 0.0,
        "warmup": 0.3,
        "timed": 3.0,
        "teardown": 0.1,
        "idle": 0.1,
    }.items():
        workers.add(phase, seconds)
    sweep = SweepTime.from_parts(12.0, workers)
    data = sweep.to_dict()
    assert sum(data[p] for p in PHASES) == pytest.approx(data["wall"])
    assert data["parent"] == pytest.approx(0.8) and data["irreducible"] == pytest.approx(9.0)
    assert data["overhead_ratio"] == pytest.approx(12.0 / 9.0, abs=1e-4)
    assert SweepTime.from_dict(data).to_dict() == data
    with pytest.raises(ValueError):
        workers.add("coffee", 1.0)
