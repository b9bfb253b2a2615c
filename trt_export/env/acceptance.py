"""Collect one GPU acceptance run (scripts/gpu-acceptance.sh) into a results file: JSON and Markdown.

``python -m trt_export.env.acceptance RUN_DIR`` reads what the script left in RUN_DIR:

- ``doctor.json`` (``trt-export doctor --json``), ``pytest-gpu.xml`` (JUnit of ``pytest -m gpu``);
- ``steps.tsv``: one line per step, ``name<TAB>kind<TAB>exit code<TAB>seconds`` (kind: verify,
  bench, pytest, doctor; ``verify-timing`` / ``bench-timing`` for INT8 with random calibration,
  where a parity failure, exit 1, is recorded but accepted);
- per step ``<name>.json`` (verify report or bench.json in ``<name>/bench.json``) and ``<name>.log``;

and writes ``RUN_DIR/acceptance.json`` and ``RUN_DIR/acceptance.md``, meant to be attached to an
issue. Exit code 0 when every step passed, 1 otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

SCHEMA = "trt-export/gpu-acceptance"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _last_line(path: Path) -> str:
    try:
        lines = [
            line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def pytest_summary(junit: Path) -> dict[str, Any] | None:
    if not junit.is_file():
        return None
    try:
        root = ET.parse(junit).getroot()
    except ET.ParseError:
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname', '')}::{case.get('name', '')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    skipped = sorted(
        {
            (skip.get("message") or "")[:200]
            for case in root.iter("testcase")
            if (skip := case.find("skipped")) is not None
        }
    )
    return {**counts, "failed": failed, "skip_reasons": skipped}


def _step_figures(run_dir: Path, name: str, kind: str) -> dict[str, Any]:
    if kind == "verify":
        report = _read_json(run_dir / f"{name}.json") or {}
        comparison = report.get("comparison") or {}
        return {
            "passed": report.get("passed"),
            "predictor_ms": (report.get("timing") or {}).get("predictor_ms"),
            "max_abs_error": comparison.get("max_abs_error"),
            "trt_coverage": report.get("trt_coverage"),
        }
    if kind == "bench":
        report = _read_json(run_dir / name / "bench.json") or {}
        candidates = []
        for cand in report.get("candidates") or []:
            latency = cand.get("latency_ms") or {}
            coverage = cand.get("trt_coverage") or {}
            candidates.append(
                {
                    "label": cand.get("label"),
                    "status": cand.get("status"),
                    "p50_ms": latency.get("p50"),
                    "parity": (cand.get("parity") or {}).get("passed"),
                    "engines": coverage.get("engines"),
                    "coverage": coverage.get("fraction"),
                    "failure": (cand.get("failure") or {}).get("reason"),
                }
            )
        return {"candidates": candidates, "recommended": (report.get("recommendation") or {}).get("label")}
    return {}


def summarize(run_dir: Path) -> dict[str, Any]:
    steps = []
    tsv = run_dir / "steps.tsv"
    lines = tsv.read_text(encoding="utf-8").splitlines() if tsv.is_file() else []
    for line in lines:
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        name, kind, code, seconds = parts
        timing_only = kind.endswith("-timing")
        kind = kind.removesuffix("-timing")
        ok = int(code) == 0 or (timing_only and int(code) == 1)
        steps.append(
            {
                "name": name,
                "kind": kind,
                "timing_only": timing_only,
                "exit_code": int(code),
                "seconds": float(seconds),
                "ok": ok,
                "last_line": _last_line(run_dir / f"{name}.log") if int(code) != 0 else "",
                **_step_figures(run_dir, name, kind),
            }
        )
    doctor = _read_json(run_dir / "doctor.json")
    return {
        "schema": SCHEMA,
        "schema_version": 1,
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": {
            "paddle": (doctor or {}).get("paddle"),
            "gpu": (doctor or {}).get("gpu"),
            "tensorrt": (doctor or {}).get("tensorrt"),
        },
        "pytest_gpu": pytest_summary(run_dir / "pytest-gpu.xml"),
        "steps": steps,
        "passed": bool(steps) and all(step["ok"] for step in steps),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def render_markdown(summary: dict[str, Any]) -> str:
    env = summary["environment"]
    paddle, gpu, trt = env.get("paddle") or {}, env.get("gpu") or {}, env.get("tensorrt") or {}
    verdict = "PASSED" if summary["passed"] else "FAILED"
    lines = [
        f"# trt-export GPU acceptance: {verdict}",
        "",
        f"- Paddle {_cell(paddle.get('version'))} (commit {_cell((paddle.get('commit') or '')[:12] or None)}), "
        f"CUDA {_cell(paddle.get('cuda_version'))}, cuDNN {_cell(paddle.get('cudnn_version'))}",
        f"- GPU: {_cell(', '.join(gpu.get('names') or []) or None)}",
        f"- TensorRT compiled {_cell(trt.get('compile_version'))}, runtime {_cell(trt.get('runtime_version'))}, "
        f"Python tensorrt {_cell(trt.get('python_package'))}",
        f"- created {summary['created_utc']}",
        "",
    ]
    tests = summary.get("pytest_gpu")
    if tests:
        lines += [
            f"## pytest -m gpu: {tests['tests']} tests, {tests['failures'] + tests['errors']} failed, {tests['skipped']} skipped",
            "",
            *[f"- FAILED {name}" for name in tests["failed"]],
            *[f"- skipped: {reason}" for reason in tests["skip_reasons"]],
            "",
        ]
    lines += ["## Steps", "", "| step | exit | s | result |", "| --- | --- | --- | --- |"]
    for step in summary["steps"]:
        if step["kind"] == "verify" and step.get("passed") is None:
            result = "no report"
        elif step["kind"] == "verify":
            coverage = step.get("trt_coverage") or {}
            result = (
                f"parity {'pass' if step.get('passed') else 'FAIL'}, max abs {_cell(step.get('max_abs_error'))}, "
                f"{_cell(step.get('predictor_ms'))} ms, engines {_cell(coverage.get('engines'))}, coverage {_cell(coverage.get('fraction'))}"
            )
        elif step["kind"] == "bench":
            result = (
                "; ".join(
                    f"{c['label']}: {c['status']}, p50 {_cell(c['p50_ms'])} ms, engines {_cell(c['engines'])}, coverage {_cell(c['coverage'])}"
                    + (f" ({_cell(c['failure'])})" if c["failure"] else "")
                    for c in step.get("candidates") or []
                )
                or "no bench.json"
            )
        else:
            result = ""
        if step.get("timing_only"):
            result += " (random INT8 calibration: timing only, parity not judged)"
        if not step["ok"] and step["last_line"]:
            result += f" <br>`{_cell(step['last_line'])}`"
        lines.append(f"| {step['name']} | {step['exit_code']} | {step['seconds']:.0f} | {result} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(
            "usage: python -m trt_export.env.acceptance RUN_DIR (the directory scripts/gpu-acceptance.sh wrote)",
            file=sys.stderr,
        )
        return 2
    run_dir = Path(argv[0])
    summary = summarize(run_dir)
    (run_dir / "acceptance.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (run_dir / "acceptance.md").write_text(render_markdown(summary), encoding="utf-8")
    print(
        f"results: {run_dir / 'acceptance.json'}, {run_dir / 'acceptance.md'} ({'PASSED' if summary['passed'] else 'FAILED'})"
    )
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
