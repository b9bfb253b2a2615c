"""The worker protocol: every job and result survives its JSON file as itself; a foreign file is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trt_export.bench.protocol import (
    AgreementJob,
    Clock,
    IdleJob,
    IdleResult,
    InterleaveJob,
    InterleaveResult,
    JobFile,
    MeasureJob,
    MeasureResult,
    PrepareJob,
    PrepareResult,
    ProtocolError,
    ReferenceImage,
    ResultFile,
    RoofRequest,
    SceneReferenceJob,
    SceneReferenceResult,
    SourceSpec,
    WorkerFailure,
    WorkerMemory,
    decode_job,
    decode_result,
    encode_job,
    encode_result,
)
from trt_export.bench.scene import SceneSettings
from trt_export.bench.sweep import WorkerPool
from trt_export.bench.timing import TimingPolicy, TimingSummary
from trt_export.infer.backends import BackendSettings

SETTINGS = BackendSettings("trt-fp16", cpu_threads=2, disable_ops=("pool2d", "softmax"), trt_cache_dir="/tmp/e")
SOURCE = SourceSpec("pkg.mod:factory", weights="/w.pdparams", kwargs={"num_classes": 2}, model_type="segmenter")
IMAGE = ReferenceImage("a.tif + b.tif", [1, 2, 128, 96], "compared on the centred window")

JOBS = [
    IdleJob(),
    IdleJob([RoofRequest(BackendSettings("paddle-cpu"), 1024)]),
    PrepareJob(SOURCE, [1, 3, 64, 32], "auto", Path("/c/export"), Path("/c/ref.npz"), seed=3, flops=Path("/c/f.json")),
    PrepareJob(SOURCE, [1, 3, 64, 32], "pir", Path("/r"), Path("/s/ref.npz"), exported=True, manifest_file=Path("/m")),
    MeasureJob(
        Path("/c/export"),
        Path("/c/ref.npz"),
        "legacy",
        SETTINGS,
        TimingPolicy.exact(5, warmup=1),
        scene=SceneSettings(4000, 3000, ["/a.tif"], 16, "accum"),
        agreement=AgreementJob(Path("/s/agree.npz"), [["/a.tif", "/b.tif"]], [IMAGE], 8, "keep_last"),
    ),
    SceneReferenceJob(SOURCE, Path("/c/export"), [["/a.tif", "/b.tif"]], 10**6, Path("/s/agree.npz")),
    InterleaveJob(Path("/base"), Path("/cur"), SETTINGS, pairs=12, block_ms=20.0, warmup=3, seed=4, clock="cpu"),
]

RESULTS = [
    IdleResult(812.5, {"paddle_version": "3.3.1"}, {"paddle-cpu": {"error": "not measured"}}),
    PrepareResult(1.25, "segmenter", "legacy", {"flops": 123}, {"export": 1.0, "reference": 0.5}),
    MeasureResult(
        samples_s=[0.001, 0.0012],
        parity={"passed": True, "max_abs_error": 1e-6},
        memory=WorkerMemory(300.0, rss_at_start_mb=250.0, rss_refaulted_mb=3.5),
        timing=TimingSummary(2, 1, "max_runs", None, ["a note"]),
        build_s=0.5,
        warnings=["w"],
        phases_s={"build": 0.5, "timed": 0.0022},
        scene_probe={"tiles": 6, "wall_s": 0.2, "network_s": 0.1},
    ),
    SceneReferenceResult([IMAGE]),
    InterleaveResult([[1.0, 1.1]], [[1.2, 1.3]], [True], 2),
    WorkerFailure("oom", "out of memory during build"),
    WorkerFailure("export", "no such training dir", fatal=True),
]


@pytest.mark.parametrize("job", JOBS, ids=lambda job: type(job).__name__)
def test_every_job_crosses_as_itself(job):
    request = JobFile(job, verbose=True, deadline=123.5)
    text = encode_job(request)
    assert json.loads(text)["job"]["kind"] == job.KIND
    assert decode_job(text) == request


@pytest.mark.parametrize("outcome", RESULTS, ids=lambda result: type(result).__name__)
def test_every_result_crosses_as_itself(outcome):
    answer = ResultFile(outcome, Clock(10.0, 12.5))
    assert decode_result(encode_result(answer)) == answer


def test_backend_settings_cross_as_themselves():
    (job,) = [job for job in JOBS if isinstance(job, MeasureJob)]
    settings = decode_job(encode_job(JobFile(job))).job.settings
    assert settings == SETTINGS and settings.disable_ops == ("pool2d", "softmax")  # a tuple again, hashable


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"job": {"kind": "measure"}}', "$.job.export_dir"),
        ('{"job": {"kind": "dance"}}', "dance"),
        ('{"job": {"kind": "idle", "roofs": [], "peak_rss_mb": 1}}', "peak_rss_mb"),
        ("not json", "Expecting value"),
    ],
)
def test_a_foreign_job_file_is_one_line_naming_what_is_wrong(text, named):
    with pytest.raises(ProtocolError) as caught:
        decode_job(text)
    (line,) = str(caught.value).splitlines()
    assert line.startswith("not a worker job of this trt-export version") and named in line, line


def test_an_unreadable_result_is_the_candidates_crash_not_the_sweeps(tmp_path):
    pool = WorkerPool(tmp_path, timeout_s=10, shown_log_dir=tmp_path / "shown")
    (tmp_path / "r.json").write_text('{"outcome": {"kind": "measure"}}', encoding="utf-8")
    (tmp_path / "r.log").write_text("", encoding="utf-8")
    outcome, clock = pool._outcome(0, tmp_path / "r.json", tmp_path / "r.log", "build")
    assert outcome.result is None and clock is None
    assert outcome.failure.stage == "crash"
    assert (
        "not a worker result" in outcome.failure.reason and str(tmp_path / "shown" / "r.log") in outcome.failure.reason
    )


def test_a_worker_given_a_foreign_job_answers_with_a_failure(tmp_path, monkeypatch):
    from trt_export.bench import worker

    # main() records the fork's memory in module state: restored after the test
    monkeypatch.setattr(worker, "_FORKED_RSS_MB", worker._FORKED_RSS_MB)
    monkeypatch.setattr(worker, "_FORKED_FILE_MB", worker._FORKED_FILE_MB)

    (tmp_path / "j.json").write_text('{"job": {"kind": "dance"}}', encoding="utf-8")
    assert worker.main([str(tmp_path / "j.json"), str(tmp_path / "r.json")], forked={"VmHWM": 1.0}) == 0
    answer = decode_result((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert answer.outcome == WorkerFailure(
        "start-up", "not a worker job of this trt-export version: unknown kind 'dance' @ $.job"
    )
