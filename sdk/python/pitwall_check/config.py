"""Strict configuration parsing.

An unknown key is an error that names it, so a typo (`max_queu_depth`) is
caught at deploy preflight instead of silently falling back to a default. A
value of the wrong type is named with what was expected.

A schema is either a dataclass (its fields, their type hints and defaults):

    @dataclass
    class Config:
        url: str
        max_queue_depth: int = 100

or a dict of key -> type, or key -> (type, default) for an optional key:

    {"url": str, "max_queue_depth": (int, 100)}

Types understood: str, int, float, bool, Any, Optional[T], Union[...],
Literal[...], List[T] / list[T], Dict[str, T] / dict[str, T] and nested
dataclasses. A dataclass's `__post_init__` may raise ValueError to refuse a
value; its message is shown as is.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Dict, List, Tuple

__all__ = ["ConfigError", "parse", "describe"]


class ConfigError(ValueError):
    """A configuration (or JSON body) that does not fit its schema. The text
    says what is wrong and how to fix it; pitwall shows it to the operator."""


_NO_DEFAULT = object()


def parse(source: Any, schema: Any, *, strict: bool = True, what: str = "configuration") -> Any:
    """Parses JSON text (or an already decoded value) into `schema`.

    `strict` refuses keys the schema does not declare (leave it on for
    configuration; turn it off for answers of a service, which may grow new
    fields). `what` names the document in errors (`configuration`, `body`).
    Raises ConfigError.
    """
    if isinstance(source, (str, bytes, bytearray)):
        text = source.decode("utf-8", "replace") if not isinstance(source, str) else source
        if not text.strip():
            text = "{}"  # no configuration at all means "all defaults"
        try:
            source = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(source, dict):
        raise ConfigError(f"{what} must be a JSON object ({{\"key\": value, ...}}), not {_json_kind(source)}")
    return _Parser(strict, what).object(source, schema, "")


def describe(schema: Any) -> str:
    """A one-line description of a schema's keys, for `config_help`:
    `url (string, required), max_queue_depth (integer, default 100)`."""
    parts = []
    for key, (tp, default) in _fields(schema).items():
        need = "required" if default is _NO_DEFAULT else f"default {json.dumps(default)}"
        parts.append(f"{key} ({_type_name(tp, article=False)}, {need})")
    return ", ".join(parts)


class _Parser:
    def __init__(self, strict: bool, what: str):
        self.strict = strict
        self.what = what

    def object(self, data: Dict[str, Any], schema: Any, path: str) -> Any:
        fields = _fields(schema)
        problems: List[str] = []
        unknown = [k for k in data if k not in fields]
        if unknown and self.strict:
            # The likely cause of a "missing key" below, so it comes first.
            problems.append(self._unknown(unknown, list(fields), path))
        values: Dict[str, Any] = {}
        for key, (tp, default) in fields.items():
            if key in data:
                try:
                    values[key] = self.value(data[key], tp, _join(path, key))
                except ConfigError as e:
                    problems.append(str(e))
            elif default is _NO_DEFAULT:
                problems.append(f"missing {self.what} key `{_join(path, key)}` ({_type_name(tp)})")
        if problems:
            raise ConfigError("; ".join(problems))
        if not dataclasses.is_dataclass(schema):
            for key, (_, default) in fields.items():
                values.setdefault(key, default)
            return values
        try:
            return schema(**values)
        except ValueError as e:  # __post_init__ refused a value
            raise ConfigError(f"{path}: {e}" if path else str(e)) from None

    def value(self, value: Any, tp: Any, path: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any or tp is object:
            return value
        if origin is typing.Union or _is_union_type(tp):
            if value is None and type(None) in args:
                return None
            for option in (a for a in args if a is not type(None)):
                try:
                    return self.value(value, option, path)
                except ConfigError:
                    continue
            raise self._wrong(tp, value, path)
        if origin is typing.Literal:
            if value in args:
                return value
            choices = ", ".join(json.dumps(a) for a in args)
            raise ConfigError(f"{self.what} key `{path}` must be one of {choices}, not {_json_kind(value)}")
        if tp is bool:
            if isinstance(value, bool):
                return value
        elif tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)  # 10.0 from a TOML float or a JSON encoder
        elif tp is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif tp is str:
            if isinstance(value, str):
                return value
        elif tp is list or origin is list:
            if isinstance(value, list):
                item = args[0] if args else Any
                return [self.value(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        elif tp is dict or origin is dict:
            if isinstance(value, dict):
                item = args[1] if len(args) == 2 else Any
                return {k: self.value(v, item, _join(path, k)) for k, v in value.items()}
        elif dataclasses.is_dataclass(tp):
            if isinstance(value, dict):
                return self.object(value, tp, path)
        else:
            raise TypeError(f"pitwall_check.config cannot parse into {tp!r} (at `{path}`): use str, int, float, "
                            "bool, list, dict, Optional, Literal or a dataclass")
        raise self._wrong(tp, value, path)

    def _wrong(self, tp: Any, value: Any, path: str) -> ConfigError:
        return ConfigError(f"{self.what} key `{path}` must be {_type_name(tp)}, not {_json_kind(value)}")

    def _unknown(self, unknown: List[str], known: List[str], path: str) -> str:
        names = ", ".join(f"`{_join(path, k)}`" for k in unknown)
        where = " there" if path else ""
        known_text = ", ".join(known) if known else "none"
        if len(unknown) == 1:
            return f"unknown {self.what} key {names} (a typo?); known keys{where}: {known_text}"
        return f"unknown {self.what} keys {names} (typos?); known keys{where}: {known_text}"


def _fields(schema: Any) -> Dict[str, Tuple[Any, Any]]:
    """key -> (type, default or _NO_DEFAULT), in declaration order."""
    if schema is None:
        return {}
    if dataclasses.is_dataclass(schema) and isinstance(schema, type):
        hints = typing.get_type_hints(schema)
        out = {}
        for f in dataclasses.fields(schema):
            if not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = _NO_DEFAULT
            out[f.name] = (hints.get(f.name, Any), default)
        return out
    if isinstance(schema, dict):
        out = {}
        for key, spec in schema.items():
            if isinstance(spec, tuple):
                if len(spec) != 2:
                    raise TypeError(f"schema entry {key!r} must be a type or (type, default), not {spec!r}")
                out[key] = spec
            else:
                out[key] = (spec, _NO_DEFAULT)
        return out
    raise TypeError(f"a schema is a dataclass or a dict of key -> type, not {schema!r}")


def _is_union_type(tp: Any) -> bool:
    # `int | None` (PEP 604) is types.UnionType, not typing.Union.
    union_type = getattr(types, "UnionType", None)
    return union_type is not None and isinstance(tp, union_type)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any, article: bool = True) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or _is_union_type(tp):
        names = [_type_name(a, article) for a in args if a is not type(None)]
        if type(None) in args:
            names.append("null")
        return " or ".join(names)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    names = {
        str: ("a string", "string"),
        int: ("an integer", "integer"),
        float: ("a number", "number"),
        bool: ("true or false", "true or false"),
    }
    if tp in names:
        return names[tp][0 if article else 1]
    if tp is list or origin is list:
        item = f" of {_plural(args[0])}" if args and args[0] is not Any else ""
        return ("a list" if article else "list") + item
    if tp is dict or origin is dict or dataclasses.is_dataclass(tp):
        return "an object" if article else "object"
    return "any value"


def _plural(tp: Any) -> str:
    if dataclasses.is_dataclass(tp) or tp is dict or typing.get_origin(tp) is dict:
        return "objects"
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(tp, "values")


def _json_kind(value: Any) -> str:
    """How a decoded JSON value reads in an error: `a string ("ten")`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"a string ({json.dumps(shown)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
