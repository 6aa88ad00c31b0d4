"""parse_text converts a document without recording positions and finds them only when a problem needs one:
the same data, the same refusals (message, line, column, field) and the same position for every path as the
located conversion that records every value's and key's mark. Checked differentially on generated YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.yaml_source import (
    LocatedDocument,
    Path_,
    YamlSourceError,
    _Converter,
    _Loader,
    parse_text,
    read_text,
    safe_load,
)

KEYS = ("a", "b", "c", "1", "true", "null", "2020-01-02", "!!int 3", "? [x]", "<<", '"\\ud800"', "~")
SCALARS = (
    *("x", "'quoted'", "1", "-0x1F", "0o17", "1_000", "1.5", ".inf", "true", "Null", "~", "2020-01-02"),
    *("9" * 19, "9" * 20, "-" + "9" * 19, "1" * 120, '"\\ud800"', "!!str 1", "!!binary aGk=", "!custom x"),
    *("!!float 1", "!!int '12'", "&anchor 7", "*anchor", "[1, 2]", "{k: v}", "[]", "{}", "!!set {a}"),
)


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> str:
    """A YAML mapping, written line by line: duplicate keys, anchors, aliases, merges and tags included."""
    lines = []
    indent = "  " * depth
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(KEYS))
        if depth < 2 and draw(st.booleans()):
            if draw(st.booleans()):
                lines.append(f"{indent}{key}:")
                lines.append(draw(documents(depth + 1)))
            else:
                lines.append(f"{indent}{key}:")
                for _ in range(draw(st.integers(1, 3))):
                    lines.append(f"{indent}  - {draw(st.sampled_from(SCALARS))}")
        else:
            lines.append(f"{indent}{key}: {draw(st.sampled_from(SCALARS))}")
    return "\n".join(lines)


def located(text: str) -> tuple[str, Any]:
    """The located conversion alone (what parse_text did before), as data or its refusal."""
    converter = _Converter()
    node = yaml.compose(text, Loader=_Loader)
    assert node is not None  # the strategies write no empty document
    try:
        data = converter.convert(node, ())
    except YamlSourceError as exc:
        return "refused", (str(exc), exc.line, exc.column, exc.field)
    return "ok", LocatedDocument(data, values=converter.values, keys=converter.keys)


def fast(text: str) -> tuple[str, Any]:
    try:
        return "ok", parse_text(text)
    except YamlSourceError as exc:
        return "refused", (str(exc), exc.line, exc.column, exc.field)


def paths_to_ask(document: LocatedDocument) -> list[Path_]:
    asked: list[Path_] = [(), ("nowhere",), (0,)]
    for path in [*document.values, *document.keys]:
        asked += [path, (*path, "nowhere"), (*path, 0), (*path, 99), (*path, -1), (*path[:-1], "nowhere")]
    return asked


def assert_same(text: str) -> None:
    expected, actual = located(text), fast(text)
    assert expected[0] == actual[0], text
    if expected[0] == "refused":
        assert actual[1] == expected[1], text
        return
    slow_doc, fast_doc = expected[1], actual[1]
    assert fast_doc.data == slow_doc.data, text
    built = LocatedDocument(fast_doc.data, root=fast_doc._root)
    for built_map, slow_map in ((built.values, slow_doc.values), (built.keys, slow_doc.keys)):  # built on first use
        assert {p: (m.line, m.column) for p, m in built_map.items()} == {
            p: (m.line, m.column) for p, m in slow_map.items()
        }
    for path in paths_to_ask(slow_doc):
        for key in (False, True):
            # fast_doc answers by walking the node graph (it never built its maps), built from its maps
            expected_position = slow_doc.position(path, key=key)
            assert fast_doc.position(path, key=key) == expected_position, (text, path, key)
            assert built.position(path, key=key) == expected_position, (text, path, key)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_convert_as_the_located_conversion_does(text: str) -> None:
    try:
        yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        assume(False)  # the composer's own errors are reported by one piece of code for both
    assert_same(text)


@pytest.mark.parametrize("file", sorted(BUILTIN_CATALOG.glob("*.yaml")), ids=lambda f: f.stem)
def test_catalog_files_convert_and_locate_as_before(file: Any) -> None:
    assert_same(read_text(file))


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a' (first at line 1)"),
        ("a: &x [1]\nb:\n  <<: *x\n", "merge keys (<<) are not supported"),
        ("a: !custom 1\n", "tag !custom is not allowed"),
        ("a: " + "9" * 20 + "\n", "integer out of range"),
        ("? [x]\n: 1\n", "mapping keys must be plain scalars"),
        ("a: " + "[" * 70 + "]" * 70 + "\n", "document nests deeper than 64 levels"),
        ("a: &a [" + "1, " * 300 + "]\nb: &b [" + "*a, " * 300 + "]\n", "more than 50000 values"),
        ("a:\n  b: 2020-01-02\n  2020-01-02: x\n", "mapping keys must be plain scalars"),
    ],
)
def test_problems_keep_their_located_report(text: str, refusal: str) -> None:
    with pytest.raises(YamlSourceError, match=re.escape(refusal)):
        parse_text(text)
    assert_same(text)


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['true']",
        "!!python/name:os.system",
        "a: !!python/object:collections.OrderedDict {}",
    ],
)
def test_safe_load_builds_no_python_object(text: str) -> None:
    """safe_load reads a compose fragment a catalog entry renders and a compose.yaml in a user's folder: a tag that
    builds a Python object (or calls one) must be refused, as PyYAML's safe loaders refuse it."""
    with pytest.raises(yaml.constructor.ConstructorError, match="could not determine a constructor"):
        safe_load(text)


def test_no_yaml_loading_bypasses_the_safe_loaders() -> None:
    """Every YAML read in dbstack goes through yaml.safe_load* or yaml_source (parse_text, safe_load): a yaml.load,
    yaml.load_all or Loader= anywhere else could name an unsafe loader."""
    root = Path(__file__).resolve().parent.parent
    unsafe = re.compile(r"yaml\.(load|load_all|full_load|unsafe_load)\(|Loader=")
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("loader", "render", "sandbox", "stack")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "loader" / "yaml_source.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if unsafe.search(line)
    ]
    assert found == []
