"""The sandbox's path for simple templates (text, ``{{ name }}``, ``{{ name | filter }}``, comments) gives exactly
what Jinja gives: the same output, the same error, the same names read. Checked differentially on generated
templates: one strategy builds only forms the fast path takes, the other throws Jinja's syntax characters
together so that the border between the two paths is crossed in every direction."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.validation import templates
from dbstack.loader.yaml_source import load_mapping
from dbstack.sandbox import MAX_OUTPUT, TemplateError, _jinja_variables, _render, _simple_parts, variables

NAMES = ("x", "y", "n", "big", "huge", "absent", "class", "_u")
FILTERS = ("userinfo", "pathsegment", "urlpath", "uri_host", "lower", "upper", "trim", "string", "int", "length")
# Pieces Jinja reads specially, and names or filters the fast path must leave to Jinja.
CHAOS = (
    *("{{", "}}", "{#", "#}", "{%", "%}", "{", "}", "#", "%", "-", "+", "|", " ", "\n", "\r", "\r\n", "\t", "'", "é"),
    *("true", "None", "self", "loop", "not", "raw", "endraw", "if", "tojson", "first", "nope", "query", "d", "(1)"),
    *("'", "'a'", "'\\n'", "'{{'", " if ", " else ", "==", "!=", " x == '' ", "'1'", "1", "else '' }}"),
    *NAMES,
    *FILTERS,
)

plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def simple_piece(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(("text", "variable", "comment", "choice")))
    if kind == "text":  # literal text, with lone braces and the characters tags are made of
        text = st.text(alphabet="ab {}#%-+|\n'é", max_size=6)  # a { at its end would open the next piece's tag
        return draw(text.filter(lambda t: not re.search(r"\{[{%#]", t) and not t.endswith("{")))
    if kind == "comment":
        return "{#" + draw(st.text(alphabet="ab {}%\n", max_size=6)) + "#}"
    name = draw(st.sampled_from(NAMES))
    if kind == "choice":  # {{ 'a' if name == 'b' else 'c' }}, as catalog templates switch on tls
        then, compared, otherwise = (draw(st.text(alphabet="ab -.:é", max_size=4)) for _ in range(3))
        operator_ = draw(st.sampled_from(("==", "!=")))
        return f"{{{{ '{then}' if {name} {operator_} '{compared}' else '{otherwise}' }}}}"
    applied = draw(st.lists(st.sampled_from(FILTERS), max_size=2))
    gap = draw(st.sampled_from(("", " ", "  ")))
    return "{{" + gap + name + "".join(f"{gap}|{gap}{f}" for f in applied) + gap + "}}"


def contexts() -> st.SearchStrategy[dict[str, Any]]:
    # big twice is over MAX_OUTPUT; huge is over MAX_VALUE when a filter is handed it; absent is never defined
    return st.fixed_dictionaries(
        {"x": plain_values | st.sampled_from(("", "a", "b", "é")), "y": plain_values, "n": st.integers(-5, 5)},
        optional={"big": st.just("b" * (MAX_OUTPUT // 2 + 1)), "huge": st.just("h" * 70_000), "class": st.text()},
    )


def outcome(source: str, context: dict[str, Any], *, fast: bool) -> tuple[str, Any]:
    try:
        return "ok", _render(source, context, False, _simple_parts(source) if fast else None)
    except TemplateError as exc:
        return "error", str(exc)


def names_outcome(source: str, *, fast: bool) -> tuple[str, Any]:
    try:
        return "ok", variables(source) if fast else _jinja_variables(source)
    except TemplateError as exc:
        return "error", str(exc)


def assert_same_as_jinja(source: str, context: dict[str, Any]) -> None:
    assert outcome(source, context, fast=True) == outcome(source, context, fast=False), source
    assert names_outcome(source, fast=True) == names_outcome(source, fast=False), source


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(simple_piece(), max_size=6).map("".join), st.sampled_from(("", "\n", "\n\n")), contexts())
def test_simple_forms_render_as_jinja_renders_them(body: str, end: str, context: dict[str, Any]) -> None:
    source = body + end
    assert _simple_parts(source) is not None  # the strategy exercises the fast path, not the fallback
    assert_same_as_jinja(source, context)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CHAOS) | simple_piece(), max_size=10).map("".join), contexts())
def test_any_template_renders_as_jinja_renders_it(source: str, context: dict[str, Any]) -> None:
    assert_same_as_jinja(source, context)


@pytest.mark.parametrize(
    "source",
    [
        "{{- x }}",  # whitespace control strips the text before
        "a {{ x -}} b",
        "a {#- c #} b",
        "a {# c -#} b",
        "{% raw %}{{ x }}{% endraw %}",
        "a\r\nb",  # Jinja writes \n for every line break in text
        "{{ true }}",  # a constant, not a name
        "{{ self }}",  # Jinja's reference to the template
        "{{ x | tojson }}",  # passed the evaluation context
        "{{ x | default('a') }}",  # an argument
        "{{ x | nope }}",  # unknown: Jinja's refusal
        "{{ 'a\\n' if x == 'v' else 'b' }}",  # an escape in a literal
        "{{ 'a' if x == 'v' }}",  # no else: Jinja's undefined
        "{{ 'a' if x | lower == 'v' else 'b' }}",
        "{a{{{ x }}}",  # the lexer takes the first {{
        "{{ x" + " | lower" * 5 + " }}",  # a long chain: Jinja's parse caps the tree's depth
    ],
)
def test_forms_left_to_jinja(source: str) -> None:
    assert _simple_parts(source) is None
    assert_same_as_jinja(source, {"x": "v"})


def test_builtin_container_templates_mostly_take_the_fast_path() -> None:
    """The fast path is worth having only if catalog templates take it (a regression here is a slowdown)."""
    total = simple = 0
    for file in sorted(BUILTIN_CATALOG.glob("*.yaml")):
        for _, source, _ in templates(load_mapping(file).data):
            total += 1
            simple += _simple_parts(source) is not None
    assert simple >= 0.85 * total, (simple, total)


@pytest.mark.parametrize(
    ("source", "context", "refusal"),
    [
        ("{{ big }}{{ big }}", {"big": "b" * (MAX_OUTPUT // 2 + 1)}, "template output is larger than 65536"),
        ("{{ huge | lower }}", {"huge": "h" * 70_000}, "builds a value larger than 65536"),
        ("{{ absent }}", {}, "'absent' is undefined"),
        ("{{ n | length }}", {"n": 3}, "object of type 'int' has no len()"),
    ],
)
def test_fast_path_keeps_the_caps_and_errors(source: str, context: dict[str, Any], refusal: str) -> None:
    assert _simple_parts(source) is not None
    with pytest.raises(TemplateError, match=re.escape(refusal)):
        _render(source, context, False, _simple_parts(source))
    assert_same_as_jinja(source, context)
