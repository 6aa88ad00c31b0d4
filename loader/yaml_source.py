"""Safe, located YAML loading for files that may come from strangers.

PyYAML's safe loader still keeps the last of two duplicate keys and expands
aliases without limit, and it forgets where each value came from. This module
composes the node graph with the safe loader and converts it itself: duplicate
keys and non-standard tags are errors, alias expansion is bounded, and every
value's line and column is kept for error messages.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 50_000  # values after alias expansion; a real catalog entry has a few hundred
MAX_DEPTH = 64  # nesting; a real entry goes six deep, and Python's recursion limit is near 1,000
# Catalog integers are ports, sizes and counts. 64 bits is what JSON tools and databases take; it also keeps
# every integer far below Python's 4,300-digit limit on int/str conversion (a longer one was a traceback).
MAX_INTEGER = 2**63 - 1
_MAX_INTEGER_TEXT = 100  # characters of an integer's text (underscores included) read before the range check
_SURROGATE = re.compile("[\ud800-\udfff]")  # "\ud800" in a double-quoted scalar: text no UTF-8 file can hold

Path_ = tuple[str | int, ...]

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"  # an unquoted date stays the text it was written as
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_TYPED_TAGS = _SCALAR_TAGS - {_STR}
# The safe constructor's own function for each typed scalar: what construct_object calls for a scalar node,
# without its bookkeeping for recursive collections.
_SAFE_CONSTRUCTORS = {tag: yaml.constructor.SafeConstructor.yaml_constructors[tag] for tag in _TYPED_TAGS}

try:  # libyaml is faster when present; both are the safe loaders
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

# PyYAML's own table of implicit types (YAML 1.1: yes/no/on/off, 0x1F, 017, 1:20, .inf, ~, 2002-12-14, <<, =):
# per first character of a plain scalar, the (tag, pattern) pairs to try in order, then those for any character.
_IMPLICIT_ANY: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    yaml.resolver.Resolver.yaml_implicit_resolvers.get(None, ())
)
_IMPLICIT_BY_FIRST: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: (*resolvers, *_IMPLICIT_ANY)
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    if first is not None
}


# What _resolve_tag remembers is bounded twice, for a catalog from strangers (thousands of files of up to
# MAX_FILE_BYTES): at most this many (kind, text, implicit) keys, about 300 bytes each with short texts (2.5 MB;
# a catalog file asks about 170 distinct ones, most of them asked by every other file too)...
_RESOLVED_TAGS_KEPT = 8192
# ...and the texts in its keys, references to scalars that outlive their documents, come from at most this many
# characters of YAML text: before a text is composed, it forgets all it holds if, with that text, the texts
# composed since it last did would be longer. So it keeps at most 2 Mi characters of scalar text (one text
# longer than that: that text's alone, while it is composed), 2 MiB (ASCII) to 8 MiB (4 bytes a character at
# most). A catalog file averages 8,000 characters: forgotten every 270 files or so, at the cost of some 2,000
# calls (under 1 ms).
_RESOLVED_TEXT_KEPT = 2 * 1024 * 1024
_composed_since_forgotten = 0
_composed_lock = threading.Lock()


@functools.lru_cache(maxsize=_RESOLVED_TAGS_KEPT)
def _resolve_tag(kind: type[yaml.Node], value: Any, implicit: Any) -> str:
    """PyYAML's tag for a node written without one: the same table, in the same order, as its Resolver (see
    _CatalogResolver), remembered: most texts in a catalog (its keys, most values) recur in every file."""
    if kind is yaml.ScalarNode:
        if implicit[0]:  # a plain scalar (or one tagged "!"): its text may say it is an int, a bool...
            for tag, pattern in _IMPLICIT_BY_FIRST.get(value[:1], _IMPLICIT_ANY):
                if pattern.match(value):
                    return tag
        return _STR
    return _SEQ if kind is yaml.SequenceNode else _MAP


def _count_composed(text: str) -> None:
    """Called before each text is composed: _resolve_tag forgets all it holds if, with this text, the texts
    composed since it last did would exceed _RESOLVED_TEXT_KEPT characters."""
    global _composed_since_forgotten
    with _composed_lock:
        if _composed_since_forgotten + len(text) > _RESOLVED_TEXT_KEPT:
            _resolve_tag.cache_clear()
            _composed_since_forgotten = 0
        _composed_since_forgotten += len(text)


class _CatalogResolver(yaml.resolver.Resolver):
    """PyYAML's resolution of tags, done in one lookup; a base of the safe loader below (either parser).

    The composer asks the loader for the tag of every node that has none written (resolve), and tells it each
    step down and up the document (descend_resolver, ascend_resolver), for "path resolvers": a safe loader has
    none, so those two do nothing here. resolve gives the tag PyYAML's Resolver gives (the same table, in the
    same order; tests/test_yaml_fast.py compares them), without its per-call list building and path checks, and
    remembers it (_resolve_tag): a staticmethod, so that libyaml's composer calls lru_cache's C wrapper itself
    and no Python code runs for a text asked before (97% of the 336,000 calls in a 1,000-entry catalog).
    yaml.compose over the 1,000 files of a synthetic catalog, CPU: 330 ms (PyYAML's Resolver) -> 280 ms (one
    lookup) -> 250 ms (remembered).
    """

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    resolve = staticmethod(_resolve_tag)


class _Loader(_CatalogResolver, _SafeLoader):
    """The safe loader (libyaml's when present), resolving tags as PyYAML's does, faster."""


def safe_load(text: str) -> Any:
    """Plain data from YAML text that needs no positions (a rendered fragment, a compose file dbstack wrote), read
    with the safe loader above and no other: YAML text may come from strangers, and only its plain types load."""
    _count_composed(text)
    try:
        return yaml.load(text, Loader=_Loader)  # dbstack's one yaml.load: _Loader is a SafeLoader (tested)
    except (ValueError, LookupError, AttributeError) as exc:
        # PyYAML's safe constructors fail so on a tag over text that is no such value (!!int abc, !!bool maybe,
        # !!timestamp x): a YAML error like the others for the callers, not an internal error of dbstack
        raise yaml.constructor.ConstructorError(
            None, None, f"a tagged value cannot be read ({str(exc)[:200]})"
        ) from None


class YamlSourceError(Exception):
    """The file is not a YAML document this loader accepts."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, field: str = "") -> None:
        self.line, self.column, self.field = line, column, field
        super().__init__(message)

    def problem(self, path: Path | None) -> Problem:
        """The one conversion of a YAML error into a located problem (rule DBS001)."""
        return Problem(path, self.line, self.column, self.field, str(self), "DBS001")


class EmptyDocument(YamlSourceError):
    """The text holds no YAML document (nothing, or only comments)."""


@dataclass(frozen=True)
class Position:
    line: int
    column: int


class LocatedDocument:
    """Plain data (dicts, lists, scalars) plus where each value and key stands.

    Positions are read from the parser's node graph (0-based marks) only when a problem is reported: most
    documents have none. ``values`` and ``keys`` map every path to its mark, built on first use.
    """

    def __init__(
        self,
        data: Any,
        root: yaml.Node | None = None,
        values: dict[Path_, yaml.Mark] | None = None,
        keys: dict[Path_, yaml.Mark] | None = None,
    ) -> None:
        self.data = data
        self._root = root
        self._values, self._keys = values, keys

    def _located(self) -> tuple[dict[Path_, yaml.Mark], dict[Path_, yaml.Mark]]:
        if self._values is None or self._keys is None:
            converter = _Converter()
            if self._root is not None:
                converter.convert(self._root, ())
            self._values, self._keys = converter.values, converter.keys
        return self._values, self._keys

    @property
    def values(self) -> dict[Path_, yaml.Mark]:
        return self._located()[0]

    @property
    def keys(self) -> dict[Path_, yaml.Mark]:
        return self._located()[1]

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """Position of the deepest known node on ``path`` (the key itself when ``key``)."""
        if self._values is None and self._root is not None:
            return _walk_position(self._root, path, key)
        values, keys = self._located()
        if key and path in keys:
            return _from_mark(keys[path])
        for end in range(len(path), -1, -1):
            if path[:end] in values:
                return _from_mark(values[path[:end]])
        return Position(1, 1)


def _walk_position(root: yaml.Node, path: Path_, key: bool) -> Position:
    """What LocatedDocument.position answers from the full maps, found by walking down the graph of a
    document that converted without a problem (so its keys are unique and every tag is a plain one)."""
    node, key_node = root, None
    for depth, part in enumerate(path):
        child = None
        if isinstance(node, yaml.MappingNode):
            for candidate, value in node.value:
                if _key_text(candidate) == part:
                    child, key_node = value, candidate
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child, key_node = node.value[part], None
        if child is None:
            return _position(node)
        if key and depth == len(path) - 1 and key_node is not None:
            return _position(key_node)
        node = child
    return _position(node)


def _key_text(node: yaml.Node) -> str:
    """A mapping key as the converters read it (text; other plain scalars as their Python text)."""
    if node.tag == _STR:
        return str(node.value)
    return str(yaml.constructor.SafeConstructor().construct_object(node, deep=True))


def _dotted(path: Path_) -> str:
    return ".".join(str(part) for part in path)


def _from_mark(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _position(node: yaml.Node) -> Position:
    return _from_mark(node.start_mark)


class _Converter:
    """The located conversion: every value's and key's mark recorded, each problem reported with its path."""

    def __init__(self) -> None:
        self.values: dict[Path_, yaml.Mark] = {}
        self.keys: dict[Path_, yaml.Mark] = {}
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            pos = _position(node)
            raise YamlSourceError(
                f"document expands to more than {MAX_NODES} values (alias bomb?)", pos.line, pos.column
            )
        if len(path) > MAX_DEPTH:
            pos = _position(node)
            raise YamlSourceError(f"document nests deeper than {MAX_DEPTH} levels", pos.line, pos.column)
        self.values.setdefault(path, node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self._bad_tag(node)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == _STR or node.tag == _TIMESTAMP:  # most values: the text itself, no constructor needed
            return self._text(node, path)
        if node.tag not in _SCALAR_TAGS:
            self._bad_tag(node)
        return self._scalar(node, path)

    @staticmethod
    def _text(node: yaml.ScalarNode, path: Path_) -> str:
        if _SURROGATE.search(node.value):
            pos = _position(node)
            raise YamlSourceError(
                "text holds a lone surrogate (\\ud800-\\udfff): not a Unicode character",
                pos.line,
                pos.column,
                _dotted(path),
            )
        return str(node.value)

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        """A typed scalar (int, float, bool, null), integers checked against MAX_INTEGER before and after reading."""
        if node.tag == _INT and len(node.value) > _MAX_INTEGER_TEXT:
            self._out_of_range(node, path)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, LookupError):  # an explicit tag on text that is no such value: !!int abc, !!bool maybe
            pos = _position(node)
            text = node.value if len(node.value) <= 40 else node.value[:40] + "..."
            kind = node.tag.rsplit(":", 1)[-1]
            raise YamlSourceError(f"{text!r} is not a valid !!{kind}", pos.line, pos.column, _dotted(path)) from None
        if isinstance(value, int) and abs(value) > MAX_INTEGER:
            self._out_of_range(node, path)
        return value

    @staticmethod
    def _out_of_range(node: yaml.Node, path: Path_) -> None:
        pos = _position(node)
        raise YamlSourceError(
            f"integer out of range: catalog integers lie within ±{MAX_INTEGER} (64 bits)",
            pos.line,
            pos.column,
            _dotted(path),
        )

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        if node.tag != _MAP:
            self._bad_tag(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                pos = _position(key_node)
                raise YamlSourceError("merge keys (<<) are not supported", pos.line, pos.column)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                pos = _position(key_node)
                raise YamlSourceError("mapping keys must be plain scalars", pos.line, pos.column)
            key = self._text(key_node, path) if key_node.tag == _STR else str(self._scalar(key_node, path))
            if key in result:
                pos, first = _position(key_node), self.keys[(*path, key)]
                raise YamlSourceError(f"duplicate key {key!r} (first at line {first.line + 1})", pos.line, pos.column)
            self.keys[(*path, key)] = key_node.start_mark
            result[key] = self.convert(value_node, (*path, key))
        return result

    @staticmethod
    def _bad_tag(node: yaml.Node) -> None:
        pos = _position(node)
        raise YamlSourceError(f"tag {node.tag} is not allowed", pos.line, pos.column)


def parse_text(text: str) -> LocatedDocument:
    _count_composed(text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if mark is None:
            raise YamlSourceError(f"invalid YAML: {message}") from None
        raise YamlSourceError(f"invalid YAML: {message}", mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(f"invalid YAML: {exc}") from None
    if node is None:
        raise EmptyDocument("file is empty")
    # A lone surrogate can only come from a \u or \U escape (and only PyYAML's pure-Python parser lets one
    # through): text without one goes the fast way, which then need not look at every string.
    if "\\u" not in text and "\\U" not in text:
        try:
            return LocatedDocument(_PlainConverter().data(node), root=node)
        except Exception:  # anything unusual: the located conversion finds it again and reports it with its path
            pass
    converter = _Converter()
    data = converter.convert(node, ())
    return LocatedDocument(data, values=converter.values, keys=converter.keys)


class _Unusual(Exception):
    """Something the located conversion must look at (and maybe report)."""


class _PlainConverter:
    """The data _Converter gives for a document in which it finds no problem, without recording positions;
    raises on anything it would look at twice: a problem, a limit, a rare tag (then _Converter decides).

    Limits are checked a container at a time: each adds its items to the count of values before they are
    converted, so a count over MAX_NODES is seen before an alias bomb expands (and the total is _Converter's),
    and a container at MAX_DEPTH is handed over before its items would lie deeper. Plain text, most of a
    catalog file, is taken in the loops, without a call per value.

    (A class, not closures: a recursive closure is a reference cycle, and loading runs with the cyclic
    collector paused, so each document's nodes would stay in memory until it next runs.)"""

    def __init__(self) -> None:
        self.count = 1  # the root
        self.constructor = yaml.constructor.SafeConstructor()

    def data(self, root: yaml.Node) -> Any:
        return self.value(root, 0)

    def value(self, node: yaml.Node, depth: int) -> Any:
        kind = type(node)
        if kind is yaml.ScalarNode:
            return node.value if node.tag == _TIMESTAMP else self.scalar(node)
        if kind is yaml.MappingNode:
            return self.mapping(node, depth)
        if kind is yaml.SequenceNode:
            return self.sequence(node, depth)
        raise _Unusual

    def scalar(self, node: yaml.Node) -> Any:
        """A typed scalar (text is taken by the callers), as _Converter._scalar reads it."""
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag not in _TYPED_TAGS or (tag == _INT and len(node.value) > _MAX_INTEGER_TEXT):
            raise _Unusual
        value = _SAFE_CONSTRUCTORS[tag](self.constructor, node)
        if tag == _INT and abs(value) > MAX_INTEGER:
            raise _Unusual
        return value

    def items(self, node: yaml.Node, tag: str, depth: int) -> list[Any]:
        items: list[Any] = node.value
        self.count += len(items)
        if node.tag != tag or self.count > MAX_NODES or depth >= MAX_DEPTH:
            raise _Unusual
        return items

    def mapping(self, node: yaml.Node, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self.items(node, _MAP, depth):
            if type(key_node) is not yaml.ScalarNode:
                raise _Unusual
            key = key_node.value if key_node.tag == _STR else str(self.scalar(key_node))  # merge keys (<<) raise
            if key in result:
                raise _Unusual
            if type(value_node) is yaml.ScalarNode and value_node.tag == _STR:
                result[key] = value_node.value
            else:
                result[key] = self.value(value_node, depth + 1)
        return result

    def sequence(self, node: yaml.Node, depth: int) -> list[Any]:
        return [
            item.value if type(item) is yaml.ScalarNode and item.tag == _STR else self.value(item, depth + 1)
            for item in self.items(node, _SEQ, depth)
        ]


def read_bytes(path: Path) -> bytes:
    """Read a catalog file's bytes: at most 1 MiB."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlSourceError(f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        return path.read_bytes()
    except OSError as exc:
        raise YamlSourceError(f"cannot read: {exc.strerror}") from None


def decode(raw: bytes) -> str:
    """A file's text, UTF-8; the first undecodable byte is located."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlSourceError("file is not valid UTF-8", line, column) from None


def read_text(path: Path) -> str:
    """Read a catalog file: at most 1 MiB, UTF-8."""
    return decode(read_bytes(path))


def parse_mapping(text: str) -> LocatedDocument:
    """Parse a document that must hold a single YAML mapping."""
    doc = parse_text(text)
    if not isinstance(doc.data, dict):
        raise YamlSourceError(f"top level must be a mapping, not {type(doc.data).__name__}", 1, 1)
    return doc


def load_mapping(path: Path) -> LocatedDocument:
    """Load one file that must hold a single YAML mapping."""
    return parse_mapping(read_text(path))
