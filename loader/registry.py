"""DatabaseAdapterRegistry: the built-in catalog plus user folders, loaded, validated and indexed."""

from __future__ import annotations

import difflib
import gc
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from .cache import EntryCache, entry_cache, entry_key
from .errors import CatalogError, DbstackError, Problem, UnknownDatabaseError
from .model import CAPABILITY_NAMES, ROLE_NAMES, DatabaseSpec
from .resources import package_folder
from .yaml_source import LocatedDocument, Path_, Position, YamlSourceError, decode, parse_mapping, read_bytes

if TYPE_CHECKING:  # the adapter (and the Jinja sandbox behind it) is imported when one is asked for
    from .adapter import DatabaseAdapter

BUILTIN_CATALOG = package_folder("catalog")
CATALOG_PATH_ENV = "DBSTACK_CATALOG_PATH"
CATALOG_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CachedEntry:
    """What checking a catalog keeps of an entry: the values the checks across files use. `catalog validate` uses
    no entry: keeping each one was two fifths of its memory, and building it (a DatabaseSpec) a twentieth of a
    cold run's time. No entry is built: every entry that passes the checks builds one (the schema says what may
    be left out, and building reads nothing else: tests/test_cache.py tries each built-in entry without each of
    its keys), and an entry the cache vouches for passed every check when it was stored (the cache stores nothing
    else), with the same rules (dbstack's code is in the key), and its digest says it is that data."""

    id: str
    aliases: tuple[str, ...]
    replaces_builtin: bool
    file: Path

    @classmethod
    def from_data(cls, data: dict[str, Any], file: Path) -> CachedEntry | None:
        aliases, replaces = data.get("aliases", []), data.get("replaces_builtin", False)
        if (
            data.get("id") != file.stem
            or not isinstance(aliases, list)
            or not all(isinstance(alias, str) for alias in aliases)
            or not isinstance(replaces, bool)
        ):
            return None  # not what a checked entry gives: its file is checked
        return cls(file.stem, tuple(aliases), replaces, file)


Entry = TypeVar("Entry", bound="DatabaseSpec | CachedEntry")


@dataclass
class LoadResult(Generic[Entry]):
    """What loading found: valid entries by id, and every problem with its location."""

    specs: dict[str, Entry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    replaced: dict[str, Path] = field(default_factory=dict)  # id -> the built-in file a user entry replaced


def env_catalog_folders() -> list[Path]:
    value = os.environ.get(CATALOG_PATH_ENV, "")
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def _suffix(name: str) -> str:
    """A file name's suffix as Path.suffix reads it (``..yaml`` has one; os.path.splitext says it has none)."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _resolved_catalog_files(path: Path) -> tuple[list[CatalogFile], Problem | None]:
    """The catalog files a path names (itself, or the YAML files of a folder), each with its resolved path. A
    folder's files resolve as the folder does, unless the
    file is a symlink itself: resolving each file's full path again was a fifth of a warm load. The folder is read
    with os.scandir, which says what is a regular file or a symlink without a system call per file."""
    if path.is_dir():
        folder = path.resolve()
        found = []
        with os.scandir(path) as listing:
            for item in listing:
                if _suffix(item.name) not in CATALOG_SUFFIXES:
                    continue
                try:
                    if not item.is_file():  # following a symlink, as Path.is_file
                        continue
                    link = item.is_symlink()
                except OSError:
                    continue
                file = path / item.name
                found.append(CatalogFile(file, file.resolve() if link else folder / item.name, link))
        return sorted(found), None
    if path.is_file():
        return [CatalogFile(path, path.resolve(), path.is_symlink())], None
    return [], Problem(path, None, None, "", "no such file or folder", "DBS002")


class CatalogFile(NamedTuple):
    path: Path
    resolved: Path
    link: bool  # the file is a symlink


Locate = Callable[[Path_], Position]  # where a value of an entry stands (for problems found across files)


def load_file(path: Path) -> tuple[DatabaseSpec | None, LocatedDocument | None, list[Problem]]:
    """Read and check one catalog file, every check, no cache."""
    try:
        doc, problems = _checked_document(path, decode(read_bytes(path)))
    except YamlSourceError as exc:
        return None, None, [exc.problem(path)]
    return (None if problems else DatabaseSpec.from_data(doc.data, path)), doc, problems


def _checked_document(path: Path, text: str) -> tuple[LocatedDocument, list[Problem]]:
    from .validation import check_entry

    doc = parse_mapping(text)
    return doc, check_entry(path, doc)


class Outcome(NamedTuple):
    """What loading one catalog file gives."""

    entry: DatabaseSpec | CachedEntry | None  # a CachedEntry for `catalog validate`; None: a problem
    locate: Locate
    problems: list[Problem]
    checked: bool  # parsed and checked, not served from the cache


def _load_entry(path: Path, resolved: Path, entries: EntryCache | None, validating: bool) -> Outcome:
    """One catalog file, from the cache when its content (and dbstack's rules) are those it was checked with:
    the DatabaseSpec it builds, or its CachedEntry if ``validating``."""
    try:
        raw = read_bytes(path)
        served, key = _served(path, resolved, raw, entries, validating)
        if served is not None:
            return served
        doc, problems = _checked_document(path, decode(raw))
    except YamlSourceError as exc:
        return Outcome(None, _nowhere, [exc.problem(path)], True)
    if problems:
        return Outcome(None, _locate_later(path), problems, True)
    # `catalog validate` builds no entry (see CachedEntry); a checked id is the file's name (DBS102)
    kept = CachedEntry.from_data(doc.data, path) if validating else DatabaseSpec.from_data(doc.data, path)
    if entries is not None:
        entries.put(resolved, key, doc.data)
    # a position is wanted only for a problem across files (a clash of ids or aliases): rare, so the file is
    # parsed again then rather than positions taken now for every entry
    return Outcome(kept, _locate_later(path), problems, True)


def _served(
    path: Path, resolved: Path, raw: bytes, entries: EntryCache | None, validating: bool
) -> tuple[Outcome | None, str]:
    """What the cache serves for a file's bytes (its CachedEntry if ``validating``; None: a miss), and their key."""
    if entries is None:
        return None, ""
    key = entry_key(resolved, raw)
    cached = entries.get(resolved, key)
    entry = None
    if cached is not None:
        entry = CachedEntry.from_data(cached, path) if validating else _spec_from_cache(cached, path)
    return (Outcome(entry, _locate_later(path), [], False) if entry is not None else None), key


# The fewest files a share of the checks (loader/workers.py) gets, so that sharing starts with more than 2 x 50
# files to check: forking and sending a share's results back cost about what checking 3 files does, and a small
# share ends long before the others.
LEAST_FILES_PER_SHARE = 50


def _check_in_workers(files: Sequence[tuple[Path, Path]], entries: EntryCache | None) -> dict[Path, Outcome]:
    """`catalog validate`'s outcomes (by resolved path) of the files it could share among processes: where more
    than 2 x LEAST_FILES_PER_SHARE files are not served by the cache and there are CPUs to share them, those
    files checked by several processes at once, one share each, and the others served from the cache; with too
    few files to check, those the cache serves; nothing with too few files or one CPU. The caller loads the files
    missing here (those of a share whose process failed, too)."""
    if len(files) < 2 * LEAST_FILES_PER_SHARE:
        return {}
    from .workers import available_workers, run_shares, shares  # here: no other command forks

    workers = available_workers()
    if workers < 2:
        return {}
    done: dict[Path, Outcome] = {}
    unchecked = []
    for path, resolved in files:
        served = None
        if entries is not None and entries.holds(resolved):  # else not read now: its share reads it
            with suppress(YamlSourceError):  # reported where the file is loaded
                served, _ = _served(path, resolved, read_bytes(path), entries, True)
        if served is None:
            unchecked.append((path, resolved))
        else:
            done[resolved] = served
    parts = shares(unchecked[1:], workers, LEAST_FILES_PER_SHARE)
    if len(parts) < 2:
        return done
    # The first file is checked here, before forking: that imports and builds what the checks use (the schema's
    # validator, the sandbox and Jinja, RE2), which each process did again otherwise (~30 ms of CPU each)
    path, resolved = unchecked[0]
    done[resolved] = _load_entry(path, resolved, entries, True)
    for part, data in zip(parts, run_shares(parts, partial(_check_share, entries, os.getpid())), strict=True):
        if data is not None:  # else its process failed: the files are loaded again, here
            done.update(_read_share(data, part, entries))
    return done


def _check_share(entries: EntryCache | None, caller: int, part: Sequence[tuple[Path, Path]]) -> bytes:
    """A share of `catalog validate`'s files loaded: a line of JSON with each file's outcome, then, from another
    process than ``caller`` (whose ``entries`` have them already), a line per file with its new cache line ("-"
    where its line was dropped, nothing where it did not change). Cache lines hold no newline (JSON escapes it) and
    go as they are: as JSON strings, their quotes escaped, they cost a tenth of the run."""
    outcomes = []
    garbage = _YoungGarbage()
    for path, resolved in part:
        outcome = _load_entry(path, resolved, entries, True)
        garbage.after(outcome.checked)
        entry = outcome.entry
        assert entry is None or isinstance(entry, CachedEntry)
        outcomes.append(
            [
                [entry.id, entry.aliases, entry.replaces_builtin] if entry is not None else None,
                [{**asdict(p), "file": str(p.file) if p.file else None} for p in outcome.problems],
                outcome.checked,
            ]
        )
    garbage.end()  # this process's checks leave no garbage behind them (a large catalog is then frozen)
    changed = {}
    if entries is not None and os.getpid() != caller:
        changed = dict(entries.changes(resolved for _, resolved in part))
    lines = [b"" if resolved not in changed else changed[resolved] or b"-" for _, resolved in part]
    return b"\n".join([json.dumps(outcomes).encode("ascii"), *lines])


def _read_share(data: bytes, part: Sequence[tuple[Path, Path]], entries: EntryCache | None) -> dict[Path, Outcome]:
    """What _check_share gave for ``part``, as _load_entry gives it (the cache lines taken on by ``entries``)."""
    first, *lines = data.split(b"\n")
    done: dict[Path, Outcome] = {}
    changes: list[tuple[Path, bytes | None]] = []
    for (path, resolved), (entry, problems, checked), line in zip(part, json.loads(first), lines, strict=True):
        kept = CachedEntry(entry[0], tuple(entry[1]), entry[2], path) if entry is not None else None
        found = [Problem(**{**p, "file": Path(p["file"]) if p["file"] is not None else None}) for p in problems]
        done[resolved] = Outcome(kept, _locate_later(path), found, checked)
        if line:
            changes.append((resolved, None if line == b"-" else line))
    if entries is not None:
        entries.adopt(changes)
    return done


def _spec_from_cache(data: dict[str, Any], path: Path) -> DatabaseSpec | None:
    """The entry cached data builds, or None: data that is not what a checked entry gives is not used."""
    if data.get("id") != path.stem:
        return None
    try:
        return DatabaseSpec.from_data(data, path)
    except Exception:
        return None


def _nowhere(where: Path_) -> Position:
    return Position(1, 1)


def _locate_in(doc: LocatedDocument | None) -> Locate:
    """Where the values a problem across files can name stand (id, replaces_builtin, aliases), taken now:
    keeping every document's positions until the whole catalog is read would double the memory it takes."""
    if doc is None:
        return _nowhere
    aliases = doc.data.get("aliases")
    wheres: list[Path_] = [("id",), ("replaces_builtin",)]
    wheres += [("aliases", index) for index in range(len(aliases) if isinstance(aliases, list) else 0)]
    known = {where: doc.position(where) for where in wheres}
    return lambda where: known[where] if where in known else _nowhere(where)


def _locate_later(path: Path) -> Locate:
    """Positions for an entry: its file is parsed again only if a problem needs one."""

    @cache
    def document() -> LocatedDocument | None:
        try:
            return parse_mapping(decode(read_bytes(path)))
        except YamlSourceError:  # changed since: the problem is still reported, at the top of the file
            return None

    return lambda where: _locate_in(document())(where)


def load_catalog(user_paths: Iterable[Path] = (), *, builtin: bool = True) -> LoadResult[DatabaseSpec]:
    """Load the built-in catalog (unless ``builtin`` is False) and then each user path, in order."""
    with _young_garbage_collection():
        return _load_catalog(user_paths, builtin, validating=False)


def check_catalog(user_paths: Iterable[Path] = ()) -> LoadResult[CachedEntry]:
    """What load_catalog finds (every problem, the same files and ids), with each entry as a CachedEntry (see
    there). For `catalog validate`, which reports and uses no entry: many files not in the cache are checked by
    several processes at once (see _check_in_workers)."""
    with _young_garbage_collection():
        return _load_catalog(user_paths, True, validating=True)


@contextmanager
def _young_garbage_collection() -> Iterator[None]:
    """Loading builds many long-lived objects and few cycles: Python's collector would walk every one of them
    again and again (a third of the loading time, measured). Off while loading, but for the young objects
    every GC_EVERY files checked, so that Jinja's cyclic garbage still goes (an entry served from the cache
    leaves none). A large catalog is then frozen (see _load_catalog)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


GC_EVERY = 200


class _YoungGarbage:
    """The young objects' collection every GC_EVERY files checked (see _young_garbage_collection)."""

    def __init__(self) -> None:
        self.checked = 0

    def after(self, checked: bool) -> None:
        self.checked += checked
        if checked and self.checked % GC_EVERY == 0:
            gc.collect(1)

    def end(self) -> None:
        """The garbage of the files checked since the last collection goes too."""
        if self.checked % GC_EVERY:
            gc.collect(1)


def _load_catalog(user_paths: Iterable[Path], builtin: bool, validating: bool) -> LoadResult[Any]:
    result: LoadResult[Any] = LoadResult()
    aliases: dict[str, Locate] = {}  # where each entry's aliases stand, for clash reports
    entries = entry_cache()
    builtin_ids: set[str] = set()
    sources: list[tuple[Path, bool]] = [(BUILTIN_CATALOG, True)] if builtin else []
    sources += [(Path(p), False) for p in user_paths]
    listings = [(_resolved_catalog_files(source), is_builtin) for source, is_builtin in sources]
    # A symlink to a file also listed by its own name is that file (else a link listed first, named otherwise,
    # was the one loaded: an id that is not its file's name, and the entry lost)
    real = {file.resolved for (files, _), _ in listings for file in files if not file.link}
    seen: set[Path] = set()
    listed: list[Problem | tuple[Path, Path, bool]] = []  # each source's problem or files, in order
    for (files, problem), is_builtin in listings:
        if problem:
            listed.append(problem)
        for path, resolved, link in files:
            if resolved not in seen and not (link and resolved in real):  # a folder named twice, a file named again
                seen.add(resolved)
                listed.append((path, resolved, is_builtin))
    files_to_load = [(item[0], item[1]) for item in listed if not isinstance(item, Problem)]
    done = _check_in_workers(files_to_load, entries) if validating else {}
    garbage = _YoungGarbage()
    for item in listed:
        if isinstance(item, Problem):
            result.problems.append(item)
            continue
        path, resolved, is_builtin = item
        result.files.append(path)
        outcome = done.get(resolved)
        if outcome is None:
            outcome = _load_entry(path, resolved, entries, validating)
            garbage.after(outcome.checked)
        result.problems.extend(outcome.problems)
        if outcome.entry is not None:
            _add(result, aliases, builtin_ids, outcome.entry, outcome.locate, is_builtin)
    _check_aliases(result, aliases)
    if entries is not None:
        entries.save()
    if len(result.files) >= GC_EVERY:
        # What is left after the checks' last garbage went (the loaded catalog above all) is frozen: later
        # collections no longer walk it (they did: a third of a warm run's time). The price, paid only for a
        # large catalog: a cycle that was garbage already when the load ended is never collected.
        garbage.end()
        gc.freeze()
    return result


def _add(
    result: LoadResult[Any],
    aliases: dict[str, Locate],
    builtin_ids: set[str],
    spec: DatabaseSpec | CachedEntry,
    locate: Locate,
    is_builtin: bool,
) -> None:
    existing = result.specs.get(spec.id)
    if spec.replaces_builtin and (is_builtin or spec.id not in builtin_ids):
        pos = locate(("replaces_builtin",))
        reason = "a built-in entry cannot replace another" if is_builtin else f"there is no built-in entry {spec.id!r}"
        result.problems.append(Problem(spec.file, pos.line, pos.column, "replaces_builtin", reason, "DBS103"))
        return
    if existing is not None:
        if spec.replaces_builtin and existing.id in builtin_ids and not existing.replaces_builtin:
            result.replaced[spec.id] = existing.file
            result.specs[spec.id], aliases[spec.id] = spec, locate
            return
        pos = locate(("id",))
        hint = "" if spec.replaces_builtin else " (set replaces_builtin: true to replace a built-in entry on purpose)"
        if spec.replaces_builtin:
            hint = " (it was already replaced once)"
        result.problems.append(
            Problem(
                spec.file,
                pos.line,
                pos.column,
                "id",
                f"id {spec.id!r} is already defined in {existing.file}{hint}",
                "DBS103",
            )
        )
        return
    result.specs[spec.id], aliases[spec.id] = spec, locate
    if is_builtin:
        builtin_ids.add(spec.id)


def _check_aliases(result: LoadResult[Any], aliases: Mapping[str, Locate]) -> None:
    owner: dict[str, DatabaseSpec | CachedEntry] = {spec.id: spec for spec in result.specs.values()}
    for spec in list(result.specs.values()):
        for index, alias in enumerate(spec.aliases):
            clash = owner.get(alias)
            if clash is not None and clash is not spec:
                pos = aliases[spec.id](("aliases", index))
                what = "the id" if clash.id == alias else "an alias"
                result.problems.append(
                    Problem(
                        spec.file,
                        pos.line,
                        pos.column,
                        f"aliases.{index}",
                        f"alias {alias!r} is already {what} of {clash.id!r} ({clash.file})",
                        "DBS103",
                    )
                )
            else:
                owner[alias] = spec


class DatabaseAdapterRegistry:
    """All known databases, looked up by id or alias (case-insensitive).

    ``paths`` are catalog folders (or files) added after the built-in catalog and the
    folders in ``DBSTACK_CATALOG_PATH``. Any invalid file makes construction fail with a
    CatalogError that lists every problem.
    """

    def __init__(
        self, paths: Iterable[str | os.PathLike[str]] = (), *, builtin: bool = True, use_env: bool = True
    ) -> None:
        folders = (env_catalog_folders() if use_env else []) + [Path(p) for p in paths]
        loaded = load_catalog(folders, builtin=builtin)
        if loaded.problems:
            raise CatalogError(loaded.problems)
        self._specs: dict[str, DatabaseSpec] = dict(sorted(loaded.specs.items()))
        self._replaced = dict(sorted(loaded.replaced.items()))
        self._names: dict[str, str] = {}
        for spec in self._specs.values():
            for name in (spec.id, *spec.aliases):
                self._names[name.lower()] = spec.id

    def __iter__(self) -> Iterator[DatabaseSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._names

    @property
    def ids(self) -> list[str]:
        return list(self._specs)

    @property
    def replaced(self) -> Mapping[str, Path]:
        """Ids whose built-in entry a user file replaced (``replaces_builtin: true``), with the built-in file."""
        return dict(self._replaced)

    def replacement_notices(self) -> list[str]:
        """One line per replaced built-in: which file replaced which, so a replacement is never silent."""
        return [
            f"{self._specs[id_].file} replaces the built-in entry {id_!r} ({builtin})"
            for id_, builtin in self._replaced.items()
        ]

    def resolve_id(self, name: str) -> str:
        """The id for an id or alias; an unknown name raises with 'did you mean' suggestions."""
        try:
            return self._names[name.lower()]
        except KeyError:
            close = difflib.get_close_matches(name.lower(), list(self._names), n=3, cutoff=0.6)
            suggestions = list(dict.fromkeys(self._names[c] for c in close))
            raise UnknownDatabaseError(name, suggestions, self.ids) from None

    def spec(self, name: str) -> DatabaseSpec:
        return self._specs[self.resolve_id(name)]

    def get_adapter(self, name: str, config: Mapping[str, Any] | None = None) -> DatabaseAdapter:
        """An adapter for the named database with the config checked and defaults filled in."""
        from .adapter import DatabaseAdapter

        return DatabaseAdapter(self.spec(name), config)

    def find(
        self, *, capability: str | None = None, protocol: str | None = None, role: str | None = None
    ) -> list[DatabaseSpec]:
        """Entries that have a capability, speak a protocol and suit a role (all given filters)."""
        if capability is not None and capability not in CAPABILITY_NAMES:
            raise DbstackError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITY_NAMES)}")
        if role is not None and role not in ROLE_NAMES:
            raise DbstackError(f"unknown role {role!r}; known: {', '.join(ROLE_NAMES)}")
        if protocol is not None and protocol.lower() not in self.protocols():
            raise DbstackError(f"no catalog entry speaks {protocol!r}; protocols: {', '.join(self.protocols())}")
        return [
            spec
            for spec in self._specs.values()
            if (capability is None or spec.capabilities.has(capability))
            and (protocol is None or protocol.lower() in spec.protocols)
            and (role is None or role in spec.workload.roles)
        ]

    def protocols(self) -> Sequence[str]:
        return sorted({p for spec in self._specs.values() for p in spec.protocols})
