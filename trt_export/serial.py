"""JSON (de)serialisation of the project's files: one configured cattrs converter.

Every file trt-export writes or reads (``bench.json``, ``trt_export_manifest.json``, the verify
report) and the dataclasses its processes send each other (worker results, the convert job) go
through :data:`converter`, so the rules are the same everywhere and written once:

- floats are finite numbers (an int is accepted, ``NaN``/``Infinity`` and ``true`` are refused);
  ``float | None`` accepts null, and a field may declare ``load=finite_or_none`` to read a
  non-finite number as None;
- ints are JSON integers (no ``true``, no ``1.5`` rounded to 1, no ``"3"``); bools are ``true`` or
  ``false``; strs are strings; lists and tuples are JSON arrays; dicts are JSON objects;
- ``Path`` is a string; enums (``StrEnum``) are their value; tuples are written as arrays;
- unknown keys are ignored (adding a key is not a schema version bump).

A dataclass is (de)serialised key for key in field order; :func:`json_field` declares a field's
JSON key, whether it is omitted when it has its default, whether it must be present although it
has a default (:func:`required`), and per-field ``dump``/``load`` functions. A class may add
derived keys (a method ``json_derived(self) -> dict``, written, ignored on reading) and fix the
order of keys (a class attribute ``json_keys``: those keys first, in that order). A class whose
JSON is shaped unlike its fields registers its own pair with :func:`register_layout`.

:func:`structure` turns every structuring problem into one line naming the file and the JSON path
(``bench report out/bench.json: candidates[2] (1x3x512x512) has a bad value at
$.candidates[2].latency_ms.p50: expected a finite number, got 'fast'``), raised as the error type
the caller names (a :class:`~trt_export.errors.TrtExportError`: exit code 2); ``from_dict`` of a
:class:`JsonRecord` raises the same line as a ValueError.

Paddle-free: no import of Paddle or of the project's Paddle-side modules.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from enum import Enum, IntEnum, StrEnum
from pathlib import Path
from typing import Any, Literal, Self, TypedDict, TypeVar, Unpack, get_args, get_origin

import cattrs
from cattrs.cols import is_mapping, is_sequence, list_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from trt_export.errors import ReportError, TrtExportError

T = TypeVar("T")

# field metadata keys (set through json_field)
_KEY = "trt_export.json_key"
_OMIT_IF_DEFAULT = "trt_export.omit_if_default"
_REQUIRED = "trt_export.required"
_DUMP = "trt_export.dump"
_LOAD = "trt_export.load"
_OMIT = "trt_export.omit"


class ValueProblem(ValueError):
    """A JSON value of the wrong kind; its message is shown as it is."""


# --------------------------------------------------------------------------- fields


class Layout(TypedDict, total=False):
    """A field's JSON layout (see :func:`json_field`)."""

    key: str | None
    omit_if_default: bool
    required: bool
    dump: Callable[[Any], Any] | None
    load: Callable[[Any], Any] | None
    omit: bool


def layout(**spec: Unpack[Layout]) -> dict[str, Any]:
    """A field's JSON layout as ``dataclasses.field`` metadata, for a field without a default:
    ``field(metadata=layout(dump=...))`` (type checkers read any other call as a default)."""
    return {
        _KEY: spec.get("key"),
        _OMIT_IF_DEFAULT: spec.get("omit_if_default", False),
        _REQUIRED: spec.get("required", False),
        _DUMP: spec.get("dump"),
        _LOAD: spec.get("load"),
        _OMIT: spec.get("omit", False),
    }


def json_field(
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    compare: bool = True,
    **spec: Unpack[Layout],
) -> Any:
    """A dataclass field with a default and its JSON layout.

    ``key``: the JSON key when it differs from the field name. ``omit_if_default``: left out of the
    JSON when equal to its default (an optional key added after the first files were written).
    ``required``: the key must be present although the field has a default (a key every file of
    this schema version has). ``dump(value)``/``load(json_value)``: this field's own conversion
    (``load`` gets the raw JSON value and may raise ValueError with the problem). ``omit``: not in
    the JSON at all (run-time state such as the directory a file was read from).
    """
    return dataclasses.field(default=default, default_factory=default_factory, compare=compare, metadata=layout(**spec))


def required(default: Any = None, **kwargs: Any) -> Any:
    """A field whose key must be in the file although the constructor has a default for it."""
    if "default_factory" in kwargs:
        return json_field(required=True, **kwargs)
    return json_field(default=default, required=True, **kwargs)


def optional(default: Any = None, **kwargs: Any) -> Any:
    """An optional key: absent in older files, and written only when it differs from its default."""
    if "default_factory" in kwargs:
        return json_field(omit_if_default=True, **kwargs)
    return json_field(default=default, omit_if_default=True, **kwargs)


# --------------------------------------------------------------------------- value hooks


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def finite_float(value: Any, _: Any = float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueProblem(f"expected a finite number, got {value!r}")
    return float(value)


def finite_or_none(value: Any) -> float | None:
    """For ``load=``: a number, with null and a non-finite number read as None."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return finite_float(value)


def rounded(places: int, *, nonfinite_as_none: bool = False) -> Callable[[float | None], float | None]:
    """For ``dump=``: the number rounded to ``places`` decimals as the file keeps it (None stays None;
    with ``nonfinite_as_none``, so does NaN/Inf)."""

    def dump(value: float | None) -> float | None:
        if value is None or (nonfinite_as_none and not math.isfinite(value)):
            return None
        return round(value, places)

    return dump


_NONFINITE_TEXT = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def nonfinite_as_text(value: float | None) -> float | str | None:
    """For ``dump=``: a number, with NaN/Inf written as the strings "nan", "inf", "-inf" (never null,
    so they cannot be mistaken for "not computed")."""
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return number


def nonfinite_from_text(value: Any) -> float | None:
    """For ``load=``: what :func:`nonfinite_as_text` wrote."""
    if value is None:
        return None
    if isinstance(value, str) and value in _NONFINITE_TEXT:
        return _NONFINITE_TEXT[value]
    return finite_float(value)


def strict_int(value: Any, _: Any = int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueProblem(f"expected an integer, got {value!r}")
    return value


def _strict_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueProblem(f"expected true or false, got {value!r}")
    return value


def _strict_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise ValueProblem(f"expected a string, got {value!r}")
    return value


def _path(value: Any, _: Any) -> Path:
    return Path(_strict_str(value, str))


def _enum(value: Any, cls: type[Enum]) -> Enum:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in cls)
        raise ValueProblem(f"expected one of {choices}, got {value!r}") from None


def _is_literal(tp: Any) -> bool:
    return get_origin(tp) is Literal


def _literal(value: Any, tp: Any) -> Any:
    """A closed set of strings (or ints) as a Literal type: the value itself, when it is one of them."""
    choices = get_args(tp)
    if not any(value == choice and type(value) is type(choice) for choice in choices):
        raise ValueProblem(f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _require_array(value: Any) -> None:
    if not isinstance(value, (list, tuple)):
        raise ValueProblem(f"must be a list (a JSON array), got {_kind(value)}")


def _require_object(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ValueProblem(f"must be an object (a JSON mapping), got {_kind(value)}")


def _array_factory(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    inner = list_structure_factory(type_, conv)

    def structure_array(value: Any, cl: Any) -> Any:
        _require_array(value)
        return inner(value, cl)

    return structure_array


def _tuple_factory(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    args = get_args(type_)
    if len(args) == 2 and args[1] is Ellipsis:
        item = conv.get_structure_hook(args[0])

        def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
            _require_array(value)
            return tuple(_items(value, [item] * len(value), [args[0]] * len(value), type_))

        return structure_tuple

    def structure_fixed(value: Any, _: Any) -> tuple[Any, ...]:
        _require_array(value)
        if args and len(value) != len(args):
            raise ValueProblem(f"must hold {len(args)} items, got {len(value)}")
        hooks = [conv.get_structure_hook(a) for a in args] if args else [lambda v, _: v] * len(value)
        return tuple(_items(value, hooks, list(args) or [Any] * len(value), type_))

    return structure_fixed


def _items(value: Any, hooks: list[Any], types: list[Any], type_: Any) -> list[Any]:
    """Structure each item, collecting the failures with their index (as cattrs' own lists do)."""
    out, errors = [], []
    for i, (item, hook, cl) in enumerate(zip(value, hooks, types, strict=True)):
        try:
            out.append(hook(item, cl))
        except Exception as exc:  # noqa: BLE001 - collected, re-raised as one group
            exc.__notes__ = [*getattr(exc, "__notes__", []), IterableValidationNote(f"@ index {i}", i, cl)]
            errors.append(exc)
    if errors:
        raise IterableValidationError(f"While structuring {type_!r}", errors, type_)
    return out


def _mapping_factory(type_: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    inner = conv.gen_structure_mapping(type_)

    def structure_object(value: Any, cl: Any) -> Any:
        _require_object(value)
        return inner(value, cl)

    return structure_object


def _is_array(type_: Any) -> bool:
    return get_origin(type_) is not tuple and type_ is not tuple and is_sequence(type_)


def _is_tuple(type_: Any) -> bool:
    return type_ is tuple or get_origin(type_) is tuple


# --------------------------------------------------------------------------- dataclasses


def _load_hook(load: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda value, _: load(value)


def _overrides(cls: type, *, structuring: bool) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        load, dump = meta.get(_LOAD), meta.get(_DUMP)
        out[f.name] = override(
            rename=meta.get(_KEY),
            omit=meta.get(_OMIT) or None,
            omit_if_default=meta.get(_OMIT_IF_DEFAULT) or None,
            struct_hook=_load_hook(load) if structuring and load else None,
            unstruct_hook=dump if not structuring and dump else None,
        )
    return out


def _dataclass_structure(cls: type, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    inner: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, **_overrides(cls, structuring=True))
    needed = [(f.name, f.metadata.get(_KEY) or f.name) for f in dataclasses.fields(cls) if f.metadata.get(_REQUIRED)]

    def structure_dataclass(value: Any, cl: Any) -> Any:
        _require_object(value)
        missing = [(name, key) for name, key in needed if key not in value]
        if missing:
            errors = []
            for name, key in missing:
                error = KeyError(key)
                error.__notes__ = [
                    AttributeValidationNote(f"Structuring class {cls.__name__} @ attribute {name}", name, cls)
                ]
                errors.append(error)
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
        return inner(value, cl)

    return structure_dataclass


def _dataclass_unstructure(cls: type, conv: cattrs.Converter) -> Callable[[Any], Any]:
    fields_fn: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, conv, **_overrides(cls, structuring=False)
    )
    derived: Callable[[Any], dict[str, Any]] | None = getattr(cls, "json_derived", None)
    order: tuple[str, ...] | None = getattr(cls, "json_keys", None)
    if derived is None and order is None:
        return fields_fn

    def unstructure_dataclass(obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = fields_fn(obj)
        if derived is not None:
            data.update(conv.unstructure(derived(obj)))
        if order is not None:
            data = {**{key: data[key] for key in order if key in data}, **data}
        return data

    return unstructure_dataclass


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)
    conv.register_structure_hook(float, finite_float)
    conv.register_structure_hook(int, strict_int)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(Path, _path)
    conv.register_unstructure_hook(Path, str)
    for enum_base in (Enum, StrEnum, IntEnum):  # before str/int: a StrEnum is a str too
        conv.register_structure_hook(enum_base, _enum)
        conv.register_unstructure_hook(enum_base, lambda e: e.value)
    conv.register_structure_hook_func(_is_literal, _literal)
    conv.register_structure_hook_factory(_is_tuple, _tuple_factory)
    conv.register_unstructure_hook_factory(_is_tuple, lambda t, c: lambda v: [c.unstructure(x) for x in v])
    conv.register_structure_hook_factory(_is_array, _array_factory)
    conv.register_structure_hook_factory(is_mapping, _mapping_factory)
    conv.register_structure_hook_factory(dataclasses.is_dataclass, _dataclass_structure)
    conv.register_unstructure_hook_factory(dataclasses.is_dataclass, _dataclass_unstructure)
    return conv


converter = _make_converter()
"""The project's one converter; register a class's own hooks on it next to the class."""


# --------------------------------------------------------------------------- API


class JsonRecord:
    """Mixin for a dataclass kept in JSON: ``to_dict()`` and ``from_dict()`` through :data:`converter`.

    ``from_dict`` raises one ValueError line naming the class and the JSON path (a file's loader
    uses :func:`structure` instead, to name the file and raise the file's error type).
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = converter.unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        return structure(data, cls, source=cls.__name__, error=ValueError)


def required_keys(cls: type) -> list[str]:
    """The JSON keys a file must have for ``cls``: fields without a default, and :func:`required` ones."""
    return [
        str(f.metadata.get(_KEY) or f.name)
        for f in dataclasses.fields(cls)
        if f.metadata.get(_REQUIRED) or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    ]


def register_layout(cls: type[T], dump: Callable[[T], Any], load: Callable[[Mapping[str, Any]], T]) -> None:
    """A class whose JSON is not its fields key for key (derived keys, a flattened dict): its own
    ``dump(obj)`` and ``load(mapping)`` (``load`` may raise ValueError/KeyError naming the problem)."""

    def structure_object(value: Any, _: Any) -> T:
        _require_object(value)
        return load(value)

    converter.register_unstructure_hook(cls, dump)
    converter.register_structure_hook(cls, structure_object)


def unstructure(obj: Any) -> Any:
    """``obj`` as plain JSON values (dicts, lists, str, numbers, bools, None)."""
    return converter.unstructure(obj)


def dumps(obj: Any, *, indent: int | None = 2, allow_nan: bool = False) -> str:
    """``obj`` as the JSON text the project writes: indented, NaN refused, one trailing newline."""
    return json.dumps(unstructure(obj), indent=indent, allow_nan=allow_nan) + "\n"


def read_json(path: Path, *, what: str, error: type[Exception] = ReportError, hint: str = "") -> Any:
    """``path`` parsed; unreadable or invalid text is one ``error`` line: ``{what} {path} is not valid JSON
    (line 3, column 5: ...)``, then ``hint`` (the fix). NaN/Infinity tokens parse: :func:`structure`
    refuses them where a number must be finite."""
    tail = f"; {hint}" if hint else ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path} cannot be read: {exc}{tail}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}){tail}"
        ) from exc


def structure(
    data: Any,
    cls: type[T],
    *,
    source: str,
    error: type[Exception] = ReportError,
    hint: str = "",
) -> T:
    """``data`` (parsed JSON) as ``cls``; any problem is one ``error`` line naming ``source`` and the path.

    ``hint`` (the fix) is appended after the problems.
    """
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        problems = "; ".join(describe(exc, data))
        raise error(f"{source}: {problems}" + (f"; {hint}" if hint else "")) from exc


def describe(exc: BaseException, data: Any) -> list[str]:
    """One text per problem in ``exc`` (raised structuring ``data``), each naming its JSON path."""
    return [_problem(path, leaf, data) for path, leaf in _leaves(exc, [])]


def _leaves(exc: BaseException, path: list[str | int]) -> list[tuple[list[str | int], BaseException]]:
    out: list[tuple[list[str | int], BaseException]] = []
    if isinstance(exc, ClassValidationError):
        attributes, without = exc.group_exceptions()
        for sub, attribute in attributes:
            out += _leaves(sub, [*path, _json_key(exc.cl, attribute.name)])
        return out + [(path, sub) for sub in without]
    if isinstance(exc, IterableValidationError):
        items, without = exc.group_exceptions()
        for sub, item in items:
            out += _leaves(sub, [*path, item.index])
        return out + [(path, sub) for sub in without]
    return [(path, exc)]


def _json_key(cls: Any, name: str) -> str:
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name == name:
                return str(f.metadata.get(_KEY) or name)
    return name


def json_path(path: list[str | int]) -> str:
    """``['candidates', 2, 'latency_ms']`` -> ``$.candidates[2].latency_ms``."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _problem(path: list[str | int], exc: BaseException, data: Any) -> str:
    """``candidates[1] (1x3x1024x1024) is missing required key 'status' ($.candidates[1].status)``.

    The text starts at the top-level record the problem is in (a key, and its index when the
    key holds a list), labelled by its ``label`` when it has one; the rest is relative to it.
    """
    head = 2 if len(path) > 1 and isinstance(path[1], int) else 1
    if isinstance(exc, KeyError) and len(path) <= head:
        head = len(path) - 1  # a key missing from the record itself: name the record above it
    record, rest = path[:head], path[head:]
    where = json_path(record)[2:] if record else "the top level"
    node = _walk(data, record)
    if isinstance(node, Mapping) and isinstance(node.get("label"), str):
        where += f" ({node['label']})"
    if isinstance(exc, KeyError):
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in rest).replace(".[", "[")
        return f"{where} is missing required key {key or exc.args[0]!r} ({json_path(path)})"
    return f"{where} has a bad value at {json_path(path)}: {_message(exc)}"


def _walk(data: Any, path: list[str | int]) -> Any:
    for p in path:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _message(exc: BaseException) -> str:
    if isinstance(exc, (ValueError, TrtExportError)) and str(exc):
        return str(exc)  # ours (ValueProblem), a class's own validation (__post_init__), or a project error
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
