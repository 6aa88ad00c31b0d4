"""Checks a catalog entry: the JSON Schema first, then what a schema cannot express.

Every problem found is reported with its location; nothing stops at the first.
jsonschema-rs, RE2, PyYAML and the Jinja sandbox are imported where a check first needs
them: a command that reads a cached, already validated catalog never pays for them.
Schema checks take a fast path: jsonschema-rs decides whether a document is valid
(about 50x faster than the Python validator, and its import is lighter); only an
invalid document goes through the Python ``jsonschema`` package, whose errors carry
what the located, one-line-per-problem report needs.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import fits_type, value_problem
from .errors import Problem
from .model import Fragment, read_fragment
from .resources import package_folder
from .yaml_source import Path_

if TYPE_CHECKING:
    from .yaml_source import LocatedDocument

SCHEMA_DIR = package_folder("schema")
TLS_MODES = ("disable", "require", "verify-ca", "verify-full")
CONTAINER_CONTEXT = frozenset({"container_port"})


@cache
def schema(name: str = "database") -> dict[str, Any]:
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


@cache
def fast_validator(name: str = "database") -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(schema(name), validate_formats=True)


@cache
def validator(name: str = "database") -> Any:
    """The Python validator, for located error reports (imported only when a document is invalid)."""
    import jsonschema
    import re2  # type: ignore[import-untyped]

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
    import re2

    options = re2.Options()
    options.log_errors = False  # the caller reports the error, located; RE2 would also print it to stderr
    return re2.compile(pattern, options)


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used, or None."""
    import re2

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

    def add(self, rule: str, path: Path_, message: str, *, key: bool = False) -> None:
        pos = self.doc.position(path, key=key)
        self.problems.append(Problem(self.file, pos.line, pos.column, dotted(path), message, rule))


def _schema_problems(reporter: Reporter, schema_name: str) -> None:
    data = reporter.doc.data
    if fast_validator(schema_name).is_valid(data):
        return
    errors = sorted(validator(schema_name).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for path, message, key in _explain(error):
            reporter.add("DBS101", path, message, key=key)
    if not errors:  # the two validators disagree: report what the fast one saw rather than nothing
        for rs_error in fast_validator(schema_name).iter_errors(data):
            reporter.add("DBS101", tuple(rs_error.instance_path), rs_error.message)


def _explain(error: Any) -> Iterator[tuple[Path_, str, bool]]:
    path: Path_ = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        for extra in error.instance:
            if extra not in allowed:
                hint = f"; expected one of: {', '.join(sorted(allowed))}" if allowed else ""
                yield (*path, extra), f"unknown key {extra!r}{hint}", True
        return
    if error.validator == "not" and set(error.validator_value) == {"required"} and isinstance(error.instance, dict):
        # jsonschema would print the whole document; name the key that must go, and why (the schema's description)
        why = error.schema.get("description", "the schema forbids it here") if isinstance(error.schema, dict) else ""
        for name in error.validator_value["required"]:
            yield (*path, name), f"{name!r} is not allowed: {why}", True
        return
    if error.validator in ("anyOf", "oneOf") and error.context:
        from jsonschema.exceptions import best_match  # jsonschema's own choice of the most relevant branch error

        best = best_match(error.context)
        if best is not None:
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
    check_id_is_file_name(reporter, file, entry["id"])
    _check_parameters(reporter, entry["parameters"])
    _check_references(reporter, entry)
    _check_templates(reporter, entry)
    if "container" in entry:
        _check_container(reporter, entry["container"])
    _check_integers(reporter, entry)
    if "container" in entry and not reporter.problems:  # rendering needs declared parameters and compiled templates
        _check_rendered_container(reporter, entry)
    vector = entry["capabilities"]["vector_search"]
    if vector["support"] == "extension" and "extension" not in vector:
        reporter.add("DBS204", ("capabilities", "vector_search"), "support 'extension' needs the extension's name")
    return reporter.problems


def _check_integers(reporter: Reporter, entry: Mapping[str, Any]) -> None:
    """JSON Schema counts 6379.0 as an integer; a port, count or length written so would render as 6379.0."""
    vector = entry["capabilities"]["vector_search"]
    integers: list[tuple[Path_, object]] = [
        (("capabilities", "vector_search", "max_dimensions"), vector.get("max_dimensions"))
    ]
    integers += [
        (("parameters", n, "generate", "length"), p.get("generate", {}).get("length"))
        for n, p in entry["parameters"].items()
    ]
    container = entry.get("container", {})
    if container:
        integers.append((("container", "healthcheck", "retries"), container["healthcheck"]["retries"]))
        integers += [(("container", "ports", i, "container"), p["container"]) for i, p in enumerate(container["ports"])]
    for path, number in integers:
        if isinstance(number, float):
            reporter.add("DBS203", path, f"must be written as an integer (without a fraction); got {number!r}")


def _check_parameters(reporter: Reporter, parameters: Mapping[str, Any]) -> None:
    for name, spec in parameters.items():
        where: Path_ = ("parameters", name)
        if "default" in spec:
            problem = value_problem(spec, spec["default"])
            if problem:
                reporter.add("DBS201", (*where, "default"), f"default does not fit: {problem}")
            if spec.get("secret"):
                reporter.add(
                    "DBS201", (*where, "default"), "a secret parameter may not have a default (it would be shared)"
                )
        for bound in ("minimum", "maximum"):
            if bound in spec and spec["type"] not in ("integer", "number"):
                reporter.add("DBS201", (*where, bound), f"{bound} only applies to integer and number parameters")
        for index, choice in enumerate(spec.get("enum", [])):
            if not fits_type(choice, spec["type"]):
                reporter.add("DBS201", (*where, "enum", index), f"choice {choice!r} is not a {spec['type']}")
        if "generate" in spec and (spec["type"] != "string" or not spec.get("secret")):
            reporter.add("DBS201", (*where, "generate"), "only secret string parameters can be generated")
        if "container_pattern" in spec and spec["type"] != "string":
            reporter.add("DBS201", (*where, "container_pattern"), "container_pattern only applies to string parameters")
        problem = regex_problem(spec["container_pattern"]) if "container_pattern" in spec else None
        if problem:  # the schema's regex format is ECMA-262; dbstack matches with RE2 (see linear_regex)
            reporter.add("DBS201", (*where, "container_pattern"), problem)
        for other in spec.get("required_when", {}):
            if other not in parameters:
                reporter.add("DBS202", (*where, "required_when", other), f"parameter {other!r} is not declared")
        if name == "port" and spec["type"] != "integer":
            reporter.add("DBS201", (*where, "type"), "port must be an integer parameter")
        if name == "port" and (spec.get("minimum", 1) < 1 or spec.get("maximum", 65535) > 65535):
            reporter.add("DBS201", where, "port bounds must lie within 1..65535")
        if name == "tls" and tuple(spec.get("enum", ())) != TLS_MODES:
            reporter.add("DBS201", (*where, "enum"), f"tls must be a string with enum exactly {list(TLS_MODES)}")


def _check_references(reporter: Reporter, entry: Mapping[str, Any]) -> None:
    parameters = entry["parameters"]
    forms = entry["connection_strings"]["forms"]
    if entry["connection_strings"]["default"] not in forms:
        reporter.add(
            "DBS202",
            ("connection_strings", "default"),
            f"names no form; forms: {', '.join(forms)}",
        )
    for form_name, form in forms.items():
        for parameter, accepts in form.get("accepts", {}).items():
            where = ("connection_strings", "forms", form_name, "accepts", parameter)
            if parameter not in parameters:
                reporter.add("DBS202", where, f"parameter {parameter!r} is not declared")
            problem = regex_problem(accepts["pattern"])
            if problem:
                reporter.add("DBS202", (*where, "pattern"), problem)
    for key, parameter in entry.get("pool", {}).get("settings", {}).items():
        if parameter not in parameters:
            reporter.add("DBS202", ("pool", "settings", key), f"parameter {parameter!r} is not declared")
    for index, port in enumerate(entry.get("container", {}).get("ports", [])):
        if "parameter" in port and port["parameter"] not in parameters:
            reporter.add(
                "DBS202", ("container", "ports", index, "parameter"), f"parameter {port['parameter']!r} is not declared"
            )
        elif parameters.get(port.get("parameter"), {}).get("secret"):  # a published port is literal compose text
            reporter.add(
                "DBS202",
                ("container", "ports", index, "parameter"),
                f"parameter {port['parameter']!r} is secret, and a published port is written into compose.yaml",
            )
    if entry["capabilities"]["tls"] and "tls" not in parameters:
        reporter.add("DBS204", ("parameters",), "a database with the tls capability needs a 'tls' parameter")


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
    declared = frozenset(entry["parameters"])
    for path, source, extra in templates(entry):
        check_template(reporter, path, source, declared | extra)


def check_template(
    reporter: Reporter,
    path: Path_,
    source: str,
    allowed: frozenset[str] | None,
    unknown: str = "undeclared parameter(s)",
) -> frozenset[str]:
    """The one template check (catalog entries and app definitions): it compiles in the sandbox and uses only
    ``allowed`` names (any, for None). Returns the names it uses."""
    from dbstack.sandbox import TemplateError, variables

    try:
        used = variables(source)
    except TemplateError as exc:
        reporter.add("DBS301", path, str(exc))
        return frozenset()
    if allowed is not None and used - allowed:
        reporter.add("DBS301", path, f"template uses {unknown}: {', '.join(sorted(used - allowed))}")
    return used


def check_id_is_file_name(reporter: Reporter, file: Path | None, entry_id: str) -> None:
    if file is not None and entry_id != file.stem:
        reporter.add("DBS102", ("id",), f"id {entry_id!r} must equal the file name {file.stem!r}")


# Program names that run a shell (a base name, maybe versioned: bash5.2, sh.distrib) and the HTTP
# clients image_has speaks of. A name is looked for in every word of a rendered command, wrappers
# (env, exec, nice, timeout, busybox ...) included, so what runs is found wherever it stands.
SHELL_PROGRAM = re.compile(
    r"(?:sh|bash|rbash|ash|dash|zsh|ksh|ksh93|mksh|lksh|pdksh|oksh|posh|yash|hush|csh|tcsh|fish)"
    r"(?:[0-9.]+|\.static|\.distrib)?"
)
HTTP_CLIENTS = {
    "curl": re.compile(r"curl(?:[0-9.]+|\.static)?"),
    "wget": re.compile(r"wget2?(?:[0-9.]+|\.static)?"),
}
_NAME_PART = re.compile(r"[^A-Za-z0-9_.+/-]+")
# A variable a shell expands, as catalog text writes it ($$ is Compose's literal dollar).
_SHELL_VARIABLE = re.compile(r"\$\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# What Compose would interpolate once $$ pairs are taken out (names as broadly as Compose reads them).
_COMPOSE_INTERPOLATION = re.compile(r"\$(?:\{[^}]*\}?|\w+)")


@lru_cache(maxsize=8192)
def shell_tokens(word: str) -> tuple[str, ...]:
    """A word as a shell reads it: quotes removed, operators (``||``, ``;``, ``>``) split off as tokens."""
    try:
        lexer = shlex.shlex(word.replace("\n", " ; "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return tuple(lexer)
    except ValueError:  # unbalanced quotes: read it without them
        return tuple(word.replace('"', " ").replace("'", " ").split())


@lru_cache(maxsize=8192)
def program_names(word: str) -> tuple[str, ...]:
    """Base names of everything a word could run: the word as a shell reads it (quotes removed,
    split at operators), each token cut at characters a file name here never holds, paths
    reduced to their last part and leading dashes dropped (``${X:-curl}`` gives ``curl``)."""
    names = []
    for token in shell_tokens(word):
        for part in _NAME_PART.split(token):
            name = part.rsplit("/", 1)[-1].lstrip("-")
            if name:
                names.append(name)
    return tuple(names)


def shell_of(test: Sequence[str]) -> str | None:
    """How a rendered healthcheck test runs a shell (CMD-SHELL, or the shell word), or None."""
    if test[0] == "CMD-SHELL":
        return "CMD-SHELL"
    return next((name for arg in test[1:] for name in program_names(arg) if SHELL_PROGRAM.fullmatch(name)), None)


def healthcheck_problems(test: Sequence[str], image_has: Mapping[str, bool]) -> list[str]:
    """Why a rendered healthcheck test would not run in an image with ``image_has``.

    Every word is read, not only the program: a shell or an HTTP client behind ``env``,
    ``exec``, ``timeout``, ``busybox`` or an absolute path counts as used.
    """
    if len(test) < 2:
        return ["renders no program to run"]
    problems = []
    shell = shell_of(test)
    if shell and not image_has["shell"]:
        problems.append(f"runs a shell ({shell}), and image_has.shell is false")
    names = {name for arg in test[1:] for name in program_names(arg)}
    for tool, pattern in HTTP_CLIENTS.items():
        used = sorted(name for name in names if pattern.fullmatch(name))
        if used and not image_has[tool]:
            problems.append(f"uses {tool} ({', '.join(used)}), and image_has.{tool} is false")
    return problems


# Reading what a healthcheck runs, command by command, to find one that cannot fail.
_LIST_OPERATORS = frozenset({";", "&", "&&", "||", "|", "|&", ";;", ";&"})
_GROUPING = frozenset({"(", ")", "{", "}"})
# Words that run the word after them (with options, VAR=value or a duration between).
_WRAPPERS = frozenset({"exec", "env", "command", "builtin", "nohup", "nice", "time", "timeout", "busybox"})
_NOT_THE_PROGRAM = re.compile(r"-.*|[A-Za-z_][A-Za-z0-9_]*=.*|[0-9.]+[smhd]?")
# What always succeeds, whatever the server says or the secret holds.
_SUCCEEDS = frozenset({"true", ":"})
# Programs that never talk to the server: a secret they echo or test fails nothing.
HARMLESS_PROGRAMS = frozenset({"echo", "printf", "true", ":", "test", "[", "exit"})
_MAX_SHELL_DEPTH = 8  # sh -c "sh -c '...'" nested deeper than any real healthcheck


def _simple_commands(test: Sequence[str]) -> list[tuple[str, list[str]]]:
    """A rendered test as (operator before it, words) per command: CMD-SHELL is a shell script,
    CMD an argument list that no shell cuts."""
    if test[0] == "CMD-SHELL":
        return _cut(shell_tokens(" ".join(test[1:])))
    return [("", list(test[1:]))]


def _cut(tokens: Sequence[str]) -> list[tuple[str, list[str]]]:
    commands: list[tuple[str, list[str]]] = []
    before, words = "", list[str]()
    for token in tokens:
        if token in _LIST_OPERATORS or token in _GROUPING:
            if words:
                commands.append((before, words))
            words = []
            if token in _LIST_OPERATORS:
                before = token
        else:
            words.append(token)
    if words:
        commands.append((before, words))
    return commands


def _program(words: Sequence[str]) -> tuple[str, list[str]] | None:
    """The program a command's words run (wrappers, their options and VAR=value skipped) and its arguments."""
    for index, word in enumerate(words):
        name = word.rsplit("/", 1)[-1]
        if name in _WRAPPERS or (index and _NOT_THE_PROGRAM.fullmatch(word)) or ("=" in word and not index):
            continue
        return name, list(words[index + 1 :])
    return None


def _script(program: str, arguments: Sequence[str]) -> str | None:
    """The script a shell runs with ``-c`` (``-c``, ``-ec``, ``-lc`` ...), or None."""
    if not SHELL_PROGRAM.fullmatch(program):
        return None
    for index, argument in enumerate(arguments):
        if not argument.startswith("-"):
            return None
        if "c" in argument and index + 1 < len(arguments):
            return arguments[index + 1]
    return None


def never_fails(commands: Sequence[tuple[str, list[str]]], depth: int = 0) -> str | None:
    """Why the last of ``commands`` succeeds whatever happens before it (``true``, ``:``, ``exit 0``,
    after ``;``, ``||`` or ``|``), or None. A shell's ``-c`` script is read the same way."""
    if not commands or depth > _MAX_SHELL_DEPTH:
        return None
    before, words = commands[-1]
    run = _program(words)
    if run is None:
        return None
    program, arguments = run
    script = _script(program, arguments)
    if script is not None:
        return never_fails(_cut(shell_tokens(script)), depth + 1)
    zero_exit = program == "exit" and bool(arguments) and arguments[0].strip("0") == "" and arguments[0] != ""
    if before == "&&" or not (program in _SUCCEEDS or zero_exit):
        return None
    last = " ".join([program, *arguments[:1]] if zero_exit else [program])
    if not before:
        return f"its last command is {last!r}"
    return f"it ends with {before + ' ' + last!r}, which swallows any failure before it"


def programs_run(commands: Sequence[tuple[str, list[str]]], depth: int = 0) -> set[str]:
    """Every program the commands run, through shells' ``-c`` scripts."""
    found: set[str] = set()
    for _, words in commands:
        run = _program(words)
        if run is None:
            continue
        script = _script(*run)
        if script is None or depth > _MAX_SHELL_DEPTH:
            found.add(run[0])
        else:
            found |= programs_run(_cut(shell_tokens(script)), depth + 1)
    return found


MIN_HEALTHCHECK_INTERVAL = 5.0  # seconds; a check every second or two loads a database for nothing
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    """Compose duration (``1m30s``) in seconds."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(duration))


def _check_container(reporter: Reporter, container: Mapping[str, Any]) -> None:
    check = container["healthcheck"]
    if seconds(check["interval"]) < MIN_HEALTHCHECK_INTERVAL:
        reporter.add(
            "DBS401", ("container", "healthcheck", "interval"), f"must be at least {MIN_HEALTHCHECK_INTERVAL:g}s"
        )
    if seconds(check["timeout"]) >= seconds(check["interval"]):
        reporter.add("DBS401", ("container", "healthcheck", "timeout"), "must be shorter than the interval")
    for var in container.get("file_variants", {}):
        if var not in container.get("environment", {}):
            reporter.add("DBS401", ("container", "file_variants", var), f"{var} is not in container.environment")
    if "file_variants_group" in container and not container.get("file_variants"):
        message = "is set, but no file_variants name a variable read from a file"
        reporter.add("DBS401", ("container", "file_variants_group"), message)
    names = [port["name"] for port in container["ports"]]
    for index, name in enumerate(names):
        if names.index(name) != index:
            reporter.add("DBS401", ("container", "ports", index, "name"), f"port name {name!r} is used twice")


# --------------------------------------------------------------------------- rendered container text
#
# The rules below look at what Compose gets, not at template text: every container template is
# rendered for each tls mode, once with the defaults and once with every optional parameter set
# (a secret hidden behind `{% if option %}` shows up), with each secret as the ${VAR} reference a
# compose file holds. A template reaches a secret when its output changes with the secret's value
# (so `password | upper`, `password[1:]` or `'--pass=' ~ password` count as well as `{{ password }}`).

SECRET_ADVICE = (
    'pass it through the environment instead: map it in container.environment (VAR: "{{ %s }}") and '
    'expand "$$VAR" at run time inside ["sh", "-c", "exec program --option \\"$$VAR\\" \\"$$@\\"", "name"], '
    "as catalog/redis.yaml does"
)
HEALTHCHECK_SECRET_ADVICE = (
    "read it from the environment: list the variable its client reads in healthcheck.credentials_from, "
    'or expand "$$VAR" in a shell'
)


@dataclass(frozen=True)
class _Rendering:
    """One way a container's templates render: a tls mode, and the defaults or every option filled."""

    tls: str | None
    filled: bool

    @property
    def strict(self) -> bool:
        """The values a default config has: a template that fails here fails for users too."""
        return not self.filled


def _sample(spec: Mapping[str, Any], filled: bool) -> Any:
    """A parameter's value in a default config, or (``filled``) a value other than the default where
    one exists, so that text hidden behind `{% if option %}` renders too."""
    if not filled:
        if "default" in spec:
            value = spec["default"]
        elif spec.get("required"):
            value = spec["enum"][0] if "enum" in spec else _SAMPLES[spec["type"]]
        else:
            return None
    elif "enum" in spec:
        value = spec["enum"][-1]
    elif spec["type"] == "boolean":
        value = not spec.get("default", False)
    elif spec["type"] in ("integer", "number"):
        value = spec.get("default", max(1, spec.get("minimum", 1)))
    else:
        value = _SAMPLES[spec["type"]]
    from .interpolation import compose_escape_all

    return compose_escape_all(value)  # as compose_context passes values: every $ a literal, at any depth


_SAMPLES: dict[str, Any] = {
    "string": "sample-value",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "mapping": {"sample_key": "sample-value"},
}


def secret_sample(entry_id: str, parameter: str, other: bool = False) -> str:
    """A secret as a compose file holds it (``${VAR:?...}``); ``other`` gives a second, different value."""
    var = re.sub(r"[^A-Z0-9]+", "_", f"{entry_id}_{parameter}".upper()).strip("_") + ("_OTHER_VALUE" if other else "")
    return f"${{{var}:?{var} must be set in .env}}"


@dataclass(frozen=True)
class _Source:
    """What decides a container template's output across one entry's renderings."""

    secrets: tuple[str, ...]  # the secret parameters it reads (the only ones its output can depend on), in order
    varies: bool  # it reads a parameter whose filled value differs from the default
    reads_tls: bool


class _Output:
    """A template's outcome with one set of values: its text, or why it failed; with the secrets changed."""

    __slots__ = ("changed", "context", "error", "reached", "reached_failed", "text")

    def __init__(self, context: dict[str, Any], text: str | None, error: str) -> None:
        self.context, self.text, self.error = context, text, error
        self.changed: dict[tuple[str, ...], str | None] = {}  # secrets given other values -> text (None: failed)
        self.reached: list[str] | None = None  # the secrets the text depends on, once asked
        self.reached_failed = False  # a render with a secret changed failed (a failure counts as a change)


class _EntryTemplates:
    """Render outcomes shared by all renderings of one entry.

    A catalog template can read nothing but the names it loads (no globals, no filter or test is given the
    context), so its output, or its failure, is decided by its text and those names' values. Between one
    entry's renderings only two things differ: ``tls`` (the mode) and the parameters whose filled value is
    not the default; so a template renders once per mode only if it reads ``tls``, and once for the defaults
    and once filled only if it reads one of those parameters. What follows from an outcome (the secrets its
    text depends on) is worked out once per outcome, not once per rendering. ``exhaustive`` turns the sharing
    off: each rendering renders every template itself (the reference the shared plan is tested against)."""

    def __init__(self, entry: Mapping[str, Any], sources: Sequence[str], exhaustive: bool = False) -> None:
        from dbstack.sandbox import TemplateError, render, variables

        from .interpolation import foreign_reference_problem

        self._render, self._variables, self._error = render, variables, TemplateError
        self._foreign_problem = foreign_reference_problem
        self.exhaustive = exhaustive
        parameters = entry["parameters"]
        self.secrets = [name for name, spec in parameters.items() if spec.get("secret")]
        self.other_values = {name: secret_sample(entry["id"], name, other=True) for name in self.secrets}
        self.own = frozenset(secret_sample(entry["id"], name) for name in self.secrets)
        # Values only for the parameters a container template reads (most are for connection strings alone).
        # A render cannot change a value (immutable sandbox): they are shared by every context built here.
        read = frozenset().union(*map(variables, sources)) & parameters.keys()
        self._values: dict[bool, dict[str, Any]] = {}
        for filled in (False, True):
            values = {
                name: secret_sample(entry["id"], name)
                if parameters[name].get("secret")
                else _sample(parameters[name], filled)
                for name in read
            }
            values["container_port"] = entry["container"]["ports"][0]["container"]
            self._values[filled] = values
        # `tls` is set by the mode, whatever its sample; repr tells 1 from 1.0 and True, as the output would
        self._varying = frozenset(
            name for name in read if name != "tls" and repr(self._values[False][name]) != repr(self._values[True][name])
        )
        self._sources: dict[str, _Source] = {}
        self._outputs: dict[tuple[str, bool, str | None], _Output] = {}
        self._foreign: dict[str, str | None] = {}
        self.fragments: dict[str, Fragment] = {}  # compose_fragment text -> what it reads as

    def source(self, source: str) -> _Source:
        facts = self._sources.get(source)
        if facts is None:
            read = self._variables(source)
            facts = self._sources[source] = _Source(
                tuple(name for name in self.secrets if name in read), not read.isdisjoint(self._varying), "tls" in read
            )
        return facts

    def output(self, source: str, rendering: _Rendering) -> _Output:
        filled, tls = rendering.filled, rendering.tls
        if not self.exhaustive:
            facts = self.source(source)
            filled, tls = filled and facts.varies, tls if facts.reads_tls else None
        out = self._outputs.get((source, filled, tls))
        if out is None:
            context = dict(self._values[filled])
            if tls is not None:
                context["tls"] = tls
            try:
                out = _Output(context, self._render(source, context), "")
            except self._error as exc:
                out = _Output(context, None, str(exc))
            self._outputs[source, filled, tls] = out
        return out

    def changed(self, source: str, out: _Output, changed: tuple[str, ...]) -> str | None:
        """The template's text with the secrets in ``changed`` given other values; None if it fails."""
        if changed not in out.changed:
            context = {**out.context, **{name: self.other_values[name] for name in changed}}
            try:
                out.changed[changed] = self._render(source, context)
            except self._error:
                out.changed[changed] = None
        return out.changed[changed]

    def reached(self, source: str, out: _Output) -> tuple[list[str], bool]:
        """The secret parameters a rendered template's text depends on, and whether a render with one changed
        failed."""
        if out.reached is None:
            read = self.source(source).secrets
            texts = [self.changed(source, out, read)] if read else []
            reached = []
            if texts and texts[0] != out.text:  # one render tells the usual case: no secret reached
                each = [self.changed(source, out, (name,)) for name in read]
                reached = [name for name, text in zip(read, each, strict=True) if text != out.text]
                texts += each
            out.reached, out.reached_failed = reached, None in texts
        return out.reached, out.reached_failed

    def foreign(self, text: str) -> str | None:
        """Why rendered text reads compose variables other than the entry's own secrets, or None."""
        if text not in self._foreign:
            self._foreign[text] = self._foreign_problem(text, self.own)
        return self._foreign[text]

    def foreign_in(self, value: object) -> str | None:
        return self._foreign_problem(value, self.own)


class _Renderer:
    """One entry's container templates in one _Rendering (and with secrets changed); reports a template that
    fails with the default values, once per template text, where it is first rendered."""

    def __init__(self, reporter: Reporter, shared: _EntryTemplates, rendering: _Rendering) -> None:
        self.reporter, self.shared, self.rendering = reporter, shared, rendering
        self.failed = False
        self._outputs: dict[str, _Output] = {}

    def output(self, path: Path_, source: str) -> _Output:
        out = self._outputs.get(source)
        if out is None:
            out = self._outputs[source] = self.shared.output(source, self.rendering)
            if out.text is None:
                self.failed = True
                if self.rendering.strict:
                    mode = f" with tls={self.rendering.tls}" if self.rendering.tls else ""
                    self.reporter.add("DBS302", path, f"does not render with the default values{mode}: {out.error}")
        return out

    def text(self, path: Path_, source: str, changed: tuple[str, ...] = ()) -> str | None:
        """The template's output, with the secrets in ``changed`` given other values; None if it fails."""
        out = self.output(path, source)
        if not changed or out.text is None:
            return out.text
        text = self.shared.changed(source, out, changed)
        self.failed |= text is None
        return text

    def secrets_in(self, path: Path_, source: str) -> tuple[str | None, list[str]]:
        """The template's output (None if it fails), and the secret parameters it depends on."""
        out = self.output(path, source)
        if out.text is None:
            return None, []
        reached, failed = self.shared.reached(source, out)
        self.failed |= failed
        return out.text, reached


def _argument_lists(container: Mapping[str, Any], tls_on: bool) -> Iterator[tuple[Path_, str, str]]:
    """(path, template, what) for every argument a container runs with."""
    for index, arg in enumerate(container.get("command", [])):
        yield ("container", "command", index), arg, "container command"
    if tls_on:
        for index, arg in enumerate(container.get("tls", {}).get("command", [])):
            yield ("container", "tls", "command", index), arg, "container command (tls.command)"
    for index, arg in enumerate(container["healthcheck"]["test"]):
        yield ("container", "healthcheck", "test", index), arg, "healthcheck"


def _environment(container: Mapping[str, Any], tls_on: bool) -> Iterator[tuple[Path_, str, str]]:
    for var, source in container.get("environment", {}).items():
        yield ("container", "environment", var), var, source
    if tls_on:
        for var, source in container.get("tls", {}).get("environment", {}).items():
            yield ("container", "tls", "environment", var), var, source


def _fragment(renderer: _Renderer, source: str, changed: tuple[str, ...] = ()) -> Fragment | None:
    """A compose_fragment as rendered and read, or None where it does not render."""
    text = renderer.text(("container", "compose_fragment"), source, changed)
    if text is None:
        return None
    fragments = renderer.shared.fragments
    if text not in fragments:  # renderings and changed secrets mostly give the same text
        fragments[text] = read_fragment(text)
    return fragments[text]


def _fragment_data(renderer: _Renderer, source: str, changed: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A compose_fragment as rendered and read, or None where it does not render or read as a mapping."""
    fragment = _fragment(renderer, source, changed)
    return fragment.data if fragment is not None else None


def _fragment_arguments(renderer: _Renderer, source: str, changed: tuple[str, ...] = ()) -> dict[str, list[str]] | None:
    """The command and entrypoint a compose_fragment sets (both are argument lists)."""
    data = _fragment_data(renderer, source, changed)
    if data is None:
        return None
    found = {}
    for key in ("command", "entrypoint"):
        value = data.get(key)
        if value is not None:
            found[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return found


@dataclass(frozen=True)
class _TestReading:
    """What the credential rules find in one rendered healthcheck test (with the variables that hold a secret)."""

    problems: tuple[tuple[Path_, str], ...]
    unauthenticated: frozenset[str]  # the variables holding a secret that the test uses none of


def _read_test(
    check: Mapping[str, Any], rendered_test: Sequence[str], secret_vars: set[str], environment: set[str]
) -> _TestReading:
    """c) Where the container gets a secret, the healthcheck must use it (and so fail on a wrong one)."""
    problems: list[tuple[Path_, str]] = []
    credentials = check.get("credentials_from", [])
    for index, var in enumerate(credentials):
        if var not in secret_vars:
            where = "holds no secret parameter" if var in environment else "is not in container.environment"
            problems.append((("container", "healthcheck", "credentials_from", index), f"{var} {where}"))
    shell = shell_of(rendered_test) if len(rendered_test) > 1 else None
    expanded = {m for arg in rendered_test[1:] for m in _SHELL_VARIABLE.findall(arg)} & environment
    if expanded and not shell:
        problems.append(
            (
                ("container", "healthcheck", "test"),
                f"writes $${sorted(expanded)[0]}, but runs no shell to expand it "
                "(use CMD-SHELL, or credentials_from when the client reads the variable itself)",
            )
        )
    reads_secret = any(var in secret_vars for var in credentials) or bool(shell and expanded & secret_vars)
    programs = programs_run(_simple_commands(rendered_test)) if len(rendered_test) > 1 else None
    unauthenticated: frozenset[str] = frozenset()
    if secret_vars and reads_secret and programs is not None and programs <= HARMLESS_PROGRAMS:
        problems.append(
            (
                ("container", "healthcheck", "test"),
                f"cannot fail on a wrong secret: it runs no program but {', '.join(sorted(programs)) or 'none'}, "
                "which succeed whatever the secret holds; the secret must reach a client that logs in to the server",
            )
        )
    elif secret_vars and not reads_secret:
        unauthenticated = frozenset(secret_vars)
    return _TestReading(tuple(problems), unauthenticated)


def _renderings(
    entry: Mapping[str, Any], shared: _EntryTemplates, sources: Sequence[str]
) -> tuple[list[_Rendering], bool]:
    """Every tls mode where a container template reads ``tls``, else one mode with TLS off and one with it on
    (tls.command and tls.environment join then); each with the default values, then with every option filled.
    A filled rendering where no template reads a parameter whose value it changes gives what the default
    one gave (and reports no failure: it is not strict), so it is left out unless ``shared.exhaustive``.
    Also says whether a template reads ``tls``."""
    uses_tls = any(shared.source(source).reads_tls for source in sources)
    modes: tuple[str | None, ...] = (None,)
    if "tls" in entry["parameters"]:
        modes = TLS_MODES if uses_tls else ("disable", "require")
    filled = [True] if shared.exhaustive or any(shared.source(source).varies for source in sources) else []
    return [_Rendering(mode, fill) for fill in [False, *filled] for mode in modes], uses_tls


def _check_rendered_container(reporter: Reporter, entry: Mapping[str, Any], exhaustive: bool = False) -> None:
    """The rules on what Compose gets, in every rendering (see _EntryTemplates for what renderings share:
    nothing if ``exhaustive``)."""
    container = entry["container"]
    check = container["healthcheck"]
    problems: dict[tuple[str, Path_, str], None] = {}  # ordered, each problem once whatever the rendering
    unauthenticated: dict[str, set[str]] = {}  # tls mode -> variables holding a secret
    checked_tests: set[tuple[str, ...]] = set()
    readings: dict[tuple[tuple[str, ...], frozenset[str], bool], _TestReading] = {}
    unreadable: dict[str, list[str | None]] = {}  # a fragment's problem with the default values -> its tls modes

    def add(rule: str, path: Path_, message: str) -> None:
        problems.setdefault((rule, path, message), None)

    sources = [source for path, source, _ in templates(entry) if path[0] == "container"]
    shared = _EntryTemplates(entry, sources, exhaustive)
    renderings, uses_tls = _renderings(entry, shared, sources)
    arguments = {tls_on: list(_argument_lists(container, tls_on)) for tls_on in (False, True)}
    environments = {tls_on: list(_environment(container, tls_on)) for tls_on in (False, True)}
    variables = {tls_on: {var for _, var, _ in environments[tls_on]} for tls_on in (False, True)}
    for rendering in renderings:
        renderer = _Renderer(reporter, shared, rendering)
        tls_on = rendering.tls not in (None, "disable")

        # a) No secret on a command line, whatever way the template builds it.
        for path, source, what in arguments[tls_on]:
            text, reached = renderer.secrets_in(path, source)
            if reached:
                names = ", ".join(repr(n) for n in reached)
                advice = HEALTHCHECK_SECRET_ADVICE if what == "healthcheck" else SECRET_ADVICE % reached[0]
                add(
                    "DBS403",
                    path,
                    f"secret parameter {names} reaches the {what} "
                    f"(visible in the compose file, docker inspect and ps); {advice}",
                )
                continue
            interpolated = _COMPOSE_INTERPOLATION.findall(text.replace("$$", "")) if text else []
            if interpolated:
                add(
                    "DBS403",
                    path,
                    f"reads the compose variable {interpolated[0]} (a .env value on the command line); "
                    "write $$ for a literal $",
                )
        # Catalog text is compose text: a ${VAR} it writes would read another service's secret from the
        # shared .env. Located here, where `compose` could only name the file.
        for path, _, source in environments[tls_on]:
            rendered = renderer.text(path, source)
            if rendered is not None and (foreign := shared.foreign(rendered)):
                add("DBS403", path, foreign)
        if "compose_fragment" in container:
            fragment_source = container["compose_fragment"]
            plain = _fragment_arguments(renderer, fragment_source)
            reached = [
                name
                for name in shared.source(fragment_source).secrets
                if plain is not None and _fragment_arguments(renderer, fragment_source, (name,)) != plain
            ]
            for name in reached:
                add(
                    "DBS403",
                    ("container", "compose_fragment"),
                    f"secret parameter {name!r} reaches the fragment's command or entrypoint; " + SECRET_ADVICE % name,
                )
            read = _fragment(renderer, fragment_source)
            # what the service's rendering refuses: keys a fragment may not set whatever the values; YAML that does
            # not read as a mapping only with the default values (samples are not written to be YAML), said once
            # with the tls modes it has, below
            if read is not None and read.problem and read.data is not None:
                add("DBS302", ("container", "compose_fragment"), read.problem)
            elif read is not None and read.problem and rendering.strict:
                unreadable.setdefault(read.problem, []).append(rendering.tls)
            fragment = read.data if read is not None else None
            # a secret reached (and maybe mangled, `password | lower`) on a command line is the problem to fix first
            if not reached and fragment is not None and (foreign := shared.foreign_in(fragment)):
                add("DBS403", ("container", "compose_fragment"), foreign)

        # b) The healthcheck as it runs: every word of the rendered test.
        rendered_test = []
        for index, source in enumerate(check["test"]):
            text = renderer.text(("container", "healthcheck", "test", index), source)
            if text:
                rendered_test.append(text)
        if renderer.failed:
            continue
        test = tuple(rendered_test)
        if test not in checked_tests:  # renderings often give the same test
            checked_tests.add(test)
            for message in healthcheck_problems(rendered_test, container["image_has"]):
                add("DBS402", ("container", "healthcheck", "test"), message)
            if len(rendered_test) > 1 and (reason := never_fails(_simple_commands(rendered_test))):
                add(
                    "DBS402",
                    ("container", "healthcheck", "test"),
                    f"cannot fail at all: {reason}; a healthcheck must fail when the server does not answer",
                )

        # c) Where the container gets a secret, the healthcheck must use it (and so fail on a wrong one).
        secret_vars = {var for path, var, source in environments[tls_on] if renderer.secrets_in(path, source)[1]}
        reading_key = (test, frozenset(secret_vars), tls_on)
        reading = readings.get(reading_key)
        if reading is None:
            reading = readings[reading_key] = _read_test(check, test, secret_vars, variables[tls_on])
        for path, message in reading.problems:
            add("DBS402", path, message)
        if reading.unauthenticated:
            unauthenticated.setdefault(rendering.tls or "", set()).update(reading.unauthenticated)

    default_modes = [rendering.tls for rendering in renderings if rendering.strict]
    for problem, failing in unreadable.items():
        when = "" if len(failing) == len(default_modes) else f" and tls={', '.join(str(mode) for mode in failing)}"
        add("DBS302", ("container", "compose_fragment"), f"{problem} with the default values{when}")
    for rule, path, message in problems:
        reporter.add(rule, path, message)
    if unauthenticated:
        modes = [m for m in unauthenticated if m]
        if not uses_tls and "require" in modes:  # it stands for every mode with TLS on
            modes = [m for m in modes if m == "disable"] + [m for m in TLS_MODES if m != "disable"]
        when = f" with tls={', '.join(modes)}" if modes else ""
        holders = ", ".join(sorted(set().union(*unauthenticated.values())))
        reporter.add(
            "DBS402",
            ("container", "healthcheck", "test"),
            f"cannot fail on a wrong secret{when}: it uses none of the container variables that hold one ({holders}); "
            'expand one in a shell ("$$VAR") or list the ones its client reads in healthcheck.credentials_from',
        )
