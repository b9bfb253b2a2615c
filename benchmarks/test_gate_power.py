"""The gate's false-alarm and detection rates (benchmarks/gate_power.py) under pytest.

Minutes per trial on a loaded machine, so opt-in:

    TRT_EXPORT_GATE_POWER_TRIALS=20 .venv/bin/python -m pytest benchmarks/test_gate_power.py -s

It checks the issue's bar for the A/B mode (identical builds: at most 5 % false alarms; a 30 %
slower build: caught in at least 95 % of trials) and records every mode's figures, the stored
and history modes' whatever they are.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_power  # noqa: E402

TRIALS = int(os.environ.get("TRT_EXPORT_GATE_POWER_TRIALS", "0"))


@pytest.mark.skipif(TRIALS <= 0, reason="set TRT_EXPORT_GATE_POWER_TRIALS=20 to run (about half an hour)")
def test_false_alarms_and_detection(tmp_path: Path, figures: Any) -> None:
    sys.path.insert(0, str(tmp_path))
    result = gate_power.run(
        TRIALS,
        history=3,
        end_to_end=0,
        work=tmp_path,
        pairs=gate_power.DEFAULT_PAIRS,
        block_ms=gate_power.DEFAULT_BLOCK_MS,
    )
    (tmp_path / "gate-power.json").write_text(json.dumps(result, indent=2))
    summary = result["summary"]
    for key, row in summary.items():
        figures(f"{key}: {row['fail']}/{row['trials']} FAIL, median ratio {row['median_ratio']}")
    identical, slower = summary["ab/identical"], summary["ab/slower"]
    assert identical["fail"] <= 0.05 * identical["trials"]
    assert slower["fail"] >= 0.95 * slower["trials"]
