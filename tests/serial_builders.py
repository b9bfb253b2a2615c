"""Rich example objects of every file trt-export writes (every optional key set), for the golden tests.

tests/data/serial/*.json were written from these objects by the hand-written to_dict code before
serial.py replaced it; tests/test_serial_files.py checks that today's code writes the same bytes.
Regenerate (only for a deliberate, documented format change) with
``python -m tests.serial_builders tests/data/serial``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from trt_export.bench.report import (
    BenchReport,
    BenchSettings,
    Candidate,
    Failure,
    Memory,
    ModelInfo,
    ParitySummary,
    Recommendation,
    save_bench_report,
)
from trt_export.bench.roof import Roof
from trt_export.bench.scale_fields import ExecutionInfo, Placement, ShardInfo
from trt_export.bench.scene import AgreementImage, AgreementSummary, SceneEstimate, SceneSettings
from trt_export.bench.stats import LatencyStats, throughput
from trt_export.bench.time_accounting import PhaseTimes, SweepTime
from trt_export.bench.timing import TimingPolicy, TimingSummary
from trt_export.export.manifest import FormatFiles, Manifest, save_manifest
from trt_export.infer.inputs import TensorSpec
from trt_export.infer.trt_coverage import TrtCoverage
from trt_export.model.shapes import FixedShape
from trt_export.parity.compare import ComparisonResult, OutputComparison, Tolerance
from trt_export.parity.verify import VerifyReport, write_verify_report

SAMPLES_MS = [3.0, 3.1, 2.9, 3.5, 3.05, 3.2]


def coverage() -> TrtCoverage:
    return TrtCoverage(
        trt_path="legacy",
        engines=2,
        ops_total=30,
        ops_in_engines=27,
        outside_op_types={"argmax": 1, "bilinear_interp_v2": 2},
        inside_op_types={"conv2d": 20, "relu": 7},
        int8_calibrated_engines=None,
        engine_cache_hit=False,
        program_file="/tmp/optim/_optimized.pdmodel",
    )


def full_bench_report() -> BenchReport:
    """Every optional key of bench.json set: scene, agreement, coverage, timing, scale-out, roofs."""
    lat = LatencyStats.from_samples([s / 1000 for s in SAMPLES_MS])
    phases = PhaseTimes()
    for phase, value in (("export", 1.2346), ("build", 0.5), ("warmup", 0.1), ("timed", 0.35), ("teardown", 0.01)):
        phases.add(phase, value)
    ok = Candidate(
        label="1x3x256x256",
        shape_nchw=[1, 3, 256, 256],
        status="ok",
        export_s=1.8,
        build_s=0.4,
        latency_ms=lat,
        noisy=lat.noisy,
        throughput=throughput(1, 256, 256, lat.median),
        memory=Memory(peak_rss_mb=512.3, rss_increase_mb=222.2, gpu_peak_mb=1024.5, paddle_allocator_peak_mb=900.0),
        parity=ParitySummary(passed=True, backend="paddle-onednn", max_abs_error=1.2e-6, failed_outputs=[]),
        eligible=True,
        backend="trt-fp16",
        flops=3_600_000_000,
        achieved_gflops=1180.123456,
        timing=TimingSummary(runs=6, warmup_runs=5, stop="ci", ci_halfwidth=0.012346, notes=["stopped early"]),
        time_s=phases,
        samples_ms=list(SAMPLES_MS),
        trt_coverage=coverage().to_dict(),
        warnings=["TensorRT ran 90% of the compute ops"],
        scene=SceneEstimate(
            tiles=16,
            batches=4,
            batch_size=4,
            merge="keep",
            redundancy=1.1875,
            batch_latency_ms=12.5,
            host_ms_per_tile=0.75,
            probe_tiles=4,
            scene_s=0.062,
            effective_mp_per_s=1.6129,
            noise=0.02,
        ),
        agreement=AgreementSummary(
            agreement=0.998,
            miou=0.97,
            per_class_iou={"0": 0.99, "1": 0.95},
            pixels=262144,
            images=[AgreementImage("scene.tif", [0, 0, 512, 512], 0.998, note="centred window")],
        ),
    )
    failed = Candidate(
        label="1x3x1024x1024",
        shape_nchw=[1, 3, 1024, 1024],
        status="failed",
        failure=Failure("oom", "worker killed by the OOM killer"),
        excluded_reason="failed at oom: worker killed by the OOM killer",
        backend="trt-fp16",
        time_s=PhaseTimes({"export": 2.0}),
    )
    return BenchReport(
        tool_version="0.1.0",
        created_utc="2026-11-29T08:00:00Z",
        model=ModelInfo("paddlers:seg/unet", "unet", "segmenter", weights_sha256="ab" * 32),
        backend="trt-fp16",
        settings=BenchSettings(
            warmup=5,
            iters=None,
            duration_s=2.5,
            threads=2,
            objective="scene",
            latency_stat="p95",
            max_latency_ms=50.0,
            max_memory_mb=4096.0,
            timeout_s=600.0,
            timing_policy=TimingPolicy(max_runs=100),
            scene=SceneSettings(width=2048, height=1024, images=["scene.tif"], overlap=32, merge="keep"),
            min_agreement=0.99,
        ),
        environment={"paddle_version": "3.3.1", "gpu_name": "NVIDIA T4", "cpu_count": 2, "nested": {"a": [1, 2]}},
        idle_rss_mb=290.1,
        candidates=[ok, failed],
        recommendation=Recommendation(
            label="1x3x256x256",
            runner_up=None,
            objective="scene",
            reason="only eligible candidate",
            excluded={"1x3x1024x1024": failed.excluded_reason or ""},
            backend="trt-fp16",
            runner_up_backend=None,
        ),
        notes=["a note"],
        time_s=SweepTime.from_parts(12.3456, phases),
        shard=ShardInfo(index=1, count=2, candidates=["1x3x256x256", "1x3x1024x1024"], config={"seed": 0}),
        execution=ExecutionInfo(
            executor="devices",
            parallel=2,
            placements={"1x3x256x256": Placement("gpu:0", wall_s=4.5), "1x3x1024x1024": Placement("gpu:1")},
            shards=["1/2"],
        ),
        backends=["trt-fp16", "paddle-gpu"],
        roofs={"trt-fp16": Roof(65000.12, "peak table", "T4 datasheet FP16 Tensor Core peak").to_dict()},
        flops_method="program ops",
    )


def plain_bench_report() -> BenchReport:
    """A plain one-backend sweep: none of the optional keys."""
    lat = LatencyStats.from_samples([0.003, 0.0031, 0.0029, 0.0035])
    ok = Candidate(
        label="1x3x256x256",
        shape_nchw=[1, 3, 256, 256],
        status="ok",
        export_s=1.8,
        build_s=0.4,
        samples_ms=[3.0, 3.1, 2.9, 3.5],
        latency_ms=lat,
        noisy=lat.noisy,
        throughput=throughput(1, 256, 256, lat.median),
        memory=Memory(peak_rss_mb=512.3, rss_increase_mb=222.2),
        parity=ParitySummary(passed=False, backend="paddle-onednn", max_abs_error=0.5, failed_outputs=["out"]),
        eligible=False,
        excluded_reason="parity failed",
    )
    return BenchReport(
        tool_version="0.1.0",
        created_utc="2026-11-29T08:00:00Z",
        model=ModelInfo("paddle.vision.models:resnet18", "resnet18", "classifier"),
        backend="paddle-onednn",
        settings=BenchSettings(warmup=5, iters=20, duration_s=None, threads=None),
        environment={},
        idle_rss_mb=None,
        candidates=[ok],
    )


def manifest(export_dir: Path | None = None) -> Manifest:
    return Manifest(
        tool_version="0.1.0",
        paddle_version="3.3.1",
        paddle_commit="abc123",
        created_utc="2026-11-29T08:00:00Z",
        export_seconds=3.1416,
        source={"kind": "factory", "spec": "paddle.vision.models:resnet18", "kwargs": {"num_classes": 10}},
        model={"name": "resnet18", "model_type": "classifier"},
        fixed_shape=FixedShape(1, 3, 224, 320),
        inputs=[TensorSpec("image", "float32", (1, 3, 224, 320))],
        outputs=[TensorSpec("logits", "float32", (1, 10)), TensorSpec("label", "int64", (1,))],
        formats={
            "legacy": FormatFiles("model.pdmodel", "model.pdiparams", "11" * 32, ["logits", "label"], "22" * 32),
            "pir": FormatFiles("model.json", "model.pdiparams", "11" * 32, ["logits", "label"]),
        },
        default_format="legacy",
        notes=["exported at a fixed shape"],
        export_dir=export_dir,
    )


def verify_report(export_dir: Path) -> VerifyReport:
    tol = Tolerance(atol=1e-2, rtol=1e-2, min_argmax_agreement=0.99, max_label_mismatch=None, min_cosine=0.999)
    good = OutputComparison(
        name="logits",
        passed=True,
        tolerance=tol,
        reference_shape=(1, 10),
        candidate_shape=(1, 10),
        reference_dtype="float32",
        candidate_dtype="float32",
        notes=["argmax bound cannot fail on 1 item"],
        max_abs_error=1.5e-3,
        mean_abs_error=2e-4,
        median_abs_error=1e-4,
        p99_abs_error=1.4e-3,
        max_rel_error=float("inf"),
        mean_rel_error=float("nan"),
        median_rel_error=0.001,
        p99_rel_error=0.01,
        mismatch_fraction=0.0,
        cosine_similarity=0.99999,
        score_axis=1,
        argmax_agreement=1.0,
        required_atol=1.5e-3,
        required_rtol=0.0,
    )
    bad = OutputComparison(
        name="label",
        passed=False,
        tolerance=Tolerance(atol=None, rtol=None, min_argmax_agreement=0.9, max_label_mismatch=0.01, min_cosine=None),
        reference_shape=(1,),
        candidate_shape=(2,),
        reference_dtype="int64",
        candidate_dtype="int32",
        reasons=["shape (2,) differs from the reference (1,)"],
        candidate_nan=3,
        label_mismatch=float("-inf"),
    )
    return VerifyReport(
        manifest=manifest(export_dir),
        backend="trt-fp16",
        model_format="legacy",
        inputs_from={"kind": "random", "seed": 0},
        comparison=ComparisonResult(outputs=[good, bad], missing=["aux"], extra=["debug"]),
        dygraph_ms=12.5,
        predictor_ms=3.25,
        build_s=None,
        notes=["fp16"],
        trt_coverage=coverage(),
        created_utc="2026-11-29T08:00:00Z",
        polygraphy={"inputs": "in.json", "reference": "ref.json", "onnx_model": "m.onnx", "command": "polygraphy run"},
    )


EXPORT_DIR = Path("/exports/resnet18")
"""The export dir the verify report names (not read: the manifest object is built here)."""


def write_all(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    save_bench_report(full_bench_report(), directory / "bench_full.json")
    save_bench_report(plain_bench_report(), directory / "bench_plain.json")
    save_manifest(manifest(), directory)
    write_verify_report(verify_report(EXPORT_DIR), directory / "verify.json")


if __name__ == "__main__":
    write_all(Path(sys.argv[1]))
