"""Export reliability (issue 11): no user file deleted, one writer per --save-dir, no leftovers,
a full disk named as such. Fault injection: real signals, two real processes, ENOSPC, a tmpfs."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixture_paths import child_env

from trt_export.errors import ExportError, TrtExportError
from trt_export.export import exporter as export_mod
from trt_export.export import savedir
from trt_export.export.exporter import export_model
from trt_export.export.manifest import MANIFEST_NAME
from trt_export.model.shapes import parse_fixed_shape
from trt_export.model.sources import load_source

SHAPE = parse_fixed_shape("[32,32]")


@pytest.fixture(scope="module")
def source():
    return load_source("trt_export.zoo:tiny_segnet")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------ 1, 2: what --force may replace


@pytest.mark.parametrize("save_dir", [".", "..", ""])
def test_force_never_replaces_the_cwd_or_its_ancestors(tmp_path, monkeypatch, cli, save_dir):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('mine')\n")
    monkeypatch.chdir(project)
    code, out, err = cli(
        "export",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--save-dir",
        save_dir,
        "--fixed-input-shape",
        "[32,32]",
        "--force",
        "--replace-non-export",
    )
    assert code == 2, out
    (line,) = err.splitlines()
    assert ("empty" in line) if save_dir == "" else ("current directory" in line and "would delete" in line)
    assert (project / "train.py").read_text() == "print('mine')\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_force_never_deletes_the_weights_it_exports(tmp_path, cli, source):
    import paddle

    out = tmp_path / "out"
    out.mkdir()
    weights = out / "best.pdparams"
    paddle.save(source.build().state_dict(), str(weights))
    code, _, err = cli(
        "export",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--weights",
        str(weights),
        "--save-dir",
        str(out),
        "--fixed-input-shape",
        "[32,32]",
        "--force",
        "--replace-non-export",
    )
    assert code == 2
    assert "holds the model source or its weights" in err and "best.pdparams" in err
    assert weights.is_file()


def test_force_never_deletes_a_training_dir(tmp_path):
    train = tmp_path / "output" / "best_model"
    train.mkdir(parents=True)
    (train / "model.pdparams").write_bytes(b"weights")
    with pytest.raises(ExportError, match="holds the model source"):
        savedir.check_replace(train, force=True, replace_non_export=True, protected=[train])
    with pytest.raises(ExportError, match="holds the model source"):
        savedir.check_replace(
            tmp_path / "output", force=True, replace_non_export=True, protected=[train / "model.pdparams"]
        )
    assert (train / "model.pdparams").read_bytes() == b"weights"


def test_force_replaces_an_earlier_export_but_not_files_added_to_it(tmp_path, source):
    target = tmp_path / "out"
    export_model(source, target, SHAPE)
    export_model(source, target, SHAPE, force=True)  # an earlier export: replaced
    (target / "notes.txt").write_text("my notes")
    with pytest.raises(ExportError, match="notes.txt") as info:
        export_model(source, target, SHAPE, force=True)
    assert "did not write" in str(info.value) and "--replace-non-export" in str(info.value)
    assert (target / "notes.txt").read_text() == "my notes"


# ------------------------------------------------------------------ 3: one writer per --save-dir


def _slow_export(save_dir: Path) -> list[str]:
    """A child ``trt-export export`` of fixture_slow:slow_segnet (every build after the first sleeps
    TRT_TEST_SLOW_S seconds): a real process, for locks and signals."""
    return [
        sys.executable,
        "-m",
        "trt_export",
        "export",
        "--model",
        "fixture_slow:slow_segnet",
        "--save-dir",
        str(save_dir),
        "--fixed-input-shape",
        "[32,32]",
    ]


def test_second_concurrent_export_fails_fast_and_the_first_wins(tmp_path):
    out = tmp_path / "out"
    argv = _slow_export(out)
    release = tmp_path / "release"  # the first export holds the lock until the test creates this file
    first = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=child_env(TRT_TEST_RELEASE=str(release)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = tmp_path / ".out.lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text().strip()):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(
        argv, cwd=tmp_path, env=child_env(TRT_TEST_SLOW_S="0"), capture_output=True, text=True, timeout=120
    )
    assert first.poll() is None, "the first export must still be running for this test to mean anything"
    assert second.returncode == 2, second.stdout
    (line,) = second.stderr.splitlines()
    assert f"pid {first.pid}" in line and "writing --save-dir" in line
    release.touch()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert (out / MANIFEST_NAME).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "release"]  # no lock file, no staging dir left


def test_lock_waits_for_the_holder(tmp_path):
    target = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from trt_export.export.savedir import target_lock\n"
            "with target_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(1.5)\n"
            "    Path(sys.argv[1] + '.done').touch()",
            str(target),
        ],
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(savedir.TargetBusy, match=f"pid {holder.pid}"):
        with savedir.target_lock(target):
            pass
    started = time.monotonic()
    with savedir.target_lock(target, wait_s=60):
        assert (tmp_path / "out.done").is_file()  # only once the holder was done
    assert time.monotonic() - started < 60
    holder.wait()
    assert not (tmp_path / ".out.lock").exists()


# ------------------------------------------------------------------ 5, 6, 7: signals and leftovers


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_sighup_and_sigquit_mid_export_clean_up_and_say_so(tmp_path, sig):
    proc = subprocess.Popen(
        _slow_export(tmp_path / "out"),
        cwd=tmp_path,
        env=child_env(TRT_TEST_SLOW_S="30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(".out.partial-" in p.name for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)  # inside the stalled build, with the staging dir and the lock held
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert f"terminated ({signal.Signals(sig).name})" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == [], (list(tmp_path.iterdir()), err)


def test_stale_staging_dirs_of_dead_processes_are_cleaned(tmp_path, source):
    dead = _dead_pid()
    stale = [tmp_path / f".out.partial-{dead}-abc123", tmp_path / f".out.old-{dead}"]
    alive = [
        tmp_path / f".out.partial-{os.getppid()}-live",
        tmp_path / ".out.partial-nopid",
        tmp_path / f".other.partial-{dead}-x",
    ]
    for d in stale + alive:
        d.mkdir()
        (d / "model.pdiparams").write_bytes(b"x" * 1000)
    export_model(source, tmp_path / "out", SHAPE)
    assert not any(d.exists() for d in stale)
    assert all(d.is_dir() for d in alive), "a live owner's dir, one without a pid, another target's: never touched"


def test_staging_dir_records_its_owner(tmp_path):
    with savedir.staging_dir(tmp_path / "out") as staging:
        assert staging.name.startswith(f".out.partial-{os.getpid()}-")
        assert savedir.clean_stale(tmp_path) == []
        assert staging.is_dir()


def test_old_dir_that_cannot_be_deleted_is_a_warning(tmp_path, monkeypatch, cli, source):
    target = tmp_path / "out"
    export_model(source, target, SHAPE)

    real_rmtree = savedir.shutil.rmtree

    def stuck_rmtree(path, onerror=None, **kwargs):
        if ".old-" not in Path(path).name:
            return real_rmtree(path, onerror=onerror, **kwargs)
        onerror(
            os.unlink,
            str(Path(path) / "model.pdiparams"),
            (PermissionError, PermissionError(errno.EPERM, "Operation not permitted"), None),
        )

    monkeypatch.setattr(savedir.shutil, "rmtree", stuck_rmtree)
    code, out, err = cli(
        "export",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--save-dir",
        str(target),
        "--fixed-input-shape",
        "[32,32]",
        "--force",
    )
    assert code == 0, err
    assert "warning: the replaced export could not be deleted" in out and f".out.old-{os.getpid()}" in out
    assert "Operation not permitted" in out


def test_long_save_dir_name_works_and_too_long_is_refused(tmp_path, source):
    name = "m" * 250
    result = export_model(source, tmp_path / name, SHAPE)
    assert (result.save_dir / MANIFEST_NAME).is_file()
    with pytest.raises(TrtExportError, match="allows 255"):
        export_model(source, tmp_path / ("m" * 300), SHAPE)


# ------------------------------------------------------------------ 11, 12: memory and disk


def test_input_larger_than_memory_is_refused_up_front(tmp_path, cli):
    code, _, err = cli(
        "export",
        "--model",
        "trt_export.zoo:tiny_segnet",
        "--save-dir",
        str(tmp_path / "out"),
        "--fixed-input-shape",
        "[1,3,100000,100000]",
    )
    assert code == 2
    (line,) = err.splitlines()
    assert "needs at least" in line and "available" in line and "smaller shape" in line
    assert list(tmp_path.iterdir()) == []


def test_enospc_while_writing_says_disk_full(tmp_path, monkeypatch, capsys, source):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_mod, "write_yml", full)
    with pytest.raises(TrtExportError, match=f"disk full at {tmp_path}"):
        export_model(source, tmp_path / "out", SHAPE)
    assert list(tmp_path.iterdir()) == []


def test_paddle_writer_failing_on_a_full_disk_is_not_blamed_on_the_network(tmp_path, monkeypatch, source):
    import shutil

    real = shutil.disk_usage
    calls = {"n": 0}

    def filling_up(path):
        calls["n"] += 1  # plenty of room at the up-front check, none once jit.save failed
        usage = real(path)
        return usage._replace(free=usage.free if calls["n"] == 1 else 0)

    def cannot_read(*args, **kwargs):
        raise RuntimeError("(Unavailable) Cannot read tensor desc size")

    monkeypatch.setattr("trt_export.export.preflight.shutil.disk_usage", filling_up)
    paddle = export_mod.import_paddle()
    monkeypatch.setattr(paddle.jit, "save", cannot_read)
    with pytest.raises(TrtExportError, match="disk full at") as info:
        export_model(source, tmp_path / "out", SHAPE, model_format="pir")
    assert "old-IR" not in str(info.value)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )


def test_export_to_a_really_full_disk(tmp_path, cli):
    """A 2 MiB tmpfs (root only; skipped where mount is not allowed): refused with the disk named."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "2m"):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        code, _, err = cli(
            "export",
            "--model",
            "paddle.vision.models:squeezenet1_1",
            "--save-dir",
            str(disk / "out"),
            "--fixed-input-shape",
            "[64,64]",
            "--format",
            "legacy",
        )
        assert code == 2
        (line,) = err.splitlines()
        assert str(disk) in line and ("disk full" in line or "not enough disk space" in line)
        assert "old-IR" not in line and "internal error" not in line
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_parameterless_network_gets_a_reason(tmp_path):
    with pytest.raises(ExportError, match="no parameters"):
        export_model(load_source("fixture_slow:no_params"), tmp_path / "out", SHAPE)


def test_truncated_save_found_at_read_back_says_disk_full(tmp_path, monkeypatch, source):
    """jit.save "succeeded" on a full disk but left truncated files: the read-back names the disk."""
    import shutil

    real = shutil.disk_usage
    state = {"full": False}

    def usage(path):
        u = real(path)
        return u._replace(free=0) if state["full"] else u

    def broken_predictor(*args, **kwargs):
        state["full"] = True
        raise RuntimeError("(PreconditionNotMet) Cannot read tensor desc size")

    monkeypatch.setattr("trt_export.export.preflight.shutil.disk_usage", usage)
    monkeypatch.setattr(export_mod, "plain_cpu_predictor", broken_predictor)
    with pytest.raises(TrtExportError, match=f"disk full at {tmp_path}"):
        export_model(source, tmp_path / "out", SHAPE)
    assert list(tmp_path.iterdir()) == []


def test_signals_are_held_back_during_the_final_renames(tmp_path):
    """SIGTERM between "old dir aside" and "new dir in" would hide the old export: it is delivered after."""
    target, staging = tmp_path / "out", tmp_path / "new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staging.mkdir()
    (staging / "new.txt").write_text("new")
    received = []
    previous = signal.signal(signal.SIGTERM, lambda *a: received.append("TERM"))
    real_swap = savedir._swap

    def swap_with_a_signal(*args):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-way
        time.sleep(0.05)
        assert received == []  # not yet
        return real_swap(*args)

    try:
        savedir._swap = swap_with_a_signal
        savedir.replace_dir(staging, target)
    finally:
        savedir._swap = real_swap
        signal.signal(signal.SIGTERM, previous)
    assert received == ["TERM"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]
