"""Compare two sets of named outputs (``dict[str, np.ndarray]``) under a tolerance.

Knows nothing about Paddle: verify and bench hand it the reference (dygraph) and candidate
(predictor) outputs keyed by logical name. Modelled on Polygraphy's comparator.

Pass rule, per float element (numpy.isclose / Polygraphy semantics, reference on the right)::

    |candidate - reference| <= atol + rtol * |reference|

Every output is also checked for:

- names, shape and dtype (a missing or extra output, or any mismatch, fails);
- NaN / Inf: any in the candidate fails; any in the reference fails too (the source model itself
  is broken for these inputs, so nothing can be proven);
- integer outputs (label maps, counts) are categorical: judged by the fraction of differing
  elements against ``max_label_mismatch`` (``None`` = must be equal), never by atol/rtol;
- float outputs with a class axis (``score_axis``: 1 for NCHW logits, -1 for PaddleRS's NHWC score
  maps, ``None`` for "not a score output") also get the argmax agreement along that axis,
  judged against ``min_argmax_agreement`` when set;
- ``min_cosine`` (when set) bounds the cosine similarity of float outputs.

Default tolerances per precision (:data:`DEFAULT_TOLERANCES`), see also docs/parity.md:

- ``fp32``: atol 1e-4, rtol 1e-3, argmax >= 0.999, labels differ on <= 0.1 %, cosine >= 0.9999
  (scale-free, so outputs far smaller than atol -- random-init logits of 1e-7 -- are still
  judged; correct fp32 exports measure 1 - 1e-9 and closer). Measured on CPU
  (shared/PADDLE-FACTS.md): a legacy ``.pdmodel`` with ir_optim's conv+bn fusion differs from
  dygraph by up to 1.8e-5 absolute on logits up to 28.6 (2.3e-4 relative, on small values), PIR is
  exact, oneDNN ~1e-6. So a pure atol of 1e-5 (Polygraphy's default) fails a correct export;
  atol 1e-4 leaves 5x headroom. rtol 1e-3 absorbs GPU fp32 kernels (cuDNN / TensorRT pick other
  algorithms, and may use TF32 on Ampere and newer) while the errors we want to catch (wrong
  weights, preprocessing, layout, shape) are 1e-2 relative and larger. A label may flip only where
  the top two scores tie within that noise, hence 0.1 % and not zero.
- ``fp16``: atol 1e-2, rtol 1e-2, argmax >= 0.99, labels <= 1 %, cosine >= 0.999: the tolerances of Paddle's own
  TensorRT fp16 tests (1e-3..1e-2); half precision carries ~3 decimal digits.
- ``int8``: no elementwise bound (quantisation error is not small everywhere); argmax >= 0.9 and
  labels <= 10 %, as Paddle's TensorRT int8 tests accept >= 90 % equal outputs; float outputs must
  keep cosine similarity >= 0.99, our own choice so that an int8 output with no class axis
  (regression, boxes) is still judged by something.

``required_atol`` is the smallest atol that would have passed at the given rtol,
``max(|c - r| - rtol*|r|)``; ``required_rtol`` the smallest rtol at the given atol,
``max((|c - r| - atol) / |r|)`` (``inf`` if an element with reference 0 exceeds atol).

Relative error statistics divide by ``max(|reference|, eps)`` with eps the reference dtype's
machine epsilon, so a zero reference gives a large but finite number instead of a division error.

JSON (``to_dict``, through serial.py): plain Python numbers; ``null`` means "not applicable / not computed" (e.g. no
error statistics when shapes differ); non-finite values are the strings ``"nan"``, ``"inf"``,
``"-inf"``, never null, so they cannot be mistaken for "not computed".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from trt_export.serial import JsonRecord, json_field, nonfinite_as_text, nonfinite_from_text


@dataclass(frozen=True)
class Tolerance(JsonRecord):
    """What counts as equal. ``atol``/``rtol`` both ``None`` = no elementwise bound (int8)."""

    atol: float | None
    rtol: float | None
    min_argmax_agreement: float | None = None
    max_label_mismatch: float | None = None
    min_cosine: float | None = None

    def __post_init__(self) -> None:
        if (self.atol is None) != (self.rtol is None):
            raise ValueError("give atol and rtol together (or both None for no elementwise bound)")
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        for name in ("min_argmax_agreement", "max_label_mismatch", "min_cosine"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value!r}")
        if self.atol is None and self.min_argmax_agreement is None and self.min_cosine is None:
            raise ValueError(
                "a tolerance without atol/rtol needs min_argmax_agreement or min_cosine, or floats are never judged"
            )

    @property
    def elementwise(self) -> bool:
        return self.atol is not None

    def describe(self) -> str:
        parts = (
            [f"atol={fmt_number(self.atol)}, rtol={fmt_number(self.rtol)}"]
            if self.elementwise
            else ["no elementwise bound"]
        )
        if self.min_argmax_agreement is not None:
            parts.append(f"argmax>={self.min_argmax_agreement:g}")
        if self.max_label_mismatch is not None:
            parts.append(f"labels<={self.max_label_mismatch:.2%} differ")
        if self.min_cosine is not None:
            parts.append(f"cosine>={self.min_cosine:g}")
        return ", ".join(parts)


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3, min_argmax_agreement=0.999, max_label_mismatch=1e-3, min_cosine=0.9999),
    "fp16": Tolerance(atol=1e-2, rtol=1e-2, min_argmax_agreement=0.99, max_label_mismatch=1e-2, min_cosine=0.999),
    "int8": Tolerance(atol=None, rtol=None, min_argmax_agreement=0.9, max_label_mismatch=0.1, min_cosine=0.99),
}


def default_tolerance(precision: str) -> Tolerance:
    try:
        return DEFAULT_TOLERANCES[precision]
    except KeyError:
        raise ValueError(
            f"no default tolerance for precision {precision!r}; known: {', '.join(DEFAULT_TOLERANCES)}"
        ) from None


def _statistic() -> Any:
    """A figure that may be not computed (None) or non-finite (written as "nan", "inf", "-inf")."""
    return json_field(default=None, dump=nonfinite_as_text, load=nonfinite_from_text)


@dataclass
class OutputComparison(JsonRecord):
    """One output's verdict and the numbers behind it; truthy when it passed."""

    json_keys: ClassVar[tuple[str, ...]] = (
        *("name", "passed", "reasons", "notes", "tolerance", "reference_shape", "candidate_shape"),
        *("reference_dtype", "candidate_dtype", "shape_match", "dtype_match"),
        *("reference_nan", "reference_inf", "candidate_nan", "candidate_inf"),
        *("max_abs_error", "mean_abs_error", "median_abs_error", "p99_abs_error"),
        *("max_rel_error", "mean_rel_error", "median_rel_error", "p99_rel_error"),
        *("mismatch_fraction", "cosine_similarity", "argmax_agreement", "label_mismatch"),
        *("required_atol", "required_rtol", "score_axis"),
    )

    name: str
    passed: bool
    tolerance: Tolerance
    reference_shape: tuple[int, ...]
    candidate_shape: tuple[int, ...]
    reference_dtype: str
    candidate_dtype: str
    reasons: list[str] = field(default_factory=list)
    # Not failures: things a reader must know to trust a PASS (e.g. a bound that cannot fail).
    notes: list[str] = field(default_factory=list)
    reference_nan: int = 0
    reference_inf: int = 0
    candidate_nan: int = 0
    candidate_inf: int = 0
    # None below = not computed (shape mismatch, empty output, or not applicable to the dtype)
    max_abs_error: float | None = _statistic()
    mean_abs_error: float | None = _statistic()
    median_abs_error: float | None = _statistic()
    p99_abs_error: float | None = _statistic()
    max_rel_error: float | None = _statistic()
    mean_rel_error: float | None = _statistic()
    median_rel_error: float | None = _statistic()
    p99_rel_error: float | None = _statistic()
    mismatch_fraction: float | None = _statistic()
    cosine_similarity: float | None = _statistic()
    score_axis: int | None = None
    argmax_agreement: float | None = _statistic()
    label_mismatch: float | None = _statistic()
    required_atol: float | None = _statistic()
    required_rtol: float | None = _statistic()

    @property
    def shape_match(self) -> bool:
        return self.reference_shape == self.candidate_shape

    @property
    def dtype_match(self) -> bool:
        return self.reference_dtype == self.candidate_dtype

    def __bool__(self) -> bool:
        return self.passed

    def json_derived(self) -> dict[str, Any]:
        return {"shape_match": self.shape_match, "dtype_match": self.dtype_match}


@dataclass
class ComparisonResult(JsonRecord):
    """All outputs' verdicts; truthy when every output passed and the name sets agree."""

    json_keys: ClassVar[tuple[str, ...]] = ("passed", "max_abs_error", "failed_outputs", "missing", "extra")

    outputs: list[OutputComparison]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.extra and all(self.outputs)

    @property
    def failed_outputs(self) -> list[str]:
        return [out.name for out in self.outputs if not out] + list(self.missing) + list(self.extra)

    @property
    def max_abs_error(self) -> float | None:
        values = [out.max_abs_error for out in self.outputs if out.max_abs_error is not None]
        return max(values) if values else None

    @property
    def reasons(self) -> list[str]:
        lines = [f"output {name!r} is missing from the candidate" for name in self.missing]
        lines += [f"candidate has an extra output {name!r} the reference does not" for name in self.extra]
        lines += [f"{out.name}: {reason}" for out in self.outputs for reason in out.reasons]
        return lines

    def __bool__(self) -> bool:
        return self.passed

    def json_derived(self) -> dict[str, Any]:
        """Written with the fields (and ignored when read back: they follow from the outputs)."""
        return {
            "passed": self.passed,
            "max_abs_error": nonfinite_as_text(self.max_abs_error),
            "failed_outputs": self.failed_outputs,
        }


def compare_outputs(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    tolerances: Mapping[str, Tolerance] | Tolerance,
    score_axes: Mapping[str, int | None] | None = None,
) -> ComparisonResult:
    """Compare every reference output with the candidate's output of the same name."""
    missing = [name for name in reference if name not in candidate]
    extra = [name for name in candidate if name not in reference]
    results = []
    for name, ref in reference.items():
        if name not in candidate:
            continue
        if isinstance(tolerances, Tolerance):
            tol = tolerances
        elif name in tolerances:
            tol = tolerances[name]
        else:
            raise ValueError(f"no tolerance given for output {name!r}; tolerances cover {sorted(tolerances)}")
        axis = (score_axes or {}).get(name)
        results.append(compare_output(name, np.asarray(ref), np.asarray(candidate[name]), tol, axis))
    return ComparisonResult(outputs=results, missing=missing, extra=extra)


def compare_output(
    name: str, reference: np.ndarray, candidate: np.ndarray, tol: Tolerance, score_axis: int | None = None
) -> OutputComparison:
    out = OutputComparison(
        name=name,
        passed=False,
        tolerance=tol,
        reference_shape=tuple(int(d) for d in reference.shape),
        candidate_shape=tuple(int(d) for d in candidate.shape),
        reference_dtype=str(reference.dtype),
        candidate_dtype=str(candidate.dtype),
        score_axis=score_axis,
    )
    reasons = out.reasons
    if not out.dtype_match:
        reasons.append(f"dtype differs: reference {out.reference_dtype}, candidate {out.candidate_dtype}")
    if _kind(reference) not in ("float", "int") or _kind(candidate) not in ("float", "int"):
        reasons.append(f"cannot compare dtypes {out.reference_dtype} / {out.candidate_dtype}")
        return out
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    out.reference_nan, out.reference_inf = int(np.isnan(ref).sum()), int(np.isinf(ref).sum())
    out.candidate_nan, out.candidate_inf = int(np.isnan(cand).sum()), int(np.isinf(cand).sum())
    if out.candidate_nan or out.candidate_inf:
        reasons.append(f"candidate has {out.candidate_nan} NaN and {out.candidate_inf} Inf values")
    if out.reference_nan or out.reference_inf:
        reasons.append(
            f"reference has {out.reference_nan} NaN and {out.reference_inf} Inf values: the source model "
            "itself is broken on these inputs, so parity cannot be proven"
        )
    if not out.shape_match:
        reasons.append(f"shape differs: reference {list(out.reference_shape)}, candidate {list(out.candidate_shape)}")
        return out
    if ref.size == 0:
        out.passed = not reasons
        return out

    if _kind(reference) == "int" and _kind(candidate) == "int":
        # class indices are categories: a label 4 instead of 1 is not "3 off", so no error stats
        _judge_labels(out, reference, candidate, tol)
    else:
        finite = np.isfinite(ref) & np.isfinite(cand)
        _error_stats(out, ref, cand, finite, reference.dtype)
        _judge_floats(out, ref, cand, finite, tol, score_axis)
    out.passed = not reasons
    return out


def _error_stats(
    out: OutputComparison, ref: np.ndarray, cand: np.ndarray, finite: np.ndarray, ref_dtype: np.dtype
) -> None:
    if not finite.any():
        return
    r, c = ref[finite], cand[finite]
    abs_err = np.abs(c - r)
    eps = np.finfo(ref_dtype).eps if np.issubdtype(ref_dtype, np.floating) else 1.0
    rel_err = abs_err / np.maximum(np.abs(r), eps)
    out.max_abs_error, out.mean_abs_error = float(abs_err.max()), float(abs_err.mean())
    out.median_abs_error, out.p99_abs_error = (float(v) for v in np.percentile(abs_err, [50, 99]))
    out.max_rel_error, out.mean_rel_error = float(rel_err.max()), float(rel_err.mean())
    out.median_rel_error, out.p99_rel_error = (float(v) for v in np.percentile(rel_err, [50, 99]))
    norm = float(np.linalg.norm(r) * np.linalg.norm(c))
    if norm > 0:
        out.cosine_similarity = float(np.clip(np.dot(r, c) / norm, -1.0, 1.0))
    else:
        # two all-zero outputs are identical; one all-zero output shares no direction with the other
        out.cosine_similarity = 1.0 if not r.any() and not c.any() else 0.0


def _judge_labels(out: OutputComparison, reference: np.ndarray, candidate: np.ndarray, tol: Tolerance) -> None:
    out.label_mismatch = float(np.mean(reference != candidate))
    allowed = tol.max_label_mismatch or 0.0
    if out.label_mismatch > allowed:
        differing = int(np.count_nonzero(reference != candidate))
        out.reasons.append(
            f"{out.label_mismatch:.4%} of labels differ ({differing} of {reference.size}), allowed {allowed:.4%}"
        )


def _judge_floats(
    out: OutputComparison, ref: np.ndarray, cand: np.ndarray, finite: np.ndarray, tol: Tolerance, score_axis: int | None
) -> None:
    if tol.elementwise and finite.any():
        atol, rtol = float(tol.atol or 0.0), float(tol.rtol or 0.0)
        r, c = ref[finite], cand[finite]
        largest = float(np.abs(r).max())
        if largest <= atol:
            # e.g. a random-init classifier whose logits are ~1e-7: |c - r| <= atol holds for any c
            # of the same scale, so only the scale-free checks (cosine, argmax) say anything.
            out.notes.append(
                f"every reference value is within atol (max |ref| {largest:.3g} <= {atol:g}): the elementwise "
                "bound cannot fail here; cosine similarity and argmax agreement decide"
            )
        abs_err = np.abs(c - r)
        bound = atol + rtol * np.abs(r)
        bad = abs_err > bound
        # non-finite elements already failed above; count them as mismatched too
        out.mismatch_fraction = float((np.count_nonzero(bad) + np.count_nonzero(~finite)) / ref.size)
        out.required_atol = float(max(0.0, (abs_err - rtol * np.abs(r)).max()))
        excess = abs_err - atol
        over = excess > 0
        if not over.any():
            out.required_rtol = 0.0
        elif np.any(np.abs(r[over]) == 0):
            out.required_rtol = math.inf
        else:
            out.required_rtol = float((excess[over] / np.abs(r[over])).max())
        if bad.any():
            worst = int(np.argmax(abs_err - bound))
            out.reasons.append(
                f"{np.count_nonzero(bad)} of {ref.size} elements ({out.mismatch_fraction:.4%}) exceed atol={atol:g} + rtol={rtol:g}*|ref|; "
                f"worst |diff| {abs_err[worst]:.3g} at ref {r[worst]:.6g}; would need atol>={out.required_atol:.3g} at rtol={rtol:g} "
                f"or rtol>={fmt_number(out.required_rtol)} at atol={atol:g}"
            )
    if score_axis is not None:
        if not -ref.ndim <= score_axis < ref.ndim:
            out.reasons.append(f"score axis {score_axis} is out of range for shape {list(ref.shape)}")
        else:
            # NaN would make argmax meaningless; those outputs already failed on their NaN count
            agree = np.argmax(ref, axis=score_axis) == np.argmax(cand, axis=score_axis)
            out.argmax_agreement = float(agree.mean())
            need = tol.min_argmax_agreement
            if need is not None and out.argmax_agreement < need:
                out.reasons.append(
                    f"argmax along axis {score_axis} agrees on {out.argmax_agreement:.4%} of positions, need >= {need:.4%}"
                )
    if tol.min_cosine is not None and out.cosine_similarity is not None and out.cosine_similarity < tol.min_cosine:
        out.reasons.append(f"cosine similarity {out.cosine_similarity:.6f} < {tol.min_cosine:g}")


def _kind(array: np.ndarray) -> str:
    if np.issubdtype(array.dtype, np.floating):
        return "float"
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return "int"
    return "other"


def fmt_number(value: float | None, spec: str = ".3g") -> str:
    """A statistic for a message or a table cell; '-' for "not computed"."""
    if value is None:
        return "-"
    return format(value, spec)
