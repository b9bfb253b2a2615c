"""Shards for CI matrices: ``bench --shard K/N`` measures a deterministic 1/N of the candidates.

The split is a pure function of the candidate labels (which spell the NCHW shape), so every
machine of a matrix computes the same one whatever the order of ``--shapes`` and whatever the
Python hash seed: candidates are taken largest first (n*h*w pixels, then label), each to the
shard with the fewest pixels so far (lowest index on a tie). Pixels stand in for cost, so the
big shapes spread over the shards instead of landing in one. ``trt-export merge`` (merge.py)
recomputes the split to check that the shard reports it is given are exactly the N parts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from trt_export.bench.scale_fields import ShardInfo
from trt_export.errors import TrtExportError
from trt_export.model.shapes import FixedShape

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _pixels(label: str) -> int:
    """n*h*w of an NCHW label ``NxCxHxW`` (the label is the shape, so no other input is needed)."""
    n, _, h, w = (int(part) for part in label.split("x"))
    return n * h * w


def plan_shards(labels: Sequence[str], count: int) -> list[list[str]]:
    """Candidate labels per shard (index 0 = shard 1), each list in the order of ``labels``."""
    if count < 1:
        raise ValueError(f"shard count must be >= 1, got {count}")
    loads = [0] * count
    owner: dict[str, int] = {}
    for label in sorted(set(labels), key=lambda lab: (-_pixels(lab), lab)):
        target = min(range(count), key=lambda i: (loads[i], i))
        owner[label] = target
        loads[target] += _pixels(label)
    return [[label for label in labels if owner[label] == index] for index in range(count)]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``, 1-based as in a CI matrix (``--shard 1/3`` .. ``3/3``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"shard {self.index}/{self.count}"

    def select(self, shapes: Sequence[FixedShape]) -> list[FixedShape]:
        """This shard's candidates, in sweep order; refuses a shard that would be empty."""
        labels = [shape.label for shape in shapes]
        if self.count > len(labels):
            raise TrtExportError(
                f"--shard {self.index}/{self.count}: {len(labels)} candidate shape(s) cannot fill {self.count} shards; "
                f"use at most {len(labels)} shards"
            )
        mine = set(plan_shards(labels, self.count)[self.index - 1])
        return [shape for shape in shapes if shape.label in mine]

    def info(self, shapes: Sequence[FixedShape], options: Any, settings: Any) -> ShardInfo:
        """The ``shard`` field of this shard's bench.json: the whole sweep's labels and config."""
        return ShardInfo(self.index, self.count, [shape.label for shape in shapes], shard_config(options, settings))


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N, as ``--shard`` takes it."""
    match = _SHARD.match(text or "")
    if not match:
        raise TrtExportError(f"--shard must be K/N (e.g. 1/4: the first of 4 shards), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise TrtExportError(f"--shard {text}: K must be between 1 and N (shards are numbered 1..{max(count, 1)})")
    return Shard(index, count)


def shard_config(options: Any, settings: Any) -> dict[str, Any]:
    """What must agree between the shards of one sweep besides bench.json's ``settings``.

    ``settings`` is the backend asked for, before any automatic switch (so shards agree whatever
    their exports did); ``device_id`` is left out, since shards may run on different GPUs.
    """
    backend = {key: value for key, value in asdict(settings).items() if key != "device_id"}
    backend["disable_ops"] = list(backend.get("disable_ops") or ())
    kwargs = options.model_kwargs
    if isinstance(kwargs, str):  # '{"a": 1}' and '{"a":1}' are the same model
        try:
            kwargs = json.loads(kwargs)
        except ValueError:
            pass
    return {
        "model_kwargs": kwargs,
        "model_format": options.model_format,
        "seed": options.seed,
        "backend_settings": backend,
    }
