"""verify on real models, real Paddle, CPU: parity of every CPU backend against dygraph, and refusals.

Each model is exported once per module (``--format both`` at 64x64) and reused; the CLI is run
in-process through ``cli.main`` (exit code, stdout, stderr) except where a real process matters
(no traceback on stderr, factory models found through PYTHONPATH).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import BackendUnavailable, InputError, TrtExportError
from trt_export.export.exporter import export_model
from trt_export.export.manifest import Manifest
from trt_export.infer import transforms as T
from trt_export.infer.backends import BackendSettings
from trt_export.infer.inputs import random_inputs, save_npz
from trt_export.infer.runners import DygraphRunner, PaddleInferenceRunner
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import ModelSource, load_source
from trt_export.parity.verify import VerifyOptions, tolerances_for, verify_export, write_verify_report
from trt_export.report.parity_text import render_verify

paddle = import_paddle()


SHAPE = "[64,64]"

# kind -> (source, factory kwargs, export format)
MODELS = {
    "classifier": ("paddle.vision.models:mobilenet_v3_small", None, "both"),
    "segmenter": ("paddleseg.models:UNet", {"num_classes": 2}, "both"),  # bilinear upsampling
    "change_detector": ("trt_export.zoo:tiny_change_detector", None, "both"),  # image/image2, two outputs
    # conv+bn fusion of ir_optim on a legacy program moves results by ~1e-5 (shared/PADDLE-FACTS.md)
    "resnet18": ("paddle.vision.models:resnet18", None, "legacy"),
}
PARITY_KINDS = ["classifier", "segmenter", "change_detector"]
# Models with a bilinear interpolate: PIR .json + oneDNN fails on them in Paddle 3.3.1 (issue 79749).
BILINEAR = {"segmenter", "change_detector"}
# Which axis argmax agreement is judged on, per output (None: not a score output).
SCORE_AXES = {
    "classifier": {"output_0": 1},
    "segmenter": {"output_0": 1},
    "change_detector": {"output_0": 1, "output_1": None},
}


@dataclass
class Exported:
    kind: str
    source: ModelSource
    save_dir: Path
    manifest: Manifest

    @property
    def spec(self) -> str:
        return self.source.spec

    def cli_source(self) -> list[str]:
        args = ["--model", self.source.spec]
        if self.source.factory_kwargs:
            args += ["--model-kwargs", json.dumps(self.source.factory_kwargs)]
        return args


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """kind -> Exported; each model is exported the first time a test asks for it, then reused."""
    cache: dict[str, Exported] = {}

    def get(kind: str) -> Exported:
        if kind not in cache:
            spec, kwargs, fmt = MODELS[kind]
            if spec.startswith("paddleseg"):
                pytest.importorskip(
                    "paddleseg.models", reason="paddleseg not installed (pip install --no-deps paddleseg)"
                )
            source = load_source(spec, kwargs=kwargs)
            result = export_model(
                source, tmp_path_factory.mktemp(kind) / "export", parse_fixed_shape(SHAPE), model_format=fmt
            )
            cache[kind] = Exported(kind, source, result.save_dir, result.manifest)
        return cache[kind]

    return get


def error_lines(stderr: str) -> list[str]:
    """The CLI's own error lines (logging warnings of the plan may precede them)."""
    return [line for line in stderr.splitlines() if line.startswith("trt-export:")]


def _png(path: Path, rgb: np.ndarray) -> Path:
    cv2 = T.cv2_module()
    if cv2 is not None:
        assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    else:
        pil = pytest.importorskip("PIL.Image")
        pil.fromarray(rgb).save(path)
    return path


def _pixels(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --- parity of the CPU backends against dygraph -----------------------------------------------


@pytest.mark.parametrize("fmt", ["legacy", "pir"])
@pytest.mark.parametrize("backend", ["paddle-cpu", "paddle-onednn"])
@pytest.mark.parametrize("kind", PARITY_KINDS)
def test_cpu_backends_match_dygraph(exports, kind, backend, fmt):
    ex = exports(kind)
    options = VerifyOptions(settings=BackendSettings(backend=backend), model_format=fmt)
    try:
        report = verify_export(ex.source, ex.save_dir, options)
    except TrtExportError as exc:
        # The known trap, and only that one, may refuse; it must say why and what to do instead.
        assert (backend, fmt) == ("paddle-onednn", "pir") and kind in BILINEAR, f"unexpected refusal: {exc}"
        message = str(exc)
        assert "\n" not in message and "Traceback" not in message
        assert "--format legacy" in message and "--backend paddle-cpu" in message and "79749" in message
        return
    # Either no trap applies, or this Paddle no longer crashes: then parity must hold like everywhere.
    assert report.passed, render_verify(report)
    assert (report.backend, report.model_format, report.manifest.model_type) == (backend, fmt, kind)
    assert report.inputs_from == {"kind": "random", "seed": 0}
    outputs = {out.name: out for out in report.comparison.outputs}
    assert list(outputs) == ex.manifest.output_names == list(SCORE_AXES[kind])
    for name, out in outputs.items():
        assert out.shape_match and out.dtype_match, out
        assert out.reference_nan == out.candidate_nan == out.reference_inf == out.candidate_inf == 0
        # the default fp32 atol is 1e-4; CPU backends stay well below it
        assert out.max_abs_error is not None and out.max_abs_error <= 2e-5, (name, out.max_abs_error)
        assert out.cosine_similarity is not None and out.cosine_similarity > 0.99999
        assert out.score_axis == SCORE_AXES[kind][name]
        if out.score_axis is not None:
            assert out.argmax_agreement == 1.0
    if (backend, fmt) == ("paddle-cpu", "pir"):
        # PIR without oneDNN runs the very kernels dygraph runs (shared/PADDLE-FACTS.md)
        assert report.comparison.max_abs_error == 0.0
    assert report.predictor_ms > 0 and report.dygraph_ms > 0


def test_onednn_pir_bilinear_trap_is_one_line_exit_2_in_the_cli(exports, cli):
    ex = exports("change_detector")
    code, out, err = cli(
        "verify", *ex.cli_source(), "--exported", str(ex.save_dir), "--backend", "paddle-onednn", "--format", "pir"
    )
    if code == 0:
        pytest.skip("this Paddle runs oneDNN + PIR + bilinear interpolate (issue 79749 fixed)")
    assert code == 2
    assert "Traceback" not in err and "verify: " not in out
    (line,) = error_lines(err)
    assert "--format legacy" in line and "paddle-cpu" in line


# --- failures that verify must catch ------------------------------------------------------------


def _perturbed_weights(source: ModelSource, path: Path, delta: float) -> Path:
    state = {k: v + delta if v.dtype == paddle.float32 else v for k, v in source.build().state_dict().items()}
    paddle.save(state, str(path))
    return path


def test_perturbed_weights_fail_and_the_cli_exits_1(exports, tmp_path, cli):
    ex = exports("change_detector")
    same = load_source(ex.spec, weights=str(_perturbed_weights(ex.source, tmp_path / "same.pdparams", 0.0)))
    bent = load_source(ex.spec, weights=str(_perturbed_weights(ex.source, tmp_path / "bent.pdparams", 0.05)))
    options = VerifyOptions(settings=BackendSettings(backend="paddle-cpu"))
    # control: the export's own weights given through --weights pass, so only the perturbation fails
    assert verify_export(same, ex.save_dir, options).passed
    report = verify_export(bent, ex.save_dir, options)
    assert not report.passed
    assert "output_0" in report.comparison.failed_outputs
    logits = report.comparison.outputs[0]
    assert logits.max_abs_error is not None and logits.max_abs_error > 1e-2
    assert any("exceed atol=0.0001" in reason for reason in logits.reasons)

    target = tmp_path / "report.json"
    code, out, err = cli(
        "verify",
        "--model",
        ex.spec,
        "--weights",
        str(tmp_path / "bent.pdparams"),
        "--exported",
        str(ex.save_dir),
        "--report",
        str(target),
    )
    assert code == 1, err
    assert "verify: FAILED" in out and "output_0  FAILED" in out
    assert not error_lines(err)
    data = json.loads(target.read_text())
    assert data["passed"] is False and data["comparison"]["passed"] is False
    assert "output_0" in data["comparison"]["failed_outputs"]


def test_nan_in_both_dygraph_and_predictor_fails_through_the_cli(tmp_path, cli):
    """A model that outputs NaN: dygraph agrees with the predictor NaN for NaN, and still it must fail."""
    target = tmp_path / "nan.json"
    proc = cli("verify", "--model", "fixture_models:nan_net", "--fixed-input-shape", "[16,16]", "--report", str(target))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "verify: FAILED" in proc.stdout
    assert "candidate has" in proc.stdout and "reference has" in proc.stdout and "NaN" in proc.stdout
    (out,) = json.loads(target.read_text())["comparison"]["outputs"]
    assert out["passed"] is False
    assert out["reference_nan"] > 0 and out["candidate_nan"] == out["reference_nan"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_value_injected_into_the_predictor_output_fails(exports, monkeypatch, tmp_path, bad):
    ex = exports("change_detector")
    real_infer = PaddleInferenceRunner._infer

    def infer_with_injection(self, feed):
        outputs = real_infer(self, feed)
        outputs[1] = outputs[1].copy()
        outputs[1][0, 7, 9] = bad
        return outputs

    monkeypatch.setattr(PaddleInferenceRunner, "_infer", infer_with_injection)
    report = verify_export(ex.source, ex.save_dir, VerifyOptions(settings=BackendSettings(backend="paddle-cpu")))
    assert not report.passed
    assert report.comparison.failed_outputs == ["output_1"]
    logits, change = report.comparison.outputs
    assert logits.passed
    nan, inf = (1, 0) if np.isnan(bad) else (0, 1)
    assert (change.candidate_nan, change.candidate_inf, change.reference_nan, change.reference_inf) == (nan, inf, 0, 0)
    assert change.reasons[0] == f"candidate has {nan} NaN and {inf} Inf values"
    # the statistics still describe the finite elements, and the report stays strict JSON
    assert change.max_abs_error == 0.0
    data = json.loads(write_verify_report(report, tmp_path / "r.json").read_text())
    assert data["comparison"]["outputs"][1]["candidate_nan"] == nan


def test_source_with_other_inputs_is_refused(exports):
    ex = exports("change_detector")
    other = load_source("trt_export.zoo:tiny_segnet")
    with pytest.raises(InputError, match=r"takes inputs \['image'\] but the export .* takes \['image', 'image2'\]"):
        verify_export(other, ex.save_dir, VerifyOptions(settings=BackendSettings(backend="paddle-cpu")))


# --- inputs -----------------------------------------------------------------------------------


def test_runners_refuse_a_feed_of_the_wrong_shape(exports):
    ex = exports("classifier")
    (spec,) = ex.manifest.inputs
    feed = {spec.name: np.zeros((1, 3, 32, 32), np.float32)}
    pattern = r"has shape \(1,3,32,32\) but the model was exported at fixed shape \(1,3,64,64\)"
    with PaddleInferenceRunner(ex.save_dir, ex.manifest, BackendSettings(backend="paddle-cpu")) as runner:
        with pytest.raises(InputError, match=pattern):
            runner.infer(feed)
    with DygraphRunner(ex.source.build, ex.manifest.inputs, ex.manifest.output_names) as runner:
        with pytest.raises(InputError, match=pattern):
            runner.infer(feed)


def test_npz_inputs_are_used_and_checked(exports, tmp_path, cli):
    ex = exports("classifier")
    (spec,) = ex.manifest.inputs
    good = save_npz(tmp_path / "good.npz", {spec.name: np.full(spec.shape, 0.25, np.float32)})
    io = tmp_path / "io.npz"
    report = tmp_path / "r.json"
    code, out, err = cli(
        "verify",
        *ex.cli_source(),
        "--exported",
        str(ex.save_dir),
        "--inputs",
        str(good),
        "--save-io",
        str(io),
        "--report",
        str(report),
    )
    assert code == 0, err
    assert "inputs: npz" in out
    assert json.loads(report.read_text())["inputs"] == {"kind": "npz", "path": str(good)}
    with np.load(io) as saved:
        assert np.array_equal(saved[f"input/{spec.name}"], np.full(spec.shape, 0.25, np.float32))

    wrong = save_npz(tmp_path / "wrong.npz", {spec.name: np.zeros((1, 3, 32, 32), np.float32)})
    code, out, err = cli("verify", *ex.cli_source(), "--exported", str(ex.save_dir), "--inputs", str(wrong))
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert "(1,3,32,32)" in line and "(1,3,64,64)" in line and "wrong.npz" in line


def test_images_without_model_yml_are_raw_pixels_in_pairs(exports, tmp_path, cli):
    """A factory source has no training model.yml: only the Resize, values stay 0..255 (as PaddleRS feeds)."""
    ex = exports("change_detector")
    before, after = _pixels(50, 70, 1), _pixels(50, 70, 2)
    files = [_png(tmp_path / "before.png", before), _png(tmp_path / "after.png", after)]
    io = tmp_path / "io.npz"
    code, out, err = cli(
        "verify", "--model", ex.spec, "--exported", str(ex.save_dir), "--images", *map(str, files), "--save-io", str(io)
    )
    assert code == 0, err
    assert "inputs: images" in out and "verify: PASSED" in out
    with np.load(io) as saved:
        for name, rgb in (("image", before), ("image2", after)):
            expected = T.resize(rgb, [64, 64]).astype(np.float32).transpose(2, 0, 1)
            np.testing.assert_array_equal(saved[f"input/{name}"][0], expected)
        assert saved["input/image"].max() > 1.0

    code, out, err = cli("verify", "--model", ex.spec, "--exported", str(ex.save_dir), "--images", str(files[0]))
    assert code == 2
    (line,) = err.splitlines()
    assert "got 1 image file(s)" in line and "image, image2" in line


def test_save_io_and_report(exports, tmp_path, cli):
    ex = exports("change_detector")
    io, target = tmp_path / "io.npz", tmp_path / "report.json"
    code, out, err = cli(
        "verify",
        "--model",
        ex.spec,
        "--exported",
        str(ex.save_dir),
        "--seed",
        "5",
        "--save-io",
        str(io),
        "--report",
        str(target),
    )
    assert code == 0, err
    assert f"report: {target}" in out

    with np.load(io) as saved:
        assert set(saved.files) == {
            "input/image",
            "input/image2",
            "reference/output_0",
            "reference/output_1",
            "candidate/output_0",
            "candidate/output_1",
        }
        feed = random_inputs(ex.manifest.inputs, seed=5)  # the same seeded inputs went to both sides
        for name, value in feed.items():
            np.testing.assert_array_equal(saved[f"input/{name}"], value)
        for name in ("output_0", "output_1"):
            np.testing.assert_allclose(saved[f"candidate/{name}"], saved[f"reference/{name}"], atol=1e-5)
        # reference really is the dygraph model on those inputs
        with DygraphRunner(ex.source.build, ex.manifest.inputs, ex.manifest.output_names) as runner:
            np.testing.assert_array_equal(runner.infer(feed)["output_0"], saved["reference/output_0"])

    data = json.loads(target.read_text())
    assert set(data) == {
        "schema",
        "schema_version",
        "tool_version",
        "created_utc",
        "model",
        "export_dir",
        "fixed_input_shape",
        "backend",
        "precision",
        "format",
        "inputs",
        "passed",
        "timing",
        "notes",
        "comparison",
    }
    assert (data["schema"], data["schema_version"], data["passed"]) == ("trt-export/verify", 1, True)
    assert data["model"] == {"name": "tiny_change_detector", "model_type": "change_detector", "source": ex.spec}
    assert data["export_dir"] == str(ex.save_dir)
    assert data["fixed_input_shape"] == [1, 3, 64, 64]
    assert (data["backend"], data["precision"], data["format"]) == ("paddle-cpu", "fp32", "legacy")
    assert data["inputs"] == {"kind": "random", "seed": 5}
    assert set(data["timing"]) == {"dygraph_ms", "predictor_ms", "build_s"} and data["timing"]["build_s"] > 0
    comparison = data["comparison"]
    assert comparison["passed"] is True and comparison["failed_outputs"] == [] and comparison["missing"] == []
    assert [o["name"] for o in comparison["outputs"]] == ["output_0", "output_1"]
    first = comparison["outputs"][0]
    assert first["tolerance"] == {
        "atol": 1e-4,
        "rtol": 1e-3,
        "min_argmax_agreement": 0.999,
        "max_label_mismatch": 1e-3,
        "min_cosine": 0.9999,
    }
    assert first["reference_shape"] == first["candidate_shape"] == [1, 2, 64, 64]
    assert first["score_axis"] == 1 and first["argmax_agreement"] == 1.0 and first["max_abs_error"] == 0.0
    assert comparison["outputs"][1]["score_axis"] is None and comparison["outputs"][1]["argmax_agreement"] is None


@pytest.mark.parametrize("flag", ["--report", "--save-io"])
def test_output_file_in_a_missing_directory_is_one_line_exit_2(exports, tmp_path, cli, flag):
    ex = exports("change_detector")
    code, out, err = cli(
        "verify", "--model", ex.spec, "--exported", str(ex.save_dir), flag, str(tmp_path / "no" / "such" / "out")
    )
    assert code == 2
    (line,) = error_lines(err)
    assert "does not exist" in line and "internal error" not in line
    if flag == "--save-io":
        assert out == ""  # refused before anything ran


# --- backends that this machine does not have ---------------------------------------------------


def test_tensorrt_backend_unavailable_is_one_line_exit_2(exports, cli):
    ex = exports("change_detector")
    proc = cli("verify", "--model", ex.spec, "--exported", str(ex.save_dir), "--backend", "trt-fp32")
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("trt-export: error: backend trt-fp32 is not available here: ")
    assert "CPU-only" in line or "TensorRT" in line


def test_gpu_backend_unavailable(exports, cli):
    ex = exports("change_detector")
    code, out, err = cli("verify", "--model", ex.spec, "--exported", str(ex.save_dir), "--backend", "paddle-gpu")
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert "backend paddle-gpu is not available here" in line and "paddlepaddle-gpu" in line
    with pytest.raises(BackendUnavailable):
        verify_export(ex.source, ex.save_dir, VerifyOptions(settings=BackendSettings(backend="paddle-gpu")))


# --- tolerances -----------------------------------------------------------------------------------


def test_zero_tolerance_catches_ir_optim_fusion_rounding(exports, tmp_path, cli):
    ex = exports("resnet18")
    assert verify_export(ex.source, ex.save_dir, VerifyOptions(settings=BackendSettings(backend="paddle-cpu"))).passed
    target = tmp_path / "r.json"
    code, out, err = cli(
        "verify",
        *ex.cli_source(),
        "--exported",
        str(ex.save_dir),
        "--atol",
        "0",
        "--rtol",
        "0",
        "--report",
        str(target),
    )
    assert code == 1 and "verify: FAILED" in out, err
    (result,) = json.loads(target.read_text())["comparison"]["outputs"]
    assert result["tolerance"]["atol"] == 0.0 and result["tolerance"]["rtol"] == 0.0
    # conv+bn fusion rounding: small but not zero, and the report says what would have passed
    assert 0.0 < result["max_abs_error"] < 1e-4
    assert result["required_atol"] == pytest.approx(result["max_abs_error"])
    assert result["argmax_agreement"] == 1.0
    # without the IR passes the legacy program is exact
    exact = VerifyOptions(settings=BackendSettings(backend="paddle-cpu", ir_optim=False), atol=["0"], rtol=["0"])
    assert verify_export(ex.source, ex.save_dir, exact).passed


def test_per_output_tolerance(exports, tmp_path, cli):
    ex = exports("change_detector")
    target = tmp_path / "r.json"
    # oneDNN moves results by ~1e-6: a zero bound on output_1 alone fails output_1 alone
    code, out, err = cli(
        "verify",
        "--model",
        ex.spec,
        "--exported",
        str(ex.save_dir),
        "--backend",
        "paddle-onednn",
        "--atol",
        "output_1=0",
        "--rtol",
        "output_1=0",
        "--report",
        str(target),
    )
    assert code == 1, err
    comparison = json.loads(target.read_text())["comparison"]
    assert comparison["failed_outputs"] == ["output_1"]
    first, second = comparison["outputs"]
    assert (first["tolerance"]["atol"], first["tolerance"]["rtol"]) == (1e-4, 1e-3)
    assert (second["tolerance"]["atol"], second["tolerance"]["rtol"]) == (0.0, 0.0)
    assert second["max_abs_error"] > 0

    # overall and per-output together: the per-output value wins for its output, the other side keeps its default
    tols = tolerances_for(ex.manifest, "paddle-cpu", atol=["1e-2", "output_1=1e-6"], rtol=None)
    assert (tols["output_0"].atol, tols["output_0"].rtol) == (1e-2, 1e-3)
    assert (tols["output_1"].atol, tols["output_1"].rtol) == (1e-6, 1e-3)
    assert tols["output_1"].min_argmax_agreement == 0.999
    assert tolerances_for(ex.manifest, "trt-fp16")["output_0"].atol == 1e-2


@pytest.mark.parametrize(
    "flag, fragment",
    [
        (["--atol", "score_map=1e-2"], "no output named 'score_map'"),
        (["--rtol", "abc"], "is not a number or NAME=NUMBER"),
        (["--atol", "-1"], "must be a finite number >= 0"),
    ],
)
def test_bad_tolerances_exit_2_before_running(exports, cli, flag, fragment):
    ex = exports("change_detector")
    code, out, err = cli("verify", "--model", ex.spec, "--exported", str(ex.save_dir), *flag)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert fragment in line
    if "no output named" in fragment:
        assert "['output_0', 'output_1']" in line


# --- export then verify in one call -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", [None, "pir"])
def test_verify_without_exported_exports_to_a_temp_dir(tmp_path, cli, fmt):
    target = tmp_path / "r.json"
    extra = ["--format", fmt] if fmt else []
    code, out, err = cli(
        "verify",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--fixed-input-shape",
        "[48,32]",
        *extra,
        "--report",
        str(target),
    )
    assert code == 0, err
    assert "verify tiny_segnet at NCHW tensor [1, 3, 32, 48]" in out and "verify: PASSED" in out
    data = json.loads(target.read_text())
    assert data["fixed_input_shape"] == [1, 3, 32, 48]
    assert data["format"] == (fmt or "legacy")
    assert data["passed"] is True
    assert data["export_dir"] is None  # the temporary export is cleaned up, so the report names none


def test_verify_refuses_both_an_export_and_a_shape(tmp_path, cli):
    code, out, err = cli(
        "verify", "--model", "trt_export.zoo:tiny_segnet", "--fixed-input-shape", "[48,32]", "--exported", str(tmp_path)
    )
    assert code == 2 and "not both" in err and err.count("\n") == 1


def test_verify_refuses_a_report_path_in_a_missing_dir_before_running(tmp_path, cli):
    code, out, err = cli(
        "verify",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--fixed-input-shape",
        "[48,32]",
        "--report",
        str(tmp_path / "missing" / "r.json"),
    )
    assert code == 2 and "does not exist" in err and out == ""


def test_verify_needs_an_export_or_a_shape(cli):
    code, out, err = cli("verify", "--model", "trt_export.zoo:tiny_segnet")
    assert code == 2
    (line,) = err.splitlines()
    assert "--exported" in line and "--fixed-input-shape" in line and "not both" not in line


def test_verify_notes_model_kwargs_that_differ_from_the_export(tmp_path, cli):
    from trt_export.export.exporter import export_model

    export_model(
        load_source("trt_export.zoo:tiny_segnet", kwargs={"width": 8}), tmp_path / "e", parse_fixed_shape("[32,32]")
    )
    code, out, err = cli("verify", "--model", "trt_export.zoo:tiny_segnet", "--exported", str(tmp_path / "e"))
    assert code == 1 and "was made with --model-kwargs {'width': 8}" in out
