"""The figures of docs/scale.md, measured in one run on this machine (CPU, tiny net).

    PYTHONPATH=. .venv/bin/python benchmarks/scale_figures.py --out /tmp/scale-figures

1. a full sequential sweep vs the same sweep as 2 shards merged: same candidates, same pick rule;
2. the same sweep as Ray tasks on a local instance: wall time against the sequential sweep, and
   the per-candidate overhead the report records;
3. the same sweep 2 at a time on the CPU (--allow-parallel-cpu-timing): how much each latency
   grows when candidates share the cores (why it is refused by default).

Exports are made once beforehand (shared cache), so every figure is about measuring, not exporting.
Prints a JSON summary; the numbers depend on the machine and on its load at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

from trt_export.bench.report import BenchReport
from trt_export.bench.sweep import BenchOptions, parse_shapes, run_bench
from trt_export.infer.backends import BackendSettings
from trt_export.scale.executors import DeviceExecutor
from trt_export.scale.merge import merge_reports
from trt_export.scale.shards import Shard

SHAPES = ["[32,32]", "[48,48]", "[64,64]", "[96,96]"]


def _timed(options: BenchOptions) -> tuple[BenchReport, float]:
    start = time.perf_counter()
    report = run_bench(options)
    return report, time.perf_counter() - start


def _p50(report: BenchReport) -> dict[str, float]:
    return {c.label: round(c.latency_ms.median, 3) for c in report.candidates if c.latency_ms is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    root = args.out
    base = BenchOptions(
        model="trt_export.zoo:tiny_segnet",
        model_kwargs={"width": 8},
        shapes=parse_shapes(SHAPES),
        settings=BackendSettings("paddle-onednn", cpu_threads=1),
        warmup=3,
        iters=args.iters,
        duration_s=None,
        out_dir=root / "warm",
        cache_dir=root / "cache",
        progress=False,
    )
    run_bench(replace(base, iters=1, warmup=0))  # fill the export cache
    figures: dict[str, object] = {"load_average_at_start": os.getloadavg()}

    full, full_s = _timed(replace(base, out_dir=root / "full"))
    shards = []
    shard_s = []
    for k in (1, 2):
        report, seconds = _timed(replace(base, out_dir=root / f"shard{k}", shard=Shard(k, 2)))
        shards.append((root / f"shard{k}" / "bench.json", report))
        shard_s.append(seconds)
    merged = merge_reports(shards)
    figures["shards"] = {
        "full_candidates": [c.label for c in full.candidates],
        "merged_candidates": [c.label for c in merged.candidates],
        "equal": [c.label for c in full.candidates] == [c.label for c in merged.candidates],
        "shard_candidates": [[c.label for c in r.candidates] for _, r in shards],
        "full_s": round(full_s, 1),
        "shard_s": [round(s, 1) for s in shard_s],
        "full_pick": full.recommendation.label if full.recommendation else None,
        "merged_pick": merged.recommendation.label if merged.recommendation else None,
        "full_p50_ms": _p50(full),
        "merged_p50_ms": _p50(merged),
    }

    parallel, parallel_s = _timed(
        replace(base, out_dir=root / "parallel", executor=DeviceExecutor((0, 1), "paddle-onednn"))
    )
    seq, par = _p50(full), _p50(parallel)
    figures["cpu_parallel"] = {
        "sequential_s": round(full_s, 1),
        "parallel_s": round(parallel_s, 1),
        "p50_ratio_parallel_over_sequential": {k: round(par[k] / seq[k], 2) for k in seq if k in par},
    }

    if not args.no_ray:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        from trt_export.scale.ray_executor import RayExecutor

        start = time.perf_counter()
        ray.init(
            num_cpus=os.cpu_count() or 1, object_store_memory=128 << 20, include_dashboard=False, log_to_driver=False
        )
        init_s = time.perf_counter() - start
        try:
            executor = RayExecutor.connect("auto", "paddle-onednn")
            on_ray, ray_s = _timed(replace(base, out_dir=root / "ray", executor=executor))
            placements = on_ray.execution.placements.values()
            figures["ray"] = {
                "init_s": round(init_s, 1),
                "sweep_s": round(ray_s, 1),
                "sequential_s": round(full_s, 1),
                "extra_per_candidate_s": round((ray_s - full_s) / len(SHAPES), 2),
                "recorded_overhead_s_mean": round(
                    statistics.mean(p.overhead_s for p in placements if p.overhead_s is not None), 2
                ),
                "candidate_wall_s": {label: p.wall_s for label, p in on_ray.execution.placements.items()},
                "all_ok": all(c.ok for c in on_ray.candidates),
            }
        finally:
            ray.shutdown()
    figures["load_average_at_end"] = os.getloadavg()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
