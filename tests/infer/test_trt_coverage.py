"""TensorRT coverage parsers on real program files of both formats.

How the fixtures are made (no GPU here):
- legacy: the tiny net is exported with paddle.jit.save (old IR), loaded by a real Paddle 3.3.1 CPU
  predictor with ``enable_save_optim_model(True)``, which writes the real ``_optimized.pdmodel``.
  For the TensorRT case that program is then rewritten the way tensorrt_subgraph_pass.cc does it
  (CreateTensorRTOp): a run of ops moves into a new block, and one ``tensorrt_engine`` op with
  inputs ``Xs``, outputs ``Ys``, BLOCK attribute ``sub_block``, the block serialized in ``subgraph``,
  and the ``engine_key`` / ``calibration_data`` / ``enable_int8`` ... attributes takes their place.
- PIR: the tiny net's real ``model.json`` (paddle.jit.save, PIR). For the converted case a run of
  ops is replaced as python/paddle/tensorrt/converter.py does: ``builtin.combine`` of the inputs,
  one ``pd_op.tensorrt_engine`` with the 13 attributes of TensorRTEngineOp (tensorrt_op.cc;
  ``engine_serialized_data`` naming ``engine_<hash>_<n>.trt``), ``builtin.split`` of its vector
  result; the ``.pir`` dump beside the engine holds the real printed text (``str(op)``) of the ops
  replaced, inside a ``builtin.group`` as converter.py writes ``str(group_op)``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fixture_tiny import export_tiny, make_layer

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import CheckFailed
from trt_export.infer.trt_coverage import (
    NoTensorRTEngine,
    TrtCoverage,
    judge_coverage,
    ops_in_engine_dump,
    pir_coverage,
    pir_coverage_files,
    pir_op_counts,
)
from trt_export.infer.trt_coverage_legacy import legacy_coverage, legacy_coverage_file

paddle = import_paddle()

ENGINE_OPS = 6  # the first six compute ops of the tiny net go into the engine


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("coverage")
    export_tiny(directory, make_layer(interpolate=True))
    return directory


@pytest.fixture(scope="module")
def optimized_program(exported, tmp_path_factory) -> Path:
    """The real _optimized.pdmodel a Paddle 3.3.1 CPU predictor saves."""
    cache = tmp_path_factory.mktemp("optim_cache")
    config = paddle.inference.Config(str(exported / "model.pdmodel"), str(exported / "model.pdiparams"))
    config.disable_gpu()
    config.disable_mkldnn()
    config.switch_ir_optim(True)
    config.set_optim_cache_dir(str(cache))
    config.enable_save_optim_model(True)
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    del predictor
    path = cache / "_optimized.pdmodel"
    assert path.is_file() and (cache / "_optimized.pdiparams").is_file()
    return path


def _with_engine(program: bytes, *, int8: bool = False, table: bytes = b"") -> bytes:
    """Rewrite a legacy program as tensorrt_subgraph_pass would (see the module doc)."""
    from paddle.base.proto import framework_pb2 as pb

    desc = pb.ProgramDesc()
    desc.ParseFromString(program)
    block0 = desc.blocks[0]
    ops = list(block0.ops)
    compute = [i for i, op in enumerate(ops) if op.type not in ("feed", "fetch")]
    moved = compute[:ENGINE_OPS]
    sub = desc.blocks.add()
    sub.idx, sub.parent_idx = len(desc.blocks) - 1, 0
    for i in moved:
        sub.ops.add().CopyFrom(ops[i])
    engine = pb.OpDesc()
    engine.type = "tensorrt_engine"
    engine.inputs.add(parameter="Xs", arguments=[a for v in ops[moved[0]].inputs for a in v.arguments])
    engine.outputs.add(parameter="Ys", arguments=[a for v in ops[moved[-1]].outputs for a in v.arguments])

    def attr(name, kind, **value):
        engine.attrs.add(name=name, type=getattr(pb.AttrType, kind), **value)

    attr("sub_block", "BLOCK", block_idx=sub.idx)
    attr("engine_key", "STRING", s=b"trt_engine_key_1")
    attr("calibration_engine_key", "STRING", s=b"trt_calib_key_1")
    attr("calibration_data", "STRING", s=table)
    attr("enable_int8", "BOOLEAN", b=int8)
    attr("enable_fp16", "BOOLEAN", b=False)
    attr("use_calib_mode", "BOOLEAN", b=int8)
    attr("use_static_engine", "BOOLEAN", b=False)
    attr("max_batch_size", "INT", i=1)
    attr("workspace_size", "LONG", l=1 << 30)
    attr("parameters", "STRINGS", strings=["conv2d_0.w_0", "conv2d_0.b_0"])
    # `subgraph` is a proto2 string holding a serialized BlockDesc, i.e. bytes that are usually
    # not UTF-8; Python's protobuf refuses to set such a string, so the field is appended in wire
    # format (field 4 = attrs; Attr: 1 name, 2 type, 5 s), as Paddle's C++ writes it.
    subgraph = (
        _field(1, b"subgraph") + _varint(2 << 3) + _varint(pb.AttrType.STRING) + _field(5, sub.SerializeToString())
    )
    engine_bytes = engine.SerializeToString() + _field(4, subgraph)
    kept = [op for i, op in enumerate(ops) if i not in moved]
    del block0.ops[:]
    for op in kept[: moved[0]]:
        block0.ops.add().CopyFrom(op)
    block0.ops.add().MergeFromString(engine_bytes)
    for op in kept[moved[0] :]:
        block0.ops.add().CopyFrom(op)
    return desc.SerializeToString()


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([low])
        out += bytes([low | 0x80])


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


# --------------------------------------------------------------------------- legacy


def test_real_cpu_optimized_program_has_no_engine(optimized_program):
    coverage = legacy_coverage_file(optimized_program)
    assert coverage.engines == 0 and coverage.ops_in_engines == 0
    assert coverage.ops_total == sum(coverage.outside_op_types.values()) > ENGINE_OPS
    assert "conv2d" in coverage.outside_op_types and "feed" not in coverage.outside_op_types
    with pytest.raises(NoTensorRTEngine, match="no TensorRT engine") as info:
        judge_coverage(coverage, "trt-fp16", min_subgraph_size=3)
    # The likely cause and the ops that stayed out, in one line, exit 1.
    assert "--trt-min-subgraph-size 3" in str(info.value) and "conv2d" in str(info.value)
    assert "\n" not in str(info.value) and isinstance(info.value, CheckFailed) and info.value.exit_code == 1


def test_legacy_engine_ops_counted_from_its_subgraph(optimized_program):
    real = legacy_coverage_file(optimized_program)
    coverage = legacy_coverage(_with_engine(optimized_program.read_bytes()))
    assert coverage.engines == 1
    assert coverage.ops_in_engines == ENGINE_OPS
    assert coverage.ops_total == real.ops_total
    assert sum(coverage.outside_op_types.values()) == real.ops_total - ENGINE_OPS
    assert "bilinear_interp_v2" in coverage.outside_op_types and "tensorrt_engine" not in coverage.outside_op_types
    assert coverage.inside_op_types["conv2d"] >= 1
    assert coverage.int8_calibrated_engines is None  # not an INT8 engine


def test_legacy_engine_ops_from_sub_block_when_subgraph_is_empty(optimized_program):
    from paddle.base.proto import framework_pb2 as pb

    desc = pb.ProgramDesc()
    desc.ParseFromString(_with_engine(optimized_program.read_bytes()))
    for op in desc.blocks[0].ops:
        for a in op.attrs:
            if a.name == "subgraph":
                a.s = ""
    assert legacy_coverage(desc.SerializeToString()).ops_in_engines == ENGINE_OPS


def test_low_coverage_warns_naming_the_ops_left_out(optimized_program):
    coverage = legacy_coverage(_with_engine(optimized_program.read_bytes()))
    assert coverage.fraction is not None and coverage.fraction < 0.8
    [warning] = judge_coverage(coverage, "trt-fp32", 3, min_coverage=0.8)
    assert f"{ENGINE_OPS} of {coverage.ops_total} ops" in warning and "bilinear_interp_v2" in warning
    assert judge_coverage(coverage, "trt-fp32", 3, min_coverage=0.5) == []


@pytest.mark.parametrize("table, calibrated", [(b"", 0), (b"TRT-8600-EntropyCalibration2\n", 1)])
def test_int8_engine_without_its_table_is_a_failure(optimized_program, table, calibrated):
    coverage = legacy_coverage(_with_engine(optimized_program.read_bytes(), int8=True, table=table))
    assert coverage.int8_calibrated_engines == calibrated
    if calibrated:
        judge_coverage(coverage, "trt-int8", 3, min_coverage=0.0)
    else:
        with pytest.raises(NoTensorRTEngine, match="no calibration table"):
            judge_coverage(coverage, "trt-int8", 3, min_coverage=0.0)


def test_missing_optimized_program_is_one_line(tmp_path):
    with pytest.raises(Exception, match="saved no optimised program") as info:
        legacy_coverage_file(tmp_path / "_optimized.pdmodel")
    assert "\n" not in str(info.value)


def test_coverage_round_trips_through_json(optimized_program):
    coverage = legacy_coverage(_with_engine(optimized_program.read_bytes()))
    data = json.loads(json.dumps(coverage.to_dict()))
    assert TrtCoverage.from_dict(data) == coverage
    assert data["fraction"] == round(ENGINE_OPS / coverage.ops_total, 4)
    assert "1 engine(s)" in coverage.describe() and "bilinear_interp_v2" in coverage.describe()


# --------------------------------------------------------------------------- PIR


def _pir_program(exported) -> dict:
    return json.loads((exported / "pir" / "model.json").read_text())


def _real_op_texts(exported) -> list[str]:
    """Paddle's own printed text of each op of the PIR program, in order."""
    with paddle.pir_utils.IrGuard():
        program, _, _ = paddle.static.load_inference_model(
            str(exported / "pir" / "model"), paddle.static.Executor(paddle.CPUPlace())
        )
        return [str(op) for op in program.global_block().ops]


def _converted(exported, engine_path: str) -> tuple[dict, str]:
    """The converted program and the engine's .pir dump (see the module doc)."""
    program = _pir_program(exported)
    ops = program["program"]["regions"][0]["blocks"][0]["ops"]
    compute = [i for i, op in enumerate(ops) if op["#"] not in ("p", "1.data", "1.fetch", "1.full_int_array")]
    moved = set(compute[:ENGINE_OPS])
    texts = _real_op_texts(exported)
    assert len(texts) == len(ops)
    first = min(moved)
    inputs = [{"%": v["%"]} for v in ops[first]["I"]]
    outputs = [out for i in sorted(moved) for out in ops[i]["O"]]
    next_id = 1 + max(o["%"] for op in ops for o in (op["O"] if isinstance(op["O"], list) else [op["O"]]))

    def a(name, kind, data):
        return {"AT": {"#": kind, "D": data}, "N": name}

    engine = {
        "#": "1.tensorrt_engine",
        "A": [
            a("engine_serialized_data", "0.a_str", engine_path),
            a("workspace_size", "0.a_i64", 1 << 30),
            a("allow_build_at_runtime", "0.a_bool", False),
            a("input_names", "0.a_array", [{"#": "0.a_str", "D": "input_9"}]),
            a("output_names", "0.a_array", [{"#": "0.a_str", "D": "output_0"}]),
            a("outputs_rank", "0.a_array", [{"#": "0.a_i32", "D": 4}]),
            a("outputs_dtype", "0.a_array", [{"#": "1.a_dtype", "D": "float32"}]),
            a("dynamic_shape_names", "0.a_array", [{"#": "0.a_str", "D": "input_9"}]),
            a("dynamic_shape_lens", "0.a_array", [{"#": "0.a_i32", "D": 4}]),
            a("min_input_shape_vector", "0.a_array", [{"#": "0.a_i32", "D": d} for d in (1, 3, 32, 32)]),
            a("max_input_shape_vector", "0.a_array", [{"#": "0.a_i32", "D": d} for d in (1, 3, 32, 32)]),
            a("opt_input_shape_vector", "0.a_array", [{"#": "0.a_i32", "D": d} for d in (1, 3, 32, 32)]),
            a("converter_debug_info", "0.a_str", ""),
        ],
        "I": [{"%": next_id}],
        "O": [{"%": next_id + 1, "TT": {"#": "0.t_vec", "D": [o["TT"] for o in outputs]}}],
        "OA": [],
    }
    combine = {"#": "0.combine", "A": [], "I": inputs, "O": [{"%": next_id, "TT": {"#": "0.t_vec", "D": []}}], "OA": []}
    split = {"#": "0.split", "A": [], "I": [{"%": next_id + 1}], "O": outputs, "OA": []}
    new_ops = []
    for i, op in enumerate(ops):
        if i == first:
            new_ops += [combine, engine, split]
        if i not in moved:
            new_ops.append(op)
    converted = copy.deepcopy(program)
    converted["program"]["regions"][0]["blocks"][0]["ops"] = new_ops
    group = "\n".join(
        ['(%100) = "builtin.group" [id:200] () {} : () -> tensor<1x8x32x32xf32> {']
        + ["    " + texts[i].removeprefix("Operation(").removesuffix(")") for i in sorted(moved)]
        + ['    () = "cf.yield" [id:201] (%99) {} : (tensor<1x8x32x32xf32>) -> ', "}"]
    )
    return converted, group


def test_real_pir_program_has_no_engine(exported):
    program = _pir_program(exported)
    counts = pir_op_counts(program)
    assert counts["pd_op.conv2d"] == 2 and "pd_op.data" not in counts and "builtin.parameter" not in counts
    coverage = pir_coverage(program, original=program)
    assert coverage.engines == 0 and coverage.ops_in_engines == 0
    with pytest.raises(NoTensorRTEngine, match="pd_op.conv2d"):
        judge_coverage(coverage, "trt-fp16", 3)


def test_pir_engine_ops_read_from_the_engine_dump(exported, tmp_path):
    engine_path = str(tmp_path / "engine_12345678_0.trt")
    converted, dump = _converted(exported, engine_path)
    total = sum(pir_op_counts(_pir_program(exported)).values())
    assert sum(ops_in_engine_dump(dump).values()) == ENGINE_OPS
    (tmp_path / "trt.json").write_text(json.dumps(converted))
    Path(engine_path).write_bytes(b"engine")
    Path(engine_path).with_suffix(".pir").write_text(dump)
    coverage = pir_coverage_files(tmp_path / "trt.json")
    assert coverage.engines == 1 and coverage.ops_in_engines == ENGINE_OPS and coverage.ops_total == total
    assert "pd_op.tensorrt_engine" not in coverage.outside_op_types
    assert "pd_op.bilinear_interp" in coverage.outside_op_types and "builtin.combine" not in coverage.outside_op_types


def test_pir_engine_ops_from_the_original_without_dumps(exported, tmp_path):
    converted, _ = _converted(exported, str(tmp_path / "gone.trt"))
    (tmp_path / "trt.json").write_text(json.dumps(converted))
    coverage = pir_coverage_files(tmp_path / "trt.json", exported / "pir" / "model.json")
    assert coverage.engines == 1 and coverage.ops_in_engines == ENGINE_OPS
    # Neither dump nor original: engines are counted, the share is unknown (no warning guessed).
    blind = pir_coverage(converted)
    assert blind.engines == 1 and blind.ops_in_engines is None and blind.fraction is None
    assert judge_coverage(blind, "trt-fp32", 3) == []


def test_not_a_pir_program_is_one_line(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(Exception, match="not a PIR program"):
        pir_coverage_files(tmp_path / "x.json")


def test_bench_markdown_shows_coverage_and_candidate_warnings(tmp_path, optimized_program):
    from fixture_reports import example_report as make_report

    from trt_export.report.render import write_markdown

    report = make_report()
    coverage = legacy_coverage(_with_engine(optimized_program.read_bytes()))
    report.candidates[0].trt_coverage = coverage.to_dict()
    report.candidates[0].warnings = judge_coverage(coverage, "trt-fp16", 3)
    text = write_markdown(report, tmp_path / "bench.md").read_text()
    assert "## TensorRT coverage" in text and f"{ENGINE_OPS}/{coverage.ops_total} ops in engines" in text
    assert f"{report.candidates[0].label}: only {ENGINE_OPS} of" in text


def test_runner_judges_the_program_paddle_saved(exported, optimized_program, tmp_path):
    """The runner's coverage step on the real CPU _optimized.pdmodel: no engine, refused; allowed
    for debug-precision; the optimised params copy is deleted."""
    import shutil

    from trt_export.export.manifest import load_manifest
    from trt_export.infer.backends import BackendSettings, plan_config
    from trt_export.infer.runners import OPTIMIZED_PROGRAM, PaddleInferenceRunner

    manifest = load_manifest(exported)
    for allow in (False, True):
        settings = BackendSettings("trt-fp16", trt_cache_dir=str(tmp_path / f"cache{allow}"))
        runner = PaddleInferenceRunner(exported, manifest, settings, "legacy", allow_no_engine=allow)
        runner.plan = plan_config(settings, "legacy", {"image": tuple(manifest.inputs[0].shape)}, paddle.__version__)
        optim = Path(runner.plan.optim_cache_dir)
        optim.mkdir(parents=True)
        shutil.copy(optimized_program, optim / OPTIMIZED_PROGRAM)
        (optim / "_optimized.pdiparams").write_bytes(b"params copy")
        if allow:
            runner._judge_coverage(optim / OPTIMIZED_PROGRAM, optim / OPTIMIZED_PROGRAM, None)
            assert runner.trt_coverage.engines == 0 and "no TensorRT engine" in runner.trt_warnings[0]
        else:
            with pytest.raises(NoTensorRTEngine):
                runner._judge_coverage(optim / OPTIMIZED_PROGRAM, optim / OPTIMIZED_PROGRAM, None)
        assert not (optim / "_optimized.pdiparams").exists()


def test_bench_json_with_coverage_round_trips_and_a_malformed_one_is_refused(tmp_path, optimized_program):
    from fixture_reports import example_report as make_report

    from trt_export.bench.report import load_bench_report, save_bench_report
    from trt_export.errors import ReportError

    report = make_report()
    report.candidates[0].trt_coverage = legacy_coverage(_with_engine(optimized_program.read_bytes())).to_dict()
    report.candidates[0].warnings = ["engines came from the cache"]
    path = save_bench_report(report, tmp_path / "bench.json")
    assert load_bench_report(path) == report
    # Older files have neither key, and load as before.
    data = json.loads(path.read_text())
    assert "trt_coverage" not in data["candidates"][1] and "warnings" not in data["candidates"][1]
    data["candidates"][0]["trt_coverage"]["engines"] = "two"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match="trt_coverage"):
        load_bench_report(path)
