"""The one Jinja environment every catalog template renders in.

Catalog files can come from strangers, so templates run in Jinja's immutable
sandbox (no attribute tricks, no mutation), with no loader (no ``include`` or
``import``: no file reads), no globals, StrictUndefined (a typo is an error, not an
empty string) and allow-lists of filters and tests. Catalog templates are also
limited to expressions and ``{% if %}``: no loops, no calls (a string method such as
``ljust`` could build gigabytes). dbstack's own templates (render/templates) are
trusted to use loops.

Cost is bounded by construction, not by a list of bad examples:

* at parse time, nesting (brackets, prefix operators, if-blocks) and the depth of
  the parsed tree are capped, so neither Jinja's recursive parser nor its compiler
  can exhaust the stack, and integer literals are capped in length;
* at render time, every operator (``+ - * / // % **``, unary ``-``/``+`` and ``~``),
  every filter and every test goes through one check: its arguments and its result
  are measured (recursively: a list of lists counts every item, an integer its
  digits) against MAX_VALUE, and operators that could build a huge value from small
  inputs (``*``, ``**``, string ``%``) are refused *before* they run; filter and test
  arguments that multiply output (``tojson(indent=...)``, ``'%9999999s' is odd``)
  are checked by rule;
* every measurement is charged to a per-render work budget (MAX_WORK), and the
  output written so far to MAX_OUTPUT, so a template's time and memory are bounded
  whatever its length.
"""

from __future__ import annotations

import functools
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.lexer import TokenStream
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

MAX_OUTPUT = 64 * 1024  # characters a single template may produce
MAX_VALUE = 64 * 1024  # size (about the length of its text form) of any value a template builds or hands a filter
MAX_WORK = 2 * 1024 * 1024  # size units all operators, filters and tests of one render may handle together
MAX_INT_BITS = 4096  # about 1,230 digits: far below Python's 4,300-digit limit on int/str conversion
MAX_INT_LITERAL = 100  # characters of an integer written in a template
MAX_INDENT = 8  # tojson(indent=...)
# Jinja's parser recurses on each open bracket, prefix operator and block, and its compiler on each level of
# the parsed tree: caps far above what a catalog template needs and far below Python's recursion limit.
MAX_NESTING = 24
MAX_TREE_DEPTH = 48


class TemplateError(Exception):
    """A template failed to compile or render; the message says why."""


T = TypeVar("T")


@dataclass
class _Budget:
    work: int = 0
    output: int = 0


# The budget of the render in progress (render() sets a fresh one); None outside render().
_budget: ContextVar[_Budget | None] = ContextVar("dbstack_template_budget", default=None)


def _int_digits(value: int) -> int:
    return value.bit_length() * 30103 // 100000 + 1  # log10(2) = 0.30103: decimal digits, rounded up


def measure(value: object, limit: int = MAX_VALUE) -> tuple[int, int]:
    """(size, depth) of a value: size is about the length of its text form (every item of every nested
    list counts), depth how deeply lists and mappings nest. Counting stops just past ``limit``."""
    size, depth = 0, 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending and size <= limit:
        item, level = pending.pop()
        depth = max(depth, level)
        if isinstance(item, str | bytes):
            size += len(item) + 2
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += _int_digits(item) + 1
        elif isinstance(item, Mapping):
            size += 2 + 4 * len(item)
            if size <= limit:
                pending.extend((part, level + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list | tuple | set | frozenset):
            size += 2 + 2 * len(item)
            if size <= limit:
                pending.extend((part, level + 1) for part in item)
        else:  # float, Undefined, ...: short text
            size += 24
    return size, depth


def _charge(size: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.work += size
        if budget.work > MAX_WORK:
            raise SecurityError(f"template does too much work (more than {MAX_WORK} units)")


def _checked(value: T) -> T:
    """``value`` if it is within the caps; its size is charged to the render's work budget."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"template builds an integer of more than {MAX_INT_BITS} bits")
    size, _ = measure(value)
    if size > MAX_VALUE:
        raise SecurityError(f"template builds a value larger than {MAX_VALUE} characters")
    _charge(size)
    return value


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


# Built-in filters catalog templates may use: none grows a value much beyond its input once its arguments are
# checked (see _FILTER_RULES); every one is wrapped by _bounded.
SAFE_BUILTIN_FILTERS = ("tojson", "lower", "upper", "trim", "default", "d", "string", "int", "length", "first", "last")
# Built-in tests: type checks and comparisons; odd, even and divisibleby compute ``%`` (see _TEST_RULES).
SAFE_BUILTIN_TESTS = (
    *("defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string"),
    *("mapping", "sequence", "iterable", "lower", "upper", "sameas", "in", "odd", "even", "divisibleby"),
    *("==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan", ">=", "ge", "<", "lt", "lessthan", "<=", "le"),
)
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


def _tojson_rule(value: Any, indent: Any = None) -> None:
    if indent is None:
        return
    width = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else None
    if width is None or not 0 <= width <= MAX_INDENT:
        raise SecurityError(f"tojson indent must be a number from 0 to {MAX_INDENT}")
    size, depth = measure(value)
    if size * (1 + width * depth) > MAX_VALUE:  # every item may start a line indented by its depth
        raise SecurityError(f"tojson would write more than {MAX_VALUE} characters")


def _numbers_rule(*arguments: Any) -> None:
    if not all(isinstance(argument, int | float) for argument in arguments):  # '%999999999s' % 2 builds a string
        raise SecurityError("odd, even and divisibleby test numbers only")


_FILTER_RULES: dict[str, Callable[..., None]] = {"tojson": _tojson_rule}
_TEST_RULES: dict[str, Callable[..., None]] = dict.fromkeys(("odd", "even", "divisibleby"), _numbers_rule)


def _bounded(function: Callable[..., Any], rule: Callable[..., None] | None) -> Callable[..., Any]:
    """``function`` (a filter or test) with every argument and its result checked against the caps."""
    skip = 0 if _PassArg.from_obj(function) is None else 1  # the environment or context Jinja passes first

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja still passes what the function expects
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for argument in (*args[skip:], *kwargs.values()):
            _checked(argument)
        if rule is not None:
            rule(*args[skip:], **kwargs)
        return _checked(function(*args, **kwargs))

    return bounded


def _checked_mul(left: Any, right: Any) -> Any:
    for seq, times in ((left, right), (right, left)):
        # measured before it is built (nested lists count every item); the brackets or quotes count once
        sequence = isinstance(seq, str | bytes | list | tuple) and isinstance(times, int) and times > 0
        if sequence and (measure(seq)[0] - 2) * times + 2 > MAX_VALUE:
            raise SecurityError(f"template builds a value larger than {MAX_VALUE} characters")
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"template builds an integer of more than {MAX_INT_BITS} bits")
    return operator.mul(left, right)


def _checked_pow(left: Any, right: Any) -> Any:
    if not (isinstance(left, int | float) and isinstance(right, int | float)) or abs(right) > 64 or abs(left) > 2**64:
        raise SecurityError("template raises to a power that is too large")
    return operator.pow(left, right)


def _numeric_mod(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes):  # '%300000000s' % x: printf formatting can build anything
        raise SecurityError("template may not format strings with %")
    return operator.mod(left, right)


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": _checked_mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": _numeric_mod,
    "**": _checked_pow,
}
_UNOPS: dict[str, Callable[[Any], Any]] = {"-": operator.neg, "+": operator.pos}


class _CheckedCodeGenerator(CodeGenerator):
    """Jinja's compiler, with ``~`` (which it otherwise joins inline) going through the sandbox's check."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` output passes here: the output written so far is capped before it is built."""
    size = len(value) if isinstance(value, str) else measure(value, MAX_OUTPUT)[0]
    budget = _budget.get()
    written = size + (budget.output if budget is not None else 0)
    if written > MAX_OUTPUT:
        raise SecurityError(f"template output is larger than {MAX_OUTPUT} characters")
    if budget is not None:
        budget.output = written
    return value


class CatalogSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox in which every operator's arguments and result are checked against the caps."""

    code_generator_class = _CheckedCodeGenerator
    intercepted_binops = frozenset(_BINOPS)
    intercepted_unops = frozenset(_UNOPS)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        return _checked(_BINOPS[operator_name](left, right))

    def call_unop(self, context: Any, operator_name: str, arg: Any) -> Any:
        return _checked(_UNOPS[operator_name](arg))

    def _tokenize(self, source: str, name: str | None, filename: str | None = None, state: str | None = None) -> Any:
        """Jinja's tokens for the parser, checked first (_checked_tokens): one lexing pass, not two. (This
        environment has no extensions, whose stream filters Jinja's own _tokenize would apply.)"""
        source = self.preprocess(source, name, filename)
        tokens = _checked_tokens(self.lexer.tokeniter(source, name, filename, state))
        return TokenStream(self.lexer.wrap(iter(tokens), name, filename), name, filename)

    @staticmethod
    def checked_concat(parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ c``: measured before the parts are turned to text and joined."""
        if sum(measure(part)[0] for part in parts) > MAX_VALUE:
            raise SecurityError(f"template builds a value larger than {MAX_VALUE} characters")
        return _checked("".join(map(str, parts)))


@lru_cache(maxsize=1)
def environment() -> CatalogSandbox:
    env = CatalogSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, finalize=_finalize)
    filters: dict[str, Callable[..., Any]] = {name: env.filters[name] for name in SAFE_BUILTIN_FILTERS} | FILTERS
    env.filters.clear()
    env.filters.update({name: _bounded(f, _FILTER_RULES.get(name)) for name, f in filters.items()})
    builtin_tests: Mapping[str, Any] = env.tests  # typeshed calls Jinja's tests "function"
    tests = {name: builtin_tests[name] for name in SAFE_BUILTIN_TESTS}
    env.tests.clear()
    env.tests.update({name: _bounded(t, _TEST_RULES.get(name)) for name, t in tests.items()})
    env.globals.clear()  # no range(), dict(), lipsum(), cycler(), ...: templates need none of them
    return env


_OPEN, _CLOSE = "([{", ")]}"
_PREFIX_AFTER = frozenset({"not", "and", "or", "in", "is", "if", "else"})  # a - or + after these is unary
_BLOCKS = frozenset({"if", "for", "macro", "call", "filter", "with", "block", "autoescape"})


def _checked_tokens(tokens: Iterable[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """The lexer's tokens, all of them read before the parser sees one; nesting Jinja's recursive parser could
    not take, and integers too long to convert, are refused (with the line) as they come."""
    read = []
    levels = [0]  # per open bracket: prefix operators (not, unary -, +, inline if/else) seen inside it
    blocks = 0
    previous: tuple[str, str] | None = None
    for token in tokens:
        read.append(token)
        lineno, kind, value = token
        if kind == "whitespace":
            continue
        if kind == "integer" and len(value.replace("_", "")) > MAX_INT_LITERAL:
            raise TemplateError(f"integer longer than {MAX_INT_LITERAL} digits (line {lineno})")
        if kind == "operator" and value in _OPEN:
            levels.append(0)
        elif kind == "operator" and value in _CLOSE:
            levels = levels[:-1] or [0]
        elif kind == "operator" and value in "-+" and _prefix_position(previous):
            levels[-1] += 1
        elif kind == "name" and previous is not None and previous[0] == "block_begin":
            blocks += 1 if value in _BLOCKS else -1 if value.startswith("end") else 0
        elif kind == "name" and value in ("not", "if", "else"):
            levels[-1] += 1
        elif kind in ("variable_end", "block_end"):
            levels = [0]
        if blocks + len(levels) - 1 + sum(levels) > MAX_NESTING:
            raise TemplateError(
                f"template nests too deeply (line {lineno}): more than {MAX_NESTING} brackets, "
                "prefix operators and if-blocks open at once"
            )
        previous = (kind, value)
    return read


def _prefix_position(previous: tuple[str, str] | None) -> bool:
    if previous is None or previous[0] in ("variable_begin", "block_begin"):
        return True
    kind, value = previous
    return (kind == "operator" and value not in _CLOSE) or (kind == "name" and value in _PREFIX_AFTER)


def _walk(ast: nodes.Node) -> Iterator[nodes.Node]:
    """Every node, refusing a tree deeper than MAX_TREE_DEPTH (iterative: the depth is not yet known to be safe)."""
    pending = [(ast, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_TREE_DEPTH:
            raise TemplateError(
                f"template nests too deeply (line {node.lineno}): its expression tree is more than "
                f"{MAX_TREE_DEPTH} levels deep"
            )
        yield node
        pending.extend(reversed([(child, depth + 1) for child in node.iter_child_nodes()]))  # in source order


def _parse(source: str, *, trusted: bool) -> nodes.Template:
    return _parse_nodes(source, trusted=trusted)[0]


def _parse_nodes(source: str, *, trusted: bool) -> tuple[nodes.Template, list[nodes.Node]]:
    """The parsed tree and every node in it (checked: see _parse)."""
    env = environment()
    try:
        ast = env.parse(source)  # tokens checked by CatalogSandbox._tokenize
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}") from None
    except RecursionError:  # the caps above keep well inside the limit; this is the last line of defence
        raise TemplateError("template nests too deeply") from None
    every = list(_walk(ast))
    for node in every:
        if isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
            raise TemplateError(f"template may not load other templates (line {node.lineno})")
    if not trusted:
        for node in every:
            if not isinstance(node, CATALOG_NODES):
                what = type(node).__name__.lower()
                raise TemplateError(
                    f"template may only hold expressions and if-blocks, not {what} (line {node.lineno})"
                )
            if isinstance(node, nodes.Filter) and node.name not in env.filters:
                known = ", ".join(sorted(env.filters))
                raise TemplateError(f"unknown filter {node.name!r} (line {node.lineno}); filters: {known}")
            if isinstance(node, nodes.Test) and node.name not in env.tests:
                known = ", ".join(sorted(env.tests))
                raise TemplateError(f"unknown test {node.name!r} (line {node.lineno}); tests: {known}")
    return ast, every


# Trees variables() parsed, kept for _compiled() to take (once: compiling folds constants into the tree,
# so no tree is read after it was compiled). Validation scans a template's names and then renders it:
# this spares the second parse. Bounded; the oldest trees go first.
_PARSED_FOR_COMPILE: dict[str, nodes.Template] = {}
_MAX_PARSED_FOR_COMPILE = 256


# ----------------------------------------------------------------------------- the simple forms, without Jinja
#
# Most catalog templates are literal text, ``{{ name }}``, ``{{ name | filter }}``, ``{{ 'a' if name == 'b' else
# 'c' }}`` and ``{# comments #}``. For those, Jinja's lexer, parser and compiler cost far more than the template
# does (a parse ~0.3 ms, a compile ~0.5 ms): they are read by the regular expressions below and rendered by
# _render_simple, which calls the same finalize and the same (bounded) filters Jinja's compiled code calls, in
# the same order, and compares as its code compares. Anything not certainly one of these forms goes to Jinja:
# whitespace control (``{{-``, ``-#}``), blocks (``{%``, raw too), ``\r`` (Jinja rewrites line breaks in text),
# names Jinja reads as constants or binds itself, filters that take arguments or the environment, a name the
# context lacks (Jinja's StrictUndefined raises then), a value of a type other than plain data.
# tests/test_sandbox_fast.py checks the equivalence on generated templates.

_TAG_START = re.compile(r"\{[{%#]")  # where Jinja's lexer leaves literal text (its first such pair)
_SIMPLE_VARIABLE = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*)((?: *\| *[A-Za-z_][A-Za-z0-9_]*)*) *\}\}")
# {{ 'text' if name == 'text' else 'text' }} (or !=): how catalog templates switch on tls. Literals hold no
# backslash (Jinja decodes escapes), quote, brace or line break.
_LITERAL = r"'([^'\\{}\r\n]*)'"
_SIMPLE_CHOICE = re.compile(
    rf"\{{\{{ *{_LITERAL} +if +([A-Za-z_][A-Za-z0-9_]*) *(==|!=) *{_LITERAL} +else +{_LITERAL} *\}}\}}"
)
_SIMPLE_COMMENT = re.compile(r"\{#(?![-+])(.*?)#\}", re.S)  # Jinja ends a comment at its first #}
_NOT_PLAIN_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "self", "loop", "super", "caller", "varargs", "kwargs"}
    | {"and", "or", "not", "in", "is", "if", "else", "elif", "for", "recursive", "with", "without", "context"}
    | {"import", "from", "as", "set", "block", "macro", "call", "filter", "raw", "include", "extends"}
)
_MAX_SIMPLE_FILTERS = 4  # a longer chain goes to Jinja, whose parse caps the tree's depth (MAX_TREE_DEPTH)
_PLAIN_TYPES = (str, int, float, bool, type(None), dict, list)
# Literal text, or an output: (name, filters applied in order, choice), where choice is None or
# (operator, the text the name's value is compared with, the output if so, the output if not).
_Part = str | tuple[str, tuple[str, ...], tuple[str, str, str, str] | None]


def _plain_filter(name: str) -> bool:
    """An allowed filter that Jinja calls with the value alone (no environment or context passed first)."""
    function = environment().filters.get(name)
    return function is not None and _PassArg.from_obj(function) is None


def _simple_output(source: str, start: int) -> tuple[_Part, int] | None:
    """The ``{{ ... }}`` at ``start`` as a part, and where it ends; None if it is not one of the simple forms."""
    variable = _SIMPLE_VARIABLE.match(source, start)
    if variable is not None:
        filters = tuple(part.strip() for part in variable.group(2).split("|")[1:])
        if len(filters) > _MAX_SIMPLE_FILTERS or not all(_plain_filter(name) for name in filters):
            return None
        name, end, choice = variable.group(1), variable.end(), None
    elif (conditional := _SIMPLE_CHOICE.match(source, start)) is not None:
        then, name, operator_, compared, otherwise = conditional.groups()
        filters, end, choice = (), conditional.end(), (operator_, compared, then, otherwise)
    else:
        return None
    return None if name in _NOT_PLAIN_NAMES else ((name, filters, choice), end)


@lru_cache(maxsize=8192)
def _simple_parts(source: str) -> tuple[_Part, ...] | None:
    """The template as literal text and ``{{ name | filter ... }}`` parts, or None if it is not certainly simple."""
    if "\r" in source:
        return None
    if source.endswith("\n"):  # the one trailing newline Jinja strips (keep_trailing_newline=False)
        source = source[:-1]
    parts: list[_Part] = []
    text: list[str] = []
    position = 0
    while (tag := _TAG_START.search(source, position)) is not None:
        text.append(source[position : tag.start()])
        if source.startswith("{{", tag.start()):
            output = _simple_output(source, tag.start())
            if output is None:
                return None
            if "".join(text):
                parts.append("".join(text))
            text = []
            parts.append(output[0])
            position = output[1]
        elif source.startswith("{#", tag.start()):
            comment = _SIMPLE_COMMENT.match(source, tag.start())
            if comment is None or comment.group(1).endswith(("-", "+")):
                return None
            position = comment.end()
        else:  # {% ... %}
            return None
    text.append(source[position:])
    if "".join(text):
        parts.append("".join(text))
    return tuple(parts)


def _render_simple(parts: tuple[_Part, ...], context: Mapping[str, object]) -> str | None:
    """A simple template's output, as Jinja's compiled code computes it; None where only Jinja can say."""
    for part in parts:
        if isinstance(part, tuple) and (part[0] not in context or type(context[part[0]]) not in _PLAIN_TYPES):
            return None
    filters = environment().filters
    output = []
    for part in parts:
        if isinstance(part, str):
            output.append(part)
            continue
        name, applied, choice = part
        value = context[name]
        for filter_name in applied:
            value = filters[filter_name](value)
        if choice is not None:  # what Jinja's compiled code does: Python's == or != (the sandbox checks no comparison)
            operator_, compared, then, otherwise = choice
            value = then if (value == compared if operator_ == "==" else value != compared) else otherwise
        output.append(str(_finalize(value)))
    return "".join(output)


@lru_cache(maxsize=4096)
def variables(source: str) -> frozenset[str]:
    """Names a catalog template reads from its context; TemplateError if it does not compile or is not allowed."""
    parts = _simple_parts(source)
    if parts is not None:
        return frozenset(part[0] for part in parts if isinstance(part, tuple))
    return _jinja_variables(source)


def _jinja_variables(source: str) -> frozenset[str]:
    ast, every = _parse_nodes(source, trusted=False)
    # Names read minus names the template binds itself ({% set %}, loop targets, macro parameters):
    # the same answer as jinja2.meta.find_undeclared_variables for catalog templates, at a third of the cost.
    names = [node for node in every if isinstance(node, nodes.Name)]  # ast.find_all(nodes.Name), walked once
    loaded = {n.name for n in names if n.ctx == "load"}
    bound = {n.name for n in names if n.ctx in ("store", "param")}
    if len(_PARSED_FOR_COMPILE) >= _MAX_PARSED_FOR_COMPILE:
        del _PARSED_FOR_COMPILE[next(iter(_PARSED_FOR_COMPILE))]
    _PARSED_FOR_COMPILE[source] = ast
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


# dbstack's own templates as code compiled when the package was made (render/compiled), by source text:
# use_compiled() puts one here only for the exact text it was compiled from.
_SHIPPED: dict[str, Any] = {}


def compile_trusted(source: str) -> str:
    """Python code of one of dbstack's own templates, as this environment compiles it (checked as render() checks
    it), for a module shipped in the package; the module needs ``environment`` set by use_compiled()."""
    return str(environment().compile(_parse(source, trusted=True), raw=True, defer_init=True))


def use_compiled(source: str, namespace: dict[str, Any]) -> None:
    """Render the trusted template ``source`` with ``namespace``, the globals of the module holding its
    compile_trusted() code, instead of compiling it again."""
    if source not in _SHIPPED:
        env = environment()
        _SHIPPED[source] = env.template_class.from_module_dict(env, namespace, env.make_globals(None))


@lru_cache(maxsize=4096)
def _compiled(source: str, trusted: bool) -> Any:
    if trusted and source in _SHIPPED:
        return _SHIPPED[source]
    parsed = None if trusted else _PARSED_FOR_COMPILE.pop(source, None)
    ast = parsed if parsed is not None else _parse(source, trusted=trusted)
    with warnings.catch_warnings():  # Python's SyntaxWarning on code such as 1[2]: the render reports the error
        warnings.simplefilter("ignore", SyntaxWarning)
        return environment().from_string(ast)


def _one_line(exc: BaseException) -> str:
    """An exception's message as one short line (a message can quote a value the template built)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:200] + "..."


def render(source: str, context: Mapping[str, object], *, trusted: bool = False) -> str:
    """Render a template string; every failure becomes a TemplateError with a plain message.

    ``trusted`` is for dbstack's own templates (render/templates), which may use loops.
    """
    return _render(source, context, trusted, _simple_parts(source))


def _render(source: str, context: Mapping[str, object], trusted: bool, parts: tuple[_Part, ...] | None) -> str:
    """render(), through the simple forms' path when ``parts`` are given (else, or where it cannot say, Jinja)."""
    budget = _budget.set(_Budget())
    try:
        simple = _render_simple(parts, context) if parts is not None else None
        text = simple if simple is not None else str(_compiled(source, trusted).render(dict(context)))
    except TemplateError:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not compile (line {exc.lineno}): {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"template refused by the sandbox: {_one_line(exc)}") from None
    except Exception as exc:  # Jinja surfaces undefined names, bad filters and type errors this way
        raise TemplateError(f"template failed: {_one_line(exc)}") from None
    finally:
        _budget.reset(budget)
    if len(text) > MAX_OUTPUT:
        raise TemplateError(f"template output is larger than {MAX_OUTPUT} characters")
    return text
