"""Catalog YAML is read fast and still as PyYAML's safe loaders read it, checked differentially on generated YAML:

- tags: yaml_source's loader resolves every node's tag as PyYAML's Resolver does (the same node graph as
  yaml.compose with CSafeLoader, the same data from safe_load as from yaml.load with CSafeLoader), also when the
  tag is remembered from a text asked before, and what it remembers stays bounded;
- data: parse_text gives what PyYAML's SafeLoader and CSafeLoader construct, with dbstack's stricter rules
  (written out in Reference below, independently of yaml_source): refused where those refuse, the same data
  where both accept;
- positions: parse_text converts without recording positions and finds them only when a problem needs one: the
  same refusals (message, line, column, field) and the same position for every path as the located conversion
  that records every value's and key's mark.
"""

from __future__ import annotations

import gc
import json
import re
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack.loader import yaml_source
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.yaml_source import (
    MAX_DEPTH,
    MAX_INTEGER,
    LocatedDocument,
    Path_,
    YamlSourceError,
    _CatalogResolver,
    _Converter,
    _Loader,
    parse_text,
    read_text,
    safe_load,
)

# Plain scalars made of the characters that YAML 1.1's implicit types are written with
PLAIN_TEXT = st.text(alphabet="0123456789-+._:eExXoObBaAfFlLsSnNuUtTrRyYiI~<=!&* tTzZ", max_size=14)
KEYS = (*("a", "b", "c", "d", "e", "1", "1.0", "true", "True", "null", "~", "yes", "on", ".inf", "-.0"), "'a'", '"b"')
HOSTILE_KEYS = ("2020-01-02", "!!int 3", "? [x]", "<<", '"\\ud800"', "=", "!!bool maybe", "!!binary aGk=", "[a]")
SCALARS = (
    *("x", "'quoted'", "1", "-0x1F", "0o17", "1_000", "1.5", ".inf", "true", "Null", "~", "2020-01-02"),
    *("9" * 19, "-" + "9" * 19, "!!str 1", "!!float 1", "!!int '12'", "&anchor 7", "[1, 2]", "{k: v}", "*anchor"),
    *("[]", "{}", "yes", "No", "on", "OFF", "y", "0b1_01", "017", "09", "+12", "1:20", "-1:20:30.5", "-.Inf", ".NaN"),
    *("1e3", "1.5e+3", "6.8523015e+5", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "! 12", "''", '""'),
    *("&m {k: [1, *x]}", "&x 3", "*m", "[a, [b, {c: d}]]", "{1: a, 1.0: b}", "'it''s'", '"tab\\there"', "- 1"),
    *("|\n  block", ">-\n  folded", "0x", "1__0", "._1", "-", "+.5", "!!null x", "!!timestamp x", "!!bool yes"),
)
HOSTILE_SCALARS = (
    *("9" * 20, "1" * 120, '"\\ud800"', "!!binary aGk=", "!custom x", "!!set {a}", "!!omap [a: 1]", "="),
    *("!!int abc", "!!bool maybe", "!!float", "!!int", "!!str [1]", "{a: 1, a: 2}", "!!python/name:os.system"),
)


@st.composite
def one_of(draw: st.DrawFn, usual: tuple[str, ...], hostile: tuple[str, ...]) -> str:
    """Mostly a usual key or value (so that most documents load), now and then a hostile one or random text."""
    pick = draw(st.integers(0, 9))  # hypothesis leans to 0 and shrinks towards it: 0 is usual
    if pick == 9:
        return draw(st.sampled_from(hostile))
    if pick == 8:
        return draw(PLAIN_TEXT)
    return draw(st.sampled_from(usual))


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> str:
    """A YAML mapping, written line by line: duplicate keys, anchors, aliases, merges and tags included."""
    lines = []
    indent = "  " * depth
    for _ in range(draw(st.integers(1, 4))):
        key = draw(one_of(KEYS, HOSTILE_KEYS))
        if depth < 2 and draw(st.booleans()):
            if draw(st.booleans()):
                lines.append(f"{indent}{key}:")
                lines.append(draw(documents(depth + 1)))
            else:
                lines.append(f"{indent}{key}:")
                for _ in range(draw(st.integers(1, 3))):
                    lines.append(f"{indent}  - {draw(one_of(SCALARS, HOSTILE_SCALARS))}")
        else:
            lines.append(f"{indent}{key}: {draw(one_of(SCALARS, HOSTILE_SCALARS))}")
    return "\n".join(lines)


class PureCatalogLoader(_CatalogResolver, yaml.SafeLoader):
    """yaml_source's loader on PyYAML's pure-Python parser (the one used where PyYAML is built without libyaml)."""


# (PyYAML's safe loader, the same parser with yaml_source's resolver): parse_text runs on each in turn
PARSERS = {"libyaml": (yaml.CSafeLoader, _Loader), "pure-python": (yaml.SafeLoader, PureCatalogLoader)}


@contextmanager
def parsing_with(parser: str) -> Iterator[type[Any]]:
    """parse_text composing with the parser named (yaml_source._Loader is what it composes with); yields PyYAML's
    own safe loader on that parser."""
    pyyaml_loader, catalog_loader = PARSERS[parser]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml_source, "_Loader", catalog_loader)
        yield pyyaml_loader


# -- tags: the resolver against PyYAML's ------------------------------------------------------------------------


def pyyaml_resolve(kind: type[yaml.Node], value: Any, implicit: Any) -> Any:
    resolver: Any = yaml.resolver.Resolver()  # (untyped in PyYAML's stubs)
    return resolver.resolve(kind, value, implicit)


def catalog_resolve(kind: Any, value: Any, implicit: Any) -> Any:  # (a node class: no Hashable in the stubs)
    return _CatalogResolver().resolve(kind, value, implicit)


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        *[(text, "bool") for text in ("yes", "No", "ON", "off", "True", "FALSE")],
        *[(text, "int") for text in ("0b1_01", "-0x1F", "017", "+12", "1_000", "1_", "1:20", "0")],
        *[(text, "float") for text in ("1.5", "-1:20:30.5", ".inf", "-.Inf", ".NaN", "1.5e+3", "1.")],
        *[(text, "null") for text in ("~", "null", "Null", "NULL", "")],
        *[(text, "timestamp") for text in ("2002-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10")],
        ("<<", "merge"),
        ("=", "value"),
        *[(text, "str") for text in ("0o17", "1e3", "09", "y", "n", "yess", "nULL", "-", ".", "x", "2002-1-1x", "tru")],
    ],
)
def test_each_implicit_type_resolves_as_pyyaml_resolves_it(value: str, tag: str) -> None:
    assert catalog_resolve(yaml.ScalarNode, value, (True, False)) == f"tag:yaml.org,2002:{tag}"
    assert pyyaml_resolve(yaml.ScalarNode, value, (True, False)) == f"tag:yaml.org,2002:{tag}"
    # quoted: text, whatever it looks like
    assert catalog_resolve(yaml.ScalarNode, value, (False, True)) == "tag:yaml.org,2002:str"


@settings(max_examples=400, deadline=None)
@given(value=PLAIN_TEXT, implicit=st.tuples(st.booleans(), st.booleans()))
def test_generated_scalars_resolve_as_pyyaml_resolves_them(value: str, implicit: tuple[bool, bool]) -> None:
    assert catalog_resolve(yaml.ScalarNode, value, implicit) == pyyaml_resolve(yaml.ScalarNode, value, implicit)
    for kind in (yaml.SequenceNode, yaml.MappingNode):
        assert catalog_resolve(kind, None, implicit[0]) == pyyaml_resolve(kind, None, implicit[0])


def composed(text: str, loader: type[Any]) -> Any:
    """The node graph as comparable data (kind, tag, value or items, style, marks), or the composer's error."""
    seen: dict[int, int] = {}

    def plain(node: yaml.Node) -> Any:
        if id(node) in seen:  # an alias: the node itself, once
            return ("alias", seen[id(node)])
        seen[id(node)] = len(seen)
        marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
        if isinstance(node, yaml.ScalarNode):
            return ("scalar", node.tag, node.value, node.style, marks)
        if isinstance(node, yaml.SequenceNode):
            return ("sequence", node.tag, [plain(item) for item in node.value], vars(node)["flow_style"], marks)
        pairs = [(plain(key), plain(value)) for key, value in node.value]
        return ("mapping", node.tag, pairs, vars(node)["flow_style"], marks)

    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        return ("error", str(exc))
    return None if node is None else plain(node)


def loaded(text: str, load: Any) -> tuple[str, str]:
    try:
        return "ok", repr(load(text))  # repr: 1, 1.0, True and "1" differ; nan equals itself
    except yaml.YAMLError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    except (ValueError, LookupError, AttributeError) as exc:  # PyYAML's own on "!!int abc", "!!timestamp x"
        return "error", f"ConstructorError: a tagged value cannot be read ({str(exc)[:200]})"  # safe_load's YAMLError


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), parser=st.sampled_from(sorted(PARSERS)))
def test_generated_documents_compose_and_load_as_pyyaml_does(text: str, parser: str) -> None:
    pyyaml_loader, catalog_loader = PARSERS[parser]
    assert composed(text, catalog_loader) == composed(text, pyyaml_loader), text
    if parser == "libyaml":  # safe_load (dbstack's one yaml.load) reads plain data as PyYAML's own loader does
        assert loaded(text, safe_load) == loaded(text, lambda t: yaml.load(t, Loader=yaml.CSafeLoader)), text


QUOTING: dict[str, Callable[[str], str]] = {
    "plain": lambda text: text,
    "single": lambda text: "'" + text.replace("'", "''") + "'",
    "double": lambda text: json.dumps(text),
    "non-specific": lambda text: "! " + text,
}
PLACES = ("{0}: {0}\n", "- {0}\n", "[{0}, {0}]\n", "{{k: {0}}}\n", "{0}\n", "? {0}\n: [{0}]\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(PLAIN_TEXT, min_size=1, max_size=4, unique=True),
    asked=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(sorted(QUOTING)), st.sampled_from(PLACES))),
    cold=st.booleans(),
)
def test_remembered_tags_are_pyyaml_tags_whatever_was_asked_before(
    texts: list[str], asked: list[tuple[int, str, str]], cold: bool
) -> None:
    """The loader remembers each text's tag (_resolve_tag): a text met again, in a file after or in the same one,
    is answered from memory. The answer must be PyYAML's for that text as written there: "1" is an int plain and
    text quoted, a mapping is a map, whatever was asked before (here a few texts, each asked again and again
    quoted or not, as a key, a value, in a list; from a cold memory or one the other tests filled)."""
    if cold:
        yaml_source._resolve_tag.cache_clear()
    for index, quoting, place in asked:
        document = place.format(QUOTING[quoting](texts[index % len(texts)]))
        assert composed(document, _Loader) == composed(document, yaml.CSafeLoader), document


def retained_after_reading(documents: Iterator[str], read: Any) -> int:
    """Bytes still allocated once every document is read and dropped (from a cleared memory of tags)."""
    yaml_source._resolve_tag.cache_clear()
    gc.collect()
    tracemalloc.start()
    try:
        for document in documents:
            read(document)
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def read_and_refused(read: Any) -> Any:
    def refused(document: str) -> None:
        with pytest.raises((YamlSourceError, yaml.YAMLError), match="did not find expected node content"):
            read(document)

    return refused


@pytest.mark.parametrize("broken", [False, True], ids=["valid", "broken"])
@pytest.mark.parametrize("read", [parse_text, safe_load], ids=["parse_text", "safe_load"])
def test_remembered_tags_keep_a_bounded_amount_of_text(read: Any, broken: bool) -> None:
    """The remembered tags are keyed by the scalars' texts, which stay in memory after their documents are gone:
    a catalog from strangers can hold thousands of files of 1 MiB of distinct text. What stays is bounded by the
    text read since the memory was last cleared (_RESOLVED_TEXT_KEPT characters), also for documents that fail to
    compose after their long scalars (broken: a list left open at the end)."""
    scalar_length = 256 * 1024
    end = "b: [\n" if broken else "b: 1\n"
    documents = (f"a: x{index}{'y' * scalar_length}\n{end}" for index in range(30))  # 7.5 Mi characters
    retained = retained_after_reading(documents, read_and_refused(read) if broken else read)
    assert retained < 2.5 * 2**20  # at most 2 Mi characters of text (one byte each: ASCII), plus their keys


def test_remembered_tags_keep_a_bounded_number_of_texts() -> None:
    """Short texts, all distinct, far under the bound on text: at most _RESOLVED_TAGS_KEPT are remembered."""
    kept = yaml_source._RESOLVED_TAGS_KEPT
    documents = ("".join(f"k{index}_{item}: v\n" for item in range(1000)) for index in range(3 * kept // 1000))
    retained = retained_after_reading(documents, parse_text)
    assert yaml_source._resolve_tag.cache_info().currsize == kept
    assert retained < 3 * 2**20  # 8,192 keys of about 300 bytes each, their texts included


# -- data: parse_text against PyYAML's safe loaders, with dbstack's rules -----------------------------------------

_TAG = "tag:yaml.org,2002:"
NO_KEY_TAGS = (_TAG + "merge", _TAG + "timestamp")


class Refused(Exception):
    """A rule of dbstack's that PyYAML's safe loaders do not have."""


class Reference:
    """What parse_text must give, built from PyYAML's own safe loading (its parser, resolver and constructors),
    with dbstack's rules, each written here from the README's contract rather than taken from yaml_source:

    - only plain types: text, int, float, bool, null, lists and mappings; a date stays the text it was written as;
      every other tag (binary, set, omap, merge, value, custom) is refused;
    - mapping keys are plain scalars (no date), as text (str() of an int, bool or null key); a key met twice, as
      that text, is refused; merge keys (<<) are refused;
    - integers within ±MAX_INTEGER, written in at most 100 characters; no lone surrogate in any text;
    - at most MAX_DEPTH levels and 50,000 values (these documents are small: only depth can be reached).
    """

    def __init__(self, pyyaml_loader: type[Any]) -> None:
        # built on a safe loader only (SafeLoader or CSafeLoader): the generated text is never read with constructors
        # that could build Python objects
        if pyyaml_loader not in (yaml.SafeLoader, yaml.CSafeLoader):  # (PyYAML's unsafe one is a SafeConstructor too)
            raise TypeError(f"{pyyaml_loader.__name__} is not a safe loader")
        constructors = pyyaml_loader.yaml_constructors
        reference = self

        class Loader(pyyaml_loader):  # type: ignore[misc]
            yaml_constructors: ClassVar[dict[str | None, Any]] = {
                **{_TAG + name: constructors[_TAG + name] for name in ("str", "float", "bool", "null", "seq", "map")},
                _TAG + "int": reference.integer,
                _TAG + "timestamp": lambda loader, node: loader.construct_scalar(node),
                None: constructors[None],  # "could not determine a constructor": any other tag
            }

            def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
                mapping: dict[str, Any] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag in NO_KEY_TAGS:
                        raise Refused("key")
                    key = self.construct_object(key_node, deep=True)
                    key = key if isinstance(key, str) else str(key)
                    if key in mapping:
                        raise Refused("duplicate key")
                    mapping[key] = self.construct_object(value_node, deep=deep)
                return mapping

        self.loader = Loader

    @staticmethod
    def integer(loader: Any, node: yaml.ScalarNode) -> int:
        if len(node.value) > 100:
            raise Refused("integer text")
        value: int = yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
        if abs(value) > MAX_INTEGER:
            raise Refused("integer")
        return value

    def load(self, text: str) -> tuple[str, Any]:
        try:
            data = yaml.load(text, Loader=self.loader)
            self.check(data, 0)
        except (yaml.YAMLError, Refused, ValueError, LookupError) as exc:
            return "refused", exc
        return "ok", data

    def check(self, data: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Refused("depth")
        if isinstance(data, str) and re.search("[\ud800-\udfff]", data):
            raise Refused("surrogate")
        items = [*data.keys(), *data.values()] if isinstance(data, dict) else data if isinstance(data, list) else []
        for item in items:
            self.check(item, depth + 1)


REFERENCES = {parser: Reference(PARSERS[parser][0]) for parser in PARSERS}


def assert_loads_as_pyyaml(text: str, parser: str) -> None:
    expected = REFERENCES[parser].load(text)
    with parsing_with(parser):
        actual = fast(text)
    assert actual[0] == expected[0], (text, expected[1], actual[1])
    if actual[0] == "ok":
        assert repr(actual[1].data) == repr(expected[1]), text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), parser=st.sampled_from(sorted(PARSERS)))
def test_generated_documents_load_as_pyyaml_safe_loaders_load_them(text: str, parser: str) -> None:
    assert_loads_as_pyyaml(text, parser)


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize(
    "text",
    [
        "a:\n  b: [1, [2, {c: d}]]\n  c: &x {k: 1}\n  d: *x\n",
        "1: a\n1.0: b\ntrue: c\nTrue: d\n",  # text keys "1", "1.0", "True": a duplicate
        "a: " + "[" * 64 + "]" * 64 + "\n",  # the deepest allowed
        "a: " + "[" * 65 + "]" * 65 + "\n",
        'a: "x\\ud800"\n',
        "a: 2001-12-14t21:59:43.10-05:00\nb: !!binary aGk=\n",
    ],
)
def test_edge_documents_load_as_pyyaml_safe_loaders_load_them(text: str, parser: str) -> None:
    assert_loads_as_pyyaml(text, parser)


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("file", sorted(BUILTIN_CATALOG.glob("*.yaml")), ids=lambda f: f.stem)
def test_catalog_files_load_as_pyyaml_safe_loaders_load_them(file: Path, parser: str) -> None:
    assert_loads_as_pyyaml(read_text(file), parser)


# -- positions: parse_text against the located conversion ---------------------------------------------------------


def located(text: str, pyyaml_loader: type[Any]) -> tuple[str, Any]:
    """The located conversion alone (what parse_text did before), on PyYAML's own composer, as data or refusal."""
    converter = _Converter()
    node = yaml.compose(text, Loader=pyyaml_loader)
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


def assert_same(text: str, parser: str = "libyaml") -> None:
    with parsing_with(parser) as pyyaml_loader:
        expected, actual = located(text, pyyaml_loader), fast(text)
    assert expected[0] == actual[0], text
    if expected[0] == "refused":
        assert actual[1] == expected[1], text
        return
    slow_doc, fast_doc = expected[1], actual[1]
    assert repr(fast_doc.data) == repr(slow_doc.data), text
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
@given(text=documents(), parser=st.sampled_from(sorted(PARSERS)))
def test_generated_documents_convert_as_the_located_conversion_does(text: str, parser: str) -> None:
    pyyaml_loader = PARSERS[parser][0]
    if composed(text, pyyaml_loader)[0] == "error":  # the composer's own errors: one piece of code reports them
        with parsing_with(parser), pytest.raises(YamlSourceError, match=r"^invalid YAML: "):
            parse_text(text)
        return
    assert_same(text, parser)


@pytest.mark.parametrize("file", sorted(BUILTIN_CATALOG.glob("*.yaml")), ids=lambda f: f.stem)
def test_catalog_files_convert_and_locate_as_before(file: Any) -> None:
    assert_same(read_text(file))


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a' (first at line 1)"),
        ("a: &x [1]\nb:\n  <<: *x\n", "merge keys (<<) are not supported"),
        ("a: !custom 1\n", "tag !custom is not allowed"),
        ("a: =\n", "tag tag:yaml.org,2002:value is not allowed"),
        ("a: " + "9" * 20 + "\n", "integer out of range"),
        ("? [x]\n: 1\n", "mapping keys must be plain scalars"),
        ("a: " + "[" * 70 + "]" * 70 + "\n", "document nests deeper than 64 levels"),
        ("a: &a [" + "1, " * 300 + "]\nb: &b [" + "*a, " * 300 + "]\n", "more than 50000 values"),
        ("a: &a [" + "1, " * 99 + "]\nb: &b [" + "*a, " * 99 + "]\nc: [" + "*b, " * 99 + "]\n", "more than 50000"),
        ("a: &a {" + ", ".join(f"k{i}: 1" for i in range(300)) + "}\nb: [" + "*a, " * 300 + "]\n", "more than 50000"),
        ("a: &a [1, *a]\n", "document nests deeper than 64 levels"),  # an alias inside its own anchor
        ("a: &a {b: {c: *a}}\n", "document nests deeper than 64 levels"),
        ("a:\n  b: 2020-01-02\n  2020-01-02: x\n", "mapping keys must be plain scalars"),
        ("a:\n  b: !!int abc\n", "'abc' is not a valid !!int"),
        ("a:\n  b: [!!bool maybe]\n", "'maybe' is not a valid !!bool"),
        ("a:\n  !!float x: 1\n", "'x' is not a valid !!float"),
    ],
)
def test_problems_keep_their_located_report(text: str, refusal: str) -> None:
    with pytest.raises(YamlSourceError, match=re.escape(refusal)):
        parse_text(text)
    assert_same(text)


def test_a_tag_on_text_that_is_no_such_value_is_a_located_problem() -> None:
    """PyYAML's constructors raise ValueError or KeyError on "!!int abc" or "!!bool maybe": reported as any other
    problem in a file (it was an internal error of dbstack), at the value, with its field."""
    with pytest.raises(YamlSourceError, match=r"^'abc' is not a valid !!int$") as caught:
        parse_text("a:\n  b: [1, !!int abc]\n")
    assert (caught.value.line, caught.value.column, caught.value.field) == (2, 10, "a.b.1")
    with pytest.raises(YamlSourceError, match=r"^'xxxxxxxxxx.{30}\.\.\.' is not a valid !!float$"):
        parse_text("a: !!float " + "x" * 500 + "\n")  # the text shown is cut short


def test_safe_load_refuses_a_tag_on_text_that_is_no_such_value_with_a_yaml_error() -> None:
    """safe_load's callers (a rendered compose_fragment, a compose.yaml in a user's folder) handle a YAMLError: PyYAML's
    constructors raise ValueError, KeyError or AttributeError on these, which were an internal error of dbstack."""
    for text, reason in [
        ("a: !!int abc", "invalid literal for int"),
        ("a: !!bool maybe", "'maybe'"),
        ("a: [!!timestamp x]", "'NoneType' object has no attribute"),
        ("a: !!timestamp 2020-13-45", "month must be in 1..12"),
        ("a: !!float", "string index out of range"),
    ]:
        with pytest.raises(yaml.YAMLError, match=rf"^a tagged value cannot be read \(.*{re.escape(reason)}"):
            safe_load(text)


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
    with pytest.raises(YamlSourceError, match="is not allowed"):
        parse_text(text if text.startswith("a:") else f"a: {text}")


def test_the_loaders_are_pyyaml_safe_loaders() -> None:
    """_Loader adds only tag resolution to PyYAML's safe loader: no constructor of its own (a Python object could
    come from one), and the safe constructor's table, not a wider one."""
    assert issubclass(_Loader, yaml.CSafeLoader)
    assert issubclass(PureCatalogLoader, yaml.SafeLoader)
    own = {name for cls in (_CatalogResolver, _Loader) for name in vars(cls) if not name.startswith("__")}
    assert own == {"resolve", "descend_resolver", "ascend_resolver"}
    assert _Loader.yaml_constructors is yaml.SafeLoader.yaml_constructors
    assert _Loader.yaml_multi_constructors is yaml.SafeLoader.yaml_multi_constructors


def test_no_yaml_loading_bypasses_the_safe_loaders() -> None:
    """Every YAML read in dbstack goes through yaml_source (parse_text, safe_load), its one safe loader: a yaml.load,
    yaml.load_all or Loader= anywhere else could name an unsafe loader, and a yaml.safe_load would read with
    PyYAML's own resolver and limits instead of dbstack's."""
    root = Path(__file__).resolve().parent.parent
    unsafe = re.compile(r"yaml\.(load|load_all|(?:full|unsafe)_load|safe_load|safe_load_all|compose|parse)\(|Loader=")
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("loader", "render", "sandbox", "stack")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "loader" / "yaml_source.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if unsafe.search(line)
    ]
    assert found == []


def test_no_python_file_names_an_unsafe_yaml_loader() -> None:
    """Tests, benchmarks and CI read YAML with PyYAML's own loaders (to compare with), the safe ones only: none of
    the loaders or functions that build Python objects is named anywhere (the pattern is built from parts so that
    this test does not find itself)."""
    root = Path(__file__).resolve().parent.parent
    names = ("Unsafe" + "Loader", "Full" + "Loader", "unsafe" + "_load", "full" + "_load", r"yaml\.C?" + r"Loader\b")
    unsafe = re.compile("|".join(names))
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if not {".venv", "build", ".git", "node_modules"} & set(path.relative_to(root).parts)
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if unsafe.search(line)
    ]
    assert found == []
