"""The one Jinja environment every catalog template renders in.

Catalog files can come from strangers, so templates run in Jinja's immutable
sandbox (no attribute tricks, no mutation), with no loader (no ``include`` or
``import``: no file reads), no globals, StrictUndefined (a typo is an error, not an
empty string), an allow-list of filters, and caps on the operators that can build
huge values. Catalog templates are also limited to expressions and ``{% if %}``:
no loops, no calls (a string method such as ``ljust`` could build gigabytes), so
their cost is bounded by their own size. dbstack's own templates (render/templates)
are trusted to use loops.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 64 * 1024  # characters a single template may produce
MAX_SEQUENCE = 10_000  # characters or items a `*` may build


class TemplateError(Exception):
    """A template failed to compile or render; the message says why."""


def userinfo(value: object) -> str:
    """Percent-encode a user name or password for the ``user:password@`` part of a URI."""
    return quote(str(value), safe="")


def pathsegment(value: object) -> str:
    """Percent-encode one path segment (a database name)."""
    return quote(str(value), safe="")


def urlpath(value: object) -> str:
    """Percent-encode a file path, keeping its slashes."""
    return quote(str(value), safe="/")


def uri_host(value: object) -> str:
    """Host part of a URI: IPv6 addresses go in brackets."""
    host = str(value)
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return quote(host, safe=".-_~[]:")


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(str(value), safe="")


def query(params: Mapping[str, object]) -> str:
    """``?a=b&c=d`` from a mapping, each part percent-encoded; None and '' are left out."""
    pairs = [
        f"{quote(str(key), safe='')}={_query_value(value)}"
        for key, value in params.items()
        if value is not None and value != ""
    ]
    return "?" + "&".join(pairs) if pairs else ""


def merge(left: Mapping[str, object], right: Mapping[str, object] | None) -> dict[str, object]:
    """Union of two mappings; the right one wins."""
    return {**left, **(right or {})}


# Built-in filters catalog templates may use: none of them can grow a value much beyond its input.
SAFE_BUILTIN_FILTERS = ("tojson", "lower", "upper", "trim", "default", "d", "string", "int", "length", "first", "last")
# Node types a catalog template may contain: output, conditions and expressions.
CATALOG_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Name,
    nodes.Const,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Mod,
    nodes.Pow,
    nodes.Concat,
    nodes.Dict,
    nodes.Pair,
    nodes.List,
    nodes.Tuple,
    nodes.Keyword,
)

FILTERS: dict[str, Callable[..., Any]] = {
    "userinfo": userinfo,
    "pathsegment": pathsegment,
    "urlpath": urlpath,
    "uri_host": uri_host,
    "query": query,
    "merge": merge,
}


def _capped_mul(left: Any, right: Any) -> Any:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
            raise SecurityError("template builds a value that is too large")
    return operator.mul(left, right)


def _capped_pow(left: Any, right: Any) -> Any:
    if not (isinstance(left, int | float) and isinstance(right, int | float)) or abs(right) > 64 or abs(left) > 2**64:
        raise SecurityError("template raises to a power that is too large")
    return operator.pow(left, right)


def _numeric_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):  # '%300000000s' % x: printf formatting can build anything
        raise SecurityError("template may not format strings with %")
    return operator.mod(left, right)


class CatalogSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox with capped ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            return _capped_mul(left, right)
        if operator_name == "**":
            return _capped_pow(left, right)
        if operator_name == "%":
            return _numeric_mod(left, right)
        return super().call_binop(context, operator_name, left, right)


@lru_cache(maxsize=1)
def environment() -> CatalogSandbox:
    env = CatalogSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    builtin = {name: env.filters[name] for name in SAFE_BUILTIN_FILTERS}
    env.filters.clear()
    env.filters.update(builtin, **FILTERS)
    env.globals.clear()  # no range(), dict(), lipsum(), cycler(), ...: templates need none of them
    return env


def _parse(source: str, *, trusted: bool) -> nodes.Template:
    env = environment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}") from None
    for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        raise TemplateError(f"template may not load other templates (line {node.lineno})")
    if not trusted:
        for node in _walk(ast):
            if not isinstance(node, CATALOG_NODES):
                what = type(node).__name__.lower()
                raise TemplateError(
                    f"template may only hold expressions and if-blocks, not {what} (line {node.lineno})"
                )
            if isinstance(node, nodes.Filter) and node.name not in env.filters:
                known = ", ".join(sorted(env.filters))
                raise TemplateError(f"unknown filter {node.name!r} (line {node.lineno}); filters: {known}")
    return ast


def _walk(node: nodes.Node) -> Any:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


@lru_cache(maxsize=4096)
def variables(source: str) -> frozenset[str]:
    """Names a catalog template reads from its context; TemplateError if it does not compile or is not allowed."""
    ast = _parse(source, trusted=False)
    # Names read minus names the template binds itself ({% set %}, loop targets, macro parameters):
    # the same answer as jinja2.meta.find_undeclared_variables for catalog templates, at a third of the cost.
    loaded = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
    bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return frozenset(loaded - bound)


def attributes(source: str, name: str) -> frozenset[str] | None:
    """Which members of ``name`` a catalog template reads (``name.x``, ``name['x']``); None if it
    reads ``name`` in a way that cannot be told from the text (``name[key]``, ``name`` whole)."""
    ast = _parse(source, trusted=False)
    found: set[str] = set()
    whole = {id(n) for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"}
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, nodes.Name) and node.node.name == name:
            found.add(node.attr)
            whole.discard(id(node.node))
    for item in ast.find_all(nodes.Getitem):
        if isinstance(item.node, nodes.Name) and item.node.name == name:
            if not (isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str)):
                return None
            found.add(item.arg.value)
            whole.discard(id(item.node))
    return None if whole else frozenset(found)


@lru_cache(maxsize=4096)
def _compiled(source: str, trusted: bool) -> Any:
    return environment().from_string(_parse(source, trusted=trusted))


def render(source: str, context: Mapping[str, object], *, trusted: bool = False) -> str:
    """Render a template string; every failure becomes a TemplateError with a plain message.

    ``trusted`` is for dbstack's own templates (render/templates), which may use loops.
    """
    try:
        text = str(_compiled(source, trusted).render(dict(context)))
    except TemplateError:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"template refused by the sandbox: {exc}") from None
    except Exception as exc:  # Jinja surfaces undefined names, bad filters and type errors this way
        raise TemplateError(f"template failed: {exc}") from None
    if len(text) > MAX_OUTPUT:
        raise TemplateError(f"template output is larger than {MAX_OUTPUT} characters")
    return text
