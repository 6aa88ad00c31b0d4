"""Data files dbstack checks on every run (an app definition, a deployment environment), through the cache.

The cache of checked files (loader/cache.py) keeps the data of a file that passed every check, keyed by dbstack's
rules (its code, schema and templates), the file's resolved path and its bytes: a run that finds the same file
takes the data as checked, without the YAML parser, the schema validator or the checks. A file with a problem is
never stored. Each kind of file hashes its own prefix before the bytes, so data checked as one kind (a catalog
entry) is never taken for another (an app): the prefixes hold a NUL, which no YAML file does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .cache import entry_cache, entry_key
from .errors import CatalogError, Problem
from .yaml_source import LocatedDocument, decode, parse_mapping, read_bytes

T = TypeVar("T")


def load_checked(
    path: Path,
    kind: str,
    check: Callable[[LocatedDocument], list[Problem]],
    build: Callable[[dict[str, Any]], T],
) -> T:
    """What ``build`` makes of the YAML mapping in ``path`` once ``check`` finds no problem in it (CatalogError
    otherwise; YamlSourceError when it cannot be read or parsed). Cached data that ``build`` refuses is ignored."""
    raw = read_bytes(path)
    entries = entry_cache()
    resolved = path.resolve()
    key = entry_key(resolved, f"dbstack {kind}\0".encode() + raw) if entries is not None else ""
    try:
        cached = entries.get(resolved, key) if entries is not None else None
        if cached is not None:
            try:
                return build(cached)
            except Exception:  # not what a checked file gives: check the file itself
                pass
        doc = parse_mapping(decode(raw))
        problems = check(doc)
        if problems:
            raise CatalogError(problems)
        result = build(doc.data)
        if entries is not None and _json_round_trips(doc.data):
            entries.put(resolved, key, doc.data)
        return result
    finally:
        if entries is not None:
            entries.save()  # only if a line changed (stored, or dropped as stale)


def _json_round_trips(data: dict[str, Any]) -> bool:
    """Whether the data reads back from JSON as it is (keys that are not strings, dates or NaN would not)."""
    try:
        return bool(json.loads(json.dumps(data)) == data)
    except (TypeError, ValueError):
        return False
