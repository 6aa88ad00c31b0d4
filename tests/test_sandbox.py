"""Catalog templates are hostile until proven otherwise: no code, no files, no huge values."""

from __future__ import annotations

import pytest

from dbstack.render.sandbox import TemplateError, query, render, uri_host, userinfo, variables

HOSTILE = "p@ss:w/rd%#?&=+ é$'\""


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ x.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__ }}",
        "{{ range(10) }}",
        "{{ 'a' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 9 ** 99999999 }}",
        "{% for i in 'x' %}{{ i.__class__ }}{% endfor %}{{ d.update({'a': 1}) }}",
    ],
)
def test_code_and_resource_attacks_fail_cleanly(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, {"x": "value", "d": {}})


@pytest.mark.parametrize(
    "source", ["{% include '/etc/passwd' %}", "{% import '/etc/passwd' as p %}", "{% extends 'x' %}"]
)
def test_templates_cannot_read_files(source: str) -> None:
    with pytest.raises(TemplateError, match="may not load other templates"):
        variables(source)
    with pytest.raises(TemplateError):
        render(source, {})


def test_output_size_is_capped() -> None:
    with pytest.raises(TemplateError, match="larger than"):
        render(
            "{% for a in x %}{% for b in x %}{{ y }}{% endfor %}{% endfor %}",
            {"x": list(range(300)), "y": "z" * 1000},
        )


def test_strict_undefined() -> None:
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ missing }}", {})


def test_variables_lists_what_a_template_reads() -> None:
    assert variables("{{ a | userinfo }}:{{ b }}{% if c %}{{ c }}{% endif %}") == {"a", "b", "c"}
    assert variables("{% set x = y %}{{ x }}{% for i in items %}{{ i.name }}{% endfor %}") == {"y", "items"}
    assert variables("{{ {'k': v, 'w': none}[key] | merge(other) }}") == {"v", "key", "other"}


def test_filters_encode_every_reserved_character() -> None:
    assert userinfo(HOSTILE) == "p%40ss%3Aw%2Frd%25%23%3F%26%3D%2B%20%C3%A9%24%27%22"
    assert query({"a": "x y&z", "b": None, "c": "", "d": True}) == "?a=x%20y%26z&d=true"
    assert query({}) == ""
    assert uri_host("::1") == "[::1]" and uri_host("db.example") == "db.example"
