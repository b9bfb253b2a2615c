"""Rules a machine checks: --help and the Paddle-free modules never import Paddle; logging from -v/-q."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from trt_export.cli.commands import build_parser, main
from trt_export.cli.logs import BOTH_FLAGS_ERROR, LOGGER_NAME, configure_logging, log_level

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("paddle", "paddle2onnx", "onnxruntime")


def _subcommands() -> list[str]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def _heavy_modules_after(code: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter; return its JSON report plus which heavy modules it imported."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json as _json, sys as _sys
        _out = dict(globals().get("RESULT", {{}}))
        _out["imported"] = sorted(m for m in {HEAVY!r} if m in _sys.modules)
        print(_json.dumps(_out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_cli_has_subcommands_to_check() -> None:
    assert {"export", "verify", "bench", "gate", "doctor"} <= set(_subcommands())


def test_python_m_trt_export_help_does_not_import_paddle() -> None:
    out = _heavy_modules_after(
        """
        import contextlib, io, runpy, sys
        sys.argv = ["trt_export", "--help"]
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            try:
                runpy.run_module("trt_export", run_name="__main__")
            except SystemExit as exc:
                code = exc.code
        RESULT = {"code": code, "usage": text.getvalue().startswith("usage: trt-export")}
        """
    )
    assert out == {"code": 0, "usage": True, "imported": []}


def test_every_subcommand_help_does_not_import_paddle() -> None:
    names = _subcommands()
    out = _heavy_modules_after(
        f"""
        import contextlib, io
        from trt_export.cli.commands import main
        codes = {{}}
        for name in {names!r}:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    main([name, "--help"])
                except SystemExit as exc:
                    codes[name] = exc.code
        RESULT = {{"codes": codes}}
        """
    )
    assert out == {"codes": dict.fromkeys(names, 0), "imported": []}


PADDLE_FREE = (
    "trt_export.report.render",
    "trt_export.report.render_scene",
    "trt_export.parity.compare",
    "trt_export.bench.stats",
    "trt_export.bench.recommend",
    "trt_export.bench.recommend_scene",
    "trt_export.gate.verdict",
    "trt_export.bench.comparable",
    "trt_export.bench.metrics",
    "trt_export.report.gate_output",
    "trt_export.report.parity_text",
    "trt_export.report.doctor_text",
    "trt_export.serial",
    "trt_export.gate.ratio_stats",
)


def test_paddle_free_modules_import_without_paddle() -> None:
    out = _heavy_modules_after(f"import importlib\nfor name in {PADDLE_FREE!r}:\n    importlib.import_module(name)\n")
    assert out == {"imported": []}


@pytest.fixture
def trt_logger() -> Iterator[logging.Logger]:
    """The package logger, restored afterwards (configure_logging changes process-wide state)."""
    logger = logging.getLogger(LOGGER_NAME)
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.mark.parametrize(
    ("verbose", "quiet", "level"),
    [(False, False, logging.WARNING), (True, False, logging.INFO), (False, True, logging.ERROR)],
)
def test_log_level_from_flags(verbose: bool, quiet: bool, level: int) -> None:
    assert log_level(verbose, quiet) == level


def test_log_level_refuses_both_flags() -> None:
    with pytest.raises(ValueError, match="contradict"):
        log_level(True, True)


def test_default_level_prints_warnings_as_their_bare_message(
    trt_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(verbose=False, quiet=False)
    child = logging.getLogger("trt_export.infer.runners")
    child.info("an info line")
    child.warning("trt-cpu: %s", "a warning line")
    assert capsys.readouterr().err == "trt-cpu: a warning line\n"


def test_quiet_hides_warnings_and_keeps_errors(trt_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, quiet=True)
    child = logging.getLogger("trt_export.infer.onnx_runner")
    child.warning("hidden")
    child.error("shown")
    assert capsys.readouterr().err == "shown\n"


def test_verbose_shows_info(trt_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=True, quiet=False)
    logging.getLogger("trt_export.infer.onnx_runner").info("onnx-cpu: a note")
    assert capsys.readouterr().err == "onnx-cpu: a note\n"


def test_configuring_twice_keeps_one_handler(trt_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbose=False, quiet=False)
    configure_logging(verbose=False, quiet=False)
    trt_logger.warning("once")
    assert capsys.readouterr().err == "once\n"


@pytest.mark.parametrize("argv", [["-v", "-q", "doctor"], ["-q", "doctor", "--verbose"], ["doctor", "-v", "-q"]])
def test_cli_refuses_verbose_with_quiet(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"trt-export: error: {BOTH_FLAGS_ERROR} (see --help)\n"


@pytest.mark.parametrize(("argv", "level"), [(["-q"], logging.ERROR), (["-v"], logging.INFO), ([], logging.WARNING)])
def test_cli_sets_the_level_from_global_flags(
    argv: list[str], level: int, trt_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    # No command: the CLI configures logging, prints its help and exits 2 without running anything.
    assert main(argv) == 2
    assert trt_logger.level == level
    assert capsys.readouterr().out.startswith("usage: trt-export")
