"""``trt-export merge``: the bench.json of every shard of one sweep -> one report.

A merged report is only as good as the claim that its shards are parts of one sweep, so merge
refuses, in one line naming the files and the fix, anything else: a report that is no shard,
shards of different models, backends, settings, tool versions or environments, shards of
different sweeps (candidate lists) or shardings (N), the same shard twice or candidates in two
shards, and a missing shard. The recommendation is then recomputed over all candidates, and the
usual files are written by bench's own writers.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from trt_export.bench.report import BenchReport, load_bench_report
from trt_export.bench.scale_fields import ExecutionInfo, Placement
from trt_export.errors import ReportError, TrtExportError
from trt_export.scale.shards import plan_shards


def resolve_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Each argument as a bench.json path (a directory means the bench.json in it); no repeats."""
    resolved: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and (path / "bench.json").is_file():
            path = path / "bench.json"
        if any(path.resolve() == seen.resolve() for seen in resolved):
            raise TrtExportError(f"{raw} is given twice; pass each shard's bench.json once")
        resolved.append(path)
    return resolved


def merge_reports(reports: Sequence[tuple[Path, BenchReport]], allow_env_mismatch: bool = False) -> BenchReport:
    """One report from shard reports ``(path, report)``; ReportError when they are not one sweep."""
    from trt_export.bench.comparable import fingerprint_diffs
    from trt_export.bench.recommend import recommend_report
    from trt_export.infer.backend_names import is_cpu_backend

    if not reports:
        raise TrtExportError("give the bench.json of every shard to merge")
    for path, report in reports:
        if report.shard is None:
            raise ReportError(
                f"{path} is not a shard report (no 'shard' field); merge takes the bench.json of runs of 'bench --shard K/N'"
            )
    first_path, first = reports[0]
    shard0 = first.shard
    assert shard0 is not None
    notes: list[str] = []
    for path, report in reports[1:]:
        shard = report.shard
        assert shard is not None
        if shard.count != shard0.count:
            raise ReportError(
                f"{first_path} is shard {shard0.label} but {path} is shard {shard.label}: they come from different "
                "shardings; merge the shards of one --shard K/N matrix"
            )
        if shard.candidates != shard0.candidates:
            raise ReportError(
                f"{first_path} and {path} are shards of different sweeps (candidates {', '.join(shard0.candidates)} vs "
                f"{', '.join(shard.candidates)}); give every shard the same --shapes/--batches"
            )
        _same(first_path, path, "model", first.model, report.model)
        _same(first_path, path, "backend", first.backend, report.backend)
        _same(first_path, path, "settings", first.settings, report.settings)
        _same(first_path, path, "trt-export version", first.tool_version, report.tool_version)
        for key in sorted(set(shard0.config) | set(shard.config)):
            _same(first_path, path, f"run setting {key}", shard0.config.get(key), shard.config.get(key))
        # CPU backends time on the CPU, so its fields matter there as the GPU's do on GPU (the gate's rule).
        diffs = fingerprint_diffs(first.environment, report.environment, is_cpu_backend(first.backend))
        if diffs:
            if not allow_env_mismatch:
                raise ReportError(
                    f"{first_path} and {path} were measured in different environments ({', '.join(diffs)}); run "
                    "every shard on the same kind of machine, or pass --allow-env-mismatch"
                )
            notes.append(
                f"shards measured in different environments ({path.name}: {', '.join(diffs)}); merged anyway (--allow-env-mismatch)"
            )

    by_index: dict[int, Path] = {}
    owner: dict[str, Path] = {}
    for path, report in reports:
        shard = report.shard
        assert shard is not None
        if shard.index in by_index:
            raise ReportError(
                f"shard {shard.label} is given twice ({by_index[shard.index]} and {path}): the shards overlap; "
                "pass each shard once"
            )
        by_index[shard.index] = path
        for cand in report.candidates:
            if cand.label in owner:
                raise ReportError(
                    f"candidate {cand.label} is in {owner[cand.label]} and in {path}: the shards overlap; "
                    "pass each shard once"
                )
            owner[cand.label] = path
    plan = plan_shards(shard0.candidates, shard0.count)
    missing = [index for index in range(1, shard0.count + 1) if index not in by_index]
    if missing:
        labels = [label for index in missing for label in plan[index - 1]]
        which = ", ".join(f"{index}/{shard0.count}" for index in missing)
        raise ReportError(
            f"shard {which} is missing (candidates {', '.join(labels)}); pass the bench.json of all "
            f"{shard0.count} shards"
        )
    for path, report in reports:
        shard = report.shard
        assert shard is not None
        held = [cand.label for cand in report.candidates]
        if sorted(held) != sorted(plan[shard.index - 1]):
            raise ReportError(
                f"{path} claims shard {shard.label} but holds candidates {', '.join(held) or 'none'}, not "
                f"{', '.join(plan[shard.index - 1])}; re-run that shard with this trt-export"
            )

    candidates = {cand.label: cand for _, report in reports for cand in report.candidates}
    placements: dict[str, Placement] = {}
    for _path, report in reports:
        assert report.shard is not None
        inner = report.execution.placements if report.execution is not None else {}
        for cand in report.candidates:
            where = f"shard {report.shard.label}" + (f", {inner[cand.label].where}" if cand.label in inner else "")
            old = inner.get(cand.label)
            placements[cand.label] = Placement(where, old.wall_s if old else None, old.overhead_s if old else None)
    for _, report in sorted(reports, key=lambda item: item[1].shard.index if item[1].shard else 0):
        for note in report.notes:
            if note not in notes:
                notes.append(note)
    order = sorted(reports, key=lambda item: item[1].shard.index if item[1].shard else 0)
    notes.append("merged from " + ", ".join(f"shard {r.shard.label} ({p})" for p, r in order if r.shard is not None))
    merged = BenchReport(
        tool_version=first.tool_version,
        created_utc=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        model=first.model,
        backend=first.backend,
        settings=first.settings,
        environment=dict(first.environment),
        idle_rss_mb=first.idle_rss_mb,
        candidates=[candidates[label] for label in shard0.candidates],
        notes=notes,
        execution=ExecutionInfo(
            executor="shards",
            parallel=shard0.count,
            placements={label: placements[label] for label in shard0.candidates},
            shards=[f"{r.shard.label} {p}" for p, r in order if r.shard is not None],
        ),
    )
    recommend_report(merged)
    return merged


def _same(a_path: Path, b_path: Path, what: str, a: object, b: object) -> None:
    if a != b:
        raise ReportError(
            f"{a_path} and {b_path} differ in {what} ({_short(a)} vs {_short(b)}): they are not shards of one "
            "sweep; run every shard with the same command line and --shard K/N"
        )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def merge_files(paths: Sequence[str | Path], out_dir: Path, allow_env_mismatch: bool = False) -> BenchReport:
    """Load, merge and write ``out_dir``'s bench.json/.csv/.md/plots; each shard's logs/ under logs/shard-K-of-N."""
    from trt_export.bench.sweep import write_outputs

    inputs = resolve_inputs(paths)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TrtExportError(f"--out {str(out_dir)!r} is a file; give a directory")
    for path in inputs:
        if path.parent.resolve() == out_dir.resolve():
            raise TrtExportError(
                f"--out {out_dir} holds the shard report {path}, which the merged bench.json would replace; "
                "give another directory"
            )
    reports = [(path, load_bench_report(path)) for path in inputs]
    merged = merge_reports(reports, allow_env_mismatch=allow_env_mismatch)
    scratch = Path(tempfile.mkdtemp(prefix="trt-export-merge-"))
    try:
        logs = scratch / "logs"
        logs.mkdir()
        for path, report in reports:
            shard_logs = path.parent / "logs"
            if report.shard is not None and shard_logs.is_dir():
                shutil.copytree(shard_logs, logs / f"shard-{report.shard.index}-of-{report.shard.count}")
        write_outputs(merged, out_dir, logs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return merged
