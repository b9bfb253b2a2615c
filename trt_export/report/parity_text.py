"""Parity as text: the per-output comparison table, one output's one-liner, verify's summary.

Reads the comparator's results (parity/compare.py) and verify's report (parity/verify.py); knows
nothing of how they were computed. `trt-export verify` prints `render_verify`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from trt_export.parity.compare import fmt_number

if TYPE_CHECKING:
    from trt_export.parity.compare import ComparisonResult, OutputComparison
    from trt_export.parity.verify import VerifyReport

_HEADERS = ["output", "result", "shape", "dtype", "max abs", "max rel", "cosine", "agreement", "would pass with"]


def render_output(out: OutputComparison) -> str:
    """One output's verdict, tolerance, errors and (when failed) reasons on one line."""
    verdict = "PASSED" if out.passed else "FAILED"
    text = f"{out.name}: {verdict} ({out.tolerance.describe()})"
    if out.max_abs_error is not None:
        text += f"; max abs {fmt_number(out.max_abs_error)}, max rel {fmt_number(out.max_rel_error)}"
    if out.argmax_agreement is not None:
        text += f"; argmax agreement {out.argmax_agreement:.4f}"
    if out.label_mismatch is not None:
        text += f"; labels differ {out.label_mismatch:.4%}"
    if not out.passed:
        text += "; " + "; ".join(out.reasons)
    return text


def _row(out: OutputComparison) -> list[str]:
    needed = "-"
    non_finite = out.reference_nan + out.reference_inf + out.candidate_nan + out.candidate_inf
    if non_finite:
        needed = "no tolerance (NaN/Inf)"
    elif out.required_atol is not None:
        tol = out.tolerance
        needed = (
            f"atol {fmt_number(out.required_atol)} @ rtol {fmt_number(tol.rtol)} | "
            f"rtol {fmt_number(out.required_rtol)} @ atol {fmt_number(tol.atol)}"
        )
    agree = "-"
    if non_finite:
        agree = "- (NaN/Inf)"
    elif out.argmax_agreement is not None:
        agree = f"argmax {out.argmax_agreement:.2%}"
    elif out.label_mismatch is not None:
        agree = f"labels {1 - out.label_mismatch:.2%} equal"
    return [
        out.name,
        "PASSED" if out else "FAILED",
        "x".join(map(str, out.candidate_shape))
        + ("" if out.shape_match else " (ref " + "x".join(map(str, out.reference_shape)) + ")"),
        out.candidate_dtype + ("" if out.dtype_match else f" (ref {out.reference_dtype})"),
        fmt_number(out.max_abs_error),
        fmt_number(out.max_rel_error),
        fmt_number(out.cosine_similarity, ".6f"),
        agree,
        needed,
    ]


def render_comparison(result: ComparisonResult) -> str:
    """A table a person reads: one row per output, verdict, errors and the tolerance it needed."""
    rows = [_row(out) for out in result.outputs]
    rows += [[name, "FAILED", "missing in candidate", "", "", "", "", "", ""] for name in result.missing]
    rows += [[name, "FAILED", "extra in candidate", "", "", "", "", "", ""] for name in result.extra]
    table = tabulate(rows, headers=_HEADERS, tablefmt="simple", disable_numparse=True)
    n_ok = sum(1 for out in result.outputs if out)
    n_all = len(result.outputs) + len(result.missing) + len(result.extra)
    lines = [table, "", f"{'PASSED' if result else 'FAILED'}: {n_ok}/{n_all} outputs match"]
    tols = {out.tolerance.describe() for out in result.outputs}
    if len(tols) == 1:
        lines[-1] += f" ({tols.pop()})"
    lines += [f"  - {reason}" for reason in result.reasons]
    lines += [f"  note: {out.name}: {note}" for out in result.outputs for note in out.notes]
    return "\n".join(lines)


def render_verify(report: VerifyReport) -> str:
    """What `trt-export verify` prints: the run, TensorRT coverage, notes, the table, the verdict."""
    m = report.manifest
    head = (
        f"verify {m.model_name} at {m.fixed_shape.describe()} on {report.backend} ({report.model_format} format), "
        f"inputs: {report.inputs_from['kind']}"
    )
    verdict = "PASSED" if report.passed else "FAILED"
    coverage = [report.trt_coverage.describe()] if report.trt_coverage is not None else []
    lines = [
        head,
        *coverage,
        *[f"note: {n}" for n in report.notes],
        render_comparison(report.comparison),
        f"verify: {verdict}",
    ]
    if report.polygraphy:
        lines.append(f"polygraphy data: {report.polygraphy['inputs']}, {report.polygraphy['reference']}; check with:")
        lines.append(f"  {report.polygraphy['command']}")
    return "\n".join(lines)
