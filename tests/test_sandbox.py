"""Catalog templates are hostile until proven otherwise: no code, no files, no huge values."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack.sandbox import MAX_OUTPUT, TemplateError, query, render, uri_host, userinfo, variables

HOSTILE = "p@ss:w/rd%#?&=+ é$'\""


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "not call"),
        ("{{ x.__init__.__globals__ }}", "attribute '__init__' of 'str' object is unsafe"),
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "not call"),
        ("{{ lipsum.__globals__ }}", "'lipsum' is undefined"),
        ("{{ range(10) }}", "not call"),
        ("{{ 'a' * 100000000 }}", "builds a value larger than 65536"),
        ("{{ [1] * 100000000 }}", "builds a value larger than 65536"),
        ("{{ 9 ** 99999999 }}", "power that is too large"),
        ("{% for i in 'x' %}{{ i.__class__ }}{% endfor %}{{ d.update({'a': 1}) }}", "not for"),
        ("{{ ''|center(300000000) }}", "unknown filter 'center'"),
        ("{{ '%300000000s' % x }}", "may not format strings with %"),
        ("{{ x.ljust(300000000) }}", "not call"),
        ("{{ ('a' * 10000)|replace('a', 'a' * 10000) }}", "unknown filter 'replace'"),
        ("{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}", "not for"),
        ("{{ ((2 ** 64) ** 64) ** 64 }}", "integer of more than 4096 bits"),
        ("{% set y = x %}{{ y }}", "not assign"),
        ("{% macro m() %}{% endmacro %}", "not macro"),
    ],
)
def test_code_and_resource_attacks_fail_cleanly(source: str, refusal: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(refusal)):
        render(source, {"x": "value", "d": {}})


def _product_of_64_bit_numbers(count: int) -> str:
    """(2**64) multiplied ``count`` times, as a balanced tree (a flat chain would be refused for its depth)."""
    terms = ["(2 ** 64)"] * count
    while len(terms) > 1:
        terms = [f"({a} * {b})" for a, b in zip(terms[::2], terms[1::2], strict=True)]
    return terms[0]


# Each class of operator, filter and test that could build a huge value from a small template, refused before
# the value is built (the caps count every item of nested values, not only the outer length).
@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("{{ [['a' * 10000] * 10000] * 30 }}", "builds a value larger than 65536"),
        ("{{ ([['a'] * 200] * 200) | length }}", "builds a value larger than 65536"),
        ("{{ '%200000000s' is odd }}", "odd, even and divisibleby test numbers only"),
        ("{{ '%200000000s' is even }}", "odd, even and divisibleby test numbers only"),
        ("{{ '%200000000s' is divisibleby 3 }}", "odd, even and divisibleby test numbers only"),
        ("{{ 'x' | tojson(indent=10000) }}", "tojson indent must be a number from 0 to 8"),
        ("{{ 'x' | tojson(indent=' ' * 10000) }}", "tojson indent must be a number from 0 to 8"),
        ("{{ ([1] * 5000) | tojson(indent=8) }}", "tojson would write more than 65536"),
        ("{{ 'a' * 40000 ~ 'a' * 40000 }}", "builds a value larger than 65536"),
        ("{{ ('a' * 40000 + 'a' * 40000) | length }}", "builds a value larger than 65536"),
        ("{{ ([1] * 8000 + [1] * 8000 + [1] * 8000) | length }}", "builds a value larger than 65536"),
        ("{{ (missing | default(['b' * 9000] * 8)) | length }}", "builds a value larger than 65536"),
        ("{{ ('f' * 8000) | int(base=16) }}", "integer of more than 4096 bits"),
        ("{{ " + _product_of_64_bit_numbers(128) + " }}", "integer of more than 4096 bits"),
        ("{{ -(" + _product_of_64_bit_numbers(128) + ") }}", "integer of more than 4096 bits"),
        ("{{ ('a' * 60000) | length }}" * 40, "too much work"),
        ("{{ 'a' * 60000 }}{{ 'a' * 6000 }}", "output is larger than 65536"),
        ("{{ x is callable }}", "unknown test 'callable'"),
        ("{{ x is filter }}", "unknown test 'filter'"),
    ],
)
def test_every_operator_filter_and_test_is_bounded(source: str, refusal: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(refusal)):
        render(source, {"x": "value"})


def test_bounded_operations_still_work() -> None:
    assert render("{{ (['a'] * 3) | length }}:{{ 7 is odd }}:{{ 9 is divisibleby 3 }}", {}) == "3:True:True"
    assert render("{{ [1, [2]] | tojson(indent=2) }}", {}) == "[\n  1,\n  [\n    2\n  ]\n]"
    assert render("{{ 'a' ~ x ~ 1 }}{{ -n }}{{ 2 ** 10 }}{{ '12' | int + 1 }}", {"x": "b", "n": 4}) == "ab1-4102413"
    assert render("{{ ('a' * 60000) | length }}", {}) == "60000"


NESTED = {
    "parentheses": "{{ " + "(" * 100 + "1" + ")" * 100 + " }}",
    "not": "{{ " + "not " * 100 + "1 }}",
    "unary minus": "{{ " + "- " * 100 + "1 }}",
    "plus chain": "{{ 1" + " + 1" * 100 + " }}",
    "lists": "{{ " + "[" * 100 + "]" * 100 + " }}",
    "dicts": "{{ " + "{'a': " * 100 + "1" + "}" * 100 + " }}",
    "if blocks": "{% if 1 %}" * 100 + "{% endif %}" * 100,
    "filter chain": "{{ x" + " | lower" * 100 + " }}",
    "attribute chain": "{{ x" + ".a" * 100 + " }}",
    "inline if": "{{ " + "x if x else " * 100 + "x }}",
}


@pytest.mark.parametrize("source", NESTED.values(), ids=NESTED.keys())
def test_deep_nesting_is_refused_at_parse_time_with_its_line(source: str) -> None:
    with pytest.raises(TemplateError, match=r"^template nests too deeply \(line 3\)"):
        variables("\n\n" + source)
    with pytest.raises(TemplateError, match=r"^template nests too deeply \(line 1\)"):
        render(source, {"x": "value"})


def test_nesting_within_the_cap_renders() -> None:
    assert render("{{ " + "(" * 20 + "1" + ")" * 20 + " }}", {}) == "1"
    assert render("{% if 1 %}" * 20 + "x" + "{% endif %}" * 20, {}) == "x"
    assert render("{{ 1" + " + 1" * 40 + " }}", {}) == "41"


@pytest.mark.parametrize("literal", ["9" * 5000, "1" + "_0" * 2500, "0x" + "f" * 4000, "0b" + "1" * 5000])
def test_integer_literals_are_capped_with_their_line(literal: str) -> None:
    with pytest.raises(TemplateError, match=r"^integer longer than 100 digits \(line 2\)"):
        variables("\n{{ " + literal + " }}")


@pytest.mark.parametrize(
    "source", ["{% include '/etc/passwd' %}", "{% import '/etc/passwd' as p %}", "{% extends 'x' %}"]
)
def test_templates_cannot_read_files(source: str) -> None:
    with pytest.raises(TemplateError, match="may not load other templates"):
        variables(source)
    with pytest.raises(TemplateError, match="may not load other templates"):
        render(source, {})


def test_output_size_is_capped() -> None:
    with pytest.raises(TemplateError, match="larger than"):
        render("{{ y * 5 }}" * 7, {"y": "z" * 2000})  # 70,000 characters
    with pytest.raises(TemplateError, match="larger than"):
        render("{% for a in x %}{{ y }}{% endfor %}", {"x": list(range(100)), "y": "z" * 1000}, trusted=True)


def test_trusted_templates_may_loop_and_catalog_templates_may_not() -> None:
    assert render("{% for a in x %}{{ a }}{% endfor %}", {"x": [1, 2]}, trusted=True) == "12"
    with pytest.raises(TemplateError, match="not for"):
        render("{% for a in x %}{{ a }}{% endfor %}", {"x": [1, 2]})
    with pytest.raises(TemplateError, match="unknown filter 'center'"):
        variables("{{ x | center(10) }}")


def test_strict_undefined() -> None:
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ missing }}", {})


def test_variables_lists_what_a_template_reads() -> None:
    assert variables("{{ a | userinfo }}:{{ b }}{% if c %}{{ c }}{% endif %}") == {"a", "b", "c"}
    assert variables("{{ x if y else z[0] }}") == {"x", "y", "z"}
    assert variables("{{ {'k': v, 'w': none}[key] | merge(other) }}") == {"v", "key", "other"}


def test_filters_encode_every_reserved_character() -> None:
    assert userinfo(HOSTILE) == "p%40ss%3Aw%2Frd%25%23%3F%26%3D%2B%20%C3%A9%24%27%22"
    assert query({"a": "x y&z", "b": None, "c": "", "d": True}) == "?a=x%20y%26z&d=true"
    assert query({}) == ""
    assert uri_host("::1") == "[::1]" and uri_host("db.example") == "db.example"


def test_attributes_tells_which_members_a_template_reads() -> None:
    from dbstack.sandbox import attributes

    assert attributes("{{ urls.uri }}", "urls") == frozenset({"uri"})
    assert attributes("{{ urls['sqlalchemy'] }}{{ urls.uri }}", "urls") == frozenset({"sqlalchemy", "uri"})
    assert attributes("{{ urls[form] }}", "urls") is None
    assert attributes("{{ urls | tojson }}", "urls") is None
    assert attributes("{{ host }}", "urls") == frozenset()


# Random templates from the catalog grammar: literals (some large), every operator, filter and test, nested.
_LEAVES = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["x", "n", "items", "m", "none", "true", "0.5", "1e308", "9999", "2 ** 64", "'%99999999s'"]),
    st.text(alphabet="ab%s{}\\\n\u00e9\U0001f600", max_size=6).map(repr),
)
_BINARY = ["+", "-", "*", "/", "//", "%", "**", "~", "and", "or", "==", "<", "in"]
_FILTERS = [
    "tojson",
    "tojson(indent=4)",
    "lower",
    "upper",
    "trim",
    "string",
    "int",
    "int(base=16)",
    "length",
    "first",
    "last",
    "userinfo",
    "pathsegment",
    "urlpath",
    "uri_host",
    "query",
    "merge(m)",
    "default('d')",
]
_TESTS = ["odd", "even", "divisibleby 3", "defined", "number", "string", "mapping", "sequence", "in items", "lower"]


def _expressions(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(_BINARY), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["not ", "-", "+"]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(children, st.sampled_from(_FILTERS)).map(lambda t: f"({t[0]} | {t[1]})"),
        st.tuples(children, st.sampled_from(_TESTS)).map(lambda t: f"({t[0]} is {t[1]})"),
        st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.tuples(children, children).map(lambda t: "{" + f"{t[0]}: {t[1]}" + "}"),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(children, children, children).map(lambda t: f"{t[0]}[{t[1]}:{t[2]}]"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


_TEMPLATES = st.lists(
    st.one_of(
        st.recursive(_LEAVES, _expressions, max_leaves=25).map(lambda e: "{{ " + e + " }}"),
        st.tuples(st.recursive(_LEAVES, _expressions, max_leaves=8), st.text(max_size=5)).map(
            lambda t: "{% if " + t[0] + " %}" + t[1] + "{% endif %}"
        ),
    ),
    min_size=1,
    max_size=4,
).map("".join)


@settings(
    max_examples=200, deadline=timedelta(seconds=2), print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(source=_TEMPLATES)
def test_random_templates_render_within_the_caps_or_fail_cleanly(source: str) -> None:
    context = {"x": "value", "n": 3, "items": [1, "a"], "m": {"k": "v"}}
    try:
        text = render(source, context)
    except TemplateError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 400, message
    else:
        assert len(text) <= MAX_OUTPUT
