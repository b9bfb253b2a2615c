"""bench's scene objective and tiling agreement: metrics, recommendation, report fields, a real sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixture_reports import candidate

from trt_export.bench.recommend import recommend
from trt_export.bench.report import (
    BenchReport,
    BenchSettings,
    ModelInfo,
    ParitySummary,
    load_bench_report,
    save_bench_report,
)
from trt_export.bench.scene import (
    AgreementSummary,
    SceneEstimate,
    SceneSettings,
    centred_window,
    confusion,
    estimate_scene,
    host_seconds_per_tile,
    parse_min_agreement,
    parse_scene,
    summarize_agreement,
)
from trt_export.bench.stats import LatencyStats
from trt_export.errors import InputError

GRACE_HOPPER = (
    Path(__import__("matplotlib").get_data_path()) / "sample_data" / "grace_hopper.jpg"
)  # a real photo matplotlib ships


def test_parse_scene_and_min_agreement():
    assert parse_scene("10000x8000") == (10000, 8000)
    for bad in ("10000", "0x10", "axb", "-5x5", ""):
        with pytest.raises(InputError, match="WIDTHxHEIGHT|positive"):
            parse_scene(bad)
    assert parse_min_agreement(0.99) == 0.99
    for bad in (0, 1.5, 99, float("nan")):
        with pytest.raises(InputError, match="fraction"):
            parse_min_agreement(bad)


def test_confusion_agreement_and_iou_by_hand():
    ref = np.array([[0, 0, 1, 1], [0, 0, 1, 255]], np.uint8)
    cand = np.array([[0, 1, 1, 1], [0, 0, 0, 0]], np.uint8)
    m = confusion(ref, cand, 2)
    assert m.tolist() == [[3, 1], [1, 2]]  # the 255 pixel is left out
    s = summarize_agreement(m, [])
    assert s.agreement == pytest.approx(5 / 7)
    # IoU class 0: 3 / (4 + 4 - 3) = 0.6, class 1: 2 / (3 + 3 - 2) = 0.5
    assert s.per_class_iou == {"0": pytest.approx(0.6), "1": pytest.approx(0.5)}
    assert s.miou == pytest.approx(0.55)


def test_classes_absent_from_both_maps_do_not_count():
    s = summarize_agreement(confusion(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8), 5), [])
    assert s.agreement == 1.0 and s.miou == 1.0 and s.per_class_iou == {"0": 1.0}


def test_centred_window():
    assert centred_window(512, 600, 10**9) == (0, 12, 512, 576)  # multiple of 32, centred
    x, y, w, h = centred_window(10000, 5000, 4 * 2**20)
    assert w * h <= 4 * 2**20 and w % 32 == 0 and h % 32 == 0 and abs(w / h - 2) < 0.05
    assert (x, y) == ((10000 - w) // 2, (5000 - h) // 2)


def test_scene_estimate_formula():
    scene = SceneSettings(1000, 1000)
    est = estimate_scene(
        scene,
        tiles=9,
        batches=5,
        batch_size=2,
        merge="keep_last",
        redundancy=2.36,
        batch_latency_ms=100.0,
        host_s_per_tile=0.01,
        probe_tiles=6,
        noise=0.05,
    )
    assert est.scene_s == pytest.approx(5 * 0.1 + 9 * 0.01)
    assert est.effective_mp_per_s == pytest.approx(1.0 / 0.59, rel=1e-3)
    assert host_seconds_per_tile(1.0, 0.8, 8) == pytest.approx(0.025)
    assert host_seconds_per_tile(0.5, 0.6, 8) == 0.0  # timer granularity never makes it negative


def _cand(label, side, median_ms, scene_s=None, agreement=None, noise=0.02):
    lat = LatencyStats.from_samples([median_ms / 1000 * (1 + d) for d in (-noise, 0, noise)])
    cand = candidate([1, 3, side, side], lat, label=label, parity=ParitySummary(True, "paddle-cpu", 0.0))
    if scene_s is not None:
        cand.scene = SceneEstimate(10, 10, 1, "keep_last", 1.2, median_ms, 1.0, 4, scene_s, 1.0, noise)
    if agreement is not None:
        cand.agreement = AgreementSummary(agreement, agreement - 0.1, {"0": agreement}, 1000)
    return cand


def test_scene_objective_ranks_by_scene_seconds_not_tile_throughput():
    # 512 has the best per-tile MP/s, but overlap makes 768 the faster scene
    cands = [_cand("a", 256, 10, scene_s=30.0), _cand("b", 512, 30, scene_s=20.0), _cand("c", 768, 80, scene_s=15.0)]
    assert recommend(cands, "throughput").label == "b"
    rec = recommend(cands, "scene")
    assert rec.label == "c" and rec.runner_up == "b" and "fastest scene, 15.00 s" in rec.reason


def test_scene_tie_within_noise_prefers_the_smaller_tile():
    cands = [_cand("small", 256, 10, scene_s=10.1, noise=0.05), _cand("big", 512, 30, scene_s=10.0, noise=0.05)]
    rec = recommend(cands, "scene")
    assert rec.label == "small" and "within the timing noise" in rec.reason


def test_min_agreement_excludes_with_the_reason():
    cands = [
        _cand("a", 256, 10, scene_s=5.0, agreement=0.97),
        _cand("b", 512, 30, scene_s=8.0, agreement=0.995),
        _cand("c", 768, 50, scene_s=9.0),
    ]
    rec = recommend(cands, "scene", min_agreement=0.99)
    assert rec.label == "b"
    assert "label agreement 97.00% < --min-agreement 99.00%" in rec.excluded["a"]
    assert "agreement not measured" in rec.excluded["c"]


def test_report_round_trip_and_old_files_without_scene_fields(tmp_path):
    cand = _cand("1x3x256x256", 256, 10, scene_s=5.0, agreement=0.98)
    settings = BenchSettings(
        5, 50, 1.0, 2, objective="scene", scene=SceneSettings(4000, 3000, ["/x/s.tif"], 36, "accum"), min_agreement=0.95
    )
    report = BenchReport(
        "0.1.0", "2026-12-02T00:00:00Z", ModelInfo("m", "m", "segmenter"), "paddle-cpu", settings, {}, 300.0, [cand]
    )
    path = save_bench_report(report, tmp_path / "bench.json")
    back = load_bench_report(path)
    assert back.settings.scene == settings.scene and back.settings.min_agreement == 0.95
    assert back.candidates[0].scene == cand.scene and back.candidates[0].agreement == cand.agreement
    data = json.loads(path.read_text())
    for key in ("scene", "min_agreement"):
        del data["settings"][key]
    for key in ("scene", "agreement"):
        del data["candidates"][0][key]
    path.write_text(json.dumps(data))
    old = load_bench_report(path)
    assert old.settings.scene is None and old.candidates[0].scene is None and old.candidates[0].agreement is None


# ----------------------------------------------------------------------------- a real sweep


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """tiny_segnet at two tiles over a real photo (the scene and the agreement image)."""
    from trt_export.cli.commands import main

    out = tmp_path_factory.mktemp("scene-bench")
    code = main(
        [
            "bench",
            "--model",
            "trt_export.zoo:tiny_segnet",
            "--shapes",
            "[96,96]",
            "[192,192]",
            "--backend",
            "paddle-cpu",
            "--threads",
            "1",
            "--iters",
            "10",
            "--duration",
            "0.2",
            "--warmup",
            "2",
            "--no-progress",
            "--out",
            str(out / "out"),
            "--cache-dir",
            str(out / "cache"),
            "--scene-image",
            str(GRACE_HOPPER),
            "--overlap",
            "16",
            "--merge",
            "accum",
            "--min-agreement",
            "0.5",
        ]
    )
    return code, out / "out"


def test_sweep_reports_scene_time_and_agreement(swept):
    code, out = swept
    assert code == 0
    report = load_bench_report(out / "bench.json")
    assert (
        report.settings.objective == "scene"
        and report.settings.scene.width == 512
        and report.settings.scene.height == 600
    )
    from trt_export.predict.tiling import plan_tiles

    for cand in report.candidates:
        assert cand.ok and cand.scene is not None and cand.agreement is not None, cand.failure
        side = cand.shape_nchw[3]
        plan = plan_tiles(512, 600, side, 16, "accum")
        assert cand.scene.tiles == plan.tile_count and cand.scene.batches == plan.tile_count
        assert (
            cand.scene.scene_s >= cand.scene.batches * cand.scene.batch_latency_ms / 1000 - 1e-3
        )  # host cost >= 0 (4-decimal rounding)
        assert 0.5 <= cand.agreement.agreement <= 1.0 and cand.agreement.images[0].window == [0, 12, 512, 576]
    assert report.recommendation is not None and "fastest scene" in report.recommendation.reason
    assert any("agreement on grace_hopper.jpg" in note for note in report.notes)
    assert (out / "scene.png").is_file() and (out / "agreement.png").is_file()
    assert "scene s" in (out / "bench.md").read_text()
    assert "scene_s" in (out / "bench.csv").read_text().splitlines()[0]


# ----------------------------------------------------------------------------- bad input


def _bench_refused(cli, extra, needle, model="trt_export.zoo:tiny_segnet", shapes=("[96,96]",)):
    code, _, err = cli(
        "bench",
        "--model",
        model,
        "--shapes",
        *shapes,
        "--backend",
        "paddle-cpu",
        "--no-progress",
        "--out",
        "/nonexistent-never-written",
        *extra,
    )
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not Path("/nonexistent-never-written").exists()


def test_bench_overlap_not_below_tile(cli):
    _bench_refused(cli, ["--scene", "1000x1000", "--overlap", "96"], "not smaller than the tile")


def test_bench_scene_smaller_than_tile(cli):
    _bench_refused(cli, ["--scene", "80x500"], "larger than the scene")


def test_bench_scene_image_band_count(tmp_path, cli):
    np.save(tmp_path / "four.npy", np.zeros((200, 200, 4), np.uint8))
    _bench_refused(cli, ["--scene-image", str(tmp_path / "four.npy")], "has 4 band(s) but the export takes 3")


def test_bench_pair_of_different_sizes(tmp_path, cli):
    np.save(tmp_path / "a.npy", np.zeros((200, 200, 3), np.uint8))
    np.save(tmp_path / "b.npy", np.zeros((200, 210, 3), np.uint8))
    _bench_refused(
        cli,
        ["--scene-image", str(tmp_path / "a.npy"), str(tmp_path / "b.npy")],
        "differs in size",
        model="trt_export.zoo:tiny_change_detector",
    )


def test_bench_non_image_scene(tmp_path, cli):
    (tmp_path / "x.png").write_text("not a png")
    _bench_refused(cli, ["--scene-image", str(tmp_path / "x.png")], "cannot read")


def test_bench_scene_and_scene_image_together(cli):
    _bench_refused(cli, ["--scene", "1000x1000", "--scene-image", str(GRACE_HOPPER)], "not both")


def test_bench_min_agreement_needs_images(cli):
    _bench_refused(cli, ["--scene", "1000x1000", "--min-agreement", "0.99"], "needs images")


def test_bench_objective_scene_needs_a_scene(cli):
    _bench_refused(cli, ["--objective", "scene"], "needs a scene")


def test_bench_agreement_image_smaller_than_tile(cli):
    _bench_refused(cli, ["--agreement-images", str(GRACE_HOPPER)], "larger than the scene", shapes=("[1024,1024]",))


def test_damaged_scene_entry_is_one_report_error(tmp_path):
    from trt_export.errors import ReportError

    cand = _cand("1x3x256x256", 256, 10, scene_s=5.0)
    settings = BenchSettings(5, 50, 1.0, 2, objective="scene", scene=SceneSettings(4000, 3000))
    report = BenchReport(
        "0.1.0", "2026-12-02T00:00:00Z", ModelInfo("m", "m", "segmenter"), "paddle-cpu", settings, {}, 300.0, [cand]
    )
    path = save_bench_report(report, tmp_path / "bench.json")
    data = json.loads(path.read_text())
    del data["candidates"][0]["scene"]["scene_s"]
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"candidates\[0\].*scene_s"):
        load_bench_report(path)


def test_bench_scene_with_a_classifier(cli):
    _bench_refused(cli, ["--scene", "1000x1000", "--model-type", "classifier"], "need a per-pixel model")
