"""The sandbox's reader of simple templates (_Reader, through _simple_parts) reads every template exactly as the
reader before its fast lanes did: the same parts (the same trees) or the same refusal (None), under the same nesting
and depth caps. FrozenReader below is a verbatim copy of that earlier reader (sandbox/__init__.py at a546450, with the
one later fix marked in _node), kept here only as the reference; tests/test_sandbox_fast.py checks that the reader
agrees with Jinja."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.utils import _PassArg
from test_sandbox_fast import CHAOS, FILTERS, NAMES, expression_text, simple_piece

from dbstack import sandbox
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.validation import templates
from dbstack.loader.yaml_source import load_mapping
from dbstack.sandbox import MAX_NESTING, _NotSimple, environment

# ---------------------------------------------------------------------------------------- the reference (frozen)

_TAG_START = re.compile(r"\{[{%#]")  # where Jinja's lexer leaves literal text (its first such pair)
_SIMPLE_COMMENT = re.compile(r"\{#(?![-+])(.*?)#\}", re.S)  # Jinja ends a comment at its first #}
# One token inside a tag, after spaces and line breaks: a name, a string literal (no backslash: Jinja decodes
# escapes; no quote, brace or line break), a decimal integer of up to 9 digits, an operator the reader knows.
# Jinja's lexer cuts such text into the same tokens; anything else matches nothing, and Jinja reads the template.
_TOKEN = re.compile(
    r"[ \n]*(?:([A-Za-z_][A-Za-z0-9_]*)|'([^'\\{}\r\n]*)'|(0|[1-9][0-9]{0,8})(?![0-9A-Za-z_.])|(==|!=|[*|.,:()\[\]{}]))"
)
_TOKEN_KINDS = ("name", "string", "integer", "operator")  # by _TOKEN's group
_VARIABLE_END = re.compile(r"[ \n]*\}\}")
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
_Expr = tuple[Any, ...]
_Part = str | tuple[Any, ...]
_FOLDABLE = frozenset({"dict", "list", "attr", "item", "slice", "==", "!=", "in", "not"})  # Jinja's as_const


def _plain_filter(name: str) -> bool:
    """An allowed filter that Jinja calls with the value alone (no environment or context passed first)."""
    function = environment().filters.get(name)
    return function is not None and _PassArg.from_obj(function) is None


class FrozenReader:
    """Reads a template of the simple forms into parts, building the tree Jinja's parser builds (one method per
    rule of Jinja's grammar, same precedence); raises _NotSimple for anything else."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0  # where the next token starts (spaces before it included)
        self.nesting = (
            0  # brackets, not, if and else of this tag, plus open blocks: at least what _checked_tokens counts
        )
        self.blocks = 0
        self.kind, self.text, self.token_end = "", "", 0  # the next token: see _scan (called when a tag starts)

    def _scan(self) -> None:
        """The token at self.position: self.kind ("name", "string", "integer", "operator"; "" if none), self.text."""
        match = _TOKEN.match(self.source, self.position)
        group = match.lastindex if match is not None else None
        if match is None or group is None:
            self.kind, self.text, self.token_end = "", "", self.position
        else:
            self.kind, self.text, self.token_end = _TOKEN_KINDS[group - 1], match.group(group), match.end()

    def _next(self) -> tuple[str, str]:
        """Reads the next token."""
        kind, text = self.kind, self.text
        if not kind:
            raise _NotSimple
        if (kind == "operator" and text in "([{") or (kind == "name" and text in ("not", "if", "else")):
            self.nesting += 1
            if self.nesting + self.blocks > MAX_NESTING:
                raise _NotSimple
        self.position = self.token_end
        self._scan()
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
        depth = levels + max((operand[1] for operand in operands), default=0)
        if depth > _MAX_SIMPLE_DEPTH:
            raise _NotSimple
        constant = kind in _FOLDABLE and all(operand[2] for operand in operands)
        if constant and kind == "slice":  # the one change since a546450: Jinja folds a constant slice differently
            raise _NotSimple
        return (kind, depth, constant, data, *operands)

    def body(self, in_block: bool) -> tuple[tuple[_Part, ...], str]:
        """Parts up to the end of the template or of an if-block's branch, and the word that ended it ("" at the
        end of the template; "elif", "else" or "endif")."""
        parts: list[_Part] = []
        text: list[str] = []
        while (tag := _TAG_START.search(self.source, self.position)) is not None:
            text.append(self.source[self.position : tag.start()])
            if self.source[tag.start() + 1] == "#":
                comment = _SIMPLE_COMMENT.match(self.source, tag.start())
                if comment is None or comment.group(1).endswith(("-", "+")):
                    raise _NotSimple
                self.position = comment.end()
                continue
            if "".join(text):
                parts.append("".join(text))
            text = []
            self.position, self.nesting = tag.end(), 0
            self._scan()
            if self.source[tag.start() + 1] == "{":
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
        text.append(self.source[self.position :])
        if "".join(text):
            parts.append("".join(text))
        return tuple(parts), ""

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
        if not self._take("if"):
            return then
        test = self.or_()
        self._expect("else")
        otherwise = self.expression()
        if test[2]:  # Jinja would choose the branch when compiling
            raise _NotSimple
        return self._node("if", None, test, then, otherwise)

    def or_(self) -> _Expr:
        left = self.and_()
        while self._take("or"):
            if left[2]:  # Jinja would compute it when compiling
                raise _NotSimple
            left = self._node("or", None, left, self.and_())
        return left

    def and_(self) -> _Expr:
        left = self.not_()
        while self._take("and"):
            if left[2]:
                raise _NotSimple
            left = self._node("and", None, left, self.not_())
        return left

    def not_(self) -> _Expr:
        if self._take("not"):
            return self._node("not", None, self.not_())
        return self.compare()

    def compare(self) -> _Expr:
        left = self.product()
        for operator_ in ("==", "!=", "in"):
            if self._take(operator_):  # one comparison: a chain goes to Jinja
                return self._node(operator_, None, left, self.product(), levels=2)
        return left

    def product(self) -> _Expr:
        left = self.filtered()
        while self._take("*"):
            left = self._node("*", None, left, self.filtered())
        return left

    def filtered(self) -> _Expr:
        """Jinja's parse_unary: a primary, its members and items, then its filters."""
        value = self.primary()
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
            if kind != "name" or value[2] or not _plain_filter(name):  # a constant: Jinja would filter it compiling
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


def frozen_parts(source: str) -> tuple[_Part, ...] | None:
    """What _simple_parts gave before the fast lanes."""
    if "\r" in source:
        return None
    if source.endswith("\n"):
        source = source[:-1]
    try:
        return FrozenReader(source).body(in_block=False)[0]
    except _NotSimple:
        return None


# ------------------------------------------------------------------------------------------------------ the tests


def read(source: str) -> tuple[Any, ...] | None:
    return sandbox._simple_parts.__wrapped__(source)  # uncached: each call reads


def assert_read_as_before(source: str) -> None:
    assert read(source) == frozen_parts(source), source


def benchmark_sources() -> list[str]:
    """Every built-in template, as is and as tests/benchmarks/bench_catalog.py rewrites it (a comment before every
    ``{{``), the forms the fast lanes are for."""
    files = sorted(BUILTIN_CATALOG.glob("*.yaml"))
    sources = [source for file in files for _, source, _ in templates(load_mapping(file).data)]
    return sources + [source.replace("{{", "{# 7 #}{{") for source in sources]


def test_builtin_templates_read_as_before() -> None:
    sources = benchmark_sources()
    assert len(sources) > 600
    for source in sources:
        assert read(source) is not None, source  # the fast path, not the refusal, is compared
        assert_read_as_before(source)


# The fast lane for whole ``{{ name }}`` and ``{{ name | filter }}`` tags, and the forms next to it that it must leave
# to the token-by-token reading: other names and filters (constants, words Jinja reads, filters given the context),
# other spacing, a member, an argument, a second filter, an unclosed tag.
LANE_NAMES = (*NAMES, "true", "none", "None", "not", "if", "self", "loop", "x1", "_", "1", "'a'")
LANE_FILTERS = (*FILTERS, "tojson", "nope", "lower.upper", "if", "d(x)", "d | d", "x")
LANE_TEXT = ("a", "{# c #}", "{% if x %}", "{% endif %}", "}")
LANE_SPACES = ("", " ", "  ", "\n", " \n ", "\t", "-", "+")


@st.composite
def lane_tag(draw: st.DrawFn) -> str:
    def spaces() -> str:
        return draw(st.sampled_from(LANE_SPACES))

    tag = "{{" + spaces() + draw(st.sampled_from(LANE_NAMES)) + spaces()
    if draw(st.booleans()):
        tag += "|" + spaces() + draw(st.sampled_from(LANE_FILTERS)) + spaces()
    return tag + draw(st.sampled_from(("}}", "}}", "}}", "}", " } }", "}}}", ".a }}", "[0] }}", " if x else y }}")))


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lane_tag() | st.sampled_from(LANE_TEXT), max_size=6).map("".join))
def test_name_tags_read_as_before(source: str) -> None:
    assert_read_as_before(source)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(simple_piece(), max_size=6).map("".join), st.sampled_from(("", "\n", "\n\n")))
def test_simple_forms_read_as_before(body: str, end: str) -> None:
    assert read(body + end) is not None  # the strategy builds forms the reader takes
    assert_read_as_before(body + end)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CHAOS) | simple_piece() | lane_tag(), max_size=10).map("".join))
def test_any_template_reads_as_before(source: str) -> None:
    assert_read_as_before(source)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CHAOS) | expression_text(3), max_size=8), st.sampled_from(("{{ ", "{% if ")))
def test_any_expression_reads_as_before(pieces: list[str], opener: str) -> None:
    """Operands and operators run together: where an operand ends and which level takes the next operator."""
    closer = " }}" if opener == "{{ " else " %}{% endif %}"
    assert_read_as_before(opener + " ".join(pieces) + closer)


def nested(depth: int, wrap: Callable[[str], str], inner: str = "x") -> str:
    for _ in range(depth):
        inner = wrap(inner)
    return inner


@pytest.mark.parametrize("depth", range(MAX_NESTING - 6, MAX_NESTING + 3))
@pytest.mark.parametrize(
    "wrap",
    [
        lambda inner: f"({inner})",
        lambda inner: f"[{inner}]",
        lambda inner: f"{{'k': {inner}}}",
        lambda inner: f"not {inner}",
        lambda inner: f"{inner} | d",
        lambda inner: f"{inner}.a",
        lambda inner: f"{inner} * y",
        lambda inner: f"y * ({inner})",
        lambda inner: f"x if {inner} else y",
        lambda inner: f"{inner} or y",
        lambda inner: f"x | merge({inner})",
    ],
    ids=["paren", "list", "dict", "not", "filter", "attr", "product", "product-right", "if", "or", "argument"],
)
def test_caps_fall_where_they_fell(depth: int, wrap: Callable[[str], str]) -> None:
    """Nesting and depth near the caps: the reader refuses exactly the templates it refused, in output tags and
    in if-blocks (whose count adds to the nesting)."""
    expression = nested(depth, wrap)
    for source in (
        "{{ " + expression + " }}",
        "{% if " + expression + " %}a{% endif %}",
        "{% if x %}{% if y %}{{ " + expression + " }}{% endif %}{% endif %}",
    ):
        assert_read_as_before(source)
    assert frozen_parts("{{ " + nested(MAX_NESTING + 2, wrap) + " }}") is None  # the caps are reached here
