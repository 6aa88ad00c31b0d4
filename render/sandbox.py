"""The one Jinja environment every catalog template renders in.

Catalog files can come from strangers, so templates run in Jinja's immutable
sandbox (no attribute tricks, no mutation), with no loader (no ``include`` or
``import``: no file reads), StrictUndefined (a typo is an error, not an empty
string) and caps on the operators that can build huge values.
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
    if isinstance(right, int | float) and abs(right) > 64:
        raise SecurityError("template raises to a power that is too large")
    return operator.pow(left, right)


class CatalogSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox with capped ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            return _capped_mul(left, right)
        if operator_name == "**":
            return _capped_pow(left, right)
        return super().call_binop(context, operator_name, left, right)


@lru_cache(maxsize=1)
def environment() -> CatalogSandbox:
    env = CatalogSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters.update(FILTERS)
    env.globals.clear()  # no range(), dict(), lipsum(), cycler(), ...: templates need none of them
    return env


@lru_cache(maxsize=4096)
def variables(source: str) -> frozenset[str]:
    """Names a template reads from its context; raises TemplateError if it does not compile."""
    env = environment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}") from None
    for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        raise TemplateError(f"template may not load other templates (line {node.lineno})")
    # Names read minus names the template binds itself ({% set %}, loop targets, macro parameters):
    # the same answer as jinja2.meta.find_undeclared_variables for catalog templates, at a third of the cost.
    loaded = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
    bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return frozenset(loaded - bound)


@lru_cache(maxsize=4096)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


def render(source: str, context: Mapping[str, object]) -> str:
    """Render a template string; every failure becomes a TemplateError with a plain message."""
    try:
        text = str(_compiled(source).render(dict(context)))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"template refused by the sandbox: {exc}") from None
    except Exception as exc:  # Jinja surfaces undefined names, bad filters and type errors this way
        raise TemplateError(f"template failed: {exc}") from None
    if len(text) > MAX_OUTPUT:
        raise TemplateError(f"template output is larger than {MAX_OUTPUT} characters")
    return text
