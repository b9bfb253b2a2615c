"""Fixtures shared by the whole suite: the in-process CLI.

tests/ has no __init__.py, so pytest puts it on sys.path: the helper modules beside this file
(fixture_paths, fixture_models, fixture_reports, fixture_tiny, ...) import by their plain names, as
the worker subprocesses import ``fixture_models:<name>`` sources through PYTHONPATH=tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

import pytest

from trt_export.cli.commands import main


class CliRun(NamedTuple):
    """What ``trt-export ARGV`` gave: the exit code and the text written to stdout and stderr.

    The field names are subprocess.CompletedProcess's, so a test reads an in-process run as it read a real one.
    """

    returncode: int
    stdout: str
    stderr: str


class Cli(Protocol):
    def __call__(self, *argv: str, cwd: Path | None = None) -> CliRun: ...


def _exit_code(exc: SystemExit) -> int:
    """The status a process exiting with ``exc`` has: None is 0, a message is 1 (as the interpreter does)."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``trt_export.cli.commands.main(argv)`` in this process (``cwd``: the directory it runs in).

    Output is what capsys holds when main returns, so text printed earlier in the test comes with it,
    as it did with each file's own helper. argparse's usage errors (SystemExit) give their exit code.
    """

    def run(*argv: str, cwd: Path | None = None) -> CliRun:
        with monkeypatch.context() as patch:
            if cwd is not None:
                patch.chdir(cwd)
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = _exit_code(exc)
        out, err = capsys.readouterr()
        return CliRun(code, out, err)

    return run
