"""Model sources: where the dygraph network that we export and compare against comes from.

Two kinds of SOURCE string:
- ``package.module:callable`` -- a factory returning a ``paddle.nn.Layer`` (``paddle.vision.models:resnet18``),
  with optional JSON keyword arguments and an optional ``.pdparams`` weights file;
- a PaddleRS training-format directory (``model.yml`` + ``model.pdparams``), rebuilt through
  ``paddlers.tasks.load_model`` when ``paddlers`` is importable.

Each becomes a :class:`ModelSource` that can build a fresh eval-mode layer on demand, so export,
verify and every bench worker build the same network the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import ModelSourceError
from trt_export.model.paddlers_files import ModelYml, read_model_yml
from trt_export.model.paddlers_load import check_model_class, import_paddlers, load_task
from trt_export.model.types import AUTO_MODEL_TYPE, SourceKind, lookup_model_type, model_type_of
from trt_export.model.weights import read_state_dict

# squeezenet1_1: fast enough to sweep up to 1024 px on a 2-core CPU in about a minute, and with
# seeded random weights its logits are O(1..10), so parity numbers mean something (a random-init
# MobileNet's logits are ~1e-7: below any atol, and not representable in fp16 on TensorRT).
DEFAULT_MODEL = "paddle.vision.models:squeezenet1_1"
_FACTORY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# A factory without --weights gets random-initialised parameters; seeding before construction makes
# every build (export, verify, each bench worker process) produce the very same network.
INIT_SEED = 0


@dataclass
class ModelSource:
    spec: str
    kind: SourceKind
    name: str
    model_type: str  # a ModelKind; "auto" for a factory until export detects it; model.yml's type for PaddleRS
    input_names: list[str]
    output_names: list[str] | None  # None: named output_0.. after the first run
    weights_path: str | None
    weights_sha256: str | None
    model_yml: ModelYml | None
    builder: Callable[[], Any] = field(repr=False)
    factory_kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """A fresh ``paddle.nn.Layer`` in eval mode with the source's weights loaded."""
        layer = self.builder()
        layer.eval()
        return layer

    def describe(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "spec": self.spec,
            "kwargs": self.factory_kwargs or None,
            "weights": self.weights_path,
            "weights_sha256": self.weights_sha256,
            "init_seed": INIT_SEED if self.kind == SourceKind.FACTORY and self.weights_path is None else None,
        }


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_source(
    spec: str | None,
    weights: str | None = None,
    kwargs: dict[str, Any] | str | None = None,
    model_type: str | None = None,
) -> ModelSource:
    """Resolve a SOURCE string; raise ModelSourceError with the fix when it can't be used."""
    if spec is not None and not spec.strip():
        raise ModelSourceError(
            f"--model is empty (an unset shell variable?); give a PaddleRS training dir or 'package.module:callable', "
            f"or leave --model out for the default {DEFAULT_MODEL}"
        )
    spec = (spec or DEFAULT_MODEL).strip()
    if model_type is not None:
        lookup_model_type(model_type)
    factory_kwargs = _parse_kwargs(kwargs)
    if _FACTORY_RE.match(spec) and not Path(spec).exists():
        return _factory_source(spec, weights, factory_kwargs, model_type)
    path = Path(spec)
    if path.is_dir():
        if weights or factory_kwargs:
            raise ModelSourceError(
                "--weights/--model-kwargs apply to factory sources only; a PaddleRS dir carries its own"
            )
        return _paddlers_source(path, model_type)
    if path.exists():
        raise ModelSourceError(
            f"model source {spec!r} is a file; give a PaddleRS training dir or 'package.module:callable'"
        )
    raise ModelSourceError(
        f"model source {spec!r} is neither an existing directory nor 'package.module:callable' (e.g. {DEFAULT_MODEL})"
    )


def _parse_kwargs(kwargs: dict[str, Any] | str | None) -> dict[str, Any]:
    if kwargs is None or kwargs == "":
        return {}
    if isinstance(kwargs, dict):
        return dict(kwargs)
    try:
        parsed = json.loads(kwargs)
    except json.JSONDecodeError as exc:
        raise ModelSourceError(
            f"--model-kwargs {kwargs!r} is not JSON ({exc.msg}); use e.g. '{{\"num_classes\": 2}}'"
        ) from None
    if not isinstance(parsed, dict):
        raise ModelSourceError(f"--model-kwargs {kwargs!r} must be a JSON object such as '{{\"num_classes\": 2}}'")
    return parsed


def _factory_source(spec: str, weights: str | None, kwargs: dict[str, Any], model_type: str | None) -> ModelSource:
    module_name, attr = spec.split(":")
    import_paddle()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSourceError(
            f"cannot import module {module_name!r} for model {spec!r}: {exc}; check the name or install it"
        ) from None
    except SystemExit as exc:
        raise ModelSourceError(
            f"importing module {module_name!r} for model {spec!r} called sys.exit({exc.code!r}); a model module must not exit"
        ) from None
    except Exception as exc:  # SyntaxError, RuntimeError...: the user's module is broken, not our tool
        where = f" ({exc.filename}, line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise ModelSourceError(
            f"importing module {module_name!r} for model {spec!r} failed: {type(exc).__name__}: {_one_line(exc)}{where}; fix the module"
        ) from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise ModelSourceError(f"{module_name!r} has no callable {attr!r}; check the model name in {spec!r}")
    weights_sha = None
    if weights is not None:
        if Path(weights).is_dir():
            raise ModelSourceError(f"--weights {weights!r} is a directory; give the .pdparams file in it")
        if not Path(weights).is_file():
            raise ModelSourceError(f"weights file {weights!r} does not exist; give a .pdparams file")
        weights_sha = sha256_file(weights)

    def build() -> Any:
        paddle = import_paddle()
        paddle.seed(INIT_SEED)
        try:
            layer = factory(**kwargs)
        except SystemExit as exc:
            raise ModelSourceError(
                f"model factory {spec}({_kw(kwargs)}) called sys.exit({exc.code!r}); a factory must return a paddle.nn.Layer"
            ) from None
        except Exception as exc:  # a user factory can fail any way; report it in one line
            raise ModelSourceError(
                f"model factory {spec}({_kw(kwargs)}) failed: {type(exc).__name__}: {_one_line(exc)}"
            ) from None
        if not isinstance(layer, paddle.nn.Layer):
            raise ModelSourceError(f"{spec} returned {type(layer).__name__}, not a paddle.nn.Layer")
        if weights is not None:
            load_weights(layer, weights)
        return layer

    probe = build()
    input_names = forward_input_names(probe)
    return ModelSource(
        spec=spec,
        kind=SourceKind.FACTORY,
        name=attr,
        model_type=model_type or AUTO_MODEL_TYPE,
        input_names=input_names,
        output_names=None,
        weights_path=str(Path(weights).resolve()) if weights else None,
        weights_sha256=weights_sha,
        model_yml=None,
        builder=build,
        factory_kwargs=kwargs,
    )


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def _kw(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def forward_input_names(layer: Any) -> list[str]:
    """Positional parameters of forward() without defaults: jit.save's InputSpec names must match them."""
    try:
        signature = inspect.signature(layer.forward)
    except (TypeError, ValueError):
        return ["x"]
    names = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not names:
        raise ModelSourceError(f"{type(layer).__name__}.forward takes no tensor inputs; cannot export it")
    return names


def load_weights(layer: Any, weights: str | Path) -> None:
    """Load a .pdparams into a layer, refusing partial matches that would silently give a different model."""
    state = read_state_dict(weights, f"weights {str(weights)!r}", "is it a .pdparams file?")
    expected = layer.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelSourceError(
            f"weights {str(weights)!r} do not match the network: {len(missing)} missing keys "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); check the model and its kwargs"
        )
    wrong = [k for k, v in expected.items() if list(v.shape) != list(state[k].shape)]
    if wrong:
        raise ModelSourceError(
            f"weights {str(weights)!r} have wrong shapes for {len(wrong)} tensors (e.g. {wrong[0]!r}: "
            f"{list(state[wrong[0]].shape)} vs {list(expected[wrong[0]].shape)}); check num_classes or the model kwargs"
        )
    layer.set_state_dict(state)


def with_input_names(net: Any, names: list[str]) -> Any:
    """``net`` behind a forward() whose parameters are ``names``.

    Paddle 3's jit.save names each input after forward()'s parameter and refuses InputSpecs named
    otherwise, so PaddleRS's input names (``image``, ``image2``) need a forward that uses them,
    whatever the wrapped network calls its arguments.
    """
    if forward_input_names(net) == names:
        return net
    paddle = import_paddle()

    base: Any = paddle.nn.Layer  # a base class known only at run time (mypy sees Paddle as Any)

    class _One(base):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, image: Any) -> Any:
            return self.inner(image)

    class _Two(_One):
        def forward(self, image: Any, image2: Any) -> Any:  # type: ignore[override]
            return self.inner(image, image2)

    wrappers = {("image",): _One, ("image", "image2"): _Two}
    wrapper = wrappers.get(tuple(names))
    if wrapper is None:
        raise ModelSourceError(
            f"cannot name the inputs {names} of {type(net).__name__}; its forward() takes {forward_input_names(net)}"
        )
    layer = wrapper(net)
    layer.eval()
    return layer


def _paddlers_source(directory: Path, model_type: str | None) -> ModelSource:
    model_yml = read_model_yml(directory)
    params = directory / "model.pdparams"
    if not params.is_file():
        raise ModelSourceError(
            f"{str(directory)!r} has model.yml but no model.pdparams: not a PaddleRS training-format dir "
            "(a deployment dir cannot be re-exported; point at the training output, e.g. output/unet/best_model)"
        )
    paddlers = import_paddlers(directory, model_yml)
    check_model_class(paddlers, directory, model_yml)
    type_name = model_type or model_yml.model_type
    paddlers_type = model_type_of(type_name)
    input_names = list(paddlers_type.paddlers_inputs)

    def build() -> Any:
        task = load_task(paddlers, directory, model_yml)
        # PaddleRS wraps segmenters / change detectors so the exported net returns label and score maps.
        builder = getattr(task, "_build_inference_net", None)
        net = builder() if callable(builder) else task.net
        return with_input_names(net, input_names)

    return ModelSource(
        spec=str(directory),  # as given: a relative path stays comparable across checkouts (gate)
        kind=SourceKind.PADDLERS,
        name=model_yml.model,
        model_type=type_name,
        input_names=list(input_names),
        output_names=list(paddlers_type.paddlers_outputs) if paddlers_type.paddlers_outputs is not None else None,
        weights_path=str(params.resolve()),
        weights_sha256=sha256_file(params),
        model_yml=model_yml,
        builder=build,
    )
