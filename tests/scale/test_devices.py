"""bench --devices: parsing, validation against the GPUs, the plan and each lane's environment as
data, the CPU refusal, and a real parallel run of CPU candidates with --allow-parallel-cpu-timing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from fixture_reports import candidate

from trt_export.bench import sweep as bench
from trt_export.bench.sweep import BenchOptions, CandidateRun, SweepContext, parse_shapes, run_bench
from trt_export.errors import EXIT_USAGE, TrtExportError
from trt_export.infer.backends import BackendSettings, EnvironmentProbe
from trt_export.scale.devices import ALLOW_CPU_FLAG, check_devices, parse_devices, plan_devices, visible_devices
from trt_export.scale.executors import DeviceExecutor

TWO_A100 = EnvironmentProbe(
    paddle_version="3.3.1", cuda_compiled=True, gpu_count=2, gpu_names=("NVIDIA A100", "NVIDIA A100")
)
MIXED = EnvironmentProbe(paddle_version="3.3.1", cuda_compiled=True, gpu_count=2, gpu_names=("NVIDIA A100", "Tesla T4"))
CPU_BUILD = EnvironmentProbe(paddle_version="3.3.1", onednn_compiled=True)


def test_parse_devices() -> None:
    assert parse_devices("0,1,2,3") == (0, 1, 2, 3)
    assert parse_devices(" 2 , 0") == (2, 0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "comma-separated GPU ids"),
        ("0,,1", "comma-separated GPU ids"),
        ("a", "comma-separated GPU ids"),
        ("-1", "comma-separated GPU ids"),
        ("1.5", "comma-separated GPU ids"),
        ("0,1,0", "names GPU 0 more than once"),
    ],
)
def test_parse_devices_refuses(text: str, message: str) -> None:
    with pytest.raises(TrtExportError, match=message) as err:
        parse_devices(text)
    assert err.value.exit_code == EXIT_USAGE


def test_devices_are_checked_against_the_gpus() -> None:
    check_devices((0, 1), "trt-fp16", TWO_A100, allow_parallel_cpu=False)
    with pytest.raises(
        TrtExportError, match=r"--devices names GPU 2, but Paddle sees 2 GPU\(s\) here \(ids 0-1\)"
    ) as err:
        check_devices((0, 2), "trt-fp16", TWO_A100, allow_parallel_cpu=False)
    assert err.value.exit_code == EXIT_USAGE and "\n" not in str(err.value)
    with pytest.raises(TrtExportError, match=r"Paddle sees no GPU here \(a CPU build of Paddle\)"):
        check_devices((0,), "paddle-gpu", CPU_BUILD, allow_parallel_cpu=False)
    with pytest.raises(TrtExportError, match=r"mixes GPU models \(NVIDIA A100, Tesla T4\)"):
        check_devices((0, 1), "trt-fp32", MIXED, allow_parallel_cpu=False)


def test_cpu_backends_refuse_parallel_timing_unless_allowed() -> None:
    with pytest.raises(TrtExportError) as err:
        check_devices((0, 1), "paddle-onednn", CPU_BUILD, allow_parallel_cpu=False)
    text = str(err.value)
    assert "share cores" in text and ALLOW_CPU_FLAG in text and "\n" not in text
    check_devices((0, 1), "paddle-onednn", CPU_BUILD, allow_parallel_cpu=True)  # slots, not GPUs: no GPU needed
    check_devices((0,), "paddle-cpu", CPU_BUILD, allow_parallel_cpu=False)  # one at a time is not parallel


def test_plan_spreads_candidates_deterministically() -> None:
    labels = [s.label for s in parse_shapes(["[256,256]", "[512,512]", "[768,768]", "[1024,1024]"])]
    plan = plan_devices(labels, (0, 1))
    assert plan == {0: ["1x3x1024x1024"], 1: ["1x3x256x256", "1x3x512x512", "1x3x768x768"]}
    assert plan_devices(list(reversed(labels)), (0, 1))[0] == ["1x3x1024x1024"]  # not order-dependent
    three = plan_devices(labels, (3, 1, 2))
    assert sorted(label for part in three.values() for label in part) == sorted(labels)
    assert list(three) == [3, 1, 2]


def test_visible_devices_counts_within_the_parents_mask() -> None:
    assert visible_devices(1, {}) == "1"
    assert visible_devices(1, {"CUDA_VISIBLE_DEVICES": "2,3"}) == "3"
    assert visible_devices(0, {"CUDA_VISIBLE_DEVICES": "GPU-5f1e,GPU-aa02"}) == "GPU-5f1e"
    with pytest.raises(TrtExportError, match="shows only 2"):
        visible_devices(2, {"CUDA_VISIBLE_DEVICES": "2,3"})


def test_each_gpu_lane_sees_only_its_device(monkeypatch, tmp_path: Path) -> None:
    """The lanes' worker pools get CUDA_VISIBLE_DEVICES = their GPU and the predictor uses device 0."""
    seen: dict[str, tuple[str | None, int, str]] = {}
    lock = threading.Lock()

    def fake_run_candidate(pool, source, shape, options, settings, cache_dir, environment, idle_rss, measured=False):
        with lock:
            seen[shape.label] = (
                pool.env.get("CUDA_VISIBLE_DEVICES"),
                settings.device_id,
                threading.current_thread().name,
            )
        return CandidateRun(candidate(list(shape.nchw), label=shape.label), settings, None, "classifier")

    monkeypatch.setattr(bench, "run_candidate", fake_run_candidate)
    shapes = parse_shapes(["[256,256]", "[512,512]", "[768,768]", "[1024,1024]"])
    pool = bench.WorkerPool(tmp_path, 10.0)
    settings = BackendSettings("trt-fp16", device_id=5)
    context = SweepContext(
        SimpleNamespace(), SimpleNamespace(progress=False), settings, tmp_path, {"paddle_version": "3.3.1"}, 300.0, pool
    )
    executor = DeviceExecutor((0, 1), "trt-fp16", environ={"CUDA_VISIBLE_DEVICES": "4,6"})
    result = executor.run(context, shapes)
    plan = executor.plan(shapes)
    for device, labels in plan.items():
        for label in labels:
            assert seen[label][:2] == ({0: "4", 1: "6"}[device], 0)
            assert result.execution.placements[label].where == f"GPU {device} (CUDA_VISIBLE_DEVICES={'46'[device]})"
    assert len({seen[label][2] for label in plan[0]} | {seen[label][2] for label in plan[1]}) == 2  # one thread per GPU
    assert [c.label for c in result.candidates] == [s.label for s in shapes]
    assert result.execution.executor == "devices" and result.execution.parallel == 2
    assert "CUDA_VISIBLE_DEVICES" not in pool.env  # the sweep's own pool is untouched
    assert f"GPU 0 (CUDA_VISIBLE_DEVICES=4): {', '.join(plan[0])}" in result.notes[-1]  # the report says where


# --- a real parallel run on the CPU -------------------------------------------------------------


@pytest.fixture(scope="module")
def parallel_cpu(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    options = BenchOptions(
        model="trt_export.zoo:tiny_segnet",
        model_kwargs={"width": 4},
        shapes=parse_shapes(["[32,32]", "[48,48]"]),
        settings=BackendSettings("paddle-onednn", cpu_threads=1),
        warmup=1,
        iters=3,
        duration_s=None,
        # the tiny net's exports are shared with test_shards/test_ray_executor (same cache key)
        out_dir=root / "out",
        cache_dir=tmp_path_factory.getbasetemp() / "scale-export-cache",
        progress=False,
        executor=DeviceExecutor((0, 1), "paddle-onednn"),
    )
    return run_bench(options)


def test_parallel_cpu_candidates_all_land_in_one_report(parallel_cpu) -> None:
    report = parallel_cpu
    assert [c.label for c in report.candidates] == ["1x3x32x32", "1x3x48x48"]
    for cand in report.candidates:
        assert cand.status == "ok" and cand.parity.passed, cand.failure
        assert cand.latency_ms.samples == 3 and cand.memory.peak_rss_mb > 0
    assert report.execution.executor == "cpu-parallel" and report.execution.parallel == 2
    assert sorted(p.where for p in report.execution.placements.values()) == ["CPU slot 0", "CPU slot 1"]
    assert all(p.wall_s > 0 for p in report.execution.placements.values())
    assert any("2 at a time on the CPU" in note and "not comparable" in note for note in report.notes)
    assert report.recommendation is not None


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--backend", "paddle-onednn", "--devices", "0,1"], f"pass {ALLOW_CPU_FLAG} to run them in parallel anyway"),
        (["--backend", "paddle-gpu", "--devices", "3"], "--devices names GPU 3, but Paddle sees no GPU here"),
        (["--backend", "paddle-onednn", ALLOW_CPU_FLAG], f"{ALLOW_CPU_FLAG} only applies with --devices"),
    ],
)
def test_cli_refuses_before_sweeping(tmp_path: Path, flags: list[str], message: str, cli) -> None:
    proc = cli(
        "bench",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--shapes",
        "[32,32]",
        *flags,
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()
