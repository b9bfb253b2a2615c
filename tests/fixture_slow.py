"""Factories for fault-injection tests: a small net whose build can be made to stall.

``fixture_slow:slow_segnet`` sleeps ``TRT_TEST_SLOW_S`` seconds in every build after the first one
of its process (the first is the probe load_source makes): in an export that is the build inside
the staging dir, holding the target's lock. ``fixture_slow:worker_hang`` sleeps only inside a
bench worker process, so the bench parent gets past its own checks and the worker hangs.
"""

from __future__ import annotations

import os
import time
from typing import Any

from trt_export.zoo import tiny_segnet

_builds = 0


def slow_segnet() -> Any:
    """Stalls in every build after the first: ``TRT_TEST_SLOW_S`` seconds, or, with
    ``TRT_TEST_RELEASE`` set, until that file exists (at most 120 s), so a test decides when."""
    global _builds
    _builds += 1
    if _builds > 1:
        release = os.environ.get("TRT_TEST_RELEASE")
        if release:
            deadline = time.monotonic() + 120
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            time.sleep(float(os.environ.get("TRT_TEST_SLOW_S", "0")))
    return tiny_segnet()


def worker_hang() -> Any:
    if os.environ.get("TRT_EXPORT_PARENT_PID"):  # in a bench worker (exec'd or forked), not the parent
        time.sleep(float(os.environ.get("TRT_TEST_SLOW_S", "60")))
    return tiny_segnet()


def no_params() -> Any:
    from trt_export.env.paddle_import import import_paddle

    paddle = import_paddle()

    class Doubler(paddle.nn.Layer):
        def forward(self, x: Any) -> Any:
            return x * 2.0

    return Doubler()
