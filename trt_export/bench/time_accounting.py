"""Where a sweep's time went: one vocabulary of phases, per candidate and for the whole sweep.

Every second of a sweep's wall time falls into exactly one phase, so the phases of
``bench.json``'s ``time_s`` add up to ``wall``:

- ``startup``: waiting for worker processes to be ready: the pre-imported server's start (its
  ``import paddle``), or with exec workers each one's interpreter start and import, plus forking;
- ``idle``: the idle worker's job (environment fingerprint; the memory baseline);
- ``export``: exports made by this run (0 for a cached one);
- ``reference``: the dygraph reference outputs made by this run (inputs, outputs, the .npz);
- ``build``: predictor builds (TensorRT engines, ``paddle.tensorrt.convert`` included);
- ``parity``: the parity run and comparison;
- ``warmup``, ``timed``: the untimed and the timed runs;
- ``scene``: with ``--scene`` / ``--agreement-images``, the scene probe and the tiling agreement
  runs (the dygraph reference of the agreement images counts as ``reference``);
- ``teardown``: from a worker's last stamp until the sweep has its result (process exit,
  freeing memory, reaping);
- ``parent``: what the sweep's own process did: start-up of the CLI, loading the source, checks,
  reading results, the recommendation, tables, plots and files.

``irreducible`` = export + reference + build + parity + warmup + timed + scene: the work a cold sweep must
do; ``overhead_ratio`` = wall / irreducible (the target is <= 1.3 for a cold sweep).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trt_export.serial import finite_float, register_layout

WORKER_PHASES = ("startup", "idle", "export", "reference", "build", "parity", "warmup", "timed", "scene", "teardown")
PHASES = (*WORKER_PHASES, "parent")
IRREDUCIBLE = ("export", "reference", "build", "parity", "warmup", "timed", "scene")


def _rounded(value: float) -> float:
    return round(max(float(value), 0.0), 4)


@dataclass
class PhaseTimes:
    """Seconds per phase (only the known phase names)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, phase: str, value: float | None) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown time phase {phase!r}; one of {', '.join(PHASES)}")
        if value:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + max(float(value), 0.0)

    def merge(self, other: PhaseTimes) -> None:
        for phase, value in other.seconds.items():
            self.add(phase, value)

    def get(self, phase: str) -> float:
        return self.seconds.get(phase, 0.0)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def irreducible(self) -> float:
        return sum(self.get(p) for p in IRREDUCIBLE)

    def to_dict(self) -> dict[str, float]:
        return {phase: _rounded(self.get(phase)) for phase in WORKER_PHASES if phase != "idle"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseTimes:
        times = cls()
        for phase, value in data.items():
            if phase in PHASES and value is not None:
                times.add(str(phase), finite_float(value))
        return times


@dataclass
class SweepTime:
    """The sweep's wall time split into :data:`PHASES` (``parent`` is the remainder)."""

    wall_s: float
    phases: PhaseTimes

    @classmethod
    def from_parts(cls, wall_s: float, workers: PhaseTimes) -> SweepTime:
        # Rounded as bench.json keeps them, so derived figures read back from the file are the same.
        phases = PhaseTimes({p: _rounded(v) for p, v in workers.seconds.items() if p != "parent"})
        wall_s = _rounded(wall_s)
        phases.add("parent", _rounded(wall_s - phases.total))
        return cls(wall_s=wall_s, phases=phases)

    @property
    def irreducible_s(self) -> float:
        return self.phases.irreducible

    @property
    def overhead_ratio(self) -> float | None:
        irreducible = self.irreducible_s
        return self.wall_s / irreducible if irreducible > 0 else None

    def to_dict(self) -> dict[str, Any]:
        ratio = self.overhead_ratio
        return {
            "wall": _rounded(self.wall_s),
            **{phase: _rounded(self.phases.get(phase)) for phase in PHASES},
            "irreducible": _rounded(self.irreducible_s),
            "overhead_ratio": None if ratio is None else round(ratio, 4),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepTime:
        return cls(
            wall_s=finite_float(data["wall"]),
            phases=PhaseTimes.from_dict({k: v for k, v in data.items() if k in PHASES}),
        )

    def summary(self) -> str:
        parts = ", ".join(f"{phase} {self.phases.get(phase):.1f}" for phase in PHASES if self.phases.get(phase) >= 0.05)
        ratio = self.overhead_ratio
        tail = f"; {ratio:.2f}x the irreducible {self.irreducible_s:.1f} s" if ratio is not None else ""
        return f"sweep took {self.wall_s:.1f} s ({parts}){tail}"


# bench.json keeps both flattened: phase -> seconds (rounded); the wall time, every phase and derived figures
register_layout(PhaseTimes, PhaseTimes.to_dict, PhaseTimes.from_dict)
register_layout(SweepTime, SweepTime.to_dict, SweepTime.from_dict)
