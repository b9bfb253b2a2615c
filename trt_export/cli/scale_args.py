"""The scale-out flags of ``bench``, turned into a shard and an executor in one place.

``--devices``, ``--allow-parallel-cpu-timing``, ``--shard`` and ``--ray`` are added in one group, and
every refusal is made before anything is measured. docs/scale.md says which to use when.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from trt_export.errors import TrtExportError
from trt_export.scale.devices import ALLOW_CPU_FLAG

if TYPE_CHECKING:
    from trt_export.scale.executors import CandidateExecutor


def add_scale_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scale-out (docs/scale.md)")
    group.add_argument(
        "--devices",
        metavar="IDS",
        help="run candidates in parallel, one per GPU, e.g. 0,1,2,3 (each worker sees only its GPU); "
        f"CPU backends refuse it unless {ALLOW_CPU_FLAG}",
    )
    group.add_argument(
        ALLOW_CPU_FLAG,
        action="store_true",
        help="let --devices run CPU-backend candidates at once although they then share the cores "
        "(their latencies include each other's work; not for gating)",
    )
    group.add_argument(
        "--shard",
        metavar="K/N",
        help="measure only shard K of N (1-based) of the candidates, for CI matrices; combine the "
        "shards' bench.json with 'trt-export merge'",
    )
    group.add_argument(
        "--ray",
        metavar="auto|local|ADDRESS",
        help="run each candidate as a Ray task (one GPU each; on CPU backends a whole node each): "
        "auto = the running cluster (RAY_ADDRESS or 'ray start --head' here), local = start one "
        "here, or HOST:PORT / ray://HOST:PORT (needs the 'ray' extra)",
    )


def scale_from_args(args: argparse.Namespace, backend: str, threads_given: bool) -> tuple[Any, Any]:
    """(shard or None, executor or None) for ``bench``; may lower the default --threads."""
    from trt_export.infer.backend_names import CPU_BACKENDS

    shard = None
    if args.shard is not None:
        from trt_export.scale.shards import parse_shard

        shard = parse_shard(args.shard)
        if args.baseline:
            raise TrtExportError(
                "--baseline gates a whole sweep, a shard holds only part of it; merge the shards first "
                "('trt-export merge ... --out DIR'), then 'trt-export gate --baseline B --current DIR/bench.json'"
            )
    if getattr(args, "allow_parallel_cpu_timing", False) and args.devices is None:
        raise TrtExportError(f"{ALLOW_CPU_FLAG} only applies with --devices; add --devices 0,1 (two slots) or drop it")
    if args.devices is not None and args.ray is not None:
        raise TrtExportError("give --devices or --ray, not both: Ray assigns each task its GPU itself")
    executor: CandidateExecutor | None = None
    if args.devices is not None:
        from trt_export.infer.backends import probe_environment
        from trt_export.scale.devices import check_devices, parse_devices
        from trt_export.scale.executors import DeviceExecutor

        devices = parse_devices(args.devices)
        check_devices(devices, backend, probe_environment(), args.allow_parallel_cpu_timing)
        executor = DeviceExecutor(devices, backend)
        if backend in CPU_BACKENDS and not threads_given and len(devices) > 1:
            # lanes share the cores: each gets its share instead of all of them
            args.threads = max(1, (os.cpu_count() or 1) // len(devices))
    elif args.ray is not None:
        from trt_export.scale.ray_executor import RayExecutor

        executor = RayExecutor.connect(args.ray, backend)
    return shard, executor
