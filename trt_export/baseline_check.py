"""`bench --baseline`: refuse a baseline the gate would refuse anyway, before minutes of sweeping.

The gate itself (gate.run_gate) stays the authority after the sweep; this only repeats its two
refusals that need no measurement: another model, another environment (unless
--allow-env-mismatch). The environment is this process's fingerprint, the same facts the sweep's
workers record.
"""

from __future__ import annotations

from trt_export.errors import ReportError


def refuse_mismatched_baseline(baseline_path: str, model_spec: str, backend: str | None, allow_env_mismatch: bool) -> None:
    """Raise ReportError (exit 2) when ``baseline_path`` is of another model or environment.

    ``backend`` None: picked automatically (the sweep may still switch it), so the gate judges it.
    """
    from trt_export.fingerprint import environment_fingerprint
    from trt_export.gate import ENV_FIELDS, _load

    baseline = _load(baseline_path, "baseline")
    if baseline.model.source != model_spec:
        raise ReportError(
            f"baseline {baseline_path!r} is of another model: {baseline.model.name} ({baseline.model.source}), this sweep "
            f"is of {model_spec}; gate a sweep only against a baseline of the same model (refused before sweeping)"
        )
    if allow_env_mismatch:
        return
    environment = environment_fingerprint()
    diffs = [f"backend {baseline.backend!r} vs {backend!r}"] if backend is not None and baseline.backend != backend else []
    diffs += [
        f"{key} {baseline.environment.get(key)!r} vs {environment.get(key)!r}"
        for key in ENV_FIELDS
        if baseline.environment.get(key) != environment.get(key)
    ]
    if diffs:
        raise ReportError(
            f"baseline {baseline_path!r} is from another environment (baseline vs here): {', '.join(diffs)}; "
            "pass --allow-env-mismatch to compare anyway (refused before sweeping)"
        )
