"""debug-precision's Paddle side with a stand-in predictor: real dygraph reference and comparator,
a fake TensorRT runner whose fp16 error disappears only when conv2d leaves TensorRT."""

from __future__ import annotations

import json

import pytest
from fixture_tiny import export_tiny, make_layer

from trt_export.errors import TrtExportError
from trt_export.infer.backends import BackendSettings
from trt_export.infer.runners import DygraphRunner
from trt_export.infer.trt_coverage import TrtCoverage
from trt_export.parity import debug_precision as debug
from trt_export.parity.precision_search import FOUND, NOTHING_HELPS

INSIDE = {"conv2d": 2, "batch_norm": 1, "relu": 1, "pool2d": 1}


class Source:
    """What load_source returns, for the tiny net (its weights are the export's)."""

    def __init__(self, layer, manifest):
        self.layer = layer
        self.input_names = [s.name for s in manifest.inputs]
        self.model_yml = None
        self.weights_sha256 = None
        self.kind = "object"
        self.factory_kwargs = None

    def build(self):
        return self.layer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    layer = make_layer()
    directory = tmp_path_factory.mktemp("debug")
    return layer, directory, export_tiny(directory, layer, formats=("legacy",))


def install_fake_runner(monkeypatch, layer, culprits: set[str], built: list):
    class FakeRunner:
        def __init__(self, export_dir, manifest, settings, model_format=None, allow_no_engine=False):
            self.manifest, self.settings = manifest, settings
            self.allow_no_engine = allow_no_engine
            kept = set(settings.disable_ops) | set(settings.ops_run_float)
            built.append(frozenset(kept))
            self.broken = not culprits <= kept
            self.trt_coverage = TrtCoverage("legacy", 1, 5, 5, {}, dict(INSIDE))
            self._time = 0.001 * (1 + len(kept))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def infer(self, feed):
            with DygraphRunner(layer, self.manifest.inputs, self.manifest.output_names) as runner:
                out = runner.infer(feed)
            # fp16 trouble: a large error unless every culprit is kept out.
            return {k: v + (0.5 if self.broken else 0.0) for k, v in out.items()}

        def last_inference_time(self):
            return self._time

    monkeypatch.setattr("trt_export.infer.runners.PaddleInferenceRunner", FakeRunner)
    monkeypatch.setattr(debug, "require_backend", lambda *a, **k: None)
    monkeypatch.setattr("trt_export.infer.trt_preflight.preflight", lambda *a, **k: None)


def test_finds_the_culprit_among_the_engines_op_types(tiny, monkeypatch, tmp_path):
    layer, directory, manifest = tiny
    built: list = []
    install_fake_runner(monkeypatch, layer, {"conv2d"}, built)
    options = debug.DebugPrecisionOptions(BackendSettings("trt-fp16"), iters=2)
    result = debug.debug_precision(Source(layer, manifest), directory, options)
    assert result.status == FOUND and result.culprits == ("conv2d",)
    # Candidates are the op types inside the plain run's engines, most frequent first.
    assert result.candidates[0] == "conv2d" and set(result.candidates) == set(INSIDE)
    # The plain run doubles as the search's baseline: built once.
    assert built.count(frozenset()) == 1
    assert result.baseline.latency_ms == pytest.approx(1.0) and result.final.latency_ms == pytest.approx(2.0)
    data = debug.debug_report(result, options, directory)
    debug.write_debug_report(data, tmp_path / "debug.json")
    saved = json.loads((tmp_path / "debug.json").read_text())
    assert (
        saved["schema"] == "trt-export/debug-precision"
        and saved["culprits"] == ["conv2d"]
        and saved["mode"] == "disable"
    )


def test_fp32_mode_uses_ops_run_float_and_given_candidates(tiny, monkeypatch):
    layer, directory, manifest = tiny
    built: list = []
    install_fake_runner(monkeypatch, layer, {"pd_op.softmax", "pd_op.layer_norm"}, built)
    options = debug.DebugPrecisionOptions(
        BackendSettings("trt-fp16"),
        mode="fp32",
        model_format="pir",
        ops=("pd_op.conv2d", "pd_op.softmax", "pd_op.relu", "pd_op.layer_norm"),
        iters=1,
    )
    monkeypatch.setattr(debug, "check_options", lambda *a, **k: None)  # the tiny export here is legacy only
    result = debug.debug_precision(Source(layer, manifest), directory, options)
    assert result.status == FOUND and set(result.culprits) == {"pd_op.softmax", "pd_op.layer_norm"}


def test_nothing_helps(tiny, monkeypatch):
    layer, directory, manifest = tiny
    install_fake_runner(monkeypatch, layer, {"not_an_op"}, [])
    result = debug.debug_precision(
        Source(layer, manifest), directory, debug.DebugPrecisionOptions(BackendSettings("trt-fp16"), iters=1)
    )
    assert result.status == NOTHING_HELPS


def test_non_tensorrt_backend_is_refused(tiny):
    layer, directory, manifest = tiny
    with pytest.raises(TrtExportError, match="needs a TensorRT backend"):
        debug.debug_precision(
            Source(layer, manifest), directory, debug.DebugPrecisionOptions(BackendSettings("paddle-cpu"))
        )
