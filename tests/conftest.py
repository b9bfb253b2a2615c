"""Fixtures shared by the whole suite.

tests/ has no __init__.py, so pytest puts it on sys.path: the helper modules beside this file import by
their plain names, as the worker subprocesses import ``fixture_models:<name>`` sources through
PYTHONPATH=tests (fixture_paths.child_env). Each test directory below is a package, so equal basenames
(bench/test_report.py, scale/test_cli.py, ...) do not clash. The helpers:

- fixture_cli: ``run_cli``, the CLI in this process (the ``cli`` fixture below);
- fixture_reports: the one builder of Candidate rows and bench reports (dataclasses, v1/v2 JSON dicts);
- fixture_paths: the checkout, shared/ fixtures, the environment of child processes;
- fixture_models, fixture_slow, ray_faults: model sources and fault injection, importable by workers;
- fixture_tiny: the tiny conv net of the runner tests and its export.
"""

from __future__ import annotations

import pytest
from fixture_cli import run_cli


@pytest.fixture
def cli():
    """``cli(*argv, cwd=None) -> CliRun``: trt-export in this process (fixture_cli.run_cli)."""
    return run_cli
