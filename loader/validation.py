"""Checks a catalog entry: the JSON Schema first, then what a schema cannot express.

Every problem found is reported with its location; nothing stops at the first.
Schema checks take a fast path: jsonschema-rs decides whether a document is valid
(about 50x faster than the Python validator, and its import is lighter); only an
invalid document goes through the Python ``jsonschema`` package, whose errors carry
what the located, one-line-per-problem report needs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import re2  # type: ignore[import-untyped]

from dbstack.render.sandbox import TemplateError, variables

from .errors import Problem
from .yaml_source import MAX_INTEGER, LocatedDocument, Path_

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
TLS_MODES = ("disable", "require", "verify-ca", "verify-full")
CONTAINER_CONTEXT = frozenset({"container_port"})
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "mapping": (dict,),
}


@cache
def schema(name: str = "database") -> dict[str, Any]:
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


@cache
def fast_validator(name: str = "database") -> Any:
    return jsonschema_rs.Draft202012Validator(schema(name), validate_formats=True)


@cache
def validator(name: str = "database") -> Any:
    """The Python validator, for located error reports (imported only when a document is invalid)."""
    import jsonschema

    loaded = schema(name)
    jsonschema.Draft202012Validator.check_schema(loaded)
    formats = jsonschema.FormatChecker(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)
    # A catalog's pattern is compiled by the engine that will match it: Python's re would recurse (and fail
    # with a RecursionError) on a few hundred nested parentheses.
    formats.checks("regex", raises=re2.error)(
        lambda pattern: not isinstance(pattern, str) or bool(linear_regex(pattern))
    )
    return jsonschema.Draft202012Validator(loaded, format_checker=formats)


@cache
def linear_regex(pattern: str) -> Any:
    """A user-supplied regular expression, compiled by RE2: matching takes time linear in the text, so no
    pattern can backtrack for ever (``([A-Za-z0-9]+)+-``). Raises re2.error for what RE2 cannot match
    (backreferences, lookaround) or a pattern too large for its memory cap."""
    options = re2.Options()
    options.log_errors = False  # the caller reports the error, located; RE2 would also print it to stderr
    return re2.compile(pattern, options)


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used, or None."""
    try:
        linear_regex(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        return f"not a regular expression RE2 can match in linear time: {reason}"
    return None


def fullmatch(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern`` in full, in linear time (see linear_regex)."""
    return linear_regex(pattern).fullmatch(text) is not None


def dotted(path: Path_) -> str:
    return ".".join(str(part) for part in path)


class Reporter:
    """Collects problems for one file, locating each by its path in the document."""

    def __init__(self, file: Path | None, doc: LocatedDocument) -> None:
        self.file, self.doc = file, doc
        self.problems: list[Problem] = []

    def add(self, path: Path_, message: str, *, key: bool = False) -> None:
        pos = self.doc.position(path, key=key)
        self.problems.append(Problem(self.file, pos.line, pos.column, dotted(path), message))


def _schema_problems(reporter: Reporter, schema_name: str) -> None:
    data = reporter.doc.data
    if fast_validator(schema_name).is_valid(data):
        return
    errors = sorted(validator(schema_name).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for path, message, key in _explain(error):
            reporter.add(path, message, key=key)
    if not errors:  # the two validators disagree: report what the fast one saw rather than nothing
        for rs_error in fast_validator(schema_name).iter_errors(data):
            reporter.add(tuple(rs_error.instance_path), rs_error.message)


def _explain(error: Any) -> Iterator[tuple[Path_, str, bool]]:
    path: Path_ = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        for extra in error.instance:
            if extra not in allowed:
                hint = f"; expected one of: {', '.join(sorted(allowed))}" if allowed else ""
                yield (*path, extra), f"unknown key {extra!r}{hint}", True
        return
    if error.validator in ("anyOf", "oneOf") and error.context:
        best = min(error.context, key=lambda e: len(list(e.absolute_path)))
        yield from _explain(best)
        return
    yield path, error.message, False


def check_schema(file: Path | None, doc: LocatedDocument, schema_name: str = "database") -> list[Problem]:
    reporter = Reporter(file, doc)
    _schema_problems(reporter, schema_name)
    return reporter.problems


def check_entry(file: Path | None, doc: LocatedDocument) -> list[Problem]:
    """Schema errors, or, for a schema-valid entry, the checks the schema cannot express."""
    reporter = Reporter(file, doc)
    _schema_problems(reporter, "database")
    if reporter.problems:
        return reporter.problems
    entry: dict[str, Any] = doc.data
    if file is not None and entry["id"] != file.stem:
        reporter.add(("id",), f"id {entry['id']!r} must equal the file name {file.stem!r}")
    _check_parameters(reporter, entry["parameters"])
    _check_references(reporter, entry)
    _check_templates(reporter, entry)
    if "container" in entry:
        _check_container(reporter, entry["container"])
    vector = entry["capabilities"]["vector_search"]
    if vector["support"] == "extension" and "extension" not in vector:
        reporter.add(("capabilities", "vector_search"), "support 'extension' needs the extension's name")
    return reporter.problems


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


def value_problem(spec: Mapping[str, Any], value: object) -> str | None:
    """Why ``value`` does not fit a parameter spec, or None."""
    type_name = spec["type"]
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


def _check_parameters(reporter: Reporter, parameters: Mapping[str, Any]) -> None:
    for name, spec in parameters.items():
        where: Path_ = ("parameters", name)
        if "default" in spec:
            problem = value_problem(spec, spec["default"])
            if problem:
                reporter.add((*where, "default"), f"default does not fit: {problem}")
            if spec.get("secret"):
                reporter.add((*where, "default"), "a secret parameter may not have a default (it would be shared)")
        for bound in ("minimum", "maximum"):
            if bound in spec and spec["type"] not in ("integer", "number"):
                reporter.add((*where, bound), f"{bound} only applies to integer and number parameters")
        for index, choice in enumerate(spec.get("enum", [])):
            if not fits_type(choice, spec["type"]):
                reporter.add((*where, "enum", index), f"choice {choice!r} is not a {spec['type']}")
        if "generate" in spec and (spec["type"] != "string" or not spec.get("secret")):
            reporter.add((*where, "generate"), "only secret string parameters can be generated")
        if "container_pattern" in spec and spec["type"] != "string":
            reporter.add((*where, "container_pattern"), "container_pattern only applies to string parameters")
        problem = regex_problem(spec["container_pattern"]) if "container_pattern" in spec else None
        if problem:  # the schema's regex format is ECMA-262; dbstack matches with RE2 (see linear_regex)
            reporter.add((*where, "container_pattern"), problem)
        for other in spec.get("required_when", {}):
            if other not in parameters:
                reporter.add((*where, "required_when", other), f"parameter {other!r} is not declared")
        if name == "port" and spec["type"] != "integer":
            reporter.add((*where, "type"), "port must be an integer parameter")
        if name == "port" and (spec.get("minimum", 1) < 1 or spec.get("maximum", 65535) > 65535):
            reporter.add(where, "port bounds must lie within 1..65535")
        if name == "tls" and tuple(spec.get("enum", ())) != TLS_MODES:
            reporter.add((*where, "enum"), f"tls must be a string with enum exactly {list(TLS_MODES)}")


def _check_references(reporter: Reporter, entry: Mapping[str, Any]) -> None:
    parameters = entry["parameters"]
    forms = entry["connection_strings"]["forms"]
    if entry["connection_strings"]["default"] not in forms:
        reporter.add(
            ("connection_strings", "default"),
            f"names no form; forms: {', '.join(forms)}",
        )
    for key, parameter in entry.get("pool", {}).get("settings", {}).items():
        if parameter not in parameters:
            reporter.add(("pool", "settings", key), f"parameter {parameter!r} is not declared")
    for index, port in enumerate(entry.get("container", {}).get("ports", [])):
        if "parameter" in port and port["parameter"] not in parameters:
            reporter.add(("container", "ports", index, "parameter"), f"parameter {port['parameter']!r} is not declared")
    if entry["capabilities"]["tls"] and "tls" not in parameters:
        reporter.add(("parameters",), "a database with the tls capability needs a 'tls' parameter")


def templates(entry: Mapping[str, Any]) -> Iterator[tuple[Path_, str, frozenset[str]]]:
    """Every template in an entry, with its path and the extra names its context has."""
    for name, form in entry["connection_strings"]["forms"].items():
        yield ("connection_strings", "forms", name, "template"), form["template"], frozenset()
    container = entry.get("container")
    if not container:
        return
    for var, value in container.get("environment", {}).items():
        yield ("container", "environment", var), value, CONTAINER_CONTEXT
    for index, arg in enumerate(container.get("command", [])):
        yield ("container", "command", index), arg, CONTAINER_CONTEXT
    for index, arg in enumerate(container["healthcheck"]["test"]):
        yield ("container", "healthcheck", "test", index), arg, CONTAINER_CONTEXT
    tls = container.get("tls", {})
    for index, arg in enumerate(tls.get("command", [])):
        yield ("container", "tls", "command", index), arg, CONTAINER_CONTEXT
    for var, value in tls.get("environment", {}).items():
        yield ("container", "tls", "environment", var), value, CONTAINER_CONTEXT
    if "compose_fragment" in container:
        yield ("container", "compose_fragment"), container["compose_fragment"], CONTAINER_CONTEXT


def _check_templates(reporter: Reporter, entry: Mapping[str, Any]) -> None:
    declared = set(entry["parameters"])
    for path, source, extra in templates(entry):
        try:
            used = variables(source)
        except TemplateError as exc:
            reporter.add(path, str(exc))
            continue
        unknown = sorted(used - declared - extra)
        if unknown:
            reporter.add(path, f"template uses undeclared parameter(s): {', '.join(unknown)}")


SHELLS = frozenset({"sh", "bash", "ash", "dash"})


def healthcheck_problems(test: list[str], image_has: Mapping[str, bool]) -> list[str]:
    """Why a healthcheck would not run in an image with ``image_has`` (every word is looked at)."""
    problems = []
    programs = {word.rsplit("/", 1)[-1] for arg in test[1:] for word in arg.split()}
    if (test[0] == "CMD-SHELL" or test[1].rsplit("/", 1)[-1] in SHELLS) and not image_has["shell"]:
        problems.append("runs a shell, and image_has.shell is false")
    for tool in ("curl", "wget"):
        if tool in programs and not image_has[tool]:
            problems.append(f"uses {tool}, and image_has.{tool} is false")
    return problems


MIN_HEALTHCHECK_INTERVAL = 5.0  # seconds; a check every second or two loads a database for nothing
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    """Compose duration (``1m30s``) in seconds."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(duration))


def _check_container(reporter: Reporter, container: Mapping[str, Any]) -> None:
    check = container["healthcheck"]
    for problem in healthcheck_problems(check["test"], container["image_has"]):
        reporter.add(("container", "healthcheck", "test"), problem)
    if seconds(check["interval"]) < MIN_HEALTHCHECK_INTERVAL:
        reporter.add(("container", "healthcheck", "interval"), f"must be at least {MIN_HEALTHCHECK_INTERVAL:g}s")
    if seconds(check["timeout"]) >= seconds(check["interval"]):
        reporter.add(("container", "healthcheck", "timeout"), "must be shorter than the interval")
    for var in container.get("file_variants", {}):
        if var not in container.get("environment", {}):
            reporter.add(("container", "file_variants", var), f"{var} is not in container.environment")
    names = [port["name"] for port in container["ports"]]
    for index, name in enumerate(names):
        if names.index(name) != index:
            reporter.add(("container", "ports", index, "name"), f"port name {name!r} is used twice")
