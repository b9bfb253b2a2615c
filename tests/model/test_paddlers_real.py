"""The `paddlers` tier: real PaddleRS (develop f62b46f, from shared/vendor) end to end on CPU.

Training dirs are written here by PaddleRS's own ``save_model`` (UNet segmenter, BIT change
detector, MobileNetV3 classifier, 2 classes, 64x64), once per module; PaddleRS's own
``deploy/export/export_model.py`` exports them next to ours. Run just this tier with
``pytest -m paddlers``; it skips with the reason when paddlers is not installed
(scripts/install-paddlers.sh installs it). The CLI runs in-process through ``cli.main``; bench
workers are real subprocesses.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixture_paths import needs_paddlers

from trt_export.errors import ModelSourceError
from trt_export.export.deploy_dir import SOURCE_KIND
from trt_export.export.exporter import export_model
from trt_export.export.manifest import MANIFEST_NAME, Manifest, load_manifest
from trt_export.infer.backends import BackendSettings
from trt_export.infer.inputs import random_inputs
from trt_export.infer.runners import PaddleInferenceRunner
from trt_export.model.offline import offline
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import load_source
from trt_export.parity.verify import VerifyOptions, verify_export
from trt_export.report.parity_text import render_verify

pytestmark = [pytest.mark.paddlers, needs_paddlers]

SHAPE = "[64,64]"
MODELS = ("unet", "bit", "clas")
BENCH_ARGS = ("--backend", "paddle-cpu", "--warmup", "0", "--iters", "2", "--no-progress", "--no-cache")


@dataclass
class Trained:
    name: str
    train: Path  # written by PaddleRS's save_model
    ours: Manifest  # trt-export export at SHAPE
    theirs: Path  # PaddleRS's export_model.py at SHAPE


def _quiet_paddlers():
    import_sink = io.StringIO()
    return contextlib.redirect_stdout(import_sink), contextlib.redirect_stderr(import_sink)


def _paddlers_export(train: Path, save_dir: Path, shape: str | None) -> None:
    """PaddleRS's own deploy/export/export_model.py, run as its __main__ (in-process: paddlers is loaded)."""
    import paddlers

    script = Path(paddlers.__file__).resolve().parents[1] / "deploy" / "export" / "export_model.py"
    argv = [str(script), "--model_dir", str(train), "--save_dir", str(save_dir)]
    if shape is not None:
        argv += ["--fixed_input_shape", shape]
    out, err = _quiet_paddlers()
    # offline(): PaddleRS's load_model runs BIT's constructor, which would fetch ImageNet weights.
    with pytest.MonkeyPatch.context() as mp, out, err, offline():
        mp.setattr(sys, "argv", argv)
        for name in ("PADDLEX_EXPORT_STAGE", "PADDLESEG_EXPORT_STAGE"):  # the script sets them
            mp.setenv(name, os.environ.get(name, ""))
        runpy.run_path(str(script), run_name="__main__")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Trained]:
    import paddle

    out, err = _quiet_paddlers()
    with out, err:
        import paddlers
        from paddlers import transforms as RT
    root = tmp_path_factory.mktemp("paddlers")
    normalize = RT.Compose([RT.Normalize(mean=[0.5] * 3, std=[0.5] * 3)])
    trains = {}
    out, err = _quiet_paddlers()
    with out, err, offline():  # BIT's constructor fetches ImageNet resnet18 weights otherwise
        paddle.seed(7)
        tasks = {
            "unet": paddlers.tasks.seg.UNet(in_channels=3, num_classes=2),
            "bit": paddlers.tasks.cd.BIT(num_classes=2),
            "clas": paddlers.tasks.clas.MobileNetV3(num_classes=2),
        }
        for name, task in tasks.items():
            task.test_transforms = normalize  # as after training: model.yml gets its Transforms
            task.save_model(str(root / f"{name}_train"))
            trains[name] = root / f"{name}_train"
    result = {}
    for name, train in trains.items():
        ours = export_model(load_source(str(train)), root / f"{name}_ours", parse_fixed_shape(SHAPE)).manifest
        _paddlers_export(train, root / f"{name}_theirs", SHAPE)
        result[name] = Trained(name, train, ours, root / f"{name}_theirs")
    return result


def _run(export_dir: Path, manifest: Manifest, feed) -> dict[str, np.ndarray]:
    with PaddleInferenceRunner(export_dir, manifest, BackendSettings(backend="paddle-cpu")) as runner:
        return runner.infer(feed)


@pytest.mark.parametrize("name", MODELS)
def test_our_export_is_paddlers_own_export(trained, name):
    """Same signature, same model.yml, and outputs identical (max abs 0) to PaddleRS's export_model.py."""
    t = trained[name]
    theirs = load_manifest(t.theirs)  # a PaddleRS deploy dir: no trt_export_manifest.json
    assert not (t.theirs / MANIFEST_NAME).exists()
    assert theirs.source["kind"] == SOURCE_KIND and theirs.fixed_shape == t.ours.fixed_shape
    assert [(s.name, s.dtype, s.shape) for s in theirs.inputs] == [(s.name, s.dtype, s.shape) for s in t.ours.inputs]
    assert [(s.dtype, s.shape) for s in theirs.outputs] == [(s.dtype, s.shape) for s in t.ours.outputs]
    assert (
        theirs.model_type
        == t.ours.model_type
        == {"unet": "segmenter", "bit": "change_detector", "clas": "classifier"}[name]
    )
    assert yaml.safe_load((t.theirs / "model.yml").read_text()) == yaml.safe_load(
        (t.ours.export_dir / "model.yml").read_text()
    )
    feed = random_inputs(t.ours.inputs, seed=3, model_yml=load_source(str(t.train)).model_yml)
    mine = _run(t.ours.export_dir, t.ours, feed)
    other = _run(t.theirs, theirs, feed)
    for (a_name, a), (b_name, b) in zip(mine.items(), other.items(), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, (a_name, b_name)
        assert np.array_equal(a, b), f"{name} {a_name}: max abs {np.max(np.abs(a.astype(np.float64) - b))}"
    if name in ("unet", "bit"):
        assert [s.name for s in theirs.outputs] == ["label_map", "score_map"]
        assert theirs.outputs[0].dtype == "int32" and theirs.outputs[1].shape == (1, 64, 64, 2)


@pytest.mark.parametrize("name", MODELS)
def test_verify_our_export_and_paddlers_own_export(trained, name, cli):
    t = trained[name]
    source = load_source(str(t.train))
    report = verify_export(source, t.ours.export_dir, VerifyOptions(settings=BackendSettings(backend="paddle-cpu")))
    assert report.passed, render_verify(report)
    code, out, err = cli("verify", "--model", str(t.train), "--exported", str(t.theirs))
    assert code == 0, err
    assert "verify: PASSED" in out
    assert "no trt_export_manifest.json" in out
    assert "Model[" not in out and "pydensecrf" not in out + err  # paddlers' prints kept out


def test_verify_catches_a_training_dir_with_other_weights(trained, tmp_path, cli):
    import paddle

    t = trained["clas"]
    other = tmp_path / "other"
    shutil.copytree(t.train, other)
    state = paddle.load(str(other / "model.pdparams"))
    state = {k: paddle.to_tensor(v.numpy() * 0.5 + 0.1) if v.dtype == paddle.float32 else v for k, v in state.items()}
    paddle.save(state, str(other / "model.pdparams"))
    code, out, err = cli("verify", "--model", str(other), "--exported", str(t.theirs))
    assert code == 1, err
    assert "verify: FAILED" in out


def test_bench_on_training_dirs(trained, tmp_path, cli):
    """The bug: every candidate 'failed (export)' with '--weights/--model-kwargs apply to factory sources only'."""
    for name, shapes in (("unet", [SHAPE]), ("bit", [SHAPE]), ("clas", [SHAPE])):
        out = tmp_path / name
        code, stdout, err = cli(
            "bench", "--model", str(trained[name].train), "--shapes", *shapes, *BENCH_ARGS, "--out", str(out)
        )
        assert code == 0, stdout + err
        report = json.loads((out / "bench.json").read_text())
        assert [c["status"] for c in report["candidates"]] == ["ok"] * len(shapes), report["candidates"]
        assert all(c["parity"]["passed"] for c in report["candidates"])
        assert report["model"]["name"] == {"unet": "UNet", "bit": "BIT", "clas": "MobileNetV3"}[name]


def test_bench_measures_a_paddlers_deploy_dir_as_it_is(trained, tmp_path, cli):
    t = trained["bit"]
    before = {p.name: p.stat().st_mtime_ns for p in t.theirs.iterdir()}
    out = tmp_path / "out"
    code, stdout, err = cli(
        "bench", "--model", str(t.train), "--exported", str(t.theirs), *BENCH_ARGS, "--out", str(out)
    )
    assert code == 0, stdout + err
    report = json.loads((out / "bench.json").read_text())
    (candidate,) = report["candidates"]
    assert candidate["label"] == "1x3x64x64" and candidate["status"] == "ok" and candidate["parity"]["passed"]
    assert any("as it is" in note for note in report["notes"])
    assert {p.name: p.stat().st_mtime_ns for p in t.theirs.iterdir()} == before  # nothing written into it
    code, _, err = cli(
        "bench",
        "--model",
        str(t.train),
        "--exported",
        str(t.theirs),
        "--shapes",
        "[32,32]",
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 2 and "own shape" in err and not (tmp_path / "x").exists()


def test_rebuilding_never_touches_the_network(trained, monkeypatch):
    """With every connection made impossible, BIT (whose constructor downloads resnet18) still loads,
    and each of its tensors is the one in model.pdparams."""
    import paddle
    import paddlers

    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    # Without trt-export's offline build the constructor needs the network (cached weights aside).
    cache = Path(paddle.utils.download.WEIGHTS_HOME)
    if not (cache / "resnet18.pdparams").exists():
        monkeypatch.setattr(paddle.utils.download, "DOWNLOAD_RETRY_LIMIT", 1)
        with pytest.raises(Exception, match="resnet18"):
            paddlers.tasks.cd.BIT(num_classes=2)
        assert attempts
    attempts.clear()
    source = load_source(str(trained["bit"].train))
    net = source.build()
    assert attempts == []  # the suppressed download never reached a socket
    state = paddle.load(str(trained["bit"].train / "model.pdparams"))
    built = {k.removeprefix("inner.").removeprefix("net."): v for k, v in net.state_dict().items()}
    assert set(built) == set(state)
    assert all(np.array_equal(built[k].numpy(), np.asarray(state[k])) for k in state)


# --- bad input: one line, exit 2, nothing written -------------------------------------------------


def _export_cli(cli, train: Path, save_dir: Path) -> tuple[int, str]:
    code, _, err = cli("export", "--model", str(train), "--save-dir", str(save_dir), "--fixed-input-shape", SHAPE)
    lines = [line for line in err.splitlines() if line.startswith("trt-export:")]
    assert len(lines) == 1, err
    assert not save_dir.exists()
    return code, lines[0]


def test_unknown_paddlers_class(trained, tmp_path, cli):
    train = tmp_path / "train"
    shutil.copytree(trained["unet"].train, train)
    text = (train / "model.yml").read_text().replace("Model: UNet", "Model: UNetXL")
    (train / "model.yml").write_text(text)
    code, line = _export_cli(cli, train, tmp_path / "out")
    assert code == 2 and "'UNetXL'" in line and "paddlers.tasks.segmenter" in line


def test_params_missing_a_key(trained, tmp_path, cli):
    import paddle

    train = tmp_path / "train"
    shutil.copytree(trained["unet"].train, train)
    state = paddle.load(str(train / "model.pdparams"))
    dropped = sorted(state)[3]
    del state[dropped]
    paddle.save(state, str(train / "model.pdparams"))
    code, line = _export_cli(cli, train, tmp_path / "out")
    assert code == 2 and repr(dropped) in line and "missing" in line
    # bench: an error of the source, not of a candidate: exit 2 with the message, not "no candidate fits"
    code, _, err = cli("bench", "--model", str(train), "--shapes", SHAPE, *BENCH_ARGS, "--out", str(tmp_path / "bench"))
    assert code == 2 and repr(dropped) in err
    assert not (tmp_path / "bench").exists()


def test_params_of_another_architecture(trained, tmp_path, cli):
    train = tmp_path / "train"
    shutil.copytree(trained["unet"].train, train)
    shutil.copy(trained["clas"].train / "model.pdparams", train / "model.pdparams")
    code, line = _export_cli(cli, train, tmp_path / "out")
    assert code == 2 and "model.pdparams" in line and "another model" in line


def _verify_cli(cli, train: Path, exported: Path, report: Path) -> tuple[int, str]:
    code, _, err = cli("verify", "--model", str(train), "--exported", str(exported), "--report", str(report))
    lines = [line for line in err.splitlines() if line.startswith("trt-export:")]
    assert len(lines) == 1, err
    assert not report.exists()
    return code, lines[0]


def test_deploy_dir_whose_model_yml_disagrees_with_the_program(trained, tmp_path, cli):
    deploy = tmp_path / "deploy"
    shutil.copytree(trained["unet"].theirs, deploy)
    data = yaml.safe_load((deploy / "model.yml").read_text())
    data["_Attributes"]["fixed_input_shape"] = [1, 3, 128, 128]
    (deploy / "model.yml").write_text(yaml.safe_dump(data))
    code, line = _verify_cli(cli, trained["unet"].train, deploy, tmp_path / "report.json")
    assert code == 2 and "[1, 3, 128, 128]" in line and "[1, 3, 64, 64]" in line and "re-export" in line
    code, _, err = cli(
        "bench",
        "--model",
        str(trained["unet"].train),
        "--exported",
        str(deploy),
        *BENCH_ARGS,
        "--out",
        str(tmp_path / "b"),
    )
    assert code == 2 and "[1, 3, 128, 128]" in err and not (tmp_path / "b").exists()


def test_deploy_dir_with_a_dynamic_shape(trained, tmp_path, cli):
    """PaddleRS exports without --fixed_input_shape: the program's input is [-1, 3, -1, -1]."""
    deploy = tmp_path / "dynamic"
    _paddlers_export(trained["clas"].train, deploy, None)
    assert yaml.safe_load((deploy / "model.yml").read_text())["_Attributes"]["fixed_input_shape"] == [-1, 3, -1, -1]
    code, line = _verify_cli(cli, trained["clas"].train, deploy, tmp_path / "report.json")
    assert code == 2 and "-1" in line and "fixed input shape" in line and "re-export" in line


def test_paddlers_own_script_puts_w_h_into_the_h_w_slots(trained, tmp_path):
    """What scripts/export_model.py warns about for non-square shapes, checked against PaddleRS itself."""
    deploy = tmp_path / "wide"
    _paddlers_export(trained["clas"].train, deploy, "[64,32]")
    shape = parse_fixed_shape("[64,32]")
    assert load_manifest(deploy).fixed_shape.nchw == shape.paddlers_script_nchw == (1, 3, 64, 32)
    assert shape.nchw == (1, 3, 32, 64)


def test_offline_check_names_a_weight_left_unloaded(trained):
    """check_weights_from_file refuses a net holding a tensor other than the file's (a download left in place)."""
    from trt_export.model.offline import check_weights_from_file

    net = load_source(str(trained["clas"].train)).build()
    inner = getattr(net, "inner", net)
    key, tensor = next(iter(inner.state_dict().items()))
    tensor.set_value(tensor.numpy() + 1.0)
    with pytest.raises(ModelSourceError, match=f"{key!r} differs"):
        check_weights_from_file(inner, trained["clas"].train / "model.pdparams", "MobileNetV3")


def test_images_go_through_the_training_model_yml_normalize(trained, tmp_path):
    """verify --images on a real training dir: model.yml's Resize + Normalize, the int32 label map compared
    by label, the NHWC score map by argmax along the last axis."""
    from trt_export.infer import transforms as T

    t = trained["unet"]
    rgb = np.random.default_rng(3).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    image = tmp_path / "scene.png"
    cv2 = T.cv2_module()
    if cv2 is None:
        pytest.skip("OpenCV is not installed")
    assert cv2.imwrite(str(image), np.ascontiguousarray(rgb[:, :, ::-1]))
    saved_io = tmp_path / "io.npz"
    options = VerifyOptions(settings=BackendSettings(backend="paddle-cpu"), images=[str(image)], save_io=str(saved_io))
    report = verify_export(load_source(str(t.train)), t.ours.export_dir, options)
    assert report.passed, render_verify(report)
    label_map, score_map = report.comparison.outputs
    assert (label_map.name, label_map.candidate_dtype, label_map.candidate_shape) == ("label_map", "int32", (1, 64, 64))
    assert label_map.label_mismatch == 0.0
    assert (score_map.name, score_map.score_axis) == ("score_map", -1) and score_map.argmax_agreement == 1.0
    with np.load(saved_io) as saved:
        expected = T.normalize(T.resize(rgb, [64, 64]), [0.5] * 3, [0.5] * 3).transpose(2, 0, 1)
        np.testing.assert_array_equal(saved["input/image"][0], expected)
