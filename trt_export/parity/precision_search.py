"""Find a smallest set of op types that, kept out of TensorRT (or run in fp32), restores parity.

What Polygraphy's ``debug precision`` does for ONNX, over Paddle op types. Paddle-free: the caller
gives ``evaluate(kept_out) -> Trial`` (build the predictor with those op types kept out, compare
against the reference, time it), so the search is tested with a fake.

The search is delta debugging (Zeller's ddmin) for a 1-minimal passing set: start from every
candidate kept out (which must pass, else nothing helps), then repeatedly try halves, quarters, ...
of the current set and their complements, keeping any smaller one that still passes. The result
passes and dropping any single op type from it fails; two culprits that only matter together are
found together, which a one-at-a-time bisection would miss. Every evaluation is recorded with its
latency, so the cost of each step (and of the answer) is visible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from trt_export.serial import JsonRecord, layout

ALREADY_PASSING = "already-passing"
FOUND = "found"
NOTHING_HELPS = "nothing-helps"


@dataclass(frozen=True)
class Trial(JsonRecord):
    """One evaluated configuration: these op types kept out of TensorRT (or in fp32)."""

    kept_out: frozenset[str] = field(metadata=layout(dump=sorted))
    passed: bool
    latency_ms: float | None = None
    max_abs_error: float | None = None
    error: str | None = None  # the configuration did not build or run


@dataclass
class SearchResult(JsonRecord):
    json_keys: ClassVar[tuple[str, ...]] = ("status", "culprits", "candidates", "baseline", "final", "latency_cost")

    status: str
    culprits: tuple[str, ...]
    baseline: Trial
    final: Trial | None
    steps: list[Trial] = field(default_factory=list)
    candidates: tuple[str, ...] = ()

    @property
    def latency_cost(self) -> float | None:
        """final / baseline latency (1.25 = the fix costs 25%), when both were timed."""
        if self.final is None or not self.final.latency_ms or not self.baseline.latency_ms:
            return None
        return self.final.latency_ms / self.baseline.latency_ms

    def json_derived(self) -> dict[str, Any]:
        return {"latency_cost": None if self.latency_cost is None else round(self.latency_cost, 4)}


def search_precision(candidates: Sequence[str], evaluate: Callable[[frozenset[str]], Trial]) -> SearchResult:
    """Smallest (1-minimal) subset of ``candidates`` whose trial passes; see the module doc."""
    ordered = tuple(dict.fromkeys(candidates))
    steps: list[Trial] = []
    cache: dict[frozenset[str], Trial] = {}

    def test(ops: Sequence[str]) -> Trial:
        key = frozenset(ops)
        if key not in cache:
            trial = evaluate(key)
            cache[key] = trial
            steps.append(trial)
        return cache[key]

    baseline = test(())
    if baseline.passed:
        return SearchResult(ALREADY_PASSING, (), baseline, baseline, steps, ordered)
    if not ordered:
        return SearchResult(NOTHING_HELPS, (), baseline, None, steps, ordered)
    everything = test(ordered)
    if not everything.passed:
        return SearchResult(NOTHING_HELPS, (), baseline, None, steps, ordered)

    current = list(ordered)
    n = 2
    while len(current) >= 2:
        chunks = _split(current, n)
        reduced = False
        for chunk in chunks:
            if test(chunk).passed:
                current, n, reduced = chunk, 2, True
                break
        if not reduced and n > 2:
            for i in range(len(chunks)):
                complement = [op for j, c in enumerate(chunks) if j != i for op in c]
                if test(complement).passed:
                    current, n, reduced = complement, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    final = test(current)
    return SearchResult(FOUND, tuple(op for op in ordered if op in current), baseline, final, steps, ordered)


def _split(items: list[str], n: int) -> list[list[str]]:
    """``items`` in ``n`` contiguous, nearly equal, non-empty parts."""
    n = min(n, len(items))
    size, extra = divmod(len(items), n)
    parts, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        parts.append(items[start:end])
        start = end
    return parts


def render_search(result: SearchResult, what: str = "kept out of TensorRT") -> str:
    """The steps as a table, then the verdict in one line."""
    from tabulate import tabulate

    base = result.baseline.latency_ms
    rows = []
    for i, trial in enumerate(result.steps):
        cost = f"{trial.latency_ms / base:.2f}x" if trial.latency_ms and base else "-"
        verdict = "error" if trial.error else ("pass" if trial.passed else "FAIL")
        rows.append(
            (
                i,
                ", ".join(sorted(trial.kept_out)) or "(none)",
                verdict,
                "-" if trial.max_abs_error is None else f"{trial.max_abs_error:.3g}",
                "-" if trial.latency_ms is None else f"{trial.latency_ms:.2f}",
                cost,
                (trial.error or "")[:80],
            )
        )
    table = tabulate(
        rows,
        headers=["step", what, "parity", "max abs err", "p50 ms", "vs none", "error"],
        tablefmt="simple",
        disable_numparse=True,
    )
    if result.status == ALREADY_PASSING:
        verdict = "parity already passes with every op type in TensorRT: nothing to do"
    elif result.status == NOTHING_HELPS:
        verdict = (
            f"nothing helps: parity still fails with all {len(result.candidates)} candidate op type(s) {what}; "
            "the difference is not one of precision (check the export, the inputs or the tolerances)"
        )
    else:
        cost = f", latency {result.latency_cost:.2f}x of all-in-TensorRT" if result.latency_cost else ""
        verdict = f"smallest set restoring parity ({what}): {', '.join(result.culprits)}{cost}"
    return f"{table}\n\n{verdict}"
