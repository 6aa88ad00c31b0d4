"""DatabaseConfig: the values of one database instance, and their resolution against a catalog entry."""

from __future__ import annotations

import difflib
import math
import re
import string
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .errors import ConfigError
from .model import DatabaseSpec, Generate, Parameter
from .yaml_source import MAX_INTEGER

_SECRET_WORDS = ("password", "secret", "key", "token")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")  # longer digit runs stay text: out of any parameter's range, and
# past 4,300 digits int() itself refuses them (a traceback): value_problem reports them as not an integer
_ALPHABETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "urlsafe": string.ascii_letters + string.digits + "-_",
}


class DatabaseConfig(Mapping[str, Any]):
    """Immutable parameter values for one database instance.

    Build it freely (``DatabaseConfig(host="db", password=...)``); an adapter checks
    it against the catalog entry's declared parameters and fills in defaults.
    """

    __slots__ = ("_secret_names", "_values")
    _values: Mapping[str, Any]
    _secret_names: frozenset[str]

    def __init__(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        merged = {**(values or {}), **more}
        frozen = {k: MappingProxyType(dict(v)) if isinstance(v, Mapping) else v for k, v in merged.items()}
        object.__setattr__(self, "_values", MappingProxyType(frozen))
        object.__setattr__(self, "_secret_names", frozenset())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("DatabaseConfig is immutable; use replace()")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseConfig) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def _is_secret(self, name: str) -> bool:
        return name in self._secret_names or any(word in name.lower() for word in _SECRET_WORDS)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={'***' if self._is_secret(k) else repr(v)}" for k, v in self._values.items())
        return f"DatabaseConfig({shown})"

    def replace(self, **changes: Any) -> DatabaseConfig:
        """A copy with some values changed (None removes a value)."""
        values = {**self._values, **changes}
        result = DatabaseConfig({k: v for k, v in values.items() if v is not None})
        object.__setattr__(result, "_secret_names", self._secret_names)
        return result

    def plain(self) -> dict[str, Any]:
        """Values as plain Python data (mappings as dicts)."""
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in self._values.items()}


def _coerce_text(parameter: Parameter, text: str) -> Any:
    """Values typed on a command line or in an environment arrive as text."""
    lowered = text.strip().lower()
    if parameter.type == "integer" and _INTEGER.fullmatch(lowered):
        return int(lowered)
    if parameter.type == "number":
        try:
            return float(lowered) if not _INTEGER.fullmatch(lowered) else int(lowered)
        except ValueError:
            return text
    if parameter.type == "boolean" and lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    return text


def resolve(spec: DatabaseSpec, config: Mapping[str, Any] | None) -> DatabaseConfig:
    """Check a config against the entry's parameters; return it with defaults filled in.

    Every problem is reported at once. Required values that are missing are not an
    error here (a compose file needs no password value); see ``missing_required``.
    """

    given = dict(config or {})
    problems: list[str] = []
    for name in given:
        if name not in spec.parameters:
            close = difflib.get_close_matches(name, list(spec.parameters), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(spec.parameters)}"
            problems.append(f"unknown parameter {name!r}; {hint}")
    resolved: dict[str, Any] = {}
    for name, parameter in spec.parameters.items():
        if name in given and given[name] is not None:
            value = given[name]
            if isinstance(value, str) and parameter.type != "string":
                value = _coerce_text(parameter, value)
            if isinstance(value, Mapping):
                value = dict(value)
            problem = _undecodable(value) or value_problem(_as_schema(parameter), value)
            if problem:
                problems.append(f"parameter {name!r}: {problem}")
                continue
            resolved[name] = value
        elif parameter.has_default:
            resolved[name] = dict(parameter.default) if isinstance(parameter.default, Mapping) else parameter.default
    if problems:
        raise ConfigError(spec.id, problems)
    result = DatabaseConfig(resolved)
    object.__setattr__(result, "_secret_names", frozenset(n for n, p in spec.parameters.items() if p.secret))
    return result


def _undecodable(value: object) -> str | None:
    """Text no file or URL can carry: a lone surrogate, e.g. a byte of a command-line argument that was not
    UTF-8 (Python keeps it as U+DC80..U+DCFF)."""
    texts = [*value.keys(), *value.values()] if isinstance(value, Mapping) else [value]
    for text in texts:
        if isinstance(text, str) and any("\ud800" <= c <= "\udfff" for c in text):
            return "is not valid UTF-8 text (it holds an undecodable byte)"
    return None


def _as_schema(parameter: Parameter) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": parameter.type}
    if parameter.enum is not None:
        schema["enum"] = list(parameter.enum)
    if parameter.minimum is not None:
        schema["minimum"] = parameter.minimum
    if parameter.maximum is not None:
        schema["maximum"] = parameter.maximum
    return schema


def missing_required(spec: DatabaseSpec, config: Mapping[str, Any]) -> list[str]:
    """Required parameters without a value, including those another parameter's value requires."""

    def needed(parameter: Parameter) -> bool:
        return parameter.required or any(config.get(k) in values for k, values in parameter.required_when.items())

    return [name for name, p in spec.parameters.items() if needed(p) and config.get(name) is None]


def generate_secret(generate: Generate) -> str:
    """A cryptographically random value of the declared length and alphabet."""
    import secrets  # here: only a run that makes a secret needs it (with random, base64 and hmac)

    alphabet = _ALPHABETS[generate.alphabet]
    return "".join(secrets.choice(alphabet) for _ in range(generate.length))


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``options.NAME=VALUE`` for a mapping) to a config mapping."""
    values: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--set", [f"expected KEY=VALUE, got {item!r}"])
        if "\0" in value:  # the value is left out of the message: it may be a secret
            raise ConfigError("--set", [f"{key}: a value cannot contain a NUL character (no environment variable can)"])
        head, dot, sub = key.partition(".")
        if dot:
            if not sub:
                raise ConfigError("--set", [f"expected MAPPING.NAME=VALUE, got {item!r}"])
            values.setdefault(head, {})[sub] = value
        else:
            values[key] = value
    return values


# What a value must be to fit a parameter (catalog defaults are checked with the same rules: loader/validation.py)
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "mapping": (dict,),
}


def fits_type(value: object, type_name: str) -> bool:
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False
    if type_name == "mapping":
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return isinstance(value, _PYTHON_TYPES[type_name])


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages (a value may be 5,000 digits long)."""
    text = (
        repr(value)
        if not isinstance(value, int) or abs(value) <= MAX_INTEGER
        else f"<integer of {value.bit_length()} bits>"
    )
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _mapping_problem(value: Mapping[object, object]) -> str:
    """Which key or value of a mapping is not text (a mapping parameter maps text to text, one level deep)."""
    for key, item in value.items():
        if not isinstance(key, str):
            return f"expected mapping of text to text, but key {shown(key)} is {type(key).__name__}"
        if not isinstance(item, str):
            return f"expected mapping of text to text, but [{shown(key)}] is {type(item).__name__} {shown(item)}"
    return f"expected mapping of text to text, got {shown(value)}"


def value_problem(spec: Mapping[str, Any], value: object) -> str | None:
    """Why ``value`` does not fit a parameter spec, or None."""
    type_name = spec["type"]
    if type_name == "mapping" and isinstance(value, dict) and not fits_type(value, type_name):
        return _mapping_problem(value)
    if not fits_type(value, type_name):
        return f"expected {type_name}, got {type(value).__name__} {shown(value)}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        return f"must lie within ±{MAX_INTEGER}; got {shown(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number; got {value}"
    if "enum" in spec and value not in spec["enum"]:
        return f"must be one of {', '.join(map(str, spec['enum']))}; got {shown(value)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in spec and value < spec["minimum"]:
            return f"must be at least {spec['minimum']}; got {value}"
        if "maximum" in spec and value > spec["maximum"]:
            return f"must be at most {spec['maximum']}; got {value}"
    return None
