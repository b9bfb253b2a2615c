"""The debug-precision search on a fake runner: which op types must leave TensorRT for parity."""

from __future__ import annotations

import itertools

import pytest

from trt_export.parity.precision_search import (
    ALREADY_PASSING,
    FOUND,
    NOTHING_HELPS,
    Trial,
    render_search,
    search_precision,
)

OPS = ("conv2d", "batch_norm", "relu", "pool2d", "softmax", "layer_norm", "matmul", "bilinear_interp_v2")


class FakeRunner:
    """Parity passes when ``needs(kept_out)``; latency grows by 0.5 ms per op type kept out."""

    def __init__(self, needs, broken=frozenset()):
        self.needs = needs
        self.broken = broken
        self.calls: list[frozenset[str]] = []

    def __call__(self, kept_out: frozenset[str]) -> Trial:
        self.calls.append(kept_out)
        if kept_out & self.broken:
            return Trial(kept_out, passed=False, error="predictor failed to build")
        passed = self.needs(kept_out)
        return Trial(
            kept_out, passed=passed, latency_ms=10.0 + 0.5 * len(kept_out), max_abs_error=1e-4 if passed else 0.3
        )


def test_already_passing_evaluates_once():
    fake = FakeRunner(lambda kept: True)
    result = search_precision(OPS, fake)
    assert result.status == ALREADY_PASSING and result.culprits == ()
    assert fake.calls == [frozenset()]
    assert "nothing to do" in render_search(result)


def test_single_culprit_is_found_alone():
    fake = FakeRunner(lambda kept: "softmax" in kept)
    result = search_precision(OPS, fake)
    assert result.status == FOUND and result.culprits == ("softmax",)
    assert result.final is not None and result.final.passed
    # Far fewer builds than trying every subset (2**8), and no configuration built twice.
    assert len(fake.calls) <= 12 and len(set(fake.calls)) == len(fake.calls)
    assert result.latency_cost == pytest.approx(10.5 / 10.0)
    text = render_search(result)
    assert "softmax" in text and "1.05x" in text


def test_two_interacting_culprits_are_found_together():
    # Parity only comes back when both leave TensorRT; either alone does nothing.
    fake = FakeRunner(lambda kept: {"layer_norm", "matmul"} <= kept)
    result = search_precision(OPS, fake)
    assert result.status == FOUND and set(result.culprits) == {"layer_norm", "matmul"}
    # 1-minimal: dropping either breaks parity.
    for op in result.culprits:
        assert not fake.needs(frozenset(result.culprits) - {op})


@pytest.mark.parametrize("pair", list(itertools.combinations(OPS, 2))[::5])
def test_result_is_minimal_for_any_pair(pair):
    fake = FakeRunner(lambda kept: set(pair) <= kept)
    assert set(search_precision(OPS, fake).culprits) == set(pair)


def test_either_of_two_culprits_suffices():
    fake = FakeRunner(lambda kept: bool({"relu", "matmul"} & kept))
    result = search_precision(OPS, fake)
    assert result.status == FOUND and len(result.culprits) == 1 and result.culprits[0] in {"relu", "matmul"}


def test_nothing_helps():
    fake = FakeRunner(lambda kept: False)
    result = search_precision(OPS, fake)
    assert result.status == NOTHING_HELPS and result.culprits == () and result.final is None
    # Baseline and everything-kept-out: two builds, then it stops.
    assert fake.calls == [frozenset(), frozenset(OPS)]
    assert "nothing helps" in render_search(result)


def test_a_configuration_that_fails_to_build_is_not_a_pass():
    fake = FakeRunner(lambda kept: "softmax" in kept, broken=frozenset({"pool2d"}))
    result = search_precision(OPS, fake)
    # Everything kept out includes the broken pool2d: that build fails, so nothing can be shown to help.
    assert result.status == NOTHING_HELPS
    errors = [t for t in result.steps if t.error]
    assert errors and not any(t.passed for t in errors)


def test_no_candidates_means_nothing_helps():
    result = search_precision((), FakeRunner(lambda kept: False))
    assert result.status == NOTHING_HELPS


def test_result_serialises():
    import json

    result = search_precision(OPS, FakeRunner(lambda kept: "softmax" in kept))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == FOUND and data["culprits"] == ["softmax"]
    assert data["steps"][0]["kept_out"] == [] and data["baseline"]["passed"] is False
