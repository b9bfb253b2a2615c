"""``trt-export predict``: rasters in and out, change pairs, and every bad input of issue 16."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from trt_export.export.exporter import export_model
from trt_export.model.shapes import FixedShape
from trt_export.model.sources import load_source

rasterio = pytest.importorskip("rasterio", reason="GeoTIFF support is the optional [geo] extra (rasterio)")
from rasterio.transform import from_origin  # noqa: E402

CRS = "EPSG:32633"
TRANSFORM = from_origin(500000.0, 4000000.0, 0.5, 0.5)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict-exports")
    seg = export_model(load_source("trt_export.zoo:tiny_segnet"), root / "seg", FixedShape(2, 3, 48, 64)).save_dir
    cd = export_model(
        load_source("trt_export.zoo:tiny_change_detector"), root / "cd", FixedShape(1, 3, 48, 48)
    ).save_dir
    return {"seg": Path(seg), "cd": Path(cd)}


def write_tif(
    path: Path, hwc: np.ndarray, crs: str | None = CRS, transform=TRANSFORM, nodata: float | None = None
) -> Path:
    profile = {
        "driver": "GTiff",
        "width": hwc.shape[1],
        "height": hwc.shape[0],
        "count": hwc.shape[2],
        "dtype": str(hwc.dtype),
    }
    if crs:
        profile.update(crs=crs, transform=transform)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(hwc.transpose(2, 0, 1))
    return path


def scene(h=150, w=170, bands=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 256, size=(h, w, bands), dtype=np.uint8)


def run(argv, cli):
    return cli("predict", "--no-progress", "--backend", "paddle-cpu", "--threads", "1", *argv)


def test_geotiff_round_trip_keeps_georeferencing_and_nodata(exports, tmp_path, cli):
    image = scene()
    image[:30, :40] = 0  # nodata in every band
    src = write_tif(tmp_path / "scene.tif", image, nodata=0)
    out, scores = tmp_path / "labels.tif", tmp_path / "scores.tif"
    code, stdout, err = run(
        [
            "--exported",
            str(exports["seg"]),
            "--image",
            str(src),
            "--out",
            str(out),
            "--score-out",
            str(scores),
            "--merge",
            "accum",
        ],
        cli,
    )
    assert code == 0, err
    assert "tiles in" in stdout and str(out) in stdout
    with rasterio.open(out) as ds:
        assert ds.crs.to_string() == CRS and ds.transform == TRANSFORM and ds.nodata == 255
        assert (ds.width, ds.height, ds.count, ds.dtypes[0]) == (170, 150, 1, "uint8")
        labels = ds.read(1)
    assert (labels[:30, :40] == 255).all()
    assert set(np.unique(labels[30:, 40:])) <= {0, 1}
    with rasterio.open(scores) as ds:
        assert ds.count == 2 and ds.dtypes[0] == "float32" and ds.crs.to_string() == CRS
        probs = ds.read()
    np.testing.assert_allclose(probs[:, 30:, 40:].sum(axis=0), 1.0, atol=1e-2)
    assert not list(tmp_path.glob(".*partial*"))


def test_formats_agree_and_match_in_memory_tiling(exports, tmp_path, cli):
    """The same scene as .npy, PNG and GeoTIFF gives the same labels, and those are what the
    in-memory stitching of the export's own predictions gives (the file path adds nothing)."""
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.backends import BackendSettings
    from trt_export.infer.runners import PaddleInferenceRunner
    from trt_export.infer.transforms import cv2_module
    from trt_export.predict.tiled import ExportGeometry, make_infer, model_transforms, tile_preprocess, tiled_labels
    from trt_export.predict.tiling import plan_tiles

    image = scene(seed=1)
    np.save(tmp_path / "scene.npy", image)
    write_tif(tmp_path / "scene.tif", image)
    cv2_module().imwrite(str(tmp_path / "scene.png"), image[:, :, ::-1])  # PNG holds BGR for OpenCV
    results = {}
    for suffix, out_suffix in ((".npy", ".npy"), (".tif", ".tif"), (".png", ".png")):
        out = tmp_path / f"labels{suffix}{out_suffix}"
        code, _, err = run(
            [
                "--exported",
                str(exports["seg"]),
                "--image",
                str(tmp_path / f"scene{suffix}"),
                "--out",
                str(out),
                "--merge",
                "keep_first",
            ],
            cli,
        )
        assert code == 0, err
        results[suffix] = (
            np.load(out)
            if out_suffix == ".npy"
            else (rasterio.open(out).read(1) if out_suffix == ".tif" else cv2_module().imread(str(out), 0))
        )
    assert (results[".npy"] == results[".tif"]).all() and (results[".npy"] == results[".png"]).all()
    manifest = load_manifest(exports["seg"])
    geometry = ExportGeometry.of(manifest)
    with PaddleInferenceRunner(exports["seg"], manifest, BackendSettings(backend="paddle-cpu")) as runner:
        plan = plan_tiles(170, 150, (64, 48), 36, "keep_first")
        expected, _ = tiled_labels(
            [image], plan, geometry, tile_preprocess(model_transforms(exports["seg"])), make_infer(runner, geometry)
        )
    assert (results[".npy"] == expected).all()


def test_geotiff_is_read_and_written_window_by_window(exports, tmp_path, monkeypatch, cli):
    """No read is larger than one tile and the GeoTIFF output never holds the scene in memory,
    so a raster larger than memory goes through."""
    from trt_export.predict import rasters

    src = write_tif(tmp_path / "scene.tif", scene(h=200, w=260, seed=2))
    reads = []
    original = rasters.GeoTiffReader.read

    def spy(self, window):
        reads.append(window.width * window.height)
        return original(self, window)

    monkeypatch.setattr(rasters.GeoTiffReader, "read", spy)
    code, _, err = run(["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif")], cli)
    assert code == 0, err
    assert reads and max(reads) == 64 * 48


def test_change_detection_pair(exports, tmp_path, cli):
    before = scene(h=100, w=120, seed=3)
    after = before.copy()
    after[40:70, 50:90] = 255 - after[40:70, 50:90]
    a, b = write_tif(tmp_path / "a.tif", before), write_tif(tmp_path / "b.tif", after)
    code, _, err = run(
        [
            "--exported",
            str(exports["cd"]),
            "--image",
            str(a),
            str(b),
            "--out",
            str(tmp_path / "change.tif"),
            "--overlap",
            "8",
        ],
        cli,
    )
    assert code == 0, err
    with rasterio.open(tmp_path / "change.tif") as ds:
        assert ds.crs.to_string() == CRS and (ds.width, ds.height) == (120, 100)
        assert set(np.unique(ds.read(1))) <= {0, 1}


# ----------------------------------------------------------------------------- bad input


def _refused(cli, argv, needle):
    code, _, err = run(argv, cli)
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]
    return lines[0]


def test_overlap_not_below_tile(exports, tmp_path, cli):
    src = write_tif(tmp_path / "s.tif", scene())
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif"), "--overlap", "48"],
        "not smaller than the tile",
    )
    assert not (tmp_path / "o.tif").exists()


def test_raster_smaller_than_tile(exports, tmp_path, cli):
    src = write_tif(tmp_path / "s.tif", scene(h=40, w=100))
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif")],
        "larger than the scene",
    )


def test_band_count_differs_from_export(exports, tmp_path, cli):
    src = write_tif(tmp_path / "s.tif", scene(bands=4))
    line = _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif")],
        "has 4 band(s) but the export takes 3",
    )
    assert "export the model with c=4" in line


def test_pair_of_different_sizes(exports, tmp_path, cli):
    a, b = write_tif(tmp_path / "a.tif", scene(h=100, w=120)), write_tif(tmp_path / "b.tif", scene(h=100, w=121))
    _refused(
        cli,
        ["--exported", str(exports["cd"]), "--image", str(a), str(b), "--out", str(tmp_path / "o.tif")],
        "differs in size",
    )


def test_pair_of_different_crs(exports, tmp_path, cli):
    a = write_tif(tmp_path / "a.tif", scene(h=100, w=120))
    b = write_tif(
        tmp_path / "b.tif", scene(h=100, w=120), crs="EPSG:4326", transform=from_origin(10.0, 50.0, 1e-5, 1e-5)
    )
    _refused(
        cli,
        ["--exported", str(exports["cd"]), "--image", str(a), str(b), "--out", str(tmp_path / "o.tif")],
        "differs in CRS",
    )


def test_single_image_for_a_pair_model(exports, tmp_path, cli):
    a = write_tif(tmp_path / "a.tif", scene(h=100, w=120))
    _refused(
        cli,
        ["--exported", str(exports["cd"]), "--image", str(a), "--out", str(tmp_path / "o.tif")],
        "change-detection pair",
    )


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.tif", b"hello, not a tiff"),
        ("photo.png", b"GIF89a nope"),
        ("data.npy", b"\x93NUMPY garbage"),
        ("table.csv", b"a,b\n1,2\n"),
    ],
)
def test_non_image_file(exports, tmp_path, cli, name, content):
    src = tmp_path / name
    src.write_bytes(content)
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif")],
        repr(str(src)),
    )


def test_existing_output_needs_force_and_is_kept(exports, tmp_path, cli):
    src = write_tif(tmp_path / "s.tif", scene())
    out = tmp_path / "o.tif"
    out.write_bytes(b"precious")
    _refused(cli, ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(out)], "pass --force")
    assert out.read_bytes() == b"precious"
    code, _, err = run(["--exported", str(exports["seg"]), "--image", str(src), "--out", str(out), "--force"], cli)
    assert code == 0, err
    assert rasterio.open(out).width == 170


def test_disk_full_leaves_no_output(exports, tmp_path, monkeypatch, cli):
    from trt_export.predict import rasters

    src = write_tif(tmp_path / "s.tif", scene())
    out = tmp_path / "o.tif"
    out.write_bytes(b"old")
    calls = {"n": 0}
    original = rasters._File.write

    def full(self, window, data):
        calls["n"] += 1
        if calls["n"] > 3:  # after the initial fill has started: mid-run
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, window, data)

    monkeypatch.setattr(rasters._File, "write", full)
    _refused(
        cli, ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(out), "--force"], "no space left"
    )
    assert out.read_bytes() == b"old"  # the user's file is untouched
    assert not list(tmp_path.glob(".*partial*"))


def test_interrupted_predict_leaves_no_output(exports, tmp_path, monkeypatch, cli):
    from trt_export.infer import runners

    src = write_tif(tmp_path / "s.tif", scene())
    calls = {"n": 0}
    original = runners.PaddleInferenceRunner.infer

    def interrupted(self, feed):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, feed)

    monkeypatch.setattr(runners.PaddleInferenceRunner, "infer", interrupted)
    code, _, err = run(["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif")], cli)
    assert code == 130 and "interrupted" in err
    assert list(tmp_path.iterdir()) == [src]


def test_output_suffix_and_missing_dir(exports, tmp_path, cli):
    src = write_tif(tmp_path / "s.tif", scene())
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.jpg")],
        "must end in",
    )
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "no" / "o.tif")],
        "does not exist",
    )


def test_classifier_export_is_refused(tmp_path, cli):
    exported = export_model(
        load_source("paddle.vision.models:squeezenet1_1"), tmp_path / "cls", FixedShape(1, 3, 64, 64)
    ).save_dir
    src = write_tif(tmp_path / "s.tif", scene())
    _refused(
        cli, ["--exported", str(exported), "--image", str(src), "--out", str(tmp_path / "o.tif")], "no per-pixel map"
    )


def test_multiband_uint16_raster_with_matching_export(tmp_path, cli):
    """A 4-band 16-bit raster (remote-sensing style) through a c=4 export."""
    exported = export_model(
        load_source("trt_export.zoo:tiny_segnet", kwargs={"in_channels": 4}),
        tmp_path / "seg4",
        FixedShape(1, 4, 48, 48),
    ).save_dir
    pixels = np.random.default_rng(6).integers(0, 4096, size=(90, 100, 4), dtype=np.uint16)
    src = write_tif(tmp_path / "ms.tif", pixels)
    code, _, err = run(
        ["--exported", str(exported), "--image", str(src), "--out", str(tmp_path / "o.npy"), "--overlap", "8"], cli
    )
    assert code == 0, err
    labels = np.load(tmp_path / "o.npy")
    assert labels.shape == (90, 100) and labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1}


def test_geotiff_without_rasterio_names_the_extra(exports, tmp_path, monkeypatch, cli):
    from trt_export.predict import rasters

    src = write_tif(tmp_path / "s.tif", scene())
    monkeypatch.setattr(rasters, "rasterio_module", lambda: None)
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.npy")],
        "trt-export[geo]",
    )


def test_agreement_of_a_change_pair_against_the_dygraph_reference(exports, tmp_path):
    """The scene worker's two halves in-process: dygraph reference on a pair at native resolution,
    then the tiled export compared with it (a pair model, so both images go to both runs)."""
    from trt_export.bench.protocol import AgreementJob, SceneReferenceJob, SourceSpec
    from trt_export.bench.scene_worker import job_scene_reference, measure_agreement
    from trt_export.export.manifest import load_manifest
    from trt_export.infer.backends import BackendSettings
    from trt_export.infer.runners import PaddleInferenceRunner
    from trt_export.predict.tiled import ExportGeometry, make_infer, model_transforms, tile_preprocess

    before = scene(h=100, w=130, seed=7)
    after = before.copy()
    after[30:60, 40:90] = 255 - after[30:60, 40:90]
    group = [str(write_tif(tmp_path / "a.tif", before)), str(write_tif(tmp_path / "b.tif", after))]
    spec_of_source = SourceSpec("trt_export.zoo:tiny_change_detector")
    ref = job_scene_reference(
        SceneReferenceJob(spec_of_source, exports["cd"], [group], 10**9, tmp_path / "ref.npz"),
        load_source(spec_of_source.spec),
    )
    assert ref.images[0].window == [1, 2, 128, 96]  # sides cut to multiples of 32, centred
    manifest = load_manifest(exports["cd"])
    geometry = ExportGeometry.of(manifest)
    spec = AgreementJob(tmp_path / "ref.npz", [group], ref.images, overlap=8, merge="keep_last")
    with PaddleInferenceRunner(exports["cd"], manifest, BackendSettings(backend="paddle-cpu")) as runner:
        result = measure_agreement(
            spec, geometry, tile_preprocess(model_transforms(exports["cd"])), make_infer(runner, geometry)
        )
    assert result["pixels"] == 128 * 96
    assert 0.5 < result["agreement"] <= 1.0 and set(result["per_class_iou"]) <= {"0", "1"}
    assert result["images"][0]["image"] == "a.tif + b.tif"


def test_paddlers_style_label_and_score_maps(tmp_path, cli):
    """A PaddleRS-style export (int32 label_map + NHWC score_map, saved as PIR): accum sums its
    own score map, and --score-out writes it."""
    exported = export_model(
        load_source("fixture_models:paddlers_style_segmenter"), tmp_path / "prs", FixedShape(1, 3, 48, 48)
    ).save_dir
    src = write_tif(tmp_path / "s.tif", scene(h=80, w=100, seed=8))
    code, _, err = run(
        [
            "--exported",
            str(exported),
            "--image",
            str(src),
            "--out",
            str(tmp_path / "l.tif"),
            "--score-out",
            str(tmp_path / "p.npy"),
            "--merge",
            "accum",
            "--overlap",
            "12",
        ],
        cli,
    )
    assert code == 0, err
    labels = rasterio.open(tmp_path / "l.tif").read(1)
    probs = np.load(tmp_path / "p.npy")
    assert probs.shape == (80, 100, 2)
    np.testing.assert_allclose(probs.sum(axis=2), 1.0, atol=1e-2)
    assert (labels == np.argmax(probs, axis=2)).mean() > 0.99  # accum's labels are the argmax of the summed scores


def test_output_that_is_the_input_is_refused_even_with_force(exports, tmp_path, cli):
    src = write_tif(tmp_path / "s.tif", scene())
    before = src.read_bytes()
    _refused(
        cli,
        ["--exported", str(exports["seg"]), "--image", str(src), "--out", str(src), "--force"],
        "is one of the input images",
    )
    assert src.read_bytes() == before


def test_float_raster_with_nan_nodata(exports, tmp_path, cli):
    pixels = scene().astype(np.float32)
    pixels[100:, 120:] = np.nan
    src = write_tif(tmp_path / "f.tif", pixels, nodata=float("nan"))
    code, _, err = run(["--exported", str(exports["seg"]), "--image", str(src), "--out", str(tmp_path / "o.tif")], cli)
    assert code == 0, err
    labels = rasterio.open(tmp_path / "o.tif").read(1)
    assert (labels[100:, 120:] == 255).all() and set(np.unique(labels[:100])) <= {0, 1}
