"""Scale-out odds and ends that need no sweep: flag conflicts, Ray missing, the optional bench.json
fields (old files load, bad values are one-line refusals)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from fixture_reports import example_report as make_report

from trt_export.bench.report import load_bench_report, save_bench_report
from trt_export.bench.scale_fields import ExecutionInfo, Placement, ShardInfo
from trt_export.errors import ReportError

BENCH = ["bench", "--model", "trt_export.zoo:tiny_segnet", "--shapes", "[32,32]", "--backend", "paddle-onednn"]


def _one_line_error(cli, argv: list[str]) -> str:
    code, _, err = cli(*argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("trt-export: error: "), err
    return err


def test_ray_not_installed_names_the_extra(monkeypatch, cli, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    err = _one_line_error(cli, [*BENCH, "--ray", "auto", "--out", str(tmp_path / "o")])
    assert "pip install 'trt-export[ray]'" in err
    assert not (tmp_path / "o").exists()


def test_devices_and_ray_together_are_refused(cli, tmp_path: Path) -> None:
    err = _one_line_error(cli, [*BENCH, "--devices", "0", "--ray", "auto", "--out", str(tmp_path / "o")])
    assert "give --devices or --ray, not both" in err


def test_bad_ray_address_is_refused(cli, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed")
    err = _one_line_error(cli, [*BENCH, "--ray", "localhost", "--out", str(tmp_path / "o")])
    assert "--ray takes auto, local, HOST:PORT or ray://HOST:PORT" in err


def test_reports_without_the_optional_fields_still_load(tmp_path: Path) -> None:
    data = make_report().to_dict()
    assert "shard" not in data and "execution" not in data  # a plain sweep's file is unchanged
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    report = load_bench_report(path)
    assert report.shard is None and report.execution is None


def test_shard_and_execution_round_trip(tmp_path: Path) -> None:
    report = make_report()
    report.shard = ShardInfo(2, 3, ["1x3x256x256", "1x3x1024x1024"], {"seed": 0})
    report.execution = ExecutionInfo("devices", 2, {"1x3x256x256": Placement("GPU 1", 3.5)})
    loaded = load_bench_report(save_bench_report(report, tmp_path / "bench.json"))
    assert loaded.shard == report.shard and loaded.execution == report.execution


@pytest.mark.parametrize(
    "shard, message",
    [
        ({"index": "two", "count": 3, "candidates": []}, r"shard has a bad value at \$\.shard\.index: .*'two'"),
        (
            {"index": 4, "count": 3, "candidates": []},
            r"shard has a bad value at \$\.shard: shard index must be 1\.\.count, got 4/3",
        ),
        ({"count": 3, "candidates": []}, r"shard is missing required key 'index' \(\$\.shard\.index\)"),
        ([1, 3], r"shard has a bad value at \$\.shard: must be an object .*got list"),
    ],
)
def test_bad_shard_fields_are_refused_in_one_line(tmp_path: Path, shard, message: str) -> None:
    data = make_report().to_dict()
    data["shard"] = shard
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=message) as err:
        load_bench_report(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_ray_auto_follows_an_unreachable_ray_address(monkeypatch, cli, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="ray is not installed")
    if ray.is_initialized():
        pytest.skip("a Ray connection of another test is open")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    err = _one_line_error(cli, [*BENCH, "--ray", "auto", "--out", str(tmp_path / "o")])
    assert f"Ray at 127.0.0.1:{port} is unreachable" in err and not (tmp_path / "o").exists()


def test_scene_objective_with_an_executor_is_refused(cli, tmp_path: Path) -> None:
    err = _one_line_error(
        cli, [*BENCH, "--scene", "1000x1000", "--overlap", "8", "--devices", "0", "--out", str(tmp_path / "o")]
    )
    assert "run candidates one at a time; drop --devices/--ray" in err and not (tmp_path / "o").exists()
