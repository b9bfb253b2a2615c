"""Runners on real CPU predictors: a tiny conv net exported in both formats, against dygraph."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from fixture_tiny import OUTPUTS, SHAPE, assert_close, export_tiny, make_layer

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import BackendUnavailable, InputError, TrtExportError
from trt_export.export.manifest import load_manifest
from trt_export.infer.backends import BackendSettings
from trt_export.infer.inputs import TensorSpec, random_inputs, save_npz
from trt_export.infer.runners import (
    DygraphRunner,
    PaddleInferenceRunner,
    calibration_feeds,
    flatten_outputs,
    translate_paddle_error,
)

paddle = import_paddle()
nn = paddle.nn
F = paddle.nn.functional


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    layer = make_layer()
    directory = tmp_path_factory.mktemp("tiny")
    return layer, directory, export_tiny(directory, layer)


@pytest.fixture(scope="module")
def feed():
    return random_inputs([TensorSpec("image", "float32", SHAPE)], seed=3)


@pytest.fixture(scope="module")
def reference(tiny, feed):
    layer, _, manifest = tiny
    with DygraphRunner(layer, manifest.inputs, manifest.output_names) as runner:
        return runner.infer(feed)


@pytest.mark.parametrize("backend", ["paddle-cpu", "paddle-onednn"])
@pytest.mark.parametrize("fmt", ["legacy", "pir"])
def test_cpu_backends_match_dygraph(tiny, feed, reference, backend, fmt):
    _, directory, manifest = tiny
    runner = PaddleInferenceRunner(directory, manifest, BackendSettings(backend, cpu_threads=1), model_format=fmt)
    assert runner.name == f"{backend}[{fmt}]"
    with runner:
        outputs = runner.infer(feed)
        assert runner.last_inference_time() > 0
        assert runner.build_seconds is not None and runner.build_seconds > 0
        again = runner.infer(feed)
        runner.run_raw()
    assert list(outputs) == OUTPUTS
    assert_close(outputs, reference)
    for name in OUTPUTS:
        np.testing.assert_array_equal(outputs[name], again[name])
    assert not runner.is_active


def test_ir_optim_off_is_exact_on_plain_cpu(tiny, feed, reference):
    _, directory, manifest = tiny
    with PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-cpu", ir_optim=False), "pir") as runner:
        outputs = runner.infer(feed)
    assert_close(outputs, reference, atol=1e-6, rtol=1e-5)


def test_memory_optim_with_pir_is_planned_away_and_runs(tiny, feed, reference):
    _, directory, manifest = tiny
    with PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-cpu", memory_optim=True), "pir") as runner:
        assert "enable_memory_optim" not in runner.plan.methods
        assert_close(runner.infer(feed), reference)
    with PaddleInferenceRunner(
        directory, manifest, BackendSettings("paddle-cpu", memory_optim=True), "legacy"
    ) as runner:
        assert "enable_memory_optim" in runner.plan.methods
        assert_close(runner.infer(feed), reference)


def test_manifest_loaded_from_dir_and_default_format(tiny, feed, reference):
    _, directory, _ = tiny
    runner = PaddleInferenceRunner(directory, None, BackendSettings("paddle-cpu"))
    assert runner.model_format == "legacy"
    with runner:
        assert_close(runner.infer(feed), reference)


def test_wrong_shape_feed_is_refused(tiny, feed):
    _, directory, manifest = tiny
    bad = {"image": np.zeros((1, 3, 64, 64), np.float32)}
    with PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-cpu"), "legacy") as runner:
        with pytest.raises(InputError, match="fixed shape"):
            runner.infer(bad)
        with pytest.raises(InputError, match="dtype"):
            runner.infer({"image": feed["image"].astype(np.float64)})
        with pytest.raises(InputError, match="missing"):
            runner.infer({"x": feed["image"]})
    layer = make_layer()
    with DygraphRunner(layer, manifest.inputs, manifest.output_names) as runner:
        with pytest.raises(InputError):
            runner.infer(bad)


def test_infer_before_activate_and_time_before_infer(tiny, feed):
    _, directory, manifest = tiny
    runner = PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-cpu"), "legacy")
    with pytest.raises(TrtExportError, match="not active"):
        runner.infer(feed)
    with runner:
        with pytest.raises(TrtExportError, match="not run an inference"):
            runner.last_inference_time()
        with pytest.raises(TrtExportError, match="infer"):
            runner.run_raw()


def test_missing_format_is_a_one_line_error(tmp_path):
    manifest = export_tiny(tmp_path / "only_pir", make_layer(), formats=("pir",))
    with pytest.raises(TrtExportError, match="no 'legacy' format") as info:
        PaddleInferenceRunner(tmp_path / "only_pir", manifest, BackendSettings("paddle-cpu"), "legacy")
    assert "\n" not in str(info.value)


def test_onednn_pir_interpolate_crash_becomes_one_line(tmp_path):
    layer = make_layer(interpolate=True)
    manifest = export_tiny(tmp_path / "interp", layer)
    feed = random_inputs(manifest.inputs, seed=1)
    with DygraphRunner(layer, manifest.inputs, manifest.output_names) as runner:
        expected = runner.infer(feed)
    runner = PaddleInferenceRunner(tmp_path / "interp", manifest, BackendSettings("paddle-onednn"), "pir")
    with runner:
        assert any("--format legacy" in w for w in runner.plan.warnings)
        with pytest.raises(TrtExportError) as info:
            runner.infer(feed)
    message = str(info.value)
    assert "\n" not in message
    assert "--format legacy" in message and "paddle-cpu" in message
    # The two suggested ways out both work.
    for backend, fmt in (("paddle-onednn", "legacy"), ("paddle-cpu", "pir")):
        with PaddleInferenceRunner(tmp_path / "interp", manifest, BackendSettings(backend), fmt) as ok:
            assert_close(ok.infer(feed), expected)


@pytest.mark.parametrize("damage", ["garbage_model", "truncated_params"])
def test_damaged_export_files_are_refused_before_paddle_loads_them(tmp_path, damage):
    # Paddle 3.3.1 segfaults on a garbage .pdmodel instead of raising: the files are checked
    # against the manifest's sha256 before any predictor is built.
    directory = tmp_path / "tiny"
    manifest = export_tiny(directory, make_layer(), formats=("legacy",))
    model_file = directory / "model.pdmodel"
    data = manifest.to_dict()
    data["formats"]["legacy"]["model_sha256"] = hashlib.sha256(model_file.read_bytes()).hexdigest()
    (directory / "trt_export_manifest.json").write_text(__import__("json").dumps(data))
    manifest = load_manifest(directory)
    if damage == "garbage_model":
        model_file.write_bytes(b"garbage\n")
        name = "model.pdmodel"
    else:
        params = directory / "model.pdiparams"
        params.write_bytes(params.read_bytes()[:100])
        name = "model.pdiparams"
    runner = PaddleInferenceRunner(directory, manifest, BackendSettings("paddle-cpu"), "legacy")
    with pytest.raises(TrtExportError, match="re-export") as info:
        runner.activate()
    assert name in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("backend", ["paddle-gpu", "trt-fp32", "trt-fp16"])
def test_unavailable_backends_raise_one_line(tiny, backend):
    if paddle.is_compiled_with_cuda():
        pytest.skip("this Paddle has CUDA; the GPU tests cover these backends")
    _, directory, manifest = tiny
    runner = PaddleInferenceRunner(directory, manifest, BackendSettings(backend), "legacy")
    with pytest.raises(BackendUnavailable) as info:
        runner.activate()
    assert "\n" not in str(info.value) and "CPU-only" in str(info.value)
    assert not runner.is_active


def test_trt_int8_without_calibration_is_refused_before_anything_runs(tiny):
    _, directory, manifest = tiny
    runner = PaddleInferenceRunner(directory, manifest, BackendSettings("trt-int8"), "legacy")
    with pytest.raises(TrtExportError):
        runner.activate()


def test_dygraph_runner_with_factory_and_dict_outputs(feed):
    class DictNet(nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2D(3, 4, 1)

        def forward(self, image):
            y = self.conv(image)
            # Insertion order, not alphabetical: 'z' first.
            return {"z": y, "a": [paddle.mean(y), y * 2]}

    specs = [TensorSpec("image", "float32", SHAPE)]
    runner = DygraphRunner(DictNet, specs, ["first", "second", "third"])
    with runner:
        out = runner.infer(feed)
        assert runner.last_inference_time() > 0
    assert list(out) == ["first", "second", "third"]
    np.testing.assert_allclose(out["third"], out["first"] * 2, rtol=1e-6)
    assert out["second"].shape == ()
    with DygraphRunner(DictNet, specs, ["only_one"]) as runner, pytest.raises(TrtExportError, match="3 outputs"):
        runner.infer(feed)


def test_dygraph_factory_must_return_a_layer():
    with pytest.raises(TrtExportError, match="not a paddle.nn.Layer"):
        DygraphRunner(lambda: 42, [], []).activate()


def test_flatten_outputs_rejects_non_tensors():
    t = paddle.to_tensor([1.0])
    assert len(flatten_outputs((t, [t, {"k": t}]))) == 3
    with pytest.raises(TrtExportError, match="NoneType"):
        flatten_outputs((t, None))


def test_translate_paddle_error():
    crash = NotImplementedError(
        "(Unimplemented) ConvertPirAttribute2RuntimeAttribute not support [pir::ArrayAttribute<pir::DoubleAttribute>]"
    )
    assert "--format legacy" in str(translate_paddle_error(crash, "running"))
    no_trt = RuntimeError(
        "(PreconditionNotMet) To use Paddle-TensorRT, please compile with TENSORRT first.\n  [Hint: ...]"
    )
    assert isinstance(translate_paddle_error(no_trt, "creating"), BackendUnavailable)
    other = RuntimeError(
        "\n\n----\nC++ Traceback\n  0 foo\n----\nError Message Summary:\n(InvalidArgument) bad dims [1, 2]\n  [Hint: x]"
    )
    message = str(translate_paddle_error(other, "running x"))
    assert message == "Paddle Inference failed while running x: RuntimeError: (InvalidArgument) bad dims [1, 2]"


def test_calibration_feeds_from_npz_and_missing_path(tmp_path, feed):
    specs = [TensorSpec("image", "float32", SHAPE)]
    npz = save_npz(tmp_path / "calib.npz", feed)
    feeds = calibration_feeds(specs, npz)
    assert len(feeds) == 1
    np.testing.assert_array_equal(feeds[0]["image"], feed["image"])
    with pytest.raises(TrtExportError, match="does not exist"):
        calibration_feeds(specs, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrtExportError, match="one batch needs 1"):
        calibration_feeds(specs, tmp_path / "empty")


def test_calibration_feeds_from_image_dir(tmp_path):
    specs = [TensorSpec("image", "float32", (2, 3, 16, 16))]
    rng = np.random.default_rng(0)
    for i in range(5):
        np.save(tmp_path / f"img{i}.npy", rng.integers(0, 256, (20, 24, 3)).astype(np.uint8))
    feeds = calibration_feeds(specs, tmp_path)
    # 5 files at batch 2: two full batches, the fifth file is left over.
    assert len(feeds) == 2
    assert all(f["image"].shape == (2, 3, 16, 16) for f in feeds)


# --------------------------------------------------------------------------- PIR convert plumbing


def _install_fake_paddle_tensorrt(monkeypatch, calls: list) -> None:
    """Stand in for paddle.tensorrt.export, which CPU wheels do not ship.

    The names and keywords are those of python/paddle/tensorrt/export.py (Paddle 3.x). convert()
    treats its path the way Paddle's does: a path naming an existing file goes unchanged to
    paddle.static.load_inference_model, anything else must be a prefix with a .json beside it; the
    program is then re-saved at save_model_dir with save_inference_model, like Paddle's convert
    but without TensorRT ops, so the real Paddle loader and writer run here.
    """
    import enum
    import os
    import sys
    import types

    class PrecisionMode(enum.Enum):
        FP32 = "FP32"
        FP16 = "FP16"
        BF16 = "BF16"
        INT8 = "INT8"

    class Input:
        def __init__(
            self,
            warmup_data=None,
            min_input_shape=None,
            max_input_shape=None,
            optim_input_shape=None,
            input_data_type="float32",
            input_range=None,
            name=None,
        ):
            self.warmup_data, self.name, self.input_data_type = warmup_data, name, input_data_type
            self.min_input_shape, self.optim_input_shape, self.max_input_shape = (
                min_input_shape,
                optim_input_shape,
                max_input_shape,
            )

    class TensorRTConfig:
        def __init__(
            self,
            inputs,
            min_subgraph_size=3,
            save_model_dir=None,
            disable_ops=None,
            precision_mode=PrecisionMode.FP32,
            ops_run_float=None,
            optimization_level=3,
            disable_passes=(),
            workspace_size=1 << 30,
            use_cuda_graph=False,
            refit_params_path=None,
        ):
            self.inputs, self.save_model_dir, self.precision_mode = inputs, save_model_dir, precision_mode
            self.min_subgraph_size, self.disable_ops, self.workspace_size = (
                min_subgraph_size,
                disable_ops,
                workspace_size,
            )

    def convert(model_path, config):
        calls.append((model_path, config))
        if not os.path.isfile(model_path) and not os.path.exists(model_path + ".json"):
            raise ValueError(f"No valid model file found in the directory '{model_path}'")
        exe = paddle.static.Executor(paddle.CPUPlace())
        with paddle.pir_utils.IrGuard():
            program, _, _ = paddle.static.io.load_inference_model(model_path, executor=exe)
            ops = program.global_block().ops
            feeds = [r for op in ops if op.name() in ("pd_op.data", "pd_op.feed") for r in op.results()]
            fetches = [op.operands()[0].source() for op in ops if op.name() == "pd_op.fetch"]
            paddle.static.save_inference_model(config.save_model_dir, feeds, fetches, exe, program=program)
        return program

    export = types.ModuleType("paddle.tensorrt.export")
    export.Input, export.PrecisionMode, export.TensorRTConfig, export.convert = (
        Input,
        PrecisionMode,
        TensorRTConfig,
        convert,
    )
    package = types.ModuleType("paddle.tensorrt")
    package.export = export
    monkeypatch.setitem(sys.modules, "paddle.tensorrt", package)
    monkeypatch.setitem(sys.modules, "paddle.tensorrt.export", export)


def test_pir_convert_gets_the_model_prefix_and_its_output_loads(tiny, feed, reference, monkeypatch, tmp_path):
    from trt_export.infer.backends import plan_config

    calls: list = []
    _install_fake_paddle_tensorrt(monkeypatch, calls)
    _, directory, manifest = tiny
    model_file, params_file = manifest.files("pir")
    # Paddle 3.3.1's PIR loader appends ".json" to whatever it is given, so the file path itself fails.
    with paddle.pir_utils.IrGuard(), pytest.raises(Exception):  # noqa: B017 - Paddle raises a bare ValueError/RuntimeError by version
        paddle.static.io.load_inference_model(str(model_file), executor=paddle.static.Executor(paddle.CPUPlace()))

    from trt_export.infer.trt_convert import convert_in_process

    settings = BackendSettings("trt-fp16", trt_cache_dir=str(tmp_path / "cache"))
    plan = plan_config(settings, "pir", {"image": SHAPE}, paddle.__version__).convert
    # What the runner's child process runs (trt_export.infer.trt_convert), here in-process with the fake.
    out_model, out_params = convert_in_process(plan, model_file, params_file, Path(plan.save_model_prefix))
    [(model_path, config)] = calls
    assert model_path == str(model_file.with_suffix(""))
    assert config.precision_mode.name == "FP16"
    assert [(i.name, i.min_input_shape, i.optim_input_shape, i.max_input_shape) for i in config.inputs] == [
        ("image", SHAPE, SHAPE, SHAPE)
    ]
    assert (out_model.name, out_params.name) == ("model.json", "model.pdiparams")
    assert out_model.parent == tmp_path / "cache" / "pir_trt_fp16_1x3x32x32"

    # The re-saved program renames its fetch targets; the runner maps them by position.
    config = paddle.inference.Config(str(out_model), str(out_params))
    config.disable_mkldnn()
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    assert list(predictor.get_input_names()) == ["image"]
    predictor.get_input_handle("image").copy_from_cpu(feed["image"])
    predictor.run()
    outputs = dict(
        zip(OUTPUTS, (predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()), strict=True)
    )
    assert_close(outputs, reference)


def test_pir_convert_refuses_weights_it_would_not_read(tiny, monkeypatch, tmp_path):
    from trt_export.infer.backends import plan_config

    _install_fake_paddle_tensorrt(monkeypatch, [])
    _, directory, manifest = tiny
    model_file, _ = manifest.files("pir")
    from trt_export.infer.trt_convert import convert_in_process

    settings = BackendSettings("trt-fp32", trt_cache_dir=str(tmp_path))
    plan = plan_config(settings, "pir", {"image": SHAPE}, paddle.__version__).convert
    with pytest.raises(TrtExportError, match="model.pdiparams"):
        convert_in_process(plan, model_file, model_file.with_name("weights.pdiparams"), Path(plan.save_model_prefix))


def test_legacy_trt_shape_collection_writes_every_tensor_range(tiny, tmp_path):
    """The collection predictor runs here on CPU (enable_use_gpu only logs on a CPU build)."""
    from trt_export.infer.backends import plan_config

    _, directory, manifest = tiny
    settings = BackendSettings("trt-fp32", trt_cache_dir=str(tmp_path / "cache"))
    runner = PaddleInferenceRunner(directory, manifest, settings, "legacy")
    runner.plan = plan_config(settings, "legacy", {"image": SHAPE}, paddle.__version__)
    model_file, params_file = manifest.files("legacy")
    runner._collect_shapes(model_file, params_file)
    path = Path(runner.plan.shape_range_info_path)
    assert path.parent == tmp_path / "cache" / "legacy_trt_fp32_1x3x32x32"
    text = path.read_text()
    # The feed and intermediate tensors, each at the fixed shape (min = opt = max).
    assert 'name: "image"' in text
    assert text.count("shape_range_info {") > 3
    block = text[text.index('name: "image"') :].split("}")[0]
    for dim in SHAPE:
        assert f"min_shape: {dim}" in block and f"max_shape: {dim}" in block


def test_kept_trt_cache_is_scoped_by_program_and_weights(tiny, tmp_path, monkeypatch):
    """Paddle keys engines by tensor names; two models sharing --trt-cache-dir must not share engines."""
    from trt_export.infer import runners

    _, directory, manifest = tiny
    other = export_tiny(tmp_path / "other", make_layer(seed=1))
    planned = []

    def stop_after_planning(self, model_file, params_file):
        planned.append(self.plan)
        raise TrtExportError("stop")

    monkeypatch.setattr(runners, "require_backend", lambda *a, **k: None)
    monkeypatch.setattr(PaddleInferenceRunner, "_collect_shapes", stop_after_planning)
    settings = BackendSettings("trt-fp32", trt_cache_dir=str(tmp_path / "cache"))
    for d, m in ((directory, manifest), (tmp_path / "other", other), (directory, manifest)):
        with pytest.raises(TrtExportError, match="stop"):
            PaddleInferenceRunner(d, m, settings, "legacy").activate()
    first, second, again = (Path(p.shape_range_info_path) for p in planned)
    assert first == again and first != second
    assert first.parent.parent.parent == tmp_path / "cache"
    assert first.parent.parent.name.startswith("model_")


def test_legacy_int8_starts_from_an_empty_cache(tiny, tmp_path, monkeypatch):
    """A kept INT8 table or engine would be reused and this run's calibration data ignored."""
    from trt_export.infer import runners

    _, directory, manifest = tiny
    seen = []

    def stop(self, model_file, params_file):
        seen.append(sorted(p.name for p in Path(self.plan.optim_cache_dir).glob("*")))
        raise TrtExportError("stop")

    monkeypatch.setattr(runners, "require_backend", lambda *a, **k: None)
    monkeypatch.setattr(PaddleInferenceRunner, "_collect_shapes", stop)
    for backend in ("trt-fp16", "trt-int8"):
        settings = BackendSettings(backend, trt_cache_dir=str(tmp_path / "cache"), allow_random_calibration=True)
        runner = PaddleInferenceRunner(directory, manifest, settings, "legacy")
        with pytest.raises(TrtExportError, match="stop"):
            runner.activate()
        cache = Path(runner.plan.optim_cache_dir)
        assert cache == Path(runner.plan.shape_range_info_path).parent / "_opt_cache"
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "trt_calib_stale").write_text("x")
        with pytest.raises(TrtExportError, match="stop"):
            runner.activate()
    # fp16 keeps its cache (engines are reused with use_static); int8 had it emptied.
    assert seen == [[], ["trt_calib_stale"], [], []]


class _CalibratingPredictor:
    """Stands in for a legacy INT8 calibrating predictor on a CPU build.

    Paddle's ~AnalysisPredictor -> SaveTrtCalibToDisk writes the table to
    GetOrCreateModelOptCacheDir(GetDirRoot(model_program_path)) + "/trt_calib_<key>", i.e.
    "<dir of the model file>/_opt_cache//trt_calib_<key>" (analysis_predictor.cc, helper.h); this
    fake does exactly that when it is deleted, or writes nothing (no TensorRT subgraph).
    """

    def __init__(self, model_file: Path, write_table: bool) -> None:
        self.model_file, self.write_table = model_file, write_table

    def get_input_handle(self, name):
        import types

        return types.SimpleNamespace(reshape=lambda shape: None, copy_from_cpu=lambda array: None)

    def run(self):
        pass

    def __del__(self):
        if self.write_table:
            opt_cache = str(self.model_file.parent) + "/_opt_cache/"
            os.makedirs(opt_cache, exist_ok=True)
            with open(opt_cache + "/trt_calib_engine_key", "w") as table:
                table.write("TRT-8600-EntropyCalibration2\n")


@pytest.mark.parametrize("write_table", [True, False])
def test_legacy_int8_table_is_written_where_the_engine_pass_reads_it(tiny, tmp_path, monkeypatch, write_table):
    from trt_export.infer import runners
    from trt_export.infer.trt_coverage import NoTensorRTEngine

    _, directory, manifest = tiny
    made = []

    def create(self, model_file, params_file):
        made.append(model_file)
        return _CalibratingPredictor(model_file, write_table)

    monkeypatch.setattr(runners, "require_backend", lambda *a, **k: None)
    monkeypatch.setattr(PaddleInferenceRunner, "_collect_shapes", lambda self, m, p: None)
    monkeypatch.setattr(PaddleInferenceRunner, "_create_predictor", create)
    settings = BackendSettings("trt-int8", trt_cache_dir=str(tmp_path / "cache"), allow_random_calibration=True)
    runner = PaddleInferenceRunner(directory, manifest, settings, "legacy")
    before = sorted(p.name for p in directory.rglob("*"))
    if write_table:
        monkeypatch.setattr(PaddleInferenceRunner, "_bind_handles", lambda self: None)
        monkeypatch.setattr(PaddleInferenceRunner, "_judge_coverage", lambda self, *a: None)
        runner.activate()
        optim = Path(runner.plan.optim_cache_dir)
        # The calibrating predictor loaded the model through the link dir, so Paddle's own
        # <model dir>/_opt_cache is optim_cache_dir, inside the cache, where the engine pass looks.
        assert (
            made[0].parent == Path(runner.plan.model_link_dir)
            and made[0].resolve() == (directory / "model.pdmodel").resolve()
        )
        assert [Path(t).resolve() for t in runner.calibration_tables] == [(optim / "trt_calib_engine_key").resolve()]
        assert str(optim).startswith(str(tmp_path / "cache"))
        runner.deactivate()
    else:
        with pytest.raises(NoTensorRTEngine, match="no calibration table"):
            runner.activate()
    # The export dir is never written into.
    assert sorted(p.name for p in directory.rglob("*")) == before and not (directory / "_opt_cache").exists()


# --------------------------------------------------------------------------- bench worker GPU memory


def test_allocator_peak_reads_the_predictors_device(monkeypatch):
    import types

    from trt_export.bench.worker import paddle_allocator_peak_mb
    from trt_export.env import paddle_import as paddle_env

    asked = []

    def max_memory_reserved(device=None):
        asked.append(device)
        return 3 * 2**20

    fake = types.SimpleNamespace(
        is_compiled_with_cuda=lambda: True,
        device=types.SimpleNamespace(cuda=types.SimpleNamespace(max_memory_reserved=max_memory_reserved)),
    )
    monkeypatch.setattr(paddle_env, "import_paddle", lambda: fake)
    # Without an argument Paddle reads the current device, which the predictor's device_id does not set.
    assert paddle_allocator_peak_mb(2) == 3.0 and asked == [2]


def test_allocator_peak_is_reset_before_the_timed_loop(monkeypatch):
    """The process's peak would be the shape-collection run's or calibration's, not the predictor's."""
    import types

    from trt_export.bench.worker import reset_allocator_peak
    from trt_export.env import paddle_import as paddle_env

    resets = []
    fake = types.SimpleNamespace(
        is_compiled_with_cuda=lambda: True,
        device=types.SimpleNamespace(cuda=types.SimpleNamespace(reset_max_memory_reserved=resets.append)),
    )
    monkeypatch.setattr(paddle_env, "import_paddle", lambda: fake)
    reset_allocator_peak(1)
    assert resets == [1]
    import inspect

    from trt_export.bench import worker

    source = inspect.getsource(worker._job_measure)
    assert source.index("reset_allocator_peak(") < source.index("run_policy(")  # the timing loop (bench.timing)


def test_gpu_memory_peak_sums_this_process_only(monkeypatch):
    import os
    import types

    from trt_export.bench.worker import GpuMemoryPeak

    procs = {
        0: [
            types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=100 * 2**20),
            types.SimpleNamespace(pid=1, usedGpuMemory=5 * 2**30),
        ],
        1: [types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=None)],  # WDDM / not available
    }
    nvml = types.SimpleNamespace(
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetComputeRunningProcesses=lambda handle: procs[handle],
    )
    peak = GpuMemoryPeak()
    peak._nvml = nvml
    peak.sample()
    assert peak.peak_mb == 100.0
    procs[0][0].pid = -1  # a container's PID namespace: nothing matches, nothing is guessed
    fresh = GpuMemoryPeak()
    fresh._nvml = nvml
    fresh.sample()
    assert fresh.peak_mb is None


def test_trt_fp32_builds_without_tf32_and_restores_the_environment(tiny, tmp_path, monkeypatch):
    from trt_export.infer import runners

    _, directory, manifest = tiny
    seen = []

    def stop(self, model_file, params_file):
        seen.append(os.environ.get("NVIDIA_TF32_OVERRIDE"))
        raise TrtExportError("stop")

    monkeypatch.setattr(runners, "require_backend", lambda *a, **k: None)
    monkeypatch.setattr(PaddleInferenceRunner, "_collect_shapes", stop)
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    for backend in ("trt-fp32", "trt-fp16"):
        settings = BackendSettings(backend, trt_cache_dir=str(tmp_path / "cache"))
        with pytest.raises(TrtExportError, match="stop"):
            PaddleInferenceRunner(directory, manifest, settings, "legacy").activate()
    assert seen == ["0", None] and "NVIDIA_TF32_OVERRIDE" not in os.environ


def test_convert_child_error_comes_back_as_one_line(tiny, tmp_path):
    """On this CPU build the child cannot import paddle.tensorrt: its one-line reason, exit 2."""
    from trt_export.infer.backends import plan_config
    from trt_export.infer.trt_convert import convert_in_subprocess

    _, directory, manifest = tiny
    model_file, params_file = manifest.files("pir")
    plan = plan_config(
        BackendSettings("trt-fp16", trt_cache_dir=str(tmp_path)), "pir", {"image": SHAPE}, paddle.__version__
    ).convert
    with pytest.raises(BackendUnavailable, match="paddle.tensorrt cannot be imported") as info:
        convert_in_subprocess(plan, model_file, params_file, tmp_path / "pir" / "model")
    assert "\n" not in str(info.value)
