"""The one place that imports Paddle, so log noise is controlled before the import happens.

Paddle's C++ side logs through glog, which reads its level from the environment when the
library loads; setting it afterwards has no effect. Everything else imports Paddle through
`import_paddle()` (or after calling `quiet_paddle()`), never at module top level, so that
`trt-export --help` and the pure-logic modules stay fast and Paddle-free.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

_verbose = False


def set_verbose(verbose: bool) -> None:
    """Choose, before Paddle is imported, whether its glog and Python warnings are shown."""
    global _verbose
    _verbose = verbose
    quiet_paddle()


def is_verbose() -> bool:
    return _verbose


def quiet_paddle() -> None:
    if _verbose:
        os.environ.pop("GLOG_minloglevel", None)
        return
    # 2 = errors only; 3 would hide the errors that explain a crash.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("GLOG_v", "0")
    os.environ.setdefault("FLAGS_call_stack_level", "0")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"paddle(\.|$)")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"paddleseg(\.|$)")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def import_paddle() -> ModuleType:
    quiet_paddle()
    try:
        import paddle
    except ImportError as exc:
        from trt_export.errors import BackendUnavailable

        raise BackendUnavailable(
            f"PaddlePaddle is not importable ({exc}); install it: pip install 'trt-export[cpu]' "
            "(CPU wheel) or a paddlepaddle-gpu build from Paddle's package index"
        ) from None
    _keep_python_sigterm_handler()
    return paddle


def _keep_python_sigterm_handler() -> None:
    """Importing Paddle installs a C++ SIGTERM handler that aborts the process, replacing the
    Python one the CLI set (so a terminated export or sweep leaves its staging dirs behind).
    Re-registering the Python handler puts it back in front; without one this does nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP", "SIGQUIT"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        handler = signal.getsignal(number)
        if callable(handler):
            signal.signal(number, handler)
