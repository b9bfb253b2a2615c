"""Where the real PaddleRS-written files live: shared/fixtures/paddlers beside the checkout.

Also whether real PaddleRS (``paddlers``, installed from shared/vendor by scripts/install-paddlers.sh)
is there for the ``paddlers`` test tier.

CI clones the repo next to shared/. Outside CI a checkout without it skips the tests that read
those files; under CI (CI=true) their absence is an error, so a layout change cannot quietly turn
the PaddleRS compatibility tests into skips.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# tests/, where the shared helpers live: worker subprocesses get it on PYTHONPATH for `fixture_models:<name>`
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# TRT_EXPORT_SHARED points elsewhere (a git worktree, say), as for scripts/install-paddlers.sh.
SHARED = Path(os.environ.get("TRT_EXPORT_SHARED") or REPO.parent / "shared")
FIXTURES = SHARED / "fixtures" / "paddlers"
PADDLERS_TARBALL = SHARED / "vendor" / "PaddleRS-f62b46f.tar.gz"

if not FIXTURES.is_dir() and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    raise RuntimeError(f"PaddleRS fixtures not found at {FIXTURES}; CI must lay shared/ beside the checkout")

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"PaddleRS fixtures not found at {FIXTURES}")


PADDLERS_INSTALLED = importlib.util.find_spec("paddlers") is not None
if not PADDLERS_INSTALLED and PADDLERS_TARBALL.is_file() and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    raise RuntimeError(f"{PADDLERS_TARBALL} is here but paddlers is not installed; scripts/bootstrap.sh installs it")

needs_paddlers = pytest.mark.skipif(
    not PADDLERS_INSTALLED,
    reason="real PaddleRS (paddlers) is not installed: scripts/install-paddlers.sh installs it from shared/vendor",
)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child that imports trt_export and the helpers in tests/
    (``fixture_models:<name>``, ``fixture_slow:<name>`` sources), with ``extra`` on top."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env
