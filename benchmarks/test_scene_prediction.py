"""Does bench's predicted scene time match what ``predict`` takes on that scene? (docs/tiling.md)

One run, one machine: ``trt-export bench --scene-image S`` predicts the scene seconds of one tile
size (batches x median batch latency + tiles x measured host cost per tile); ``predict`` then tiles
the same GeoTIFF with the same export settings, three times (pytest-benchmark rounds). The figure is
the ratio of predict's median tiling wall time (predictor build excluded, as in the prediction) to
the prediction, against the prediction's own noise band (IQR/median of the batch latency). Nothing
asserts a wall-clock limit or which is faster: the ratio goes to ``benchmark.extra_info`` and to
the summary printed at the end of the run.

    .venv/bin/python -m pytest benchmarks/test_scene_prediction.py --benchmark-only
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio", reason="the scene is a GeoTIFF: install the [geo] extra")

from trt_export.bench.scene_sweep import SceneOptions  # noqa: E402
from trt_export.bench.sweep import BenchOptions, run_bench  # noqa: E402
from trt_export.export.exporter import export_model  # noqa: E402
from trt_export.infer.backends import BackendSettings  # noqa: E402
from trt_export.model.shapes import FixedShape, parse_fixed_shape  # noqa: E402
from trt_export.model.sources import load_source  # noqa: E402
from trt_export.predict.tiled import PredictOptions, predict  # noqa: E402

MODEL = "trt_export.zoo:tiny_segnet"
TILE = 256
SCENE = 1536  # 1536 x 1536: 49 tiles of 256 at overlap 36
OVERLAP = 36
SETTINGS = BackendSettings("paddle-onednn", cpu_threads=1)


def _scene(path: Path) -> Path:
    from rasterio.transform import from_origin

    pixels = np.random.default_rng(0).integers(0, 256, size=(3, SCENE, SCENE), dtype=np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SCENE,
        height=SCENE,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=from_origin(500000, 4000000, 1, 1),
        tiled=True,
    ) as ds:
        ds.write(pixels)
    return path


def test_predicted_scene_time_vs_predict(tmp_path, benchmark, figures, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    scene = _scene(tmp_path / "scene.tif")
    report = run_bench(
        BenchOptions(
            model=MODEL,
            shapes=[parse_fixed_shape(f"[{TILE},{TILE}]")],
            settings=SETTINGS,
            model_format="legacy",
            out_dir=tmp_path / "bench",
            progress=False,
            scene=SceneOptions(scene_images=[str(scene)], overlap=OVERLAP),
            objective="scene",
        )
    )
    cand = report.candidates[0]
    assert cand.ok and cand.scene is not None, cand.failure
    export_dir = export_model(
        load_source(MODEL), tmp_path / "export", FixedShape(1, 3, TILE, TILE), model_format="legacy"
    ).save_dir
    outs = iter(range(100))

    def run_predict() -> float:
        result = predict(
            PredictOptions(
                export_dir=Path(export_dir),
                images=[scene],
                out=tmp_path / f"labels{next(outs)}.tif",
                overlap=OVERLAP,
                settings=SETTINGS,
                model_format="legacy",
                progress=False,
            )
        )
        assert result.timings.tiles == cand.scene.tiles
        networks.append(result.timings.infer_s)
        return result.timings.wall_s

    walls: list[float] = []
    networks: list[float] = []
    benchmark.pedantic(lambda: walls.append(run_predict()), rounds=3, iterations=1)
    wall = float(np.median(walls))
    ratio = wall / cand.scene.scene_s
    assert math.isfinite(ratio) and ratio > 0
    benchmark.extra_info.update(
        {
            "predicted_scene_s": cand.scene.scene_s,
            "predict_wall_s": walls,
            "ratio_median": ratio,
            "noise_band": cand.scene.noise,
            "tiles": cand.scene.tiles,
            "host_ms_per_tile": cand.scene.host_ms_per_tile,
            "batch_latency_ms": cand.scene.batch_latency_ms,
        }
    )
    figures(
        f"{cand.scene.tiles} tiles of {TILE} over {SCENE}x{SCENE}: predicted {cand.scene.scene_s:.2f} s "
        f"(noise +-{cand.scene.noise:.0%}), predict {wall:.2f} s (median of {len(walls)}: "
        + ", ".join(f"{w:.2f}" for w in walls)
        + f"), ratio {ratio:.2f}; prediction = {cand.scene.batches} x "
        f"{cand.scene.batch_latency_ms:.1f} ms + {cand.scene.tiles} x {cand.scene.host_ms_per_tile:.1f} ms host; "
        f"predict's network share {np.median(networks):.2f} s"
    )
