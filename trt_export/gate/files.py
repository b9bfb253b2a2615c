"""The files the gate writes inside a bench ``--out`` (the CI example relies on these names).

The gate owns them; a new sweep asks for them here to clear an earlier run's verdict, which would
otherwise be read as being about the new numbers. Imports nothing.
"""

from __future__ import annotations

JUNIT_FILENAME = "gate-junit.xml"
MARKDOWN_FILENAME = "gate.md"
GATE_OUTPUTS: tuple[str, ...] = (JUNIT_FILENAME, MARKDOWN_FILENAME)
"""Every file name above: what a sweep removes from ``--out`` as stale."""
