"""The ONNX route: session plans as data, paddle2onnx conversion and its cache, the ONNX Runtime
runner in verify, Polygraphy-compatible data checked by Polygraphy itself, FLOPs against a hand
count, roofs, and a sweep over a Paddle and an ONNX backend side by side.

Conversions cost a child process that imports Paddle (~5 s), sweeps several workers, so both are
module-scoped and shared between assertions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_cli import run_cli

from trt_export.bench.flops import FlopCount, count_flops, op_flops
from trt_export.bench.roof import GPU_PEAK_TFLOPS, gpu_peak
from trt_export.errors import BackendUnavailable, TrtExportError
from trt_export.export.onnx_convert import ensure_onnx, unsupported_ops
from trt_export.export.program_ops import OpInfo
from trt_export.infer.backends import (
    ALL_BACKENDS,
    ONNX_BACKENDS,
    BackendSettings,
    EnvironmentProbe,
    backend_availability,
    decide_availability,
    plan_config,
)
from trt_export.infer.onnx_plan import SPIN_CONFIG, check_providers, plan_session

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("paddle2onnx")
pytest.importorskip("polygraphy")

POLYGRAPHY = shutil.which("polygraphy") or str(Path(sys.executable).with_name("polygraphy"))


# --------------------------------------------------------------------------- plans as data


def test_every_onnx_backend_plans_providers_threads_and_no_spinning():
    for backend in ONNX_BACKENDS:
        plan = plan_session(BackendSettings(backend, cpu_threads=3), engine_cache_dir="/c")
        assert plan.intra_op_threads == 3 and plan.inter_op_threads == 1
        assert ("session.intra_op.allow_spinning", "0") in plan.config_entries
        assert plan.config_entries == SPIN_CONFIG
        assert plan.providers[-1].name == "CPUExecutionProvider"
    assert [p.name for p in plan_session(BackendSettings("onnx-cpu")).providers] == ["CPUExecutionProvider"]
    assert [p.name for p in plan_session(BackendSettings("onnx-cuda", device_id=1)).providers] == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert plan_session(BackendSettings("onnx-cuda", device_id=1)).providers[0].options == {"device_id": "1"}
    fp16 = plan_session(BackendSettings("onnx-trt-fp16", trt_workspace_bytes=1 << 28), engine_cache_dir="/c")
    fp32 = plan_session(BackendSettings("onnx-trt-fp32"), engine_cache_dir="/c")
    assert [p.name for p in fp16.providers] == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    trt16, trt32 = fp16.providers[0].options, fp32.providers[0].options
    assert trt16["trt_fp16_enable"] == "True" and trt32["trt_fp16_enable"] == "False"
    assert trt16["trt_max_workspace_size"] == str(1 << 28)
    # fp16 and fp32 engines never share a cache dir.
    assert trt16["trt_engine_cache_path"] != trt32["trt_engine_cache_path"]
    assert trt16["trt_engine_cache_enable"] == "True"
    assert "trt_engine_cache_path" not in plan_session(BackendSettings("onnx-trt-fp16")).providers[0].options
    assert "no engine cache" in plan_session(BackendSettings("onnx-trt-fp16")).describe()


def test_onnx_backends_are_registered_and_not_paddle_plans():
    assert set(ONNX_BACKENDS) <= set(ALL_BACKENDS)
    assert not BackendSettings("onnx-cpu").uses_gpu and BackendSettings("onnx-cuda").uses_gpu
    assert BackendSettings("onnx-trt-fp16").is_onnx and not BackendSettings("onnx-trt-fp16").is_trt
    with pytest.raises(TrtExportError, match="ONNX Runtime, not Paddle Inference"):
        plan_config(BackendSettings("onnx-cpu"), "legacy", {"image": (1, 3, 8, 8)}, "3.3.1")
    with pytest.raises(TrtExportError, match="not an ONNX Runtime backend"):
        plan_session(BackendSettings("paddle-cpu"))


def test_a_session_that_fell_back_to_cpu_is_refused():
    plan = plan_session(BackendSettings("onnx-trt-fp16"))
    with pytest.raises(BackendUnavailable, match="did not load TensorrtExecutionProvider"):
        check_providers(plan, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    check_providers(plan, ["TensorrtExecutionProvider", "CPUExecutionProvider"])


def test_onnx_availability_from_the_probe():
    none = EnvironmentProbe()
    assert "trt-export[onnx]" in decide_availability("onnx-cpu", none).reason
    cpu = dataclasses.replace(
        none, paddle2onnx_version="2.1.0", onnxruntime_version="1.32.0", onnxruntime_providers=("CPUExecutionProvider",)
    )
    assert decide_availability("onnx-cpu", cpu).available
    assert "onnxruntime-gpu" in decide_availability("onnx-cuda", cpu).reason
    gpu_ort = dataclasses.replace(
        cpu, onnxruntime_providers=("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    )
    assert "lists no GPU" in decide_availability("onnx-cuda", gpu_ort).reason
    with_gpu = dataclasses.replace(gpu_ort, nvidia_gpu_count=1)
    assert decide_availability("onnx-cuda", with_gpu).available
    assert "libnvinfer" in decide_availability("onnx-trt-fp16", with_gpu).reason
    assert decide_availability(
        "onnx-trt-fp16", dataclasses.replace(with_gpu, libnvinfer="/x/libnvinfer.so.10")
    ).available
    # This machine: onnxruntime (CPU) and paddle2onnx are installed for these tests.
    assert backend_availability("onnx-cpu").available


# --------------------------------------------------------------------------- FLOPs


def test_op_flops_hand_counts():
    conv = OpInfo("pd_op.conv2d", ((1, 3, 16, 16), (8, 3, 3, 3)), ((1, 8, 8, 8),))
    assert op_flops(conv) == 2 * (8 * 8 * 8) * (3 * 3 * 3)
    grouped = OpInfo("pd_op.conv2d", ((2, 8, 8, 8), (8, 4, 3, 3)), ((2, 8, 8, 8),), {"groups": 2})
    assert op_flops(grouped) == 2 * (2 * 8 * 8 * 8) * (4 * 9)
    transposed = OpInfo("pd_op.conv2d_transpose", ((1, 8, 8, 8), (8, 4, 2, 2), None), ((1, 4, 16, 16),))
    assert op_flops(transposed) == 2 * (8 * 8 * 8) * (4 * 2 * 2)
    matmul = OpInfo("pd_op.matmul", ((3, 5, 7), (7, 2)), ((3, 5, 2),))
    assert op_flops(matmul) == 2 * (3 * 5 * 2) * 7
    matmul_t = OpInfo("pd_op.matmul", ((7, 5), (7, 2)), ((5, 2),), {"transpose_x": True})
    assert op_flops(matmul_t) == 2 * 10 * 7
    assert op_flops(OpInfo("pd_op.relu", ((1, 8),), ((1, 8),))) == 0
    assert op_flops(OpInfo("pd_op.conv2d", ((1, 3, 8, 8), None), ((1, 8, 8, 8),))) is None
    count = count_flops([conv, matmul, OpInfo("pd_op.einsum", (), ()), OpInfo("pd_op.batch_norm_", (), ())])
    assert count.flops == op_flops(conv) + op_flops(matmul)
    assert count.by_op == {"conv2d": op_flops(conv), "matmul": op_flops(matmul)}
    assert count.uncounted == ("pd_op.einsum",)
    assert FlopCount.from_dict(json.loads(json.dumps(count.to_dict()))) == count


# Hand count of fixture_models:flops_net at 1x3x16x16 (2 FLOPs per multiply-add):
FLOPS_NET_HAND = (
    2 * (8 * 8 * 8) * (3 * 3 * 3)  # conv 3->8, stride 2: 8x8 outputs, 27 MACs each
    + 2 * (8 * 8 * 8) * (4 * 3 * 3)  # grouped conv, groups 2: 4 input channels per output
    + 2 * (8 * 8 * 8) * (1 * 3 * 3)  # depthwise conv
    + 2 * (8 * 8 * 8) * (4 * 2 * 2)  # transposed conv 8->4, k2 s2: per input element 4*2*2 MACs
    + 2 * 10 * (4 * 16 * 16)  # Linear 1024 -> 10
)


@pytest.fixture(scope="module")
def flops_exports(tmp_path_factory):
    from trt_export.export.exporter import export_model
    from trt_export.model.shapes import parse_fixed_shape
    from trt_export.model.sources import load_source

    root = tmp_path_factory.mktemp("flops")
    return export_model(
        load_source("fixture_models:flops_net"), root / "export", parse_fixed_shape("[16,16]"), model_format="both"
    ).save_dir


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_flops_of_an_exported_program_match_the_hand_count(flops_exports, fmt):
    from trt_export.export.manifest import load_manifest
    from trt_export.export.program_ops import load_program_ops

    model_file, _ = load_manifest(flops_exports).files(fmt)
    count = count_flops(load_program_ops(model_file))
    assert count.flops == FLOPS_NET_HAND
    assert not count.uncounted


# --------------------------------------------------------------------------- conversion


def test_unsupported_ops_uses_legacy_aliases():
    supported = {"elementwise_add", "arg_max", "conv2d", "batch_norm"}
    aliases = {"add": {"elementwise_add"}, "argmax": {"arg_max"}}
    names = [
        "builtin.parameter",
        "pd_op.feed",
        "pd_op.add",
        "pd_op.argmax",
        "pd_op.batch_norm_",
        "pd_op.conv2d",
        "pd_op.inverse",
        "pd_op.fetch",
    ]
    assert unsupported_ops(names, supported, aliases) == ["inverse"]


@pytest.fixture(scope="module")
def segnet(tmp_path_factory):
    """tiny_segnet exported at 32x32 and converted once."""
    from trt_export.export.exporter import export_model
    from trt_export.export.manifest import load_manifest
    from trt_export.model.shapes import parse_fixed_shape
    from trt_export.model.sources import load_source

    root = tmp_path_factory.mktemp("segnet")
    source = load_source("trt_export.zoo:tiny_segnet")
    export_dir = export_model(source, root / "export", parse_fixed_shape("[32,32]"), model_format="legacy").save_dir
    manifest = load_manifest(export_dir)
    first = ensure_onnx(manifest)
    return {"root": root, "export": Path(export_dir), "manifest": manifest, "first": first}


def test_conversion_is_cached_beside_the_export(segnet):
    first = segnet["first"]
    assert first.path == segnet["export"] / "onnx" / "model.onnx" and first.path.is_file()
    assert not first.cached and first.convert_s is not None
    assert first.input_names == ("image",) and len(first.output_names) == 1
    again = ensure_onnx(segnet["manifest"])
    assert again.cached and again.path == first.path and again.output_names == first.output_names
    stamp = json.loads((first.path.parent / "conversion.json").read_text())
    assert stamp["params_sha256"] == segnet["manifest"].formats["legacy"].params_sha256
    assert stamp["paddle2onnx"] == "2.1.0" and stamp["opset"] >= 13
    # Only the ONNX dir is added: the export's own files are untouched and still verify.
    segnet["manifest"].check_files("legacy")
    assert not list(first.path.parent.glob("*.partial")) and not list(first.path.parent.glob(".convert-*"))


# --------------------------------------------------------------------------- verify + Polygraphy


@pytest.fixture(scope="module")
def verified(segnet):
    out = segnet["root"] / "poly"
    report = segnet["root"] / "verify.json"
    proc = run_cli(
        "verify",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--exported",
        str(segnet["export"]),
        "--backend",
        "onnx-cpu",
        "--polygraphy-data",
        str(out),
        "--report",
        str(report),
        cwd=segnet["root"],
    )
    return proc, out, report


def test_verify_on_onnx_cpu_passes_and_writes_polygraphy_data(verified):
    proc, out, report = verified
    assert proc.returncode == 0, proc.stderr
    assert "verify: PASSED" in proc.stdout and "polygraphy run" in proc.stdout
    data = json.loads(report.read_text())
    assert data["backend"] == "onnx-cpu" and data["passed"] is True
    assert data["comparison"]["max_abs_error"] < 1e-4 and data["comparison"]["failed_outputs"] == []
    assert Path(data["polygraphy"]["inputs"]) == out / "inputs.json"
    assert (out / "reference.json").is_file()


def test_polygraphy_reads_our_files_and_passes_against_our_reference(verified, segnet):
    proc, out, report = verified
    command = json.loads(report.read_text())["polygraphy"]["command"].split()
    assert command[:3] == ["polygraphy", "run", str(segnet["first"].path)]
    run = subprocess.run([POLYGRAPHY, *command[1:]], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    text = run.stdout + run.stderr
    assert "PASSED" in text and "trt-export-dygraph" in text


def test_polygraphy_fails_against_a_wrong_reference(verified, segnet, tmp_path):
    """The comparison is real: a perturbed reference written through the same API fails."""
    from polygraphy.comparator import RunResults

    _, out, _ = verified
    results = RunResults.load(str(out / "reference.json"))
    name, iterations = results[0]
    for key in list(iterations[0].keys()):
        iterations[0][key] = iterations[0][key] + 1.0
    bad = tmp_path / "bad.json"
    results.save(str(bad))
    run = subprocess.run(
        [
            POLYGRAPHY,
            "run",
            str(segnet["first"].path),
            "--onnxrt",
            "--load-inputs",
            str(out / "inputs.json"),
            "--load-outputs",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0 and "FAILED" in run.stdout + run.stderr


def test_polygraphy_data_needs_an_existing_export(tmp_path, cli):
    proc = cli(
        "verify",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--fixed-input-shape",
        "[32,32]",
        "--polygraphy-data",
        str(tmp_path / "p"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "needs --exported" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- roofs


def test_gpu_peak_table_lookup():
    a100 = gpu_peak("NVIDIA A100-SXM4-40GB", "fp32")
    assert a100 is not None and a100.gflops == GPU_PEAK_TFLOPS["A100"][0] * 1e3 and a100.source == "peak table"
    assert gpu_peak("NVIDIA A100-SXM4-40GB", "fp16").gflops == GPU_PEAK_TFLOPS["A100"][1] * 1e3
    assert "A10G" in gpu_peak("NVIDIA A10G", "fp32").method  # the longest matching name wins, not A10
    assert gpu_peak("Some Unknown GPU", "fp32") is None and gpu_peak(None, "fp32") is None


@pytest.mark.parametrize("backend", ["paddle-cpu", "onnx-cpu"])
def test_cpu_roof_is_measured_through_the_backends_runtime(backend):
    from trt_export.bench.roof import measure_cpu_roof

    roof = measure_cpu_roof(BackendSettings(backend, cpu_threads=1), n=128, repeats=2)
    assert roof.source == "measured" and math.isfinite(roof.gflops) and roof.gflops > 0
    assert "128x128x128" in roof.method
    assert ("ONNX Runtime" in roof.method) == (backend == "onnx-cpu")


# --------------------------------------------------------------------------- a sweep over two backends


@pytest.fixture(scope="module")
def two_backends(tmp_path_factory):
    from trt_export.bench.sweep import BenchOptions, parse_shapes, run_bench

    root = tmp_path_factory.mktemp("two-backends")
    options = BenchOptions(
        model="fixture_models:onnx_trap",
        model_kwargs={"trap_width": 48},
        shapes=parse_shapes(["[32,32]", "[48,48]"]),
        settings=BackendSettings("paddle-cpu", cpu_threads=1),
        extra_backends=["onnx-cpu"],
        warmup=1,
        iters=5,
        duration_s=None,
        out_dir=root / "out",
        cache_dir=root / "cache",
        progress=False,
        roof_n=128,
    )
    return run_bench(options), root


def test_every_candidate_runs_on_each_backend(two_backends):
    report, _ = two_backends
    assert report.backends == ["paddle-cpu", "onnx-cpu"] and report.backend == "paddle-cpu"
    keys = [(c.label, c.backend) for c in report.candidates]
    assert keys == [
        ("1x3x32x32", "paddle-cpu"),
        ("1x3x32x32", "onnx-cpu"),
        ("1x3x48x48", "paddle-cpu"),
        ("1x3x48x48", "onnx-cpu"),
    ]
    ok = {(c.label, c.backend): c for c in report.candidates}
    for key in [("1x3x32x32", "paddle-cpu"), ("1x3x32x32", "onnx-cpu"), ("1x3x48x48", "paddle-cpu")]:
        cand = ok[key]
        assert cand.ok and cand.parity is not None and cand.parity.passed, key
        assert cand.parity.backend == key[1]
        # conv 3->4, 3x3, padding 1: 2 * (4*h*w) * 27 FLOPs; the trap's inverse is not counted.
        h = int(key[0].split("x")[2])
        assert cand.flops == 2 * 4 * h * h * 27
        assert cand.achieved_gflops == pytest.approx(cand.flops / (cand.latency_ms.median / 1e3) / 1e9, rel=1e-3)


def test_conversion_failure_fails_only_that_backends_candidate(two_backends):
    report, _ = two_backends
    trapped = report.candidate("1x3x48x48", "onnx-cpu")
    assert trapped.status == "failed" and trapped.failure.stage == "convert"
    assert "cannot convert op(s) inverse" in trapped.failure.reason and "\n" not in trapped.failure.reason
    assert report.candidate("1x3x48x48", "paddle-cpu").ok
    # No half-written ONNX model, stamp or scratch dir is left in the cache entry's export.
    _, root = two_backends
    onnx_dirs = sorted((root / "cache").glob("*/export/onnx"))
    assert len(onnx_dirs) == 2
    contents = sorted(sorted(p.name for p in d.iterdir()) for d in onnx_dirs)
    assert contents == [[], ["conversion.json", "model.onnx"]]


def test_recommendation_names_the_backend_and_roofs_are_in_the_report(two_backends):
    report, _ = two_backends
    rec = report.recommendation
    assert rec is not None and rec.backend in ("paddle-cpu", "onnx-cpu")
    assert f"{rec.label} on {rec.backend}" in rec.reason
    assert "1x3x48x48 on onnx-cpu" in rec.excluded
    assert set(report.roofs) == {"paddle-cpu", "onnx-cpu"}
    for roof in report.roofs.values():
        assert roof["source"] == "measured" and roof["gflops"] > 0
    assert report.flops_method and "multiply-adds" in report.flops_method


def test_reports_show_backends_side_by_side(two_backends):
    from trt_export.bench.report import load_bench_report
    from trt_export.report.render import render_bench_table

    report, root = two_backends
    out = root / "out"
    loaded = load_bench_report(out / "bench.json")
    assert [(c.label, c.backend) for c in loaded.candidates] == [(c.label, c.backend) for c in report.candidates]
    assert loaded.recommendation.backend == report.recommendation.backend
    table = render_bench_table(loaded)
    header = table.splitlines()[0]
    for column in ("backend", "GFLOP/s", "% roof"):
        assert column in header
    assert table.count("onnx-cpu") >= 2 and "roof onnx-cpu:" in table
    best_line = next(line for line in table.splitlines() if line.startswith("BEST"))
    assert report.recommendation.backend in best_line
    md = (out / "bench.md").read_text()
    assert "paddle-cpu, onnx-cpu" in md and "gflops.png" in md
    for png in ("latency.png", "memory.png", "throughput.png", "gflops.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_text = (out / "bench.csv").read_text()
    assert "achieved_gflops" in csv_text.splitlines()[0] and "onnx-cpu" in csv_text


def test_gate_matches_candidates_by_backend_and_shape(two_backends):
    from trt_export.bench.report import load_bench_report
    from trt_export.gate.verdict import GateSettings, run_gate

    _, root = two_backends
    report = load_bench_report(root / "out" / "bench.json")
    # 5 timed runs per candidate: too few for the bootstrap interval, so the summary test.
    result = run_gate(report, report, GateSettings(test="summary"))
    assert result.passed
    pairs = {(row.backend, row.label) for row in result.rows}
    assert ("onnx-cpu", "1x3x32x32 on onnx-cpu") in pairs and ("paddle-cpu", "1x3x32x32 on paddle-cpu") in pairs
    assert set(result.shapes()) >= {"1x3x32x32 on onnx-cpu", "1x3x32x32 on paddle-cpu"}


def test_cli_refuses_backend_and_backends_together(tmp_path, cli):
    proc = cli(
        "bench",
        "--backend",
        "paddle-cpu",
        "--backends",
        "paddle-cpu",
        "onnx-cpu",
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "not both" in proc.stderr


# --------------------------------------------------------------------------- GPU (skip here)


def _gpu_reason(backend: str) -> str | None:
    availability = backend_availability(backend)
    return None if availability.available else availability.reason


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["onnx-cuda", "onnx-trt-fp32", "onnx-trt-fp16"])
def test_gpu_onnx_backends_pass_parity(segnet, backend):
    reason = _gpu_reason(backend)
    if reason:
        pytest.skip(f"{backend}: {reason}")
    from trt_export.infer.inputs import random_inputs
    from trt_export.infer.onnx_runner import OnnxRuntimeRunner
    from trt_export.infer.runners import DygraphRunner
    from trt_export.model.sources import load_source
    from trt_export.parity.compare import compare_outputs
    from trt_export.parity.verify import score_axes, tolerances_for

    manifest = segnet["manifest"]
    feed = random_inputs(manifest.inputs, seed=0)
    with DygraphRunner(load_source("trt_export.zoo:tiny_segnet").build, manifest.inputs, manifest.output_names) as ref:
        reference = ref.infer(feed)
    with OnnxRuntimeRunner(manifest.export_dir, manifest, BackendSettings(backend)) as runner:
        outputs = runner.infer(feed)
    assert compare_outputs(reference, outputs, tolerances_for(manifest, backend), score_axes(manifest)).passed


def test_sweep_roofs_come_from_the_run_on_cpu_and_the_table_on_gpu():
    from trt_export.bench.sweep import _roofs, sweep_backends

    swept = sweep_backends(BackendSettings("paddle-onednn"), ["onnx-cpu", "onnx-trt-fp16", "trt-fp32"])
    assert [s.backend for s in swept] == ["paddle-onednn", "onnx-cpu", "onnx-trt-fp16", "trt-fp32"]
    notes: list[str] = []
    measured = {
        "paddle-onednn": {"gflops": 100.0, "source": "measured", "method": "m"},
        "onnx-cpu": {"error": "RuntimeError: x"},
    }
    roofs = _roofs(swept, measured, {"gpu_name": "NVIDIA A10"}, notes)
    assert roofs["paddle-onednn"].gflops == 100.0
    assert roofs["onnx-trt-fp16"].gflops == GPU_PEAK_TFLOPS["A10"][1] * 1e3  # fp16 -> Tensor Core peak
    assert roofs["trt-fp32"].gflops == GPU_PEAK_TFLOPS["A10"][0] * 1e3
    assert "onnx-cpu" not in roofs and any("onnx-cpu" in n and "RuntimeError" in n for n in notes)
    notes.clear()
    assert "trt-fp32" not in _roofs(swept, measured, {"gpu_name": "Mystery GPU"}, notes)
    assert any("not in the peak table" in n for n in notes)
