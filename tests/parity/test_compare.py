"""The comparator on plain numpy dicts: verdicts, the numbers behind them, printing and JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trt_export.bench.report import ParitySummary
from trt_export.parity.compare import (
    DEFAULT_TOLERANCES,
    Tolerance,
    compare_output,
    compare_outputs,
    default_tolerance,
)
from trt_export.report.parity_text import render_comparison, render_output

FP32 = DEFAULT_TOLERANCES["fp32"]


def _logits(seed: int = 0, shape: tuple[int, ...] = (2, 4, 8, 8)) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 5.0, shape).astype(np.float32)


def _no_numpy_types(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _no_numpy_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_no_numpy_types(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def test_identical_outputs_pass() -> None:
    ref = {"logits": _logits(), "label_map": np.arange(16, dtype=np.int32).reshape(1, 4, 4)}
    result = compare_outputs(ref, {k: v.copy() for k, v in ref.items()}, FP32, {"logits": 1})
    assert result and result.passed
    logits = result.outputs[0]
    assert logits.max_abs_error == 0.0 and logits.required_atol == 0.0 and logits.required_rtol == 0.0
    assert logits.cosine_similarity == pytest.approx(1.0)
    assert logits.argmax_agreement == 1.0
    assert result.outputs[1].label_mismatch == 0.0
    assert result.failed_outputs == [] and not result.reasons


def test_small_noise_within_fp32_tolerance_passes() -> None:
    # the measured legacy ir_optim drift: 1.8e-5 absolute on logits of this magnitude
    ref = _logits()
    cand = ref + np.float32(1.8e-5) * np.sign(np.random.default_rng(1).normal(size=ref.shape)).astype(np.float32)
    out = compare_output("logits", ref, cand, FP32)
    assert out, str(out)
    assert out.max_abs_error == pytest.approx(1.8e-5, rel=0.1)


def test_perturbation_beyond_tolerance_fails_with_required_tolerance() -> None:
    ref = np.array([1.0, -2.0, 10.0, 0.0], dtype=np.float64)
    cand = ref.copy()
    cand[2] += 0.5  # |diff| 0.5 at |ref| 10
    tol = Tolerance(atol=1e-4, rtol=1e-3)
    out = compare_output("y", ref, cand, tol)
    assert not out and not out.passed
    # required atol at rtol 1e-3: 0.5 - 1e-3 * 10 = 0.49; required rtol at atol 1e-4: (0.5 - 1e-4) / 10
    assert out.required_atol == pytest.approx(0.49)
    assert out.required_rtol == pytest.approx(0.04999)
    assert out.max_abs_error == pytest.approx(0.5)
    assert out.max_rel_error == pytest.approx(0.05)
    assert out.mismatch_fraction == pytest.approx(0.25)
    assert any("exceed atol" in r and "0.49" in r for r in out.reasons)
    # and the required tolerances really are the boundary
    assert compare_output("y", ref, cand, Tolerance(atol=0.49 + 1e-9, rtol=1e-3))
    assert compare_output("y", ref, cand, Tolerance(atol=1e-4, rtol=0.04999 + 1e-9))
    assert not compare_output("y", ref, cand, Tolerance(atol=0.48, rtol=1e-3))


def test_required_rtol_is_infinite_when_reference_is_zero() -> None:
    out = compare_output("y", np.zeros(3), np.array([0.0, 0.1, 0.0]), Tolerance(atol=1e-4, rtol=1e-3))
    assert not out
    assert out.required_rtol == math.inf and out.required_atol == pytest.approx(0.1)
    assert out.to_dict()["required_rtol"] == "inf"
    json.dumps(out.to_dict(), allow_nan=False)


def test_isclose_semantics_match_numpy() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=1000)
    cand = ref + rng.normal(scale=1e-3, size=1000)
    tol = Tolerance(atol=1e-3, rtol=1e-3)
    out = compare_output("y", ref, cand, tol)
    expected_bad = np.count_nonzero(~np.isclose(cand, ref, atol=1e-3, rtol=1e-3))
    assert expected_bad > 0
    assert out.mismatch_fraction == pytest.approx(expected_bad / 1000)
    assert not out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_candidate_fails(bad: float) -> None:
    ref = _logits()
    cand = ref.copy()
    cand[0, 0, 0, 0] = bad
    out = compare_output("logits", ref, cand, DEFAULT_TOLERANCES["int8"], score_axis=1)
    assert not out
    assert out.candidate_nan + out.candidate_inf == 1
    assert any("candidate has" in r for r in out.reasons)
    assert out.max_abs_error == 0.0  # statistics cover only the finite elements
    json.dumps(out.to_dict(), allow_nan=False)


def test_nan_in_reference_fails_with_message() -> None:
    ref = _logits()
    ref[1, 2, 3, 4] = np.nan
    out = compare_output("logits", ref, ref.copy(), FP32)
    assert not out
    assert out.reference_nan == 1 and out.candidate_nan == 1
    assert any("source model" in r for r in out.reasons)


def test_integer_label_maps_judged_by_mismatch_fraction() -> None:
    ref = np.zeros((1, 10, 10), dtype=np.int32)
    cand = ref.copy()
    cand[0, 0, :3] = 1  # 3 of 100 labels differ
    strict = compare_output("label_map", ref, cand, FP32)
    assert not strict and strict.label_mismatch == pytest.approx(0.03)
    assert any("3 of 100" in r for r in strict.reasons)
    assert strict.max_abs_error is None  # class indices get no abs/rel statistics
    assert compare_output("label_map", ref, cand, DEFAULT_TOLERANCES["int8"])  # 10 % allowed
    assert not compare_output("label_map", ref, cand, Tolerance(atol=1.0, rtol=1.0))  # atol never loosens labels


def test_argmax_agreement_nchw_and_nhwc() -> None:
    ref = _logits(shape=(1, 3, 10, 10))
    cand = ref.copy()
    # flip the winner at 2 of 100 pixels by making another class win there
    for y, x in [(0, 0), (5, 5)]:
        winner = int(np.argmax(ref[0, :, y, x]))
        cand[0, (winner + 1) % 3, y, x] = ref[0, winner, y, x] + 1.0
    loose = Tolerance(atol=100.0, rtol=0.0, min_argmax_agreement=0.99)
    out = compare_output("logits", ref, cand, loose, score_axis=1)
    assert out.argmax_agreement == pytest.approx(0.98)
    assert not out and any("argmax along axis 1" in r for r in out.reasons)
    assert compare_output("logits", ref, cand, Tolerance(atol=100.0, rtol=0.0, min_argmax_agreement=0.98), score_axis=1)

    nhwc = compare_output("score_map", ref.transpose(0, 2, 3, 1), cand.transpose(0, 2, 3, 1), loose, score_axis=-1)
    assert nhwc.argmax_agreement == pytest.approx(0.98)
    # no class axis: argmax is neither computed nor judged
    assert compare_output("feat", ref, cand, loose).argmax_agreement is None


def test_score_axis_out_of_range_fails() -> None:
    ref = _logits(shape=(2, 5))
    out = compare_output("logits", ref, ref.copy(), FP32, score_axis=3)
    assert not out and any("out of range" in r for r in out.reasons)


def test_int8_cosine_bound() -> None:
    ref = _logits(shape=(1, 64))
    assert compare_output("reg", ref, ref * 1.5, DEFAULT_TOLERANCES["int8"])  # scaled: same direction
    out = compare_output("reg", ref, -ref, DEFAULT_TOLERANCES["int8"])
    assert not out and out.cosine_similarity == pytest.approx(-1.0)


def test_shape_mismatch_fails_without_statistics() -> None:
    ref = _logits(shape=(1, 1000))
    out = compare_output("logits", ref, ref.reshape(1000), FP32)
    assert not out and not out.shape_match
    assert out.max_abs_error is None
    assert any("shape differs" in r for r in out.reasons)
    # an empty candidate (a known TensorRT failure mode) is a shape mismatch, not a pass
    assert not compare_output("logits", ref, np.zeros((0,), np.float32), FP32)


def test_dtype_mismatch_fails() -> None:
    ref = np.arange(6, dtype=np.int64).reshape(2, 3)
    out = compare_output("label", ref, ref.astype(np.int32), FP32)
    assert not out and not out.dtype_match and out.label_mismatch == 0.0


def test_missing_and_extra_outputs_fail() -> None:
    ref = {"a": _logits(), "b": _logits(1)}
    result = compare_outputs(ref, {"a": ref["a"], "c": ref["b"]}, FP32)
    assert not result
    assert result.missing == ["b"] and result.extra == ["c"]
    assert result.outputs[0]  # 'a' itself matched
    assert set(result.failed_outputs) == {"b", "c"}
    text = render_comparison(result)
    assert "missing in candidate" in text and "extra in candidate" in text


def test_per_output_tolerances_and_missing_tolerance() -> None:
    ref = {"score": np.array([0.5, 0.5]), "logits": np.array([10.0, 20.0])}
    cand = {"score": np.array([0.505, 0.495]), "logits": np.array([10.0, 20.0])}
    tols = {"score": DEFAULT_TOLERANCES["fp16"], "logits": FP32}
    assert compare_outputs(ref, cand, tols)
    assert not compare_outputs(ref, cand, FP32)
    with pytest.raises(ValueError, match="no tolerance given for output 'logits'"):
        compare_outputs(ref, cand, {"score": FP32})


def test_json_round_trip_has_only_python_types() -> None:
    ref = {"logits": _logits(), "label_map": np.zeros((1, 4, 4), np.int32)}
    cand = {"logits": ref["logits"] + np.float32(0.3), "label_map": np.ones((1, 4, 4), np.int32)}
    cand["logits"][0, 0, 0, 0] = np.nan
    result = compare_outputs(ref, cand, FP32, {"logits": 1})
    data = result.to_dict()
    assert _no_numpy_types(data)
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["passed"] is False
    assert back["outputs"][0]["candidate_nan"] == 1
    assert back["outputs"][1]["max_abs_error"] is None  # not computed for labels: null
    assert set(back["failed_outputs"]) == {"logits", "label_map"}


def test_printing_and_summary() -> None:
    ref = {"logits": np.array([[1.0, 2.0, 3.0]])}
    bad = compare_outputs(ref, {"logits": np.array([[1.0, 2.0, 3.5]])}, FP32, {"logits": 1})
    text = render_comparison(bad)
    assert "FAILED" in text and "logits" in text and "would pass with" in text
    assert "atol 0.497" in text  # |diff| 0.5 minus rtol 1e-3 * |ref| 3.0
    good = compare_outputs(ref, {"logits": ref["logits"].copy()}, FP32)
    assert "PASSED: 1/1" in render_comparison(good)
    assert "PASSED" in render_output(good.outputs[0])
    summary = ParitySummary.of(bad, "paddle-onednn")
    assert summary.passed is False and summary.failed_outputs == ["logits"]
    assert summary.max_abs_error == pytest.approx(0.5)


def test_tolerance_validation_and_defaults() -> None:
    assert default_tolerance("fp16").atol == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="known: fp32, fp16, int8"):
        default_tolerance("fp8")
    with pytest.raises(ValueError):
        Tolerance(atol=1e-4, rtol=None)
    with pytest.raises(ValueError):
        Tolerance(atol=None, rtol=None)  # would judge nothing on float outputs
    with pytest.raises(ValueError):
        Tolerance(atol=-1.0, rtol=0.0)


def test_rendered_table_never_suggests_a_tolerance_for_nan() -> None:
    ref = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    cand = ref.copy()
    cand[1, 2] = np.nan
    result = compare_outputs({"logits": ref}, {"logits": cand}, Tolerance(atol=1e-4, rtol=1e-3), {"logits": 1})
    text = render_comparison(result)
    assert not result and "no tolerance (NaN/Inf)" in text and "argmax" not in text.split("\n")[2]


def test_a_bound_that_cannot_fail_is_noted_and_cosine_still_judges() -> None:
    """Random-init mobilenet logits are ~1e-7: far below atol, so only scale-free checks mean anything."""
    rng = np.random.default_rng(0)
    ref = (rng.standard_normal((1, 1000)) * 1e-7).astype(np.float32)
    tol = default_tolerance("fp32")
    same = compare_outputs({"logits": ref}, {"logits": ref * (1 + 1e-6)}, tol, {"logits": 1})
    assert same and "cannot fail" in same.outputs[0].notes[0] and "note: logits" in render_comparison(same)
    # a different network of the same scale passes atol/rtol trivially but not cosine or argmax
    other = (rng.standard_normal((1, 1000)) * 1e-7).astype(np.float32)
    result = compare_outputs({"logits": ref}, {"logits": other}, tol, {"logits": 1})
    assert not result and any("cosine" in r for r in result.reasons)
