"""Rebuild a trained network without the network: no pretrained downloads, every weight from the file.

PaddleRS constructors fetch ImageNet backbones (BIT's resnet18, STANet, DSIFN's vgg16, FarSeg...)
through ``paddle.utils.download``, although the training dir's ``model.pdparams`` then overwrites
every one of those weights. On an air-gapped GPU server the fetch fails and so does the load.

:func:`offline` suppresses those downloads: the download helpers return an empty state dict
(so the constructor keeps its random initialisation) and record the URL; any other attempt to
open a connection while it is active raises :class:`NetworkBlocked`. It never writes into the
user's weights cache. :func:`check_weights_from_file` then proves that the built network holds
exactly the file's tensors, so a suppressed download can never leave ImageNet or random weights
in place silently.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import ModelSourceError
from trt_export.model.weights import read_state_dict

# (module, function): the innermost helper each library calls to fetch a URL into a file, looked
# up through the module's globals at call time (so patching the module attribute reaches every
# caller, including code that imported the public wrapper by name). Each returns the local path.
DOWNLOADERS = (
    ("paddle.utils.download", "_download"),  # get_weights_path_from_url / get_path_from_url
    ("paddlers.models.ppcls.utils.download", "_download"),  # PaddleClas backbones (classifiers)
)


class NetworkBlocked(OSError):
    """A connection attempted while rebuilding a model offline."""


@dataclass
class OfflineLog:
    """What :func:`offline` suppressed: the URLs of pretrained weights not downloaded."""

    suppressed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@contextlib.contextmanager
def offline() -> Iterator[OfflineLog]:
    """No network inside: pretrained-weight downloads become empty state dicts, sockets refuse."""
    paddle = import_paddle()
    log = OfflineLog()
    with tempfile.TemporaryDirectory(prefix="trt-export-offline-") as scratch:

        def fake_download(url: str, path: str, *args: Any, **kwargs: Any) -> str:
            log.suppressed.append(url)
            # The URL's own file name: callers strip ".pdparams" and add it back (PaddleClas).
            name = os.path.basename(str(url).split("?", 1)[0]) or "weights.pdparams"
            target = Path(scratch) / f"{len(log.suppressed)}" / name
            target.parent.mkdir()
            paddle.save({}, str(target))
            return str(target)

        def refuse(where: str):  # -> Callable
            def blocked(*args: Any, **kwargs: Any) -> Any:
                address = args[1] if len(args) > 1 else (args[0] if args else "")
                log.blocked.append(f"{where} {address}")
                raise NetworkBlocked(f"network access blocked while rebuilding the model offline ({where} {address})")

            return blocked

        with contextlib.ExitStack() as stack:
            for module_name, attr in DOWNLOADERS:
                try:
                    module = importlib.import_module(module_name)
                except Exception:  # paddlers (or its vendored PaddleClas) absent: nothing to patch
                    continue
                if hasattr(module, attr):
                    stack.enter_context(_patched(module, attr, fake_download))
            stack.enter_context(_patched(socket.socket, "connect", refuse("connect")))
            stack.enter_context(_patched(socket.socket, "connect_ex", refuse("connect")))
            stack.enter_context(_patched(socket, "getaddrinfo", refuse("resolve")))
            stack.enter_context(_patched(socket, "create_connection", refuse("connect")))
            yield log


@contextlib.contextmanager
def _patched(owner: Any, attr: str, value: Any) -> Iterator[None]:
    original = getattr(owner, attr)
    setattr(owner, attr, value)
    try:
        yield
    finally:
        setattr(owner, attr, original)


def network_cause(exc: BaseException) -> NetworkBlocked | None:
    """The NetworkBlocked behind ``exc`` (libraries wrap it in RuntimeError and the like), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NetworkBlocked):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def check_weights_from_file(net: Any, params_path: str | Path, what: str) -> int:
    """Every tensor of ``net.state_dict()`` must equal the one of that name in ``params_path``.

    Returns the number of tensors checked. A key the file lacks, a key only the file has (another
    architecture) or a tensor of another shape or value is a one-line ModelSourceError.
    """
    state = read_state_dict(params_path, repr(str(params_path)), "restore the model.pdparams PaddleRS wrote")
    built = net.state_dict()
    missing = [k for k in built if k not in state]
    if missing:
        raise ModelSourceError(
            f"{str(params_path)!r} has no {missing[0]!r} ({len(missing)} of the {len(built)} tensors of {what} are missing): "
            "the weights are of another model or incomplete; point --model at the training dir these weights were saved in"
        )
    unexpected = [k for k in state if k not in built]
    if unexpected:
        raise ModelSourceError(
            f"{str(params_path)!r} holds {len(unexpected)} tensors {what} does not have (e.g. {unexpected[0]!r}): "
            "the weights are of another architecture; check model.yml's Model and its parameters"
        )
    for key, tensor in built.items():
        value = np.asarray(state[key].numpy() if hasattr(state[key], "numpy") else state[key])
        mine = tensor.numpy()
        if tuple(value.shape) != tuple(mine.shape):
            raise ModelSourceError(
                f"{str(params_path)!r} has {key!r} of shape {list(value.shape)}, {what} needs {list(mine.shape)}: "
                "the weights are of another configuration (num_classes, in_channels...); check model.yml"
            )
        if not np.array_equal(value.astype(mine.dtype, copy=False), mine):
            raise ModelSourceError(
                f"{what}'s {key!r} differs from the one in {str(params_path)!r} after loading: the file's weights were "
                "not applied; re-run with --verbose and report it"
            )
    return len(built)
