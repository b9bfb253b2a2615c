"""Fault injection for tests/scale/test_ray_executor.py: Ray task bodies that lose their worker.

Importable by the Ray workers because the test puts tests/ on their PYTHONPATH.
"""

from __future__ import annotations

import os
from typing import Any

from trt_export.scale.ray_executor import run_candidate_task


def crash_for_48(payload: dict[str, Any]) -> dict[str, Any]:
    """The real task, except that the 1x3x48x48 candidate's Ray worker process dies at once."""
    if payload["shape"].label == "1x3x48x48":
        os._exit(1)
    return run_candidate_task(payload)
