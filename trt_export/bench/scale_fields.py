"""The optional bench.json fields of scaled-out sweeps: ``shard`` and ``execution``.

``shard`` (written by ``bench --shard K/N``) says which part of which sweep a report holds, so
``trt-export merge`` can refuse overlapping, missing or foreign shards. ``execution`` (written by
``--devices``, ``--ray`` and ``merge``) says where each candidate was measured. Both are absent in a plain
sweep, and a report without them loads as before. (De)serialised by serial.py's converter as part of
the report; a bad value is one :class:`~trt_export.errors.ReportError` line naming its JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ShardInfo:
    """Shard ``index`` of ``count`` (1-based) of a sweep over ``candidates``.

    ``candidates`` is every label of the whole sweep in sweep order, not only this shard's: merge
    checks that all shards came from the same sweep and that together they cover it. ``config`` is
    what else must agree between shards but is not in ``settings`` (model kwargs, format, seed,
    backend settings).
    """

    index: int
    count: int
    candidates: list[str]
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard index must be 1..count, got {self.index}/{self.count}")

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class Placement:
    """Where one candidate was measured and how long it took there (s)."""

    where: str
    wall_s: float | None = None
    overhead_s: float | None = None  # Ray: set-up and transfer around the candidate's own work


@dataclass(frozen=True)
class ExecutionInfo:
    """How the sweep was spread: ``executor`` is ``devices``, ``cpu-parallel``, ``ray`` or ``shards``."""

    executor: str
    parallel: int
    placements: dict[str, Placement] = field(default_factory=dict)
    address: str | None = None
    shards: list[str] = field(default_factory=list)
