"""The one way to make a Paddle Inference predictor, feed it and read it back.

`create_predictor` builds `Config(model, params)`, applies a `ConfigPlan` (backends.py) or, with no
plan, the plain CPU setup the export read-back and the deploy-dir reader use, and creates the
predictor. `feed` copies host arrays into input handles and `fetch` copies outputs back. Every
Paddle Inference predictor of the package is made and fed here: the runners' activation chain
(shape collection, INT8 calibration, the measured predictor), export's read-back, verify's shape
check, the deploy-dir reader and the bench's CPU roof. Nothing here imports Paddle at module level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.env.paddle_import import import_paddle
from trt_export.infer.backends import ConfigCall, ConfigPlan, apply_plan, check_applied


def plain_cpu_setup(config: Any) -> None:
    """CPU without oneDNN or IR passes: PIR + oneDNN + interpolate crashes on Paddle 3.3.1 and a
    read-back only needs the program to load and run."""
    config.disable_mkldnn()
    config.switch_ir_optim(False)
    config.disable_glog_info()


def create_predictor(
    model_file: Path,
    params_file: Path,
    plan: ConfigPlan | None = None,
    calls: tuple[ConfigCall, ...] | None = None,
    check: bool = True,
) -> Any:
    """A predictor for the saved program: the plan's Config calls (or `calls`, e.g. the shape
    collection's), read back against the plan when `check`; the plain CPU setup without a plan.
    Paddle's exceptions pass through: callers translate them into their own one-line errors."""
    paddle = import_paddle()
    config = paddle.inference.Config(str(model_file), str(params_file))
    if plan is None:
        plain_cpu_setup(config)
    else:
        apply_plan(config, plan, calls)
        if check:
            check_applied(config, plan)
    return paddle.inference.create_predictor(config)


def plain_cpu_predictor(model_file: Path, params_file: Path) -> Any:
    """The predictor export's read-back, verify's shape check and the deploy-dir reader load."""
    return create_predictor(model_file, params_file)


def input_handles(predictor: Any, names: Iterable[str] | None = None) -> dict[str, Any]:
    """Input handles by name (all the predictor's inputs when `names` is None)."""
    wanted = list(predictor.get_input_names()) if names is None else list(names)
    return {name: predictor.get_input_handle(name) for name in wanted}


def output_handles(predictor: Any, names: Iterable[str] | None = None) -> list[Any]:
    """Output handles in order (the predictor's own fetch order when `names` is None)."""
    wanted = list(predictor.get_output_names()) if names is None else list(names)
    return [predictor.get_output_handle(name) for name in wanted]


def feed(handles: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Copy each handle's array (by input name) into it, reshaped to the array's shape."""
    for name, handle in handles.items():
        array = np.ascontiguousarray(arrays[name])
        handle.reshape(list(array.shape))
        handle.copy_from_cpu(array)


def fetch(handles: Sequence[Any]) -> list[np.ndarray]:
    """The outputs copied to host memory (this waits for GPU work, so a timed step ends here)."""
    return [handle.copy_to_cpu() for handle in handles]


def run_once(predictor: Any, arrays: Mapping[str, np.ndarray], input_names: Iterable[str]) -> list[np.ndarray]:
    """Feed `arrays` to the named inputs, run once, return every output in the predictor's fetch order."""
    feed(input_handles(predictor, input_names), arrays)
    predictor.run()
    return fetch(output_handles(predictor))
