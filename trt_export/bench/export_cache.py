"""Integrity of bench's export cache entries: a damaged entry is re-made, never reused.

An entry is ``CACHE/KEY/export`` (an export dir with its manifest) plus
``CACHE/KEY/reference-seedN.npz`` (the dygraph reference). A file damaged after it was written
(a truncated copy, a full disk, an edit) made that candidate fail on every later run with
"re-export the model", which a sweep cannot act on; here the damage is found before the entry is
used, the entry is discarded, and the sweep exports it afresh.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from trt_export.errors import TrtExportError


def export_problem(export_dir: Path) -> str | None:
    """Why the cached export cannot be used (None: complete, and every file matches its sha256)."""
    from trt_export.export.manifest import MANIFEST_NAME, load_manifest

    if not (export_dir / MANIFEST_NAME).is_file():
        return "no manifest"
    try:
        manifest = load_manifest(export_dir)
        for fmt in manifest.formats:
            manifest.check_files(fmt)
    except (TrtExportError, OSError) as exc:
        return str(exc)
    return None


def reference_problem(reference: Path) -> str | None:
    """Why the cached reference .npz cannot be read (None: it opens and lists its arrays)."""
    import numpy as np

    if not reference.is_file():
        return "no reference"
    try:
        with np.load(reference, allow_pickle=False) as data:
            for key in data.files:
                data[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return f"{reference.name} is unreadable ({exc})"
    return None


def discard(export_dir: Path, reference: Path | None = None) -> None:
    """Remove a damaged entry's export (and reference); the cache is ours, nothing of the user's is in it."""
    shutil.rmtree(export_dir, ignore_errors=True)
    if reference is not None:
        reference.unlink(missing_ok=True)
