"""The sandbox's path for simple templates (text, comments, ``{% if %}`` blocks and the expressions _Reader reads:
names, members, items, slices, filters with arguments, literals, ``*``, comparisons, ``in``, ``not``, ``and``, ``or``,
``X if T else Y``) gives exactly what Jinja gives: the same output, the same error, the same names and members read.
Checked differentially on generated templates: one strategy builds only forms the fast path takes, the other throws
Jinja's syntax characters together so that the border between the two paths is crossed in every direction."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack import sandbox
from dbstack.cli import main
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.validation import TLS_MODES, _sample, templates
from dbstack.loader.yaml_source import load_mapping
from dbstack.sandbox import (
    MAX_NESTING,
    MAX_OUTPUT,
    MAX_TREE_DEPTH,
    MAX_WORK,
    TemplateError,
    _jinja_attributes,
    _jinja_variables,
    _render,
    _simple_parts,
    attributes,
    variables,
)

# d is a dict, m a read-only one (as a configuration's options), items a list, t a tuple (not plain data: Jinja decides)
NAMES = ("x", "y", "n", "d", "m", "items", "t", "big", "huge", "absent", "class", "_u")
KEYS = ("a", "b", "items", "get", "zz")  # members: in d, attributes of dict, never there
FILTERS = (
    *("userinfo", "pathsegment", "urlpath", "uri_host", "lower", "upper", "trim", "string", "int", "length"),
    *("query", "merge", "default", "d"),
)
ARGUMENT_FILTERS = ("merge", "default", "trim", "int")
# Pieces Jinja reads specially, and names, filters or forms the fast path must leave to Jinja.
CHAOS = (
    *("{{", "}}", "{#", "#}", "{%", "%}", "{", "}", "#", "%", "-", "+", "|", " ", "\n", "\r", "\r\n", "\t", "'", "é"),
    *("true", "None", "self", "loop", "not", "raw", "endraw", "if", "tojson", "first", "nope", "query", "d", "(1)"),
    *("'", "'a'", "'\\n'", "'{{'", " if ", " else ", "==", "!=", " x == '' ", "'1'", "1", "else '' }}"),
    *(".", "[", "]", ":", ",", "*", "**", "(", ")", " and ", " or ", " in ", " not ", " is ", "~", "/", "=", "1000"),
    *("01", "1.5", "1_0", '"a"', "{'a': ", "d.a", "d.items", "m.a", "x[0]", "[:1]", "merge(", "merge(m)", "()"),
    *("{% if x %}", "{% elif y %}", "{% else %}", "{% endif %}", "{%- ", " -%}", "{% for %}", "{{ {", "}} }}"),
    *NAMES,
    *FILTERS,
)

plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
literal_text = st.text(alphabet="ab -.:é/", max_size=4)


@st.composite
def expression(draw: st.DrawFn, budget: list[int], variable: bool = False, test: bool = False) -> tuple[str, bool]:
    """An expression the reader takes, and whether Jinja could compute it when compiling (a constant). ``variable``:
    it must not be a constant (an output, a filter's value, a test, the left of and/or). ``budget``: compound nodes
    this tag may still hold (keeps nesting far from MAX_NESTING). ``test``: an if-block's (no inline if)."""

    def operand(need_variable: bool = False) -> tuple[str, bool]:
        text, constant = draw(expression(budget, need_variable))
        compound = not re.fullmatch(r"[A-Za-z_]\w*|'[^']*'", text)  # 0.a would read as a number
        return (f"({text})" if compound else text), constant

    kinds = ["name"] if variable else ["name", "literal"]
    if budget[0] > 0:
        kinds += ["attr", "item", "slice", "filter", "*", "compare", "not", "and/or", "dict", "list"]
        kinds += [] if test else ["if"]
    kind = draw(st.sampled_from(kinds))
    if kind == "name":
        return draw(st.sampled_from(NAMES)), False
    if kind == "literal":
        literal = st.sampled_from(("true", "false", "none")) | st.integers(0, 999).map(str)
        return draw(literal | literal_text.map(lambda text: f"'{text}'")), True
    budget[0] -= 1
    if kind == "attr":
        value, constant = operand(variable)
        return f"{value}.{draw(st.sampled_from(KEYS))}", constant
    if kind == "item":
        (value, constant), (index, index_constant) = operand(variable), operand()
        return f"{value}[{index}]", constant and index_constant
    if kind == "slice":  # of a variable: a constant slice is Jinja's (it folds it through getitem)
        value, constant = operand(need_variable=True)
        start, stop = (draw(st.sampled_from(["", "0", "1", "3"])) for _ in range(2))
        return f"{value}[{start}:{stop}]", constant
    if kind == "filter":
        value, _ = operand(need_variable=True)
        name = draw(st.sampled_from(FILTERS))
        count = draw(st.integers(0, 2)) if name in ARGUMENT_FILTERS or draw(st.integers(0, 9)) == 0 else 0
        arguments = ", ".join(operand()[0] for _ in range(count))
        return f"{value} | {name}" + (f"({arguments})" if count else ""), False
    if kind == "*":
        return f"{operand()[0]} * {operand()[0]}", False
    if kind == "compare":
        (left, left_constant), (right, right_constant) = operand(variable), operand()
        return f"{left} {draw(st.sampled_from(['==', '!=', 'in']))} {right}", left_constant and right_constant
    if kind == "not":
        value, constant = operand(variable)
        return f"not {value}", constant
    if kind == "and/or":
        return f"{operand(True)[0]} {draw(st.sampled_from(['and', 'or']))} {operand()[0]}", False
    if kind == "if":
        return f"{operand()[0]} if {operand(True)[0]} else {operand()[0]}", False
    items = [operand(variable and index == 0) for index in range(draw(st.integers(1 if variable else 0, 2)))]
    constant = all(item_constant for _, item_constant in items)
    if kind == "list":
        return "[" + ", ".join(item for item, _ in items) + "]", constant
    keys = [draw(st.sampled_from(KEYS)) for _ in items]
    return "{" + ", ".join(f"'{key}': {item}" for key, (item, _) in zip(keys, items, strict=True)) + "}", constant


@st.composite
def expression_text(draw: st.DrawFn, budget: int, variable: bool = False, test: bool = False) -> str:
    return draw(expression([budget], variable, test))[0]  # a budget of its own: each example draws the same way


def tag_expression(draw: st.DrawFn, variable: bool, test: bool = False) -> str:
    spaces = draw(st.sampled_from((" ", "", "\n ", "  ")))
    return spaces + draw(expression_text(4, variable, test)) + spaces


@st.composite
def simple_piece(draw: st.DrawFn, blocks: int = 0) -> str:
    kinds = ["text", "comment", "output", "output"] + (["if"] if blocks < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "text":  # literal text, with lone braces and the characters tags are made of
        text = st.text(alphabet="ab {}#%-+|\n'é", max_size=6)  # a { at its end would open the next piece's tag
        return draw(text.filter(lambda t: not re.search(r"\{[{%#]", t) and not t.endswith("{")))
    if kind == "comment":
        return "{#" + draw(st.text(alphabet="ab {}%\n", max_size=6)) + "#}"
    if kind == "output":
        return "{{" + tag_expression(draw, variable=True) + "}}"

    def body() -> str:
        return "".join(draw(st.lists(simple_piece(blocks + 1), max_size=2)))

    block = "{% if " + tag_expression(draw, variable=False, test=True) + "%}" + body()
    for _ in range(draw(st.integers(0, 1))):
        block += "{% elif " + tag_expression(draw, variable=False, test=True) + "%}" + body()
    if draw(st.booleans()):
        block += "{% else %}" + body()
    return block + "{% endif %}"


def contexts() -> st.SearchStrategy[dict[str, Any]]:
    # big twice is over MAX_OUTPUT; huge is over MAX_VALUE when a filter is handed it; absent is never defined
    members = st.dictionaries(st.sampled_from(KEYS), plain_values | st.sampled_from(("", "a", "é")), max_size=4)
    return st.fixed_dictionaries(
        {
            "x": plain_values | st.sampled_from(("", "a", "b", "é", "/p")),
            "y": plain_values,
            "n": st.integers(-5, 5),
            "d": members,
            "m": members.map(MappingProxyType),
            "items": st.lists(st.sampled_from(("a", "b", "", 1)), max_size=4),
        },
        optional={
            "big": st.just("b" * (MAX_OUTPUT // 2 + 1)),
            "huge": st.just("h" * 70_000),
            "class": st.text(),
            "t": st.tuples(st.text(max_size=2)),
        },
    )


def outcome(source: str, context: dict[str, Any], *, fast: bool) -> tuple[str, str]:
    """The output or the error, with object addresses left out (``{{ d.items }}`` writes a method's)."""
    try:
        result = "ok", _render(source, context, False, _simple_parts(source) if fast else None)
    except TemplateError as exc:
        result = "error", str(exc)
    return result[0], re.sub(r" at 0x[0-9a-f]+", " at 0x", result[1])


def names_outcome(source: str, *, fast: bool) -> tuple[str, Any]:
    try:
        read = variables(source) if fast else _jinja_variables(source)
        members = [(attributes if fast else _jinja_attributes)(source, name) for name in NAMES]
        return "ok", (read, members)
    except TemplateError as exc:
        return "error", str(exc)


def assert_same_as_jinja(source: str, context: dict[str, Any]) -> None:
    assert outcome(source, context, fast=True) == outcome(source, context, fast=False), source
    assert names_outcome(source, fast=True) == names_outcome(source, fast=False), source


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(simple_piece(), max_size=5).map("".join), st.sampled_from(("", "\n", "\n\n")), contexts())
def test_simple_forms_render_as_jinja_renders_them(body: str, end: str, context: dict[str, Any]) -> None:
    source = body + end
    assert _simple_parts(source) is not None  # the strategy exercises the fast path, not the fallback
    assert_same_as_jinja(source, context)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CHAOS) | simple_piece(), max_size=10).map("".join), contexts())
def test_any_template_renders_as_jinja_renders_it(source: str, context: dict[str, Any]) -> None:
    assert_same_as_jinja(source, context)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CHAOS) | expression_text(3), max_size=8), contexts())
def test_any_expression_renders_as_jinja_renders_it(pieces: list[str], context: dict[str, Any]) -> None:
    """Expressions run together without brackets: Jinja's precedence decides what they mean."""
    assert_same_as_jinja("{{ " + " ".join(pieces) + " }}", context)


CONTEXT: dict[str, Any] = {"x": "v", "y": "w", "d": {"a": "A", "b": {"c": 1}, "items": "I"}}
CONTEXT["m"] = MappingProxyType({"a": 1})


@pytest.mark.parametrize(
    "source",
    [
        "{{- x }}",  # whitespace control strips the text before
        "a {{ x -}} b",
        "a {#- c #} b",
        "a {# c -#} b",
        "{% raw %}{{ x }}{% endraw %}",
        "a\r\nb",  # Jinja writes \n for every line break in text
        "{{ true }}",  # a constant: Jinja finalizes it when compiling, outside the render's budget
        "{{ 'a' }}",
        "{{ {'a': 'b'} }}",
        "{{ 'A' | lower }}",  # a constant's filter runs when compiling
        "{{ {'a': 1} | merge(x) }}",
        "{{ x if true else y }}",  # Jinja chooses when compiling
        "{{ '' and x }}",
        "{{ self }}",  # Jinja's reference to the template
        "{{ x | tojson }}",  # passed the evaluation context
        "{{ x | default('a', boolean=true) }}",  # a keyword argument
        "{{ x | merge(*y) }}",
        "{{ x | nope }}",  # unknown: Jinja's refusal
        "{{ x | lower.upper }}",  # a dotted filter name
        "{{ x | merge(y)(y) }}",  # a call
        "{{ 'a\\n' if x == 'v' else 'b' }}",  # an escape in a literal
        '{{ "a" if x == "v" else "b" }}',
        "{{ 'a' 'b' ~ x }}",  # Jinja joins adjacent literals
        "{{ 'a' if x == 'v' }}",  # no else: Jinja's undefined
        "{{ x == y == x }}",  # a chain of comparisons
        "{{ x not in y }}",
        "{{ x is defined }}",
        "{{ x - 1 }}",
        "{{ x ** 2 }}",
        "{{ x // 2 }}",
        "{{ x ~ y }}",
        "{{ x * 01 }}",
        "{{ x * 1_000 }}",
        "{{ x * 1.5 }}",
        "{{ x * 1234567890 }}",  # integers of up to 9 digits
        "{{ x.0 }}",
        "{{ x[1:2:3] }}",
        "{{ x[(not ({'a': (true[:])}))] }}",  # a constant slice: Jinja folds it through getitem (found by hypothesis)
        "{{ d[('ab'[:1])] }}",
        "{{ x[1 * y] }}",
        "{{ {'a': x,} }}",  # a trailing comma
        "{{ {x: 1} }}",  # a key that is not a string literal
        "{{ (x, y) }}",
        "{{ x, y }}",
        "{a{{{ x }}}",  # the lexer takes the first {{
        "{{ x\t}}",  # other white space
        "{%- if x %}a{% endif %}",
        "{% if x -%}a{% endif %}",
        "{% if x if y else x %}a{% endif %}",  # an if-block's test has no inline if
        "{% if x, y %}a{% endif %}",
        "{% if x %}a",  # not closed
        "{% if x %}a{% else %}b{% elif y %}c{% endif %}",
        "{% if x %}a{% endif x %}",
        "{% endif %}",
        "{% for a in x %}{{ a }}{% endfor %}",
        "{% if x %}{% if x %}{% if x %}{% if x %}a{% endif %}{% endif %}{% endif %}{% endif %}",  # 4 blocks
        "{{ x" + " | lower" * (sandbox._MAX_SIMPLE_DEPTH + 5) + " }}",  # a tree near Jinja's cap on depth
        "{{ x" + " | lower" * (MAX_TREE_DEPTH + 5) + " }}",  # over Jinja's cap
        "{{ " + "(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1) + " }}",  # over Jinja's cap on nesting
        "{{ " + "not " * (MAX_NESTING + 1) + "x }}",
        "{{ {" + ", ".join(f"'k{i}': x if y else x" for i in range(MAX_NESTING // 2)) + "} }}",  # if and else count
    ],
)
def test_forms_left_to_jinja(source: str) -> None:
    assert _simple_parts(source) is None
    assert_same_as_jinja(source, CONTEXT)


@pytest.mark.parametrize(
    "source",
    [
        "{{ absent }}",  # StrictUndefined
        "{{ d.items }}",  # an attribute of dict (and a key of this one): the sandbox's getattr gives the method
        "{{ d.zz }}",  # not there: undefined
        "{{ m.a }}",  # not a dict
        "{{ d['zz'] }}",
        "{{ x['a'] }}",  # a str indexed by a str: the sandbox tries an attribute
        "{{ x[9] }}",
        "{{ t }}",  # a tuple is not plain data
        "{{ d.b.c }}{{ d.b.zz }}",  # the first member is there, the second is not
        "{% if x %}{{ absent }}{% endif %}",
    ],
)
def test_values_left_to_jinja(source: str) -> None:
    """Read by the fast path, but with this context only Jinja can say what it renders to."""
    context = {**CONTEXT, "t": (1, 2)}
    parts = _simple_parts(source)
    assert parts is not None
    assert sandbox._render_simple(parts, context) is None
    assert_same_as_jinja(source, context)


def test_fast_path_that_gives_up_does_not_charge_jinja_its_work() -> None:
    """Work the fast path did before it gave up is not counted again when Jinja renders."""
    value = "h" * 60_000  # each `| length` charges about 60,000 units; 20 of them fit MAX_WORK, 40 do not
    source = "{{ h | length }}" * (MAX_WORK // 120_000 + 1) + "{{ d.t }}"  # a tuple inside: found at the end
    context = {"h": value, "d": {"t": (1, 2)}}
    assert _render(source, context, False, _simple_parts(source)).endswith("60000(1, 2)")
    assert_same_as_jinja(source, context)


def test_a_name_missing_or_not_plain_skips_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual give-up (a name the context lacks, or a value that is not plain data) is known before any work:
    the fast path does not start, so no render does its work twice."""
    tried: list[str] = []
    real = sandbox._render_simple

    def counted(parts: Any, context: Any) -> str | None:
        tried.append("fast")
        return real(parts, context)

    monkeypatch.setattr(sandbox, "_render_simple", counted)
    heavy = "{{ (x * 32000) | length }}" * 16
    refused = r"^template failed: '(absent' is undefined|tuple object' has no attribute 'x')$"
    for context in ({"x": "ab"}, {"x": "ab", "absent": (1,)}):
        with pytest.raises(TemplateError, match=refused):
            sandbox.render(heavy + "{{ absent | length | string | int | d }}{{ absent.x }}", context)
    assert tried == []
    assert sandbox.render(heavy, {"x": "ab"}) == "64000" * 16
    assert tried == ["fast"]


def test_compiling_is_charged_to_no_render() -> None:
    """Jinja's compiler finalizes constant outputs (one in a branch never taken too) and the compiled template is
    kept: a first render, which compiles it, succeeds exactly as the later ones do."""
    source = "{% if x == 'never' %}{{ '" + "a" * 60_000 + "' }}{% endif %}{{ x }}{{ t }}"  # {{ t }}: Jinja renders it
    context = {"x": "b" * 10_000, "t": (1,)}
    sandbox._compiled.cache_clear()
    outcomes = [sandbox.render(source, context) for _ in range(2)]
    assert outcomes == ["b" * 10_000 + "(1,)"] * 2


def test_every_builtin_template_takes_the_fast_path() -> None:
    """The fast path is worth having only if catalog templates take it (a regression here is a slowdown)."""
    files = sorted(BUILTIN_CATALOG.glob("*.yaml"))
    sources = [source for file in files for _, source, _ in templates(load_mapping(file).data)]
    assert len(sources) > 300
    assert [source for source in sources if _simple_parts(source) is None] == []


@pytest.mark.parametrize("file", sorted(BUILTIN_CATALOG.glob("*.yaml")), ids=lambda file: file.stem)
def test_builtin_templates_render_as_jinja_renders_them(file: Path) -> None:
    """Every template of every built-in entry, with default and other values, in every tls mode, options given
    as a dict and read-only (as a configuration holds them)."""
    entry = load_mapping(file).data
    parameters = entry["parameters"]
    for filled in (False, True):
        values = {name: _sample(spec, filled) for name, spec in parameters.items()} | {"container_port": 8080}
        for mode in TLS_MODES if "tls" in parameters else (None,):
            for as_options in (dict, MappingProxyType):
                context = values | {"tls": mode}
                if "options" in values:
                    context["options"] = as_options(values["options"] or {})
                for _, source, _ in templates(entry):
                    assert_same_as_jinja(source, context)


def test_catalog_apps_and_librechat_stacks_need_no_jinja_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Validating the built-in catalog and the app, showing every entry, and generating LibreChat stacks (every
    environment, both targets, with the optional roles and endpoints) parse no catalog or app template with Jinja."""
    parsed: list[str] = []
    jinja_parse = sandbox._parse_nodes

    def counted(source: str, *, trusted: bool) -> Any:
        if not trusted:
            parsed.append(source)
        return jinja_parse(source, trusted=trusted)

    monkeypatch.setattr(sandbox, "_parse_nodes", counted)
    monkeypatch.setenv("DBSTACK_NO_CACHE", "1")  # every file checked, every template scanned
    for cached in (sandbox._simple_parts, sandbox.variables, sandbox._compiled):
        cached.cache_clear()
    commands = [["catalog", "validate"], ["demo"]]
    for target in ("compose", "kubernetes"):
        for env in ("development", "staging", "production"):
            commands.append(["generate", "--env", env, "--target", target, "-o", str(tmp_path / f"{target}-{env}")])
    extras = ["--use", "cache=redis", "--endpoint", "ollama", "--embeddings", "ollama", "--proxy", "caddy"]
    commands.append(["generate", "--env", "production", *extras, "-o", str(tmp_path / "all")])
    for command in commands:
        assert main(command) == 0, (command, capsys.readouterr().err)
    assert parsed == []
    with pytest.raises(TemplateError, match="unknown filter 'nope'"):  # the count sees Jinja's parses
        variables("{{ x | nope }}")
    assert parsed == ["{{ x | nope }}"]


@pytest.mark.parametrize(
    ("source", "context", "refusal"),
    [
        ("{{ big }}{{ big }}", {"big": "b" * (MAX_OUTPUT // 2 + 1)}, "template output is larger than 65536"),
        ("{{ huge | lower }}", {"huge": "h" * 70_000}, "builds a value larger than 65536"),
        ("{{ {'a': huge} | query }}", {"huge": "h" * 70_000}, "builds a value larger than 65536"),
        ("{{ x | merge(huge) }}", {"x": {}, "huge": {"h": "h" * 70_000}}, "builds a value larger than 65536"),
        ("{{ x * 70000 }}", {"x": "ab"}, "builds a value larger than 65536"),
        ("{{ x * x }}", {"x": 2**3000}, "integer of more than 4096 bits"),
        ("{{ absent }}", {}, "'absent' is undefined"),
        ("{{ n | length }}", {"n": 3}, "object of type 'int' has no len()"),
        ("{{ 'a' in n }}", {"n": 3}, "argument of type 'int' is not iterable"),
        ("{{ n[:1] }}", {"n": 3}, "'int' object is not subscriptable"),
        ("{{ x | merge(x, x) }}", {"x": {}}, "merge() takes 2 positional arguments but 3 were given"),
    ],
)
def test_fast_path_keeps_the_caps_and_errors(source: str, context: dict[str, Any], refusal: str) -> None:
    assert _simple_parts(source) is not None
    with pytest.raises(TemplateError, match=re.escape(refusal)):
        _render(source, context, False, _simple_parts(source))
    assert_same_as_jinja(source, context)


@pytest.mark.parametrize(
    ("source", "context", "output"),
    [
        ("{{ x[:1] }}|{{ x[1:] }}|{{ x[1:3] }}|{{ items[:2] }}", {"x": "/abc", "items": [1, 2, 3]}, "/|abc|ab|[1, 2]"),
        ("{{ '//' if x[:1] == '/' else '' }}{{ x | urlpath }}", {"x": "/p q"}, "///p%20q"),
        ("{{ 'a' in x }} {{ x in items }} {{ x != 'abc' }}", {"x": "abc", "items": ["abc"]}, "True True False"),
        ("{{ secrets.KEY }}{{ secrets['B'] }}", {"secrets": {"KEY": "v", "B": "w"}}, "vw"),
        (
            "{{ {'a': x, 'b': none, 'c': true} | merge(m) | query }}",
            {"x": "1 2", "m": MappingProxyType({"d": 0})},
            "?a=1%202&c=true&d=0",
        ),
        ("{{ x * 1000 if x else none }}", {"x": 3}, "3000"),
        ("{% if x == 'a' and not items %}A{% elif x %}B{% else %}C{% endif %}", {"x": "a", "items": []}, "A"),
        ("{% if x == 'a' and not items %}A{% elif x %}B{% else %}C{% endif %}", {"x": "b", "items": []}, "B"),
        ("{{ {'a': 'A', 'b': 'B'}[x] }}", {"x": "b"}, "B"),
        ("{{ x or 'd' }}{{ x and 'e' }}", {"x": ""}, "d"),
    ],
)
def test_fast_path_renders_what_jinja_renders(source: str, context: dict[str, Any], output: str) -> None:
    parts = _simple_parts(source)
    assert parts is not None
    assert sandbox._render_simple(parts, context) == output
    assert_same_as_jinja(source, context)


@pytest.mark.parametrize(
    ("source", "members"),
    [
        ("{{ secrets.KEY }}", frozenset({"KEY"})),
        ("{{ secrets['KEY'] }}{{ secrets.B | lower }}", frozenset({"KEY", "B"})),
        ("0.0.0.0", frozenset()),
        ("{{ secrets }}", None),
        ("{{ secrets[x] }}", None),
        ("{{ secrets[:1] }}", None),
        ("{{ x[secrets] }}", None),
        ("{% if secrets %}a{% endif %}", None),
        ("{{ secrets.A.B }}", frozenset({"A"})),
    ],
)
def test_members_read_as_jinja_reads_them(source: str, members: frozenset[str] | None) -> None:
    assert _simple_parts(source) is not None
    assert attributes(source, "secrets") == members == _jinja_attributes(source, "secrets")
