"""Rebuild a PaddleRS training dir through ``paddlers``: quietly, offline, every weight checked.

``paddlers`` is optional (it cannot come from PyPI for Paddle 3; see docs/paddlers.md), so it is
imported here on demand. Its import and ``load_model`` print (missing GDAL/pydensecrf, ppdet's
"import from source directory", "Model[UNet] loaded."); that is swallowed unless ``--verbose``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from trt_export.env.paddle_import import import_paddle, is_verbose
from trt_export.errors import ModelSourceError
from trt_export.model.offline import check_weights_from_file, network_cause, offline
from trt_export.model.paddlers_files import ModelYml

# PaddleRS's task modules: paddlers.tasks.<model_type> (load_model looks the class up there).
TASK_MODULES = ("segmenter", "change_detector", "classifier", "object_detector", "restorer")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """paddlers prints its warnings and log lines (stdout, and stderr for ppdet); keep the CLI's output ours."""
    if is_verbose():
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def import_paddlers(directory: Path, model_yml: ModelYml) -> ModuleType:
    import_paddle()
    try:
        with _quiet():
            return importlib.import_module("paddlers")
    except Exception as exc:  # paddlers 1.0b0 fails on import with paddle.fluid errors, not just ImportError
        raise ModelSourceError(
            f"rebuilding PaddleRS model {model_yml.model!r} from {str(directory)!r} needs the 'paddlers' package, "
            f"which is not importable here ({type(exc).__name__}); install PaddleRS (docs/paddlers.md), or export with a "
            "'package.module:callable' factory and --weights model.pdparams"
        ) from None


def check_model_class(paddlers: ModuleType, directory: Path, model_yml: ModelYml) -> None:
    """model.yml's Model must be a class of paddlers.tasks.<model_type>, as load_model needs."""
    where = f"{str(directory / 'model.yml')!r}"
    tasks = getattr(paddlers, "tasks", None)
    module = getattr(tasks, model_yml.model_type, None) if tasks is not None else None
    if module is None:
        raise ModelSourceError(
            f"{where} has model_type {model_yml.model_type!r}, which this paddlers does not have "
            f"(it has {', '.join(m for m in TASK_MODULES if hasattr(tasks, m))}); restore the model.yml PaddleRS wrote"
        )
    if not isinstance(getattr(module, model_yml.model, None), type):
        known = sorted(getattr(module, "__all__", []) or [n for n in dir(module) if n[:1].isupper()])
        raise ModelSourceError(
            f"{where} names Model {model_yml.model!r}, which paddlers.tasks.{model_yml.model_type} does not have "
            f"(it has {', '.join(known)}); check the model.yml, or use the PaddleRS version that trained it"
        )


def load_task(paddlers: ModuleType, directory: Path, model_yml: ModelYml) -> Any:
    """``paddlers.tasks.load_model(directory)`` with no network, then every weight checked.

    Constructors' pretrained downloads are suppressed (see trt_export.model.offline); afterwards each
    tensor of the task's network must be the one in model.pdparams.
    """
    check_model_class(paddlers, directory, model_yml)
    try:
        with _quiet(), offline():
            task = paddlers.tasks.load_model(str(directory))
    except SystemExit:  # paddlers' logging.error(exit=True) calls sys.exit
        raise ModelSourceError(
            f"paddlers refused to load {str(directory)!r} (re-run with --verbose for its message)"
        ) from None
    except Exception as exc:
        blocked = network_cause(exc)
        if blocked is not None:
            raise ModelSourceError(
                f"building {model_yml.model} from {str(directory)!r} tried to reach the network ({blocked}), which trt-export "
                "does not allow: model.pdparams has every weight; report the model so its download can be suppressed"
            ) from None
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ModelSourceError(f"paddlers could not load {str(directory)!r}: {type(exc).__name__}: {first}") from None
    net = getattr(task, "net", None)
    if net is None:
        raise ModelSourceError(
            f"paddlers loaded {str(directory)!r} without a network (status {model_yml.status!r}); give a training dir"
        )
    check_weights_from_file(net, directory / "model.pdparams", f"the {model_yml.model} network")
    return task
