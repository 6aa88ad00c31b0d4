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
from types import MappingProxyType
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
# Most catalog and app templates are literal text, ``{{ name | filter }}``, ``{{ secrets.KEY }}``, ``{{ 'a' if
# tls == 'b' else 'c' }}`` and connection strings ending in ``{{ {'sslmode': tls, ...} | merge(options) | query
# }}``. For those, Jinja's lexer, parser and compiler cost far more than the template does (a parse ~0.3 ms, a
# compile ~0.5 ms). _Reader reads them as Jinja's parser reads them, for a small part of Jinja's grammar: names,
# string literals without escapes, short integers, true/false/none, dict (string keys) and list literals, ``.key``,
# ``[index]``, ``[a:b]``, filters (with positional arguments), ``*``, ``==``, ``!=``, ``in``, ``not``, ``and``,
# ``or``, ``X if TEST else Y``, ``{# comments #}`` and ``{% if %}`` blocks. _render_simple then computes what
# Jinja's compiled code computes: the same finalize, the same bounded filters and operators, in the same order.
# Anything not certainly read the same goes to Jinja: whitespace control, other tags, ``\r`` (Jinja rewrites line
# breaks in text), other operators and literals, names Jinja reads as constants or binds itself, filters that take
# the environment, anything Jinja would compute when compiling (a constant output or filter input: Jinja's
# finalize and filters would run then, outside the render's budget), nesting near Jinja's caps; and, when
# rendering, a name the context lacks (StrictUndefined), a value that is not plain data, a member or item that is
# not certainly there. tests/test_sandbox_fast.py checks the equivalence on generated templates;
# tests/test_sandbox_reader.py that the reader's fast lanes read every template as the reader before them did.

# Where Jinja's lexer leaves literal text (its first "{{", "{%" or "{#"). A comment is read whole, to its first #}
# (where Jinja ends it), its text in group 1, unless whitespace control starts it (group 1 is None then).
_TAG_START = re.compile(r"\{(?:#(?![-+])(.*?)#\}|[{%#])", re.S)
# One token inside a tag, after spaces and line breaks: a name, a string literal (no backslash: Jinja decodes
# escapes; no quote, brace or line break), a decimal integer of up to 9 digits, an operator the reader knows.
# Jinja's lexer cuts such text into the same tokens; anything else matches nothing, and Jinja reads the template.
_TOKEN = re.compile(
    r"[ \n]*(?:([A-Za-z_][A-Za-z0-9_]*)|'([^'\\{}\r\n]*)'|(0|[1-9][0-9]{0,8})(?![0-9A-Za-z_.])|(==|!=|[*|.,:()\[\]{}]))"
)
_TOKEN_KINDS = ("", "name", "string", "integer", "operator")  # by _TOKEN's group (each alternative is one)
# The tokens that open a level of Jinja's parser (unless they are string literals): brackets and prefix words.
_NESTING_TOKENS = frozenset({"(", "[", "{", "not", "if", "else"})
_VARIABLE_END = re.compile(r"[ \n]*\}\}")
# The commonest tags, ``{{ name }}`` and ``{{ name | filter }}``, in one step: the same tokens as _TOKEN's, read whole.
_NAME_OUTPUT = re.compile(r"\{\{[ \n]*([A-Za-z_][A-Za-z0-9_]*)[ \n]*(?:\|[ \n]*([A-Za-z_][A-Za-z0-9_]*)[ \n]*)?\}\}")
_BLOCK_END = re.compile(r"[ \n]*%\}")
_CONSTANTS = {"true": True, "false": False, "none": None}
_NOT_PLAIN_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "self", "loop", "super", "caller", "varargs", "kwargs"}
    | {"and", "or", "not", "in", "is", "if", "else", "elif", "for", "recursive", "with", "without", "context"}
    | {"import", "from", "as", "set", "block", "macro", "call", "filter", "raw", "include", "extends"}
)
# Far inside Jinja's caps: a tree the reader builds is at most _MAX_SIMPLE_DEPTH deep (counted as Jinja's nodes nest,
# or deeper), and Jinja's holds at most 2 more levels per if-block and 2 for the template: under MAX_TREE_DEPTH.
_MAX_SIMPLE_DEPTH = 24
_MAX_SIMPLE_BLOCKS = 3
# Plain data (a configuration's options come read-only, as a mappingproxy: ``in``, ``==`` and filters read it as a
# dict; members of a mappingproxy go to Jinja).
_PLAIN_TYPES = (str, int, float, bool, type(None), dict, list, MappingProxyType)
# An expression: (kind, depth, constant, data, *operands). kind is "const" (data: the value), "name" (data: the
# name), "attr" (``x.data``), "item" (``x[y]``), "slice" (data: (start, stop)), "filter" (data: its name; operands:
# the value, then the arguments), "*", "==", "!=", "in", "not", "and", "or", "if" (operands: test, then, otherwise),
# "dict" (operands: key, value, key, value, ...), "list". constant: Jinja could compute it when compiling.
_Expr = tuple[Any, ...]
# Literal text, ("output", expression), or ("if", ((test, body), ...), else body) where a body is a tuple of parts.
_Part = str | tuple[Any, ...]
_FOLDABLE = frozenset({"dict", "list", "attr", "item", "slice", "==", "!=", "in", "not"})  # Jinja's as_const
# The operators of the levels from or_ down to product, and those filtered reads after a primary: when the token
# after an operand is none of them (as after most: ``}}``, ``,``, ``)``, ``else``), these levels return it unchanged.
_BINARY_OPERATORS = frozenset({"or", "and", "==", "!=", "in", "*"})
_POSTFIX_OPERATORS = frozenset({".", "[", "|"})


class _NotSimple(Exception):
    """The template is not certainly one of the forms _Reader reads as Jinja does: Jinja reads it."""


class _Uncertain(Exception):
    """Only Jinja can say what the template renders to with this context."""


@lru_cache(maxsize=1)
def _plain_filters() -> frozenset[str]:
    """The allowed filters that Jinja calls with the value alone (no environment or context passed first)."""
    return frozenset(name for name, function in environment().filters.items() if _PassArg.from_obj(function) is None)


class _Reader:
    """Reads a template of the simple forms into parts, building the tree Jinja's parser builds (one method per
    rule of Jinja's grammar, same precedence); raises _NotSimple for anything else."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0  # where the next token starts (spaces before it included)
        self.nesting = (
            0  # brackets, not, if and else of this tag, plus open blocks: at least what _checked_tokens counts
        )
        self.blocks = 0
        # The next token: kind ("name", "string", "integer", "operator"; "" if none), text, and where it ends. When a
        # tag starts, its opener ("{{" or "{%") is made the next token: reading it scans the tag's first token.
        self.kind, self.text, self.token_end = "", "", 0

    def _next(self) -> tuple[str, str]:
        """Reads the next token, and scans the one after it."""
        kind, text = self.kind, self.text
        if not kind:
            raise _NotSimple
        if text in _NESTING_TOKENS and kind != "string":  # an operator bracket or a name
            self.nesting += 1
            if self.nesting + self.blocks > MAX_NESTING:
                raise _NotSimple
        self.position = self.token_end
        match = _TOKEN.match(self.source, self.position)
        if match is None:
            self.kind, self.text, self.token_end = "", "", self.position
        else:
            group = match.lastindex or 0
            self.kind, self.text, self.token_end = _TOKEN_KINDS[group], match[group], match.end()
        return kind, text

    def _take(self, word: str) -> bool:
        """Reads the next token if it is the operator or name ``word``."""
        if self.text != word or self.kind not in ("name", "operator"):
            return False
        self._next()
        return True

    def _expect(self, word: str) -> None:
        if not self._take(word):
            raise _NotSimple

    def _end(self, end: re.Pattern[str]) -> None:
        match = end.match(self.source, self.position)
        if match is None:
            raise _NotSimple
        self.position = match.end()  # text follows: the next tag scans its first token

    @staticmethod
    def _node(kind: str, data: Any, *operands: _Expr, levels: int = 1) -> _Expr:
        deepest, constant = 0, kind in _FOLDABLE
        for operand in operands:  # a loop: max() and all() over generators cost more than the rest of a node
            if operand[1] > deepest:
                deepest = operand[1]
            constant = constant and operand[2]
        if levels + deepest > _MAX_SIMPLE_DEPTH:
            raise _NotSimple
        if constant and kind == "slice":  # Jinja folds it through the sandbox's getitem (an error becomes undefined),
            raise _NotSimple  # while at run time, and here, a slice is Python's: true[:] fails only then
        return (kind, levels + deepest, constant, data, *operands)

    def body(self, in_block: bool) -> tuple[tuple[_Part, ...], str]:
        """Parts up to the end of the template or of an if-block's branch, and the word that ended it ("" at the
        end of the template; "elif", "else" or "endif")."""
        parts: list[_Part] = []
        text: list[str] = []
        source = self.source
        while (tag := _TAG_START.search(source, self.position)) is not None:
            start = tag.start()
            text.append(source[self.position : start])
            opener = source[start + 1]
            if opener == "#":
                comment = tag[1]
                if comment is None or comment.endswith(("-", "+")):  # whitespace control
                    raise _NotSimple
                self.position = tag.end()
                continue
            if literal := "".join(text):
                parts.append(literal)
            text = []
            if opener == "{" and (output := self._name_output(start)) is not None:
                parts.append(("output", output))
                continue
            self.nesting = 0
            self.kind, self.text, self.token_end = "operator", tag[0], tag.end()
            self._next()
            if opener == "{":
                output = self.expression()
                if output[2]:  # Jinja would finalize it when compiling
                    raise _NotSimple
                self._end(_VARIABLE_END)
                parts.append(("output", output))
                continue
            kind, word = self._next()
            if kind == "name" and word == "if":
                parts.append(self.if_block())
            elif kind == "name" and in_block and word in ("elif", "else", "endif"):
                return tuple(parts), word
            else:
                raise _NotSimple
        if in_block:
            raise _NotSimple
        text.append(source[self.position :])
        if literal := "".join(text):
            parts.append(literal)
        return tuple(parts), ""

    def _name_output(self, start: int) -> _Expr | None:
        """The fast lane for ``{{ name }}`` and ``{{ name | filter }}`` at start: the tree expression() builds (read
        past the tag), or None for any other tag (nothing read)."""
        tag = _NAME_OUTPUT.match(self.source, start)
        if tag is None or tag[1] in _NOT_PLAIN_NAMES or (tag[2] is not None and tag[2] not in _plain_filters()):
            return None  # another form, or one expression() refuses
        self.position = tag.end()
        value: _Expr = ("name", 1, False, tag[1])
        return value if tag[2] is None else self._node("filter", tag[2], value)

    def if_block(self) -> _Part:
        """``{% if %}`` (read up to its ``if``) to its ``{% endif %}``."""
        self.blocks += 1
        if self.blocks > _MAX_SIMPLE_BLOCKS or self.nesting + self.blocks > MAX_NESTING:
            raise _NotSimple
        branches = []
        word = "if"
        while word in ("if", "elif"):
            test = self.or_()  # Jinja reads an if-block's test without the inline if
            self._end(_BLOCK_END)
            body, word = self.body(in_block=True)
            branches.append((test, body))
        otherwise: tuple[_Part, ...] = ()
        if word == "else":
            self._end(_BLOCK_END)
            otherwise, word = self.body(in_block=True)
            if word != "endif":
                raise _NotSimple
        self._end(_BLOCK_END)
        self.blocks -= 1
        return ("if", tuple(branches), otherwise)

    def expression(self) -> _Expr:
        """Jinja's parse_expression: ``X if TEST else Y`` or an or-expression."""
        then = self.or_()
        if self.text != "if" or not self._take("if"):
            return then
        test = self.or_()
        self._expect("else")
        otherwise = self.expression()
        if test[2]:  # Jinja would choose the branch when compiling
            raise _NotSimple
        return self._node("if", None, test, then, otherwise)

    # or_, and_, not_, compare and product take their first operand when the caller has read it already: or_'s
    # fast lane reads an operand and, if an operator follows, hands it down to product to go on from there.
    def or_(self) -> _Expr:
        first = None
        if self.text != "not":  # not an operand: not_ reads it
            first = self.filtered()
            if self.text not in _BINARY_OPERATORS:  # the fast lane: no level would take more
                return first
        left = self.and_(first)
        while self._take("or"):
            if left[2]:  # Jinja would compute it when compiling
                raise _NotSimple
            left = self._node("or", None, left, self.and_())
        return left

    def and_(self, first: _Expr | None = None) -> _Expr:
        left = self.not_(first)
        while self._take("and"):
            if left[2]:
                raise _NotSimple
            left = self._node("and", None, left, self.not_())
        return left

    def not_(self, first: _Expr | None = None) -> _Expr:
        if first is None and self._take("not"):
            return self._node("not", None, self.not_())
        return self.compare(first)

    def compare(self, first: _Expr | None = None) -> _Expr:
        left = self.product(first)
        for operator_ in ("==", "!=", "in"):
            if self._take(operator_):  # one comparison: a chain goes to Jinja
                return self._node(operator_, None, left, self.product(), levels=2)
        return left

    def product(self, first: _Expr | None = None) -> _Expr:
        left = self.filtered() if first is None else first
        while self._take("*"):
            left = self._node("*", None, left, self.filtered())
        return left

    def filtered(self) -> _Expr:
        """Jinja's parse_unary: a primary, its members and items, then its filters."""
        value = self.primary()
        if self.text not in _POSTFIX_OPERATORS:  # the fast lane: no member, item or filter
            return value
        while True:
            if self._take("."):
                kind, name = self._next()
                if kind != "name":
                    raise _NotSimple
                value = self._node("attr", name, value)
            elif self._take("["):
                value = self.subscript(value)
            else:
                break
        while self._take("|"):
            kind, name = self._next()
            # a constant: Jinja would filter it when compiling
            if kind != "name" or value[2] or name not in _plain_filters():
                raise _NotSimple
            arguments = self.sequence(")", self.expression) if self._take("(") else []
            value = self._node("filter", name, value, *arguments)
        return value

    def subscript(self, value: _Expr) -> _Expr:
        """After ``[``: ``[index]`` or ``[start:stop]`` with integers (Jinja's compiled slices bypass getitem)."""
        start = int(self._next()[1]) if self.kind == "integer" else None
        if self._take(":"):
            stop = int(self._next()[1]) if self.kind == "integer" else None
            self._expect("]")
            return self._node("slice", (start, stop), value, levels=2)
        index = self.expression() if start is None else ("const", 1, True, start)
        self._expect("]")
        return self._node("item", None, value, index)

    def primary(self) -> _Expr:
        kind, text = self._next()
        if kind == "string":
            return ("const", 1, True, text)
        if kind == "integer":
            return ("const", 1, True, int(text))
        if kind == "name" and text in _CONSTANTS:
            return ("const", 1, True, _CONSTANTS[text])
        if kind == "name" and text not in _NOT_PLAIN_NAMES:
            return ("name", 1, False, text)
        if text == "(":
            inner = self.expression()
            self._expect(")")
            return inner
        if text == "[":
            return self._node("list", None, *self.sequence("]", self.expression))
        if text == "{":
            return self._node("dict", None, *self.sequence("}", self.pair), levels=2)
        raise _NotSimple

    def pair(self) -> list[_Expr]:
        kind, key = self._next()
        if kind != "string":
            raise _NotSimple
        self._expect(":")
        return [("const", 1, True, key), self.expression()]

    def sequence(self, close: str, item: Callable[[], _Expr | list[_Expr]]) -> list[_Expr]:
        """Items separated by commas up to ``close`` (read after the opening bracket; no trailing comma)."""
        items: list[_Expr] = []
        if self._take(close):
            return items
        while True:
            read = item()
            items.extend(read if isinstance(read, list) else [read])
            if self._take(close):
                return items
            self._expect(",")


@lru_cache(maxsize=8192)
def _simple_parts(source: str) -> tuple[_Part, ...] | None:
    """The template as parts (see _Part), or None if it is not certainly one of the simple forms."""
    if "\r" in source:
        return None
    if source.endswith("\n"):  # the one trailing newline Jinja strips (keep_trailing_newline=False)
        source = source[:-1]
    try:
        return _Reader(source).body(in_block=False)[0]
    except _NotSimple:
        return None


def _plain(value: Any) -> Any:
    if type(value) not in _PLAIN_TYPES:
        raise _Uncertain
    return value


def _evaluate(node: _Expr, context: Mapping[str, object]) -> Any:
    """An expression's value, as Jinja's compiled code computes it (operands in the same order, through the same
    filters and operators); _Uncertain where the sandbox could do something else."""
    kind, data, operands = node[0], node[3], node[4:]
    if kind == "const":
        return data
    if kind == "name":
        if data not in context:
            raise _Uncertain
        return _plain(context[data])
    # The first operand first, as Python evaluates the compiled code: if, and, or then choose the operand to evaluate
    # next; the other kinds evaluate every operand, in order.
    values = [_evaluate(operand, context) for operand in operands[:1]]
    if kind == "attr":  # the sandbox's getattr: an attribute of the object if it has one, else its item
        mapping = values[0]
        if type(mapping) is not dict or hasattr(mapping, data) or data not in mapping:
            raise _Uncertain
        return _plain(mapping[data])
    if kind == "slice":  # compiled as value[start:stop], not through getitem
        return _plain(_plain(values[0])[data[0] : data[1]])
    if kind == "if":
        return _evaluate(operands[1] if values[0] else operands[2], context)
    if kind == "not":
        return not values[0]
    if kind == "and":
        return _evaluate(operands[1], context) if values[0] else values[0]
    if kind == "or":
        return values[0] if values[0] else _evaluate(operands[1], context)
    values += [_evaluate(operand, context) for operand in operands[1:]]
    if kind == "item":  # the sandbox's getitem: the item if indexing works, else an attribute or undefined
        try:
            return _plain(_plain(values[0])[values[1]])
        except (TypeError, LookupError):
            raise _Uncertain from None
    if kind == "filter":
        return environment().filters[data](*values)
    if kind == "*":
        return environment().call_binop(None, "*", *values)
    if kind == "==":
        return values[0] == values[1]
    if kind == "!=":
        return values[0] != values[1]
    if kind == "in":
        return values[0] in values[1]
    if kind == "list":
        return values
    return dict(zip(values[::2], values[1::2], strict=True))  # "dict": Python's display, later keys win


def _write(parts: tuple[_Part, ...], context: Mapping[str, object], output: list[str]) -> None:
    for part in parts:
        if isinstance(part, str):
            output.append(part)
        elif part[0] == "output":  # Jinja's compiled output: str(finalize(value))
            output.append(str(_finalize(_evaluate(part[1], context))))
        else:
            for test, body in part[1]:
                if _evaluate(test, context):
                    _write(body, context, output)
                    break
            else:
                _write(part[2], context, output)


def _render_simple(parts: tuple[_Part, ...], context: Mapping[str, object]) -> str | None:
    """A simple template's output, as Jinja's compiled code computes it; None where only Jinja can say."""
    output: list[str] = []
    try:
        _write(parts, context, output)
    except _Uncertain:
        return None
    return "".join(output)


def _roots(parts: tuple[_Part, ...]) -> Iterator[_Expr]:
    """The expressions outputs write and if-blocks test."""
    for part in parts:
        if isinstance(part, tuple) and part[0] == "output":
            yield part[1]
        elif isinstance(part, tuple):
            for test, body in part[1]:
                yield test
                yield from _roots(body)
            yield from _roots(part[2])


def _expressions(parts: tuple[_Part, ...]) -> Iterator[_Expr]:
    """Every expression of the parts, and every expression under it."""
    pending = list(_roots(parts))
    while pending:
        node = pending.pop()
        yield node
        pending.extend(node[4:])


@lru_cache(maxsize=4096)
def variables(source: str) -> frozenset[str]:
    """Names a catalog template reads from its context; TemplateError if it does not compile or is not allowed."""
    parts = _simple_parts(source)
    if parts is not None:
        return frozenset(node[3] for node in _expressions(parts) if node[0] == "name")
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
    parts = _simple_parts(source)
    if parts is None:
        return _jinja_attributes(source, name)
    if any(root[:1] + root[3:4] == ("name", name) for root in _roots(parts)):
        return None
    found: set[str] = set()
    for node in _expressions(parts):
        for position, operand in enumerate(node[4:]):
            if operand[0] != "name" or operand[3] != name:
                continue
            if node[0] == "attr":
                found.add(node[3])
            elif node[0] == "item" and position == 0 and node[5][0] == "const" and isinstance(node[5][3], str):
                found.add(node[5][3])
            else:
                return None
    return frozenset(found)


def _jinja_attributes(source: str, name: str) -> frozenset[str] | None:
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


def _all_plain(source: str, context: Mapping[str, object]) -> bool:
    """Whether every name the template reads is in the context as plain data (else the fast path would give up)."""
    return all(name in context and type(context[name]) in _PLAIN_TYPES for name in variables(source))


def _render(source: str, context: Mapping[str, object], trusted: bool, parts: tuple[_Part, ...] | None) -> str:
    """render(), through the simple forms' path when ``parts`` are given (else, or where it cannot say, Jinja)."""
    budget = _budget.set(_Budget())
    try:
        text = _render_simple(parts, context) if parts is not None and _all_plain(source, context) else None
        if text is None:
            # Compiled outside any render's budget: Jinja's compiler runs finalize and filters on constants (a
            # constant output in a branch never taken too), and the compiled template is kept, so charging the
            # render that happens to compile it first would make a fresh process refuse what a warm one renders.
            _budget.set(None)
            template = _compiled(source, trusted)
            # Jinja starts afresh: the fast path may have charged work before it gave up (so a render that falls
            # back does at most twice MAX_WORK; _all_plain keeps the usual give-up, a missing name, before any).
            _budget.set(_Budget())
            text = str(template.render(dict(context)))
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
