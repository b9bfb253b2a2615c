"""Messages that used to mislead (issue 11, items 13-21): each bad input gets one line naming the
problem and the fix, exit 2; our own bugs exit 3; doctor reports a broken Paddle instead of failing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fixture_paths import REPO

from trt_export.cli.commands import run_handler
from trt_export.errors import EXIT_INTERNAL, ModelSourceError, TrtExportError
from trt_export.export.exporter import export_model
from trt_export.export.manifest import MANIFEST_NAME
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import load_source

SEG = "trt_export.zoo:tiny_segnet"


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trt-export: error:") and "internal error" not in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def export64(tmp_path_factory):
    return export_model(load_source(SEG), tmp_path_factory.mktemp("ex") / "seg64", parse_fixed_shape("[64,64]"))


# ------------------------------------------------------------------ 13, 14: model sources


def test_empty_model_is_refused_not_replaced_by_the_default(tmp_path, cli):
    with pytest.raises(ModelSourceError, match="--model is empty"):
        load_source("")
    code, _, err = cli("export", "--model", "", "--save-dir", str(tmp_path / "o"), "--fixed-input-shape", "[32,32]")
    assert code == 2 and "--model is empty" in one_error_line(err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
        ("def f(:\n", "SyntaxError"),
        ("import sys\nsys.exit(7)\n", "sys.exit(7)"),
    ],
)
def test_factory_module_failing_at_import(tmp_path, monkeypatch, cli, body, fragment):
    name = f"broken_{abs(hash(body)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = cli(
        "export", "--model", f"{name}:net", "--save-dir", str(tmp_path / "o"), "--fixed-input-shape", "[32,32]"
    )
    assert code == 2
    line = one_error_line(err)
    assert fragment in line and name in line


def test_factory_calling_sys_exit(tmp_path, monkeypatch, cli):
    (tmp_path / "exits.py").write_text("import sys\ndef net():\n    sys.exit(7)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = cli(
        "export", "--model", "exits:net", "--save-dir", str(tmp_path / "o"), "--fixed-input-shape", "[32,32]"
    )
    assert code == 2 and "called sys.exit(7)" in one_error_line(err)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--seed", "-1"], "non-negative seed"),
        (["--trt-workspace-mb", "-1"], "--trt-workspace-mb must be an integer >= 1, got -1"),
        (["--threads", "0"], "--threads must be an integer >= 1"),
    ],
)
def test_bad_numbers_are_refused_with_the_flag_named(export64, cli, args, fragment):
    code, _, err = cli("verify", "--exported", str(export64.save_dir), *args)
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "bytes" not in err


def test_directories_where_files_are_expected(export64, tmp_path, cli):
    directory = tmp_path / "d"
    directory.mkdir()
    for args, fragment in (
        (["--report", str(directory)], "--report"),
        (["--inputs", str(directory)], "--inputs"),
        (["--images", str(directory)], "--images"),
        (["--model", SEG, "--weights", str(directory)], "--weights"),
    ):
        code, _, err = cli("verify", "--exported", str(export64.save_dir), *args)
        assert code == 2, args
        line = one_error_line(err)
        assert fragment in line and "is a directory" in line and "does not exist" not in line


def test_npz_that_is_not_a_zip_is_not_blamed_on_pickles(export64, tmp_path, cli):
    bogus = tmp_path / "in.npz"
    bogus.write_text("just text")
    code, _, err = cli("verify", "--exported", str(export64.save_dir), "--inputs", str(bogus))
    assert code == 2
    line = one_error_line(err)
    assert "not a zip archive" in line and "pickle" not in line


# ------------------------------------------------------------------ 15: doctor with a broken Paddle


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("raise RuntimeError('libpaddle.so: undefined symbol')\n", "RuntimeError: libpaddle.so: undefined symbol"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "SIGSEGV"),
    ],
)
def test_doctor_reports_a_broken_paddle(tmp_path, body, fragment):
    (tmp_path / "paddle").mkdir()
    (tmp_path / "paddle" / "__init__.py").write_text(body)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    proc = subprocess.run(
        [sys.executable, "-m", "trt_export", "doctor"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    paddle_row = next(line for line in proc.stdout.splitlines() if line.startswith("Paddle "))
    assert "not importable" in paddle_row and fragment in paddle_row
    assert "paddle-cpu" in proc.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "trt_export", "doctor", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    report = json.loads(as_json.stdout)
    assert report["paddle"]["version"] is None and not report["backends"]["paddle-cpu"]["legacy"]["available"]


# ------------------------------------------------------------------ 19, 20: verify against what was exported


def test_manifest_edited_to_another_shape_is_refused(export64, tmp_path, cli):
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(export64.save_dir, edited)
    data = json.loads((edited / MANIFEST_NAME).read_text())
    data["fixed_input_shape"]["nchw"] = [1, 3, 32, 32]
    data["inputs"][0]["shape"] = [1, 3, 32, 32]
    (edited / MANIFEST_NAME).write_text(json.dumps(data))
    code, out, err = cli("verify", "--model", SEG, "--exported", str(edited))
    assert code == 2, out
    line = one_error_line(err)
    assert "[1, 3, 32, 32]" in line and "[1, 3, 64, 64]" in line and "re-export" in line


def test_verify_without_model_uses_the_manifests_source(export64, cli):
    code, out, err = cli("verify", "--exported", str(export64.save_dir))
    assert code == 0, err
    assert f"no --model given: comparing with the export's own source, {SEG}" in out
    assert "verify: PASSED" in out


def test_verify_with_another_model_says_so(export64, cli):
    code, out, err = cli("verify", "--model", "fixture_slow:slow_segnet", "--exported", str(export64.save_dir))
    assert code == 0, err  # the same network under another name: it still matches
    assert f"the export was made from {SEG}, this verify compares it with fixture_slow:slow_segnet" in out


# ------------------------------------------------------------------ 21: the rest


def test_gate_tolerance_in_scientific_notation():
    from trt_export.gate.verdict import parse_tolerance

    assert parse_tolerance("1e-1") == pytest.approx(0.1)
    assert parse_tolerance("5E-2") == pytest.approx(0.05)
    with pytest.raises(TrtExportError, match="ambiguous"):
        parse_tolerance("1e1")


def test_onednn_pir_advice_fits_an_export_that_can_only_be_pir():
    from types import SimpleNamespace

    from trt_export.infer.paddle_errors import _KNOWN_FAILURES, ONEDNN_PIR_ONLY
    from trt_export.infer.paddle_errors import advice_for_export as _advice_for_export

    generic = TrtExportError(_KNOWN_FAILURES[0][2])
    pir_only = SimpleNamespace(
        notes=["legacy .pdmodel export is not possible for this network on Paddle 3.3.1 (x); ..."]
    )
    chosen_pir = SimpleNamespace(notes=[])
    assert str(_advice_for_export(generic, pir_only)) == ONEDNN_PIR_ONLY
    assert "--format legacy" not in ONEDNN_PIR_ONLY and "--backend paddle-cpu" in ONEDNN_PIR_ONLY
    assert _advice_for_export(generic, chosen_pir) is generic


def test_our_own_bugs_exit_3_not_the_usage_code(capsys):
    def buggy(args):
        raise ValueError("median latency must be a positive number of ms, got 0")

    code = run_handler(buggy, None)
    _, err = capsys.readouterr()
    assert code == EXIT_INTERNAL == 3
    assert err.startswith("trt-export: internal error: ValueError") and "--verbose" in err


def test_a_signal_met_in_an_earlier_in_process_run_does_not_mark_the_next(capsys, monkeypatch):
    """The handler remembers the signal so a Paddle-rewrapped exception still exits 128+N; that
    memory is per run, so a later run's own bug is an internal error, not "terminated"."""
    from trt_export.cli import commands

    monkeypatch.setattr(commands, "_received_signal", 15)  # as an earlier run left it

    def buggy(args):
        raise RuntimeError("a bug")

    code = run_handler(buggy, None)
    _, err = capsys.readouterr()
    assert code == EXIT_INTERNAL and "internal error: RuntimeError" in err and "terminated" not in err


# ------------------------------------------------------------------ 22: the docs' tolerance tables are the code's


@pytest.mark.parametrize("doc", ["verify.md", "parity.md"])
def test_documented_default_tolerances_match_the_code(doc):
    import re

    from trt_export.parity.compare import DEFAULT_TOLERANCES

    text = (REPO / "docs" / doc).read_text(encoding="utf-8")
    for precision, tol in DEFAULT_TOLERANCES.items():
        row = next(line for line in text.splitlines() if re.match(rf"^\| {precision}\b", line))
        cells = [c.strip() for c in row.strip("|").split("|")]

        def number(cell: str) -> float | None:
            found = re.search(r"[0-9.]+(?:e-?[0-9]+)?", cell)
            return None if cell == "-" else float(found.group(0))

        atol, rtol, argmax, labels, cosine = (number(c) for c in cells[1:6])
        assert (atol, rtol, argmax, cosine) == (tol.atol, tol.rtol, tol.min_argmax_agreement, tol.min_cosine), row
        assert labels == pytest.approx(tol.max_label_mismatch * 100), row
