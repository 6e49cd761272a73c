"""Typed, checked conversion of plain YAML data into frozen dataclasses.

Every spec class in :mod:`neuroemu.config.schema` is a frozen dataclass whose
fields carry their rule in ``metadata`` (see :func:`spec_field`). :func:`build`
walks a mapping against the class: unknown keys, missing keys, wrong types,
NaN/inf and values that break a field's rule all raise :class:`ConfigError`
whose message names the file, the key path, the rule and the offending value.
Nothing here knows about chips or neurons; it only knows types and rules.
"""
from __future__ import annotations

import dataclasses
import math
import types
from typing import Any, Callable, Literal, Union, get_args, get_origin, get_type_hints

from neuroemu.errors import ConfigError

Check = Callable[[Any], "str | None"]


def spec_field(default: Any = dataclasses.MISSING, *, check: Check | None = None, doc: str = "",
               default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with a rule (``check`` returns an error text or None) and a doc line."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"check": check, "doc": doc})


# --- rules -------------------------------------------------------------------------------

def positive(v: Any) -> str | None:
    """Rule: strictly greater than zero."""
    return None if v > 0 else "must be > 0"


def non_negative(v: Any) -> str | None:
    """Rule: zero or more."""
    return None if v >= 0 else "must be >= 0"


def between(lo: float, hi: float) -> Check:
    """Rule: lo <= value <= hi."""
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"
    return check


def at_most(hi: float) -> Check:
    """Rule: value <= hi."""
    def check(v: Any) -> str | None:
        return None if v <= hi else f"must be <= {hi}"
    return check


def all_items(check: Check) -> Check:
    """Rule: every item of a sequence passes ``check``."""
    def check_all(v: Any) -> str | None:
        for i, item in enumerate(v):
            err = check(item)
            if err:
                return f"item {i}: {err}"
        return None
    return check_all


# --- the walker --------------------------------------------------------------------------

class Where:
    """A position in a config file: the file's name and the key path inside it."""

    def __init__(self, file: str, path: str = ""):
        self.file = file
        self.path = path

    def child(self, key: Any) -> "Where":
        """The position of ``key`` below this one."""
        if isinstance(key, int) and not isinstance(key, bool):
            return Where(self.file, f"{self.path}[{key}]")
        plain = isinstance(key, str) and key and key.isprintable() and key.strip() == key and \
            not any(c in key for c in ".[]'\"")
        if not plain:  # odd keys (newlines, dots, numbers, null) are quoted so the message stays one line
            text = repr(key)
            return Where(self.file, f"{self.path}[{text if len(text) <= 40 else text[:37] + '...'}]")
        return Where(self.file, f"{self.path}.{key}" if self.path else str(key))

    def error(self, rule: str, value: Any = dataclasses.MISSING) -> ConfigError:
        """A ConfigError naming this file and key path, the rule and (if given) the value."""
        where = f"{self.file}: {self.path}" if self.path else self.file
        if value is dataclasses.MISSING:
            return ConfigError(f"{where}: {rule}")
        return ConfigError(f"{where}: {rule} (got {_short(value)})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                "dict": "a mapping", "list": "a list"}.get(tp.__name__, f"a {tp.__name__} mapping")
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "a mapping"
    return str(tp)


def convert(tp: Any, value: Any, where: Where) -> Any:
    """Convert ``value`` to type ``tp`` or raise a ConfigError naming ``where``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, where)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise where.error(f"must be {_type_name(tp)}", value)
    if origin is Literal:
        if value in get_args(tp) and type(value) in {type(a) for a in get_args(tp)}:
            return value
        raise where.error(f"must be {_type_name(tp)}", value)
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise where.error("must be a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(args[0], v, where.child(i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise where.error(f"must be a list of {len(args)} items", value)
        return tuple(convert(a, v, where.child(i)) for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        key_tp, val_tp = get_args(tp)
        if not isinstance(value, dict):
            raise where.error("must be a mapping", value)
        out = {}
        for k, v in value.items():
            out[convert(key_tp, k, where)] = convert(val_tp, v, where.child(k))
        return types.MappingProxyType(out)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise where.error("must be true or false", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 2 ** 62:
                raise where.error("must be smaller than 2**62 in magnitude", value)
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
            return int(value)
        raise where.error("must be an integer", value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if not math.isfinite(value):
                raise where.error("must be a finite number", value)
            return value
        raise where.error("must be a number", value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise where.error("must be a string", value)
    raise TypeError(f"unsupported spec type {tp!r}")  # a bug in a spec class, not user input


def build(cls: type, data: Any, where: Where) -> Any:
    """Build the frozen dataclass ``cls`` from the mapping ``data``, checking every rule."""
    custom = getattr(cls, "from_value", None)
    if custom is not None:
        return custom(data, where)
    if not isinstance(data, dict):
        raise where.error(f"must be a mapping with keys {', '.join(f.name for f in dataclasses.fields(cls))}", data)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            valid = ", ".join(sorted(fields))
            raise where.child(key).error(f"unknown key; valid keys here: {valid}")
    kwargs = {}
    for name, f in fields.items():
        sub = where.child(name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise sub.error("is required")
            continue
        value = convert(hints[name], data[name], sub)
        check = f.metadata.get("check")
        if check is not None and value is not None:
            err = check(value)
            if err:
                raise sub.error(err, data[name])
        kwargs[name] = value
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(where)
    return obj


def to_plain(obj: Any) -> Any:
    """The plain (YAML/JSON-ready) form of a spec object: dicts, lists and scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        plain = getattr(obj, "to_plain", None)
        if plain is not None:
            return plain()
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (dict, types.MappingProxyType)):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj
