"""bench: what the model source or the inputs get wrong stops the sweep (exit 2), whatever the candidate.

The worker reports such errors as fatal; the parent raises them instead of recording a failed
candidate, so a broken source is never reported as "no candidate fits" (exit 1).
"""

from __future__ import annotations

import pytest

from trt_export.bench.protocol import PrepareJob, SourceSpec, WorkerFailure
from trt_export.bench.sweep import WorkerPool
from trt_export.bench.worker import run_job
from trt_export.errors import ExportError, InputError, ModelSourceError, TrtExportError


def _prepare_job(tmp_path, spec: str) -> PrepareJob:
    return PrepareJob(SourceSpec(spec), [1, 3, 32, 32], "auto", tmp_path / "export", tmp_path / "reference.npz")


def test_a_source_error_in_a_worker_is_fatal(tmp_path):
    result = run_job(_prepare_job(tmp_path, str(tmp_path / "no-such-training-dir")))
    assert isinstance(result, WorkerFailure) and result.fatal is True
    assert "no-such-training-dir" in result.reason
    assert not (tmp_path / "export").exists()


def test_the_pool_raises_a_fatal_worker_error_exit_2(tmp_path):
    (tmp_path / "logs").mkdir()
    pool = WorkerPool(tmp_path / "logs", timeout_s=120)
    with pytest.raises(TrtExportError, match="no-such-training-dir") as caught:
        pool.run(_prepare_job(tmp_path, str(tmp_path / "no-such-training-dir")), "prepare", "export")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("exc", "fatal"),
    [(ModelSourceError("x"), True), (InputError("x"), True), (ExportError("x"), False)],
)
def test_which_errors_are_fatal(exc, fatal):
    from trt_export.bench.worker import is_fatal

    assert is_fatal(exc) is fatal
