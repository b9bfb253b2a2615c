"""Export real models at a fixed shape, load them back in Paddle Inference, compare with dygraph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixture_paths import FIXTURES, REPO, child_env, needs_fixtures

from trt_export.errors import ExportError, ModelSourceError, ShapeError
from trt_export.export import exporter as export_mod
from trt_export.export.exporter import export_model
from trt_export.export.manifest import MANIFEST_NAME, load_manifest
from trt_export.infer.inputs import TensorSpec, random_inputs
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import load_source


def predictor_outputs(export_dir: Path, fmt: str, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Plain Paddle Inference on CPU (oneDNN and IR passes off: no fusion rounding)."""
    from paddle import inference

    manifest = load_manifest(export_dir)
    model_file, params_file = manifest.files(fmt)
    config = inference.Config(str(model_file), str(params_file))
    config.disable_mkldnn()
    config.switch_ir_optim(False)
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    for spec in manifest.inputs:
        handle = predictor.get_input_handle(spec.name)
        handle.reshape(list(spec.shape))
        handle.copy_from_cpu(feed[spec.name])
    predictor.run()
    return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]


def dygraph_outputs(source, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    import paddle

    from trt_export.infer.runners import flatten_outputs

    layer = source.build()
    with paddle.no_grad():
        out = layer(*[paddle.to_tensor(feed[name]) for name in source.input_names])
    return [t.numpy() for t in flatten_outputs(out)]


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) for x, y in zip(a, b, strict=True))


MODELS = {
    "classifier": ("paddle.vision.models:mobilenet_v3_small", None, "[64,48]"),
    "segmenter": ("paddleseg.models:UNet", '{"num_classes": 2}', "[64,64]"),
    "change_detector": ("trt_export.zoo:tiny_change_detector", None, "[1,3,48,32]"),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request, tmp_path_factory):
    spec, kwargs, shape_text = MODELS[request.param]
    if spec.startswith("paddleseg"):
        pytest.importorskip("paddleseg.models", reason="paddleseg not installed (pip install --no-deps paddleseg)")
    source = load_source(spec, kwargs=kwargs)
    shape = parse_fixed_shape(shape_text)
    out = tmp_path_factory.mktemp(request.param) / "export"
    result = export_model(source, out, shape, model_format="both")
    return request.param, source, shape, result


def test_export_matches_dygraph_in_both_formats(exported):
    kind, source, shape, result = exported
    manifest = result.manifest
    assert manifest.model_type == kind
    assert [s.shape for s in manifest.inputs] == [shape.nchw] * len(source.input_names)
    feed = random_inputs(manifest.inputs, seed=3)
    reference = dygraph_outputs(source, feed)
    for fmt in ("legacy", "pir"):
        got = predictor_outputs(result.save_dir, fmt, feed)
        assert [g.shape for g in got] == [tuple(s.shape) for s in manifest.outputs]
        assert max_abs_diff(reference, got) <= 1e-5, fmt


def test_comparison_fails_when_weights_differ(exported, tmp_path):
    import paddle

    kind, source, shape, result = exported
    layer = source.build()
    state = {k: v + 0.05 if v.dtype == paddle.float32 else v for k, v in layer.state_dict().items()}
    other = tmp_path / "other.pdparams"
    paddle.save(state, str(other))
    perturbed = load_source(source.spec, weights=str(other), kwargs=source.factory_kwargs)
    feed = random_inputs(result.manifest.inputs, seed=3)
    assert max_abs_diff(dygraph_outputs(perturbed, feed), predictor_outputs(result.save_dir, "legacy", feed)) > 1e-3


def test_export_dir_has_paddlers_files_and_manifest(exported):
    kind, source, shape, result = exported
    names = {p.name for p in result.save_dir.iterdir()}
    assert {
        "model.pdmodel",
        "model.pdiparams",
        "model.pdiparams.info",
        "model.yml",
        "pipeline.yml",
        MANIFEST_NAME,
    } <= names
    assert {p.name for p in (result.save_dir / "pir").iterdir()} == {"model.json", "model.pdiparams"}
    model_yml = yaml.safe_load((result.save_dir / "model.yml").read_text())
    assert model_yml["status"] == "Infer"
    assert model_yml["_Attributes"]["fixed_input_shape"] == list(shape.nchw)
    assert model_yml["_Attributes"]["model_type"] == kind
    resize = [t["Resize"] for t in model_yml["Transforms"] if "Resize" in t]
    assert resize and resize[0]["target_size"] == [shape.h, shape.w]
    pipeline = yaml.safe_load((result.save_dir / "pipeline.yml").read_text())
    assert pipeline["pipeline_name"] == kind
    data = json.loads((result.save_dir / MANIFEST_NAME).read_text())
    assert data["fixed_input_shape"]["nchw"] == list(shape.nchw)
    assert data["inputs"][0]["dtype"] == "float32"
    assert data["source"]["spec"] == source.spec
    assert len(data["formats"]["legacy"]["params_sha256"]) == 64
    assert data["paddle_version"]
    assert not [p for p in result.save_dir.parent.iterdir() if ".partial-" in p.name]


def test_change_detector_has_two_named_inputs():
    source = load_source("trt_export.zoo:tiny_change_detector")
    assert source.input_names == ["image", "image2"]


def test_pir_only_layout(tmp_path):
    source = load_source("trt_export.zoo:tiny_segnet")
    result = export_model(source, tmp_path / "out", parse_fixed_shape("[32,32]"), model_format="pir")
    assert {"model.json", "model.pdiparams", "model.yml", "pipeline.yml"} <= {p.name for p in result.save_dir.iterdir()}
    assert not (result.save_dir / "model.pdmodel").exists()
    assert result.manifest.default_format == "pir"


def test_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    source = load_source("trt_export.zoo:tiny_segnet")
    with pytest.raises(ExportError, match="--force"):
        export_model(source, target, parse_fixed_shape("[32,32]"))
    assert (target / "keep.txt").read_text() == "mine"
    # not an earlier export: --force alone refuses, naming the file; the explicit flag replaces it
    with pytest.raises(ExportError, match="keep.txt.*--replace-non-export"):
        export_model(source, target, parse_fixed_shape("[32,32]"), force=True)
    assert (target / "keep.txt").read_text() == "mine"
    export_model(source, target, parse_fixed_shape("[32,32]"), force=True, replace_non_export=True)
    assert not (target / "keep.txt").exists()
    assert (target / "model.pdmodel").is_file()


def test_failure_mid_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise ExportError("injected failure while writing deployment files")

    monkeypatch.setattr(export_mod, "_write_deploy_files", boom)
    source = load_source("trt_export.zoo:tiny_segnet")
    with pytest.raises(ExportError, match="injected"):
        export_model(source, tmp_path / "out", parse_fixed_shape("[32,32]"))
    assert list(tmp_path.iterdir()) == []


def test_failure_with_force_keeps_the_previous_export(tmp_path, monkeypatch):
    source = load_source("trt_export.zoo:tiny_segnet")
    target = tmp_path / "out"
    export_model(source, target, parse_fixed_shape("[32,32]"))
    before = (target / MANIFEST_NAME).read_text()
    monkeypatch.setattr(export_mod, "_save_program", lambda *a, **k: (_ for _ in ()).throw(ExportError("injected")))
    with pytest.raises(ExportError):
        export_model(source, target, parse_fixed_shape("[64,64]"), force=True)
    assert (target / MANIFEST_NAME).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_shape_the_network_cannot_take_fails_before_saving(tmp_path):
    source = load_source("trt_export.zoo:tiny_segnet")
    with pytest.raises(ExportError, match="cannot run at"):
        export_model(source, tmp_path / "out", parse_fixed_shape("[1,4,32,32]"))
    assert list(tmp_path.iterdir()) == []


def test_model_type_rules_checked_before_any_work(tmp_path):
    source = load_source("trt_export.zoo:tiny_segnet")
    source.name = "PPYOLO"
    with pytest.raises(ShapeError, match="w == h"):
        export_model(source, tmp_path / "out", parse_fixed_shape("[640,320]"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("no_such_module_xyz:net", "cannot import module"),
        ("paddle.vision.models:no_such_net", "has no callable"),
        ("not a source", "neither an existing directory"),
    ],
)
def test_bad_factory_specs(spec, fragment):
    with pytest.raises(ModelSourceError, match=fragment):
        load_source(spec)


def test_weights_that_do_not_match_are_refused(tmp_path):
    import paddle

    other = tmp_path / "resnet.pdparams"
    paddle.save(paddle.vision.models.resnet18(num_classes=3).state_dict(), str(other))
    with pytest.raises(ModelSourceError, match="do not match"):
        load_source("trt_export.zoo:tiny_segnet", weights=str(other))
    corrupt = tmp_path / "corrupt.pdparams"
    corrupt.write_bytes(b"not a pickle")
    with pytest.raises(ModelSourceError, match="cannot read weights"):
        load_source("trt_export.zoo:tiny_segnet", weights=str(corrupt))
    with pytest.raises(ModelSourceError, match="does not exist"):
        load_source("trt_export.zoo:tiny_segnet", weights=str(tmp_path / "missing.pdparams"))


@needs_fixtures
def test_paddlers_training_dir_without_paddlers(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "paddlers", None)  # import paddlers raises ImportError, installed or not
    train = tmp_path / "unet"
    train.mkdir()
    (train / "model.yml").write_text((FIXTURES / "paddle3.3.1-unet_train" / "model.yml").read_text())
    (train / "model.pdparams").write_bytes(b"")
    with pytest.raises(ModelSourceError, match="needs the 'paddlers' package"):
        load_source(str(train))


@needs_fixtures
def test_paddlers_dir_problems(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelSourceError, match="model.yml"):
        load_source(str(empty))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.yml").write_text("Model: [unclosed\n")
    with pytest.raises(ModelSourceError):
        load_source(str(corrupt))
    no_params = tmp_path / "noparams"
    no_params.mkdir()
    (no_params / "model.yml").write_text((FIXTURES / "paddle3.3.1-bit_train" / "model.yml").read_text())
    with pytest.raises(ModelSourceError, match="no model.pdparams"):
        load_source(str(no_params))


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A real process, where its output is the point: Paddle's C++ logging and the PaddleRS-style script."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=child_env(), cwd=cwd, timeout=300
    )


def test_cli_export_prints_the_nchw_shape(tmp_path):
    proc = _cli(
        "-m",
        "trt_export",
        "export",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--save-dir",
        str(tmp_path / "out"),
        "--fixed-input-shape",
        "[48,32]",
    )
    assert proc.returncode == 0, proc.stderr
    assert "NCHW tensor [1, 3, 32, 48]" in proc.stdout
    assert "Running IR pass" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("shape", ["[64, 64]", "[-1,3,64,64]", "[64]", "[0,64]", "[6.5,64]"])
def test_cli_bad_shape_is_one_line_exit_2(tmp_path, shape, cli):
    proc = cli(
        "export",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--save-dir",
        str(tmp_path / "out"),
        "--fixed-input-shape",
        shape,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert repr(shape) in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_shape_is_refused(tmp_path, cli):
    proc = cli("export", "--model", "trt_export.zoo:tiny_segnet", "--save-dir", str(tmp_path / "o"))
    assert proc.returncode == 2 and "required" in proc.stderr and "Traceback" not in proc.stderr


def test_paddlers_style_script(tmp_path):
    proc = _cli(
        str(REPO / "scripts" / "export_model.py"),
        "--model_dir=trt_export.zoo:tiny_segnet",
        f"--save_dir={tmp_path / 'inference_model'}",
        "--fixed_input_shape=[32,32]",
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "inference_model" / "model.pdmodel").is_file()
    missing = _cli(str(REPO / "scripts" / "export_model.py"), "--model_dir=x", f"--save_dir={tmp_path / 'y'}")
    assert missing.returncode == 2 and "fixed_input_shape" in missing.stderr


def test_paddlers_style_script_takes_paddlers_short_flags(tmp_path):
    # PaddleRS's deploy/export/export_model.py defines -m, -s and -fs; a copied command line must work.
    proc = _cli(
        str(REPO / "scripts" / "export_model.py"),
        "-m",
        "trt_export.zoo:tiny_segnet",
        "-s",
        str(tmp_path / "inference_model"),
        "-fs",
        "[48,32]",
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "inference_model" / "model.pdmodel").is_file()
    # non-square: both tensors, ours ([w,h] as PaddleRS's docs say) and the one PaddleRS's script fixes
    (note,) = [line for line in proc.stdout.splitlines() if line.startswith("note: non-square")]
    assert "fixes the NCHW tensor [1, 3, 32, 48]" in note and "would fix [1, 3, 48, 32]" in note


def test_auto_format_falls_back_to_pir_when_paddle_cannot_save_legacy(tmp_path):
    """Paddle 3.3.1's old-IR writer has no argmax: PaddleRS-style label maps only export as PIR."""
    source = load_source("fixture_models:paddlers_style_segmenter")
    shape = parse_fixed_shape("[32,32]")
    with pytest.raises(ExportError, match="--format pir"):
        export_model(source, tmp_path / "legacy", shape, model_format="legacy")
    with pytest.raises(ExportError, match="--format pir"):
        export_model(source, tmp_path / "both", shape, model_format="both")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    result = export_model(source, tmp_path / "auto", shape)
    manifest = load_manifest(result.save_dir)
    assert manifest.default_format == "pir" and list(manifest.formats) == ["pir"]
    assert any("legacy .pdmodel export is not possible" in note for note in manifest.notes)
    assert "note: legacy .pdmodel export is not possible" in result.summary()
    assert not (result.save_dir / "model.pdmodel").exists() and (result.save_dir / "model.json").is_file()
    feed = random_inputs(manifest.inputs, seed=1)
    got = predictor_outputs(result.save_dir, "pir", feed)
    reference = dygraph_outputs(source, feed)
    assert got[0].dtype == np.int32 and np.array_equal(got[0], reference[0])
    assert max_abs_diff(reference[1:], got[1:]) <= 1e-5


def test_auto_format_keeps_legacy_when_possible(tmp_path):
    result = export_model(load_source("trt_export.zoo:tiny_segnet"), tmp_path / "out", parse_fixed_shape("[32,32]"))
    assert result.manifest.default_format == "legacy" and result.manifest.notes == []


def test_default_model_has_outputs_large_enough_for_parity_to_mean_something():
    from trt_export.model.sources import DEFAULT_MODEL

    source = load_source(None)
    assert source.spec == DEFAULT_MODEL and source.kind == "factory"
    feed = random_inputs([TensorSpec(source.input_names[0], "float32", (1, 3, 64, 64))], seed=0)
    (logits,) = dygraph_outputs(source, feed)
    # far above the fp32 atol (1e-4) and representable in fp16, unlike a random-init MobileNet
    assert np.abs(logits).max() > 1e-2


def test_export_dir_gets_the_usual_mkdir_permissions(tmp_path):
    # The staging dir comes from mkdtemp (0700); the export must not keep that mode, or a serving
    # process running as another user cannot read the model.
    old = os.umask(0o022)
    try:
        result = export_model(load_source("trt_export.zoo:tiny_segnet"), tmp_path / "out", parse_fixed_shape("[32,32]"))
    finally:
        os.umask(old)
    assert (result.save_dir.stat().st_mode & 0o777) == 0o755


def test_sigterm_mid_export_leaves_no_staging_dir(tmp_path):
    # Paddle's C++ SIGTERM handler aborted the process, skipping cleanup: a cancelled CI job left
    # .NAME.partial-* dirs (a whole model's weights each) beside --save-dir.
    import signal
    import time

    pytest.importorskip("paddleseg.models", reason="paddleseg not installed (pip install --no-deps paddleseg)")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trt_export",
            "export",
            "--model",
            "paddleseg.models:UNet",
            "--model-kwargs",
            '{"num_classes": 2}',
            "--save-dir",
            str(tmp_path / "out"),
            "--fixed-input-shape",
            "[64,64]",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.partial-") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "export never started staging"
        time.sleep(0.05)
    time.sleep(0.5)  # inside Paddle's work (build, dygraph run or jit.save)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
