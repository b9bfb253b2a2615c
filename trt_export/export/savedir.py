"""Output directories that are replaced as a whole: what may be replaced, by whom, and the leftovers.

An export is written into a staging dir beside its target and renamed into place. This module owns
the rules around that:

- ``check_replace``: what ``--force`` may replace. Never the current directory or an ancestor of it,
  never a dir that holds the model source or its weights; a non-empty dir that is not an earlier
  export (no manifest), or an export holding files it did not write, only with the explicit
  ``--replace-non-export``. The error names what would be deleted.
- ``target_lock``: one writer per target at a time (flock on ``.NAME.lock`` beside it), so two
  concurrent exports to one dir cannot silently replace each other.
- ``staging_dir``: ``.NAME.partial-PID-XXXX`` beside the target; the PID names its owner, so
  ``clean_stale`` can remove those whose process is gone (killed runs) and never one that is alive.
- ``replace_dir``: the rename dance, with a warning (not silence) when the old dir cannot be deleted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from trt_export.errors import ExportError, TrtExportError

# The flag that allows replacing a directory that is not (only) an earlier export.
REPLACE_NON_EXPORT_FLAG = "--replace-non-export"
# NAME_MAX on Linux and macOS; our hidden siblings add about 30 characters to the name.
NAME_MAX = 255
_LONG_NAME = 180
_OWNED = re.compile(r"^\.(?P<name>.+)\.(?P<kind>partial|old)-(?P<pid>\d+)(?:-.*)?$")
# Files an export writes (besides those its manifest lists): anything else in it is the user's.
_EXPORT_FILES = {"model.yml", "pipeline.yml", ".success", "trt_export_manifest.json", "model.pdiparams.info"}


def hidden_name(name: str) -> str:
    """The target's name as used in its hidden siblings, short enough for NAME_MAX."""
    if len(os.fsencode(name)) <= _LONG_NAME:
        return name
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:10]
    return os.fsdecode(os.fsencode(name)[: _LONG_NAME - 12]).rstrip("\ufffd") + "~" + digest


def check_name(target: Path, flag: str) -> None:
    """Refuse an empty path and a name the filesystem cannot hold, before any work."""
    if len(os.fsencode(target.name)) > NAME_MAX:
        raise TrtExportError(
            f"{flag} name {target.name[:40]!r}... is {len(os.fsencode(target.name))} bytes long; the filesystem "
            f"allows {NAME_MAX}: choose a shorter name"
        )


def require_nonempty(value: str | None, flag: str) -> str:
    if value is None or not str(value).strip():
        raise TrtExportError(f"{flag} is empty (an unset shell variable?); give a directory path")
    return str(value)


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


def _listing(paths: list[Path], root: Path, limit: int = 4) -> str:
    names = [str(p.relative_to(root)) for p in sorted(paths)[:limit]]
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(names) + more


def _foreign_files(target: Path) -> list[Path]:
    """Files in ``target`` that an export did not write (all of them when there is no manifest)."""
    from trt_export.export.manifest import MANIFEST_NAME

    files = [p for p in target.rglob("*") if not p.is_dir()]
    manifest_path = target / MANIFEST_NAME
    if not manifest_path.is_file():
        return files
    try:
        import json

        data = json.loads(manifest_path.read_text(encoding="utf-8"))
        listed = {
            target / f
            for entry in data.get("formats", {}).values()
            for f in (entry["model_file"], entry["params_file"])
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return files  # an unreadable manifest proves nothing about the files
    known = listed | {target / n for n in _EXPORT_FILES} | {p.with_name(p.name + ".info") for p in listed}
    return [p for p in files if p not in known]


def check_replace(
    target: Path, force: bool, replace_non_export: bool, protected: list[Path], flag: str = "--save-dir"
) -> None:
    """Raise with what would be lost unless replacing ``target`` is safe (see the module doc)."""
    target = target.resolve()
    cwd = Path.cwd().resolve()
    if _is_within(cwd, target):
        what = "the current directory" if cwd == target else f"an ancestor of the current directory ({cwd})"
        raise ExportError(f"{flag} {str(target)!r} is {what}; replacing it would delete it: choose a new directory")
    for item in protected:
        item = item.resolve()
        if _is_within(item, target):
            raise ExportError(
                f"{flag} {str(target)!r} holds the model source or its weights ({item}); replacing it would delete "
                "them: choose another directory"
            )
    if target.exists() and not target.is_dir():
        raise ExportError(f"{flag} {str(target)!r} is a file; give a directory path")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not force:
        raise ExportError(f"{flag} {str(target)!r} exists and is not empty; pass --force to replace it")
    foreign = _foreign_files(target)
    if foreign and not replace_non_export:
        from trt_export.export.manifest import MANIFEST_NAME

        kind = (
            "an earlier export holding files it did not write"
            if (target / MANIFEST_NAME).is_file()
            else "not an earlier export (no manifest)"
        )
        raise ExportError(
            f"{flag} {str(target)!r} is {kind}; --force would delete {len(foreign)} file(s): "
            f"{_listing(foreign, target)}; move them, choose another directory, or add {REPLACE_NON_EXPORT_FLAG}"
        )


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def clean_stale(parent: Path, name: str | None = None) -> list[Path]:
    """Remove ``.NAME.partial-PID-*`` / ``.NAME.old-PID`` dirs in ``parent`` whose process is gone.

    Only directories in our naming scheme with a recorded owner PID are touched; a live owner's
    (this process's included) is left alone. Returns what was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    wanted = hidden_name(name) if name is not None else None
    for entry in entries:
        match = _OWNED.match(entry.name)
        if match is None or (wanted is not None and match.group("name") != wanted):
            continue
        pid = int(match.group("pid"))
        if pid == os.getpid() or pid_alive(pid) or not entry.is_dir() or entry.is_symlink():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A temporary dir beside the target (same filesystem, so the final rename is atomic)."""
    try:
        staging = Path(
            tempfile.mkdtemp(prefix=f".{hidden_name(target.name)}.partial-{os.getpid()}-", dir=target.parent)
        )
    except OSError as exc:
        raise ExportError(
            f"cannot create a working dir beside {str(target)!r} ({exc.strerror}); choose a --save-dir on a writable disk"
        ) from None
    try:  # from here on, a signal at any point (even before the yield) still removes the dir
        # mkdtemp makes the dir 0700; once renamed into place the export must be readable like any
        # directory made with mkdir (a serving process often runs as another user).
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP/SIGQUIT back for a few renames that must not be cut in half (the
    old dir moved aside, the new one not yet in place); each is re-raised right after, to whatever
    handler was in place. (A thread signal mask would not do: a process-directed signal goes to any
    thread that does not block it, and Paddle starts threads.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"):
        number = getattr(signal, name, None)
        # None: a handler installed from C, which Python could not put back; left alone.
        if number is not None and signal.getsignal(number) is not None:
            previous[number] = signal.signal(number, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in pending:
            signal.raise_signal(number)


def replace_dir(staging: Path, target: Path) -> list[str]:
    """Rename ``staging`` to ``target``, replacing an old ``target``; warnings for what stayed behind."""
    with signals_deferred():  # never stop between moving the old dir aside and the new one in
        old = _swap(staging, target)
    return [] if old is None else _remove_old(old)


def _swap(staging: Path, target: Path) -> Path | None:
    old = None
    if target.exists():
        old = target.with_name(f".{hidden_name(target.name)}.old-{os.getpid()}")
        try:
            target.rename(old)
        except OSError as exc:
            raise ExportError(
                f"cannot move the old {str(target)!r} aside ({exc.strerror}); nothing was replaced"
            ) from None
    try:
        staging.rename(target)
    except OSError as exc:
        if old is not None:
            old.rename(target)
        raise ExportError(
            f"cannot move the new export into {str(target)!r} ({exc.strerror}); the old one is unchanged"
        ) from None
    return old


def _remove_old(old: Path) -> list[str]:
    failures: list[str] = []
    shutil.rmtree(
        old, onerror=lambda fn, path, info: failures.append(f"{path}: {getattr(info[1], 'strerror', None) or info[1]}")
    )
    if old.exists():
        return [
            f"the replaced export could not be deleted and was left at {old} ({failures[0] if failures else 'unknown'}); "
            "delete it by hand (a later export into this parent removes it once it can)"
        ]
    return []


class TargetBusy(TrtExportError):
    """Another process holds the lock of this output directory."""


@contextlib.contextmanager
def target_lock(target: Path, wait_s: float = 0.0, flag: str = "--save-dir") -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``target`` (flock): one writer per target across processes.

    ``wait_s`` 0 fails at once with the holder's PID; otherwise waits up to that long. The lock file
    is removed on release while still locked; a waiter that then locks the unlinked file sees that
    its inode is no longer the path's and tries again, so two holders can never coexist.
    """
    path = target.parent / f".{hidden_name(target.name)}.lock"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ExportError(
                f"cannot create the lock {path} ({exc.strerror}); choose a {flag} on a writable disk"
            ) from None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                        raise TargetBusy(
                            f"another trt-export (pid {holder}) is writing {flag} {str(target)!r} right now; wait "
                            "for it to finish or choose another directory"
                        ) from None
                    time.sleep(0.1)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the holder we waited for removed this file; lock the current one
                os.close(fd)
                continue
        except BaseException:
            os.close(fd)
            raise
        break
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
