"""Read a ``.pdparams`` file as a state dict, with one-line errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import ModelSourceError


def read_state_dict(path: str | Path, what: str, fix: str) -> dict[str, Any]:
    """``paddle.load(path)``, which must hold a dict; ``what`` names the file in errors, ``fix`` ends them."""
    paddle = import_paddle()
    try:
        state = paddle.load(str(path))
    except Exception as exc:
        raise ModelSourceError(f"cannot read {what} ({type(exc).__name__}); {fix}") from None
    if not isinstance(state, dict):
        raise ModelSourceError(f"{what} holds a {type(state).__name__}, not a state dict; {fix}")
    return state
