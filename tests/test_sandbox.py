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
        "{{ ''|center(300000000) }}",
        "{{ '%300000000s' % x }}",
        "{{ x.ljust(300000000) }}",
        "{{ ('a' * 10000)|replace('a', 'a' * 10000) }}",
        "{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}",
        "{{ ((2 ** 64) ** 64) ** 64 }}",
        "{% set y = x %}{{ y }}",
        "{% macro m() %}{% endmacro %}",
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
    from dbstack.render.sandbox import attributes

    assert attributes("{{ urls.uri }}", "urls") == {"uri"}
    assert attributes("{{ urls['sqlalchemy'] }}{{ urls.uri }}", "urls") == {"sqlalchemy", "uri"}
    assert attributes("{{ urls[form] }}", "urls") is None
    assert attributes("{{ urls | tojson }}", "urls") is None
    assert attributes("{{ host }}", "urls") == frozenset()
