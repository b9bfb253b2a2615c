"""Where the real PaddleRS-written files live: shared/fixtures/paddlers beside the checkout.

CI clones the repo next to shared/. Outside CI a checkout without it skips the tests that read
those files; under CI (CI=true) their absence is an error, so a layout change cannot quietly turn
the PaddleRS compatibility tests into skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "paddlers"

if not FIXTURES.is_dir() and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    raise RuntimeError(f"PaddleRS fixtures not found at {FIXTURES}; CI must lay shared/ beside the checkout")

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"PaddleRS fixtures not found at {FIXTURES}")
