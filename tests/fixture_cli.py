"""``trt-export ARGV`` run in this process: the exit code and what it wrote to stdout and stderr.

The suite's one way to call the CLI where a real process is not the point (signals, exit codes of the
process, worker isolation and what --help imports are: those tests start ``python -m trt_export``).
Tests take it as the ``cli`` fixture (conftest.py); module-scoped fixtures import ``run_cli``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import NamedTuple

from trt_export.cli.commands import main


class CliRun(NamedTuple):
    """The field names are subprocess.CompletedProcess's, so a test reads a run in-process as it read one
    in a child; it unpacks as ``code, out, err``."""

    returncode: int
    stdout: str
    stderr: str


def _exit_code(exc: SystemExit) -> int:
    """The status of a process ending with ``exc`` (argparse's usage errors): None is 0, a message 1."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def run_cli(*argv: str, cwd: Path | None = None) -> CliRun:
    """``trt_export.cli.commands.main(argv)``, in ``cwd`` when given."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = _exit_code(exc)
    return CliRun(code, out.getvalue(), err.getvalue())
