"""bench --shard K/N and trt-export merge: the split as data, every refusal, and a real 2-shard run.

The split and the merge checks run on synthetic reports (no Paddle); one module-scoped pair of
real shard runs on a tiny net shows that the merged report holds exactly the full sweep's
candidates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from fixture_cli import run_cli
from fixture_paths import child_env
from fixture_reports import candidate

from trt_export.bench.recommend import recommend_report
from trt_export.bench.report import (
    BenchReport,
    BenchSettings,
    Candidate,
    Memory,
    ModelInfo,
    ParitySummary,
    load_bench_report,
    save_bench_report,
)
from trt_export.bench.scale_fields import ShardInfo
from trt_export.bench.stats import LatencyStats
from trt_export.bench.sweep import parse_shapes
from trt_export.errors import EXIT_USAGE, ReportError, TrtExportError
from trt_export.scale.merge import merge_files
from trt_export.scale.shards import Shard, parse_shard, plan_shards

LABELS = ["1x3x256x256", "1x3x512x512", "1x3x768x768", "1x3x1024x1024", "2x3x256x256", "4x3x512x512"]
CONFIG = {"model_kwargs": None, "model_format": "auto", "seed": 0, "backend_settings": {"backend": "paddle-onednn"}}


def _pixels(label: str) -> int:
    n, _, h, w = map(int, label.split("x"))
    return n * h * w


# --- the split ------------------------------------------------------------------------------------


def test_parse_shard_accepts_k_of_n() -> None:
    assert parse_shard("1/3") == Shard(1, 3)
    assert parse_shard(" 3 / 3 ") == Shard(3, 3)
    assert str(Shard(2, 4)) == "shard 2/4"


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "1-2", "a/b", "", "-1/2"])
def test_parse_shard_refuses_bad_values(text: str) -> None:
    with pytest.raises(TrtExportError) as err:
        parse_shard(text)
    assert err.value.exit_code == EXIT_USAGE and "--shard" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 6])
def test_shards_partition_the_candidates(count: int) -> None:
    parts = plan_shards(LABELS, count)
    assert len(parts) == count and all(parts)
    flat = [label for part in parts for label in part]
    assert sorted(flat) == sorted(LABELS) and len(flat) == len(set(flat))  # every candidate once
    for part in parts:  # each shard keeps sweep order
        assert part == [label for label in LABELS if label in part]


def test_split_does_not_depend_on_the_order_of_shapes() -> None:
    parts = plan_shards(LABELS, 3)
    again = plan_shards(list(reversed(LABELS)), 3)
    assert [sorted(p) for p in parts] == [sorted(p) for p in again]


def test_split_balances_pixels() -> None:
    """Greedy largest-first: no shard exceeds another by more than the largest candidate."""
    loads = [sum(map(_pixels, part)) for part in plan_shards(LABELS, 2)]
    assert abs(loads[0] - loads[1]) <= max(map(_pixels, LABELS))
    assert plan_shards(LABELS, 2)[0][0] != plan_shards(LABELS, 2)[1][0]  # the two largest are apart
    biggest = sorted(LABELS, key=_pixels)[-2:]
    assert not any(set(biggest) <= set(part) for part in plan_shards(LABELS, 2))


def test_split_is_the_same_under_any_hash_seed() -> None:
    code = "from trt_export.scale.shards import plan_shards; import json, sys; print(json.dumps(plan_shards(json.loads(sys.argv[1]), 3)))"
    outputs = set()
    for seed in ("1", "2", "12345"):
        env = child_env(PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(LABELS)], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_more_shards_than_candidates_is_refused() -> None:
    shapes = parse_shapes(["[32,32]", "[64,64]"])
    with pytest.raises(TrtExportError, match=r"2 candidate shape\(s\) cannot fill 3 shards; use at most 2"):
        Shard(3, 3).select(shapes)


# --- merge on synthetic shard reports -------------------------------------------------------------


def _candidate(label: str, median_s: float) -> Candidate:
    n, _, h, w = map(int, label.split("x"))
    lat = LatencyStats.from_samples([median_s * f for f in (0.99, 1.0, 1.0, 1.01)])
    return candidate(
        [n, 3, h, w],
        lat,
        label=label,
        export_s=1.0,
        build_s=0.2,
        memory=Memory(peak_rss_mb=400.0, rss_increase_mb=100.0),
        parity=ParitySummary(True, "paddle-onednn", 1e-6),
    )


def _shard_report(index: int, count: int, labels: list[str] = LABELS, **changes) -> BenchReport:
    mine = plan_shards(labels, count)[index - 1]
    report = BenchReport(
        tool_version="0.1.0",
        created_utc="2026-12-01T08:00:00Z",
        model=ModelInfo("paddle.vision.models:squeezenet1_1", "squeezenet1_1", "classifier"),
        backend="paddle-onednn",
        settings=BenchSettings(warmup=1, iters=5, duration_s=None, threads=2),
        environment={"paddle_version": "3.3.1", "gpu_name": None, "cpu_model": "Xeon", "cpu_count": 2},
        idle_rss_mb=300.0,
        # per-pixel cost rises with size, so the smallest input has the most MP/s
        candidates=[_candidate(label, _pixels(label) ** 1.2 / 2e6) for label in mine],
        shard=ShardInfo(index, count, list(labels), dict(CONFIG)),
    )
    report = replace(report, **changes)
    recommend_report(report)
    return report


def _write(tmp_path: Path, reports: list[BenchReport]) -> list[Path]:
    paths = []
    for i, report in enumerate(reports):
        paths.append(save_bench_report(report, tmp_path / f"shard{i}" / "bench.json"))
    return paths


def test_merge_combines_every_shard_and_recommends_over_all(tmp_path: Path) -> None:
    paths = _write(tmp_path, [_shard_report(2, 3), _shard_report(3, 3), _shard_report(1, 3)])
    merged = merge_files([paths[0], paths[1].parent, paths[2]], tmp_path / "merged")  # a dir means its bench.json
    assert [c.label for c in merged.candidates] == LABELS  # sweep order, each once
    assert merged.shard is None and merged.execution.executor == "shards" and merged.execution.parallel == 3
    assert {p.where for p in merged.execution.placements.values()} == {"shard 1/3", "shard 2/3", "shard 3/3"}
    best = max(merged.candidates, key=lambda c: c.throughput.megapixels_per_s)
    assert merged.recommendation.label == best.label == "1x3x256x256"
    assert any("merged from shard 1/3" in note for note in merged.notes)
    on_disk = load_bench_report(tmp_path / "merged" / "bench.json")
    assert on_disk.to_dict() == merged.to_dict()
    for name in ("bench.csv", "bench.md", "latency.png", "throughput.png", "memory.png"):
        assert (tmp_path / "merged" / name).is_file(), name


def _refused(tmp_path: Path, reports: list[BenchReport], match: str, **kwargs) -> None:
    paths = _write(tmp_path, reports)
    with pytest.raises(ReportError, match=match) as err:
        merge_files(paths, tmp_path / "merged", **kwargs)
    assert err.value.exit_code == EXIT_USAGE and "\n" not in str(err.value)
    assert not (tmp_path / "merged" / "bench.json").exists()  # nothing half-written


def test_merge_refuses_a_missing_shard(tmp_path: Path) -> None:
    missing = ", ".join(plan_shards(LABELS, 3)[1])
    _refused(
        tmp_path,
        [_shard_report(1, 3), _shard_report(3, 3)],
        rf"shard 2/3 is missing \(candidates {missing}\); pass the bench.json of all 3",
    )


def test_merge_refuses_overlapping_shards(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        [_shard_report(1, 2), _shard_report(1, 2), _shard_report(2, 2)],
        r"shard 1/2 is given twice .* the shards overlap",
    )


def test_merge_refuses_a_candidate_in_two_shards(tmp_path: Path) -> None:
    one, two = _shard_report(1, 2), _shard_report(2, 2)
    two.candidates.append(one.candidates[0])
    _refused(tmp_path, [one, two], rf"candidate {one.candidates[0].label} is in .* and in .*: the shards overlap")


def test_merge_refuses_shards_of_different_models(tmp_path: Path) -> None:
    other = ModelInfo("paddle.vision.models:resnet18", "resnet18", "classifier")
    _refused(
        tmp_path, [_shard_report(1, 2), _shard_report(2, 2, model=other)], r"differ in model .* not shards of one sweep"
    )


def test_merge_refuses_shards_of_different_settings(tmp_path: Path) -> None:
    slower = BenchSettings(warmup=1, iters=50, duration_s=None, threads=2)
    _refused(tmp_path, [_shard_report(1, 2), _shard_report(2, 2, settings=slower)], r"differ in settings")
    other = _shard_report(2, 2)
    other.shard = ShardInfo(2, 2, list(LABELS), {**CONFIG, "seed": 7})
    _refused(tmp_path / "seed", [_shard_report(1, 2), other], r"differ in run setting seed \(0 vs 7\)")
    _refused(
        tmp_path / "backend", [_shard_report(1, 2), _shard_report(2, 2, backend="paddle-cpu")], r"differ in backend"
    )


def test_merge_refuses_different_environments_unless_allowed(tmp_path: Path) -> None:
    env = {"paddle_version": "3.3.1", "gpu_name": None, "cpu_model": "EPYC", "cpu_count": 2}
    reports = [_shard_report(1, 2), _shard_report(2, 2, environment=env)]
    _refused(
        tmp_path, reports, r"measured in different environments \(cpu_model 'Xeon' vs 'EPYC'\).*--allow-env-mismatch"
    )
    merged = merge_files(
        _write(tmp_path / "allowed", reports), tmp_path / "allowed" / "merged", allow_env_mismatch=True
    )
    assert any("different environments" in note and "--allow-env-mismatch" in note for note in merged.notes)


def test_merge_refuses_shards_of_other_sweeps_or_shardings(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        [_shard_report(1, 2), _shard_report(2, 3)],
        r"shard 1/2 but .* shard 2/3: they come from different shardings",
    )
    fewer = LABELS[:4]
    _refused(tmp_path / "b", [_shard_report(1, 2), _shard_report(2, 2, labels=fewer)], r"shards of different sweeps")


def test_merge_refuses_a_report_that_is_no_shard(tmp_path: Path) -> None:
    plain = _shard_report(1, 1)
    plain.shard = None
    _refused(tmp_path, [_shard_report(1, 2), plain], r"is not a shard report \(no 'shard' field\)")


def test_merge_refuses_a_shard_holding_other_candidates(tmp_path: Path) -> None:
    one, two = _shard_report(1, 2), _shard_report(2, 2)
    one.candidates, two.candidates = two.candidates, one.candidates
    _refused(tmp_path, [one, two], r"claims shard 1/2 but holds candidates")


def test_merge_never_overwrites_an_input(tmp_path: Path) -> None:
    paths = _write(tmp_path, [_shard_report(1, 2), _shard_report(2, 2)])
    before = paths[0].read_bytes()
    with pytest.raises(TrtExportError, match=r"holds the shard report .* give another directory"):
        merge_files(paths, paths[0].parent)
    assert paths[0].read_bytes() == before
    with pytest.raises(TrtExportError, match="is given twice"):
        merge_files([paths[0], paths[0].parent, paths[1]], tmp_path / "m")


def test_merge_cli_refusal_is_one_line_exit_2(tmp_path: Path, cli) -> None:
    paths = _write(tmp_path, [_shard_report(1, 3), _shard_report(2, 3)])
    proc = cli("merge", *map(str, paths), "--out", str(tmp_path / "m"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("trt-export: error: shard 3/3 is missing"), (
        proc.stderr
    )
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("other model", "differ in model"),
        ("other settings", "differ in settings"),
        ("overlap", "shard 1/2 is given twice"),
        ("missing", "shard 2/2 is missing"),
    ],
)
def test_merge_command_refuses_the_bad_inputs(tmp_path: Path, cli, case: str, message: str) -> None:
    reports = {
        "other model": [_shard_report(1, 2), _shard_report(2, 2, model=ModelInfo("m:x", "x", "generic"))],
        "other settings": [
            _shard_report(1, 2),
            _shard_report(2, 2, settings=BenchSettings(warmup=9, iters=5, duration_s=None, threads=2)),
        ],
        "overlap": [_shard_report(1, 2), _shard_report(1, 2), _shard_report(2, 2)],
        "missing": [_shard_report(1, 2)],
    }[case]
    code, _, err = cli("merge", *map(str, _write(tmp_path, reports)), "--out", str(tmp_path / "m"))
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "m").exists()


# --- real shards of a tiny net -------------------------------------------------------------------

MODEL_ARGS = [
    "--model",
    "trt_export.zoo:tiny_segnet",
    "--model-kwargs",
    '{"width": 4}',
    "--backend",
    "paddle-onednn",
    "--shapes",
    "[32,32]",
    "[48,48]",
    "--iters",
    "3",
    "--warmup",
    "1",
    "--no-progress",
]


@pytest.fixture(scope="module")
def shard_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    cache = tmp_path_factory.getbasetemp() / "scale-export-cache"  # shared with test_devices/test_ray_executor
    runs = [
        run_cli(
            "bench", *MODEL_ARGS, "--cache-dir", str(cache), "--shard", f"{k}/2", "--out", str(root / f"s{k}"), cwd=root
        )
        for k in (1, 2)
    ]
    merged = run_cli(
        "merge", str(root / "s1" / "bench.json"), str(root / "s2"), "--out", str(root / "merged"), cwd=root
    )
    return root, runs, merged


def test_two_real_shards_merge_into_the_full_sweep(shard_runs) -> None:
    root, runs, merged = shard_runs
    for k, proc in enumerate(runs, start=1):
        assert proc.returncode == 0, proc.stderr
        assert f"shard {k}/2" in proc.stdout
    assert merged.returncode == 0, merged.stderr
    full = [shape.label for shape in parse_shapes(["[32,32]", "[48,48]"])]
    shards = [load_bench_report(root / f"s{k}" / "bench.json") for k in (1, 2)]
    assert [len(s.candidates) for s in shards] == [1, 1]
    assert all(s.shard.candidates == full and s.shard.count == 2 for s in shards)
    report = load_bench_report(root / "merged" / "bench.json")
    assert [c.label for c in report.candidates] == full
    assert all(c.status == "ok" and c.parity.passed for c in report.candidates)
    assert report.recommendation is not None and report.recommendation.label in full
    assert report.shard is None and report.execution.executor == "shards"
    assert sorted(p.name for p in (root / "merged" / "logs").iterdir()) == ["shard-1-of-2", "shard-2-of-2"]


def test_shard_with_baseline_is_refused_before_sweeping(tmp_path: Path, cli) -> None:
    base = save_bench_report(_shard_report(1, 1), tmp_path / "base" / "bench.json")
    proc = cli(
        "bench", *MODEL_ARGS, "--shard", "1/2", "--baseline", str(base), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "merge the shards first" in proc.stderr
    assert not (tmp_path / "o").exists()
