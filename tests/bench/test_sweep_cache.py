"""Cache keys of the sweep: an entry is reused only when everything it depends on is the same."""

from __future__ import annotations

from pathlib import Path

from trt_export.bench.sweep_cache import export_cache_key, reference_cache_key, reference_path
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import ModelSource

CPU = {"paddle_version": "3.3.1", "paddle_commit": "abc", "cuda_version": None, "gpu_count": 0, "gpu_name": None}
GPU = {**CPU, "cuda_version": "12.6", "gpu_count": 1, "gpu_name": "NVIDIA L4"}


def _source(spec: str, kind: str = "factory", **extra) -> ModelSource:
    values = dict(
        spec=spec,
        kind=kind,
        name="net",
        model_type="classifier",
        input_names=["x"],
        output_names=None,
        weights_path=None,
        weights_sha256=None,
        model_yml=None,
        builder=lambda: None,
    )
    values.update(extra)
    return ModelSource(**values)


def test_the_reference_key_follows_what_the_dygraph_outputs_depend_on():
    source = _source("trt_export.zoo:tiny_segnet")
    small, large = parse_fixed_shape("[32,32]"), parse_fixed_shape("[64,32]")
    key = reference_cache_key(source, small, 0, CPU)
    assert key == reference_cache_key(_source("trt_export.zoo:tiny_segnet"), small, 0, dict(CPU))
    assert key != reference_cache_key(source, large, 0, CPU)
    assert key != reference_cache_key(source, small, 1, CPU)  # another seed: other inputs
    assert key != reference_cache_key(source, small, 0, GPU)  # dygraph ran on the GPU
    assert key != reference_cache_key(source, small, 0, {**CPU, "paddle_version": "3.0.0"})
    assert key != reference_cache_key(_source("trt_export.zoo:tiny_segnet", factory_kwargs={"width": 4}), small, 0, CPU)
    assert key != reference_cache_key(_source("trt_export.zoo:tiny_segnet", weights_sha256="f" * 64), small, 0, CPU)
    # not the export format: a legacy and a PIR export of one model share one reference
    assert export_cache_key(source, small, "legacy", "3.3.1") != export_cache_key(source, small, "pir", "3.3.1")
    path = reference_path(Path("/c"), source, small, 0, CPU)
    assert path == Path("/c") / "references" / f"{key}-seed0.npz"


def test_a_paddlers_dirs_model_yml_is_part_of_both_keys(tmp_path):
    model_dir = tmp_path / "best_model"
    model_dir.mkdir()
    (model_dir / "model.yml").write_text("Model: UNet\n_init_params:\n  num_classes: 2\n")
    source = _source(str(model_dir), kind="paddlers", model_type="segmenter")
    shape = parse_fixed_shape("[64,64]")
    export_key, reference_key = (
        export_cache_key(source, shape, "auto", "3.3.1"),
        reference_cache_key(source, shape, 0, CPU),
    )
    (model_dir / "model.yml").write_text("Model: UNet\n_init_params:\n  num_classes: 3\n")
    assert export_cache_key(source, shape, "auto", "3.3.1") != export_key
    assert reference_cache_key(source, shape, 0, CPU) != reference_key
