"""A cache of validated catalog entries, so that a command does not parse and check every file on every run.

Where: ``$XDG_CACHE_HOME/dbstack`` (else ``~/.cache/dbstack``), a folder of mode 0700. ``DBSTACK_NO_CACHE=1``
turns it off (nothing read, nothing written).

What: one file per catalog folder (named by a hash of the folder's resolved path), holding one line per catalog
file of that folder that passed every check of ``validation.check_entry``. A file with a problem is never stored:
it is checked again on every run (and a line it had when it was valid is dropped). A line is a JSON header, a tab
(JSON escapes every tab inside its strings) and the entry's data as JSON:

    {"format":2,"name":"<catalog file name>","key":"<sha256>","digest":"<sha256 of the data text>"}\t{...data...}

The key is a hash of every file of dbstack's code (its version included), schema and templates (the rules an
entry was checked by), of the catalog file's resolved path (its id must equal its name) and of the catalog
file's bytes: any change to one of them misses, and only the changed file is checked again. A run reads a
folder's cache file once, and writes it once (``save``), atomically (a temporary file renamed over it), only if
a line changed (where `catalog validate` shares its checks among processes, each hands its lines to the one that
writes); lines another process wrote meanwhile are kept unless this run replaced or dropped them. Two runs
writing at once: the last one wins, and each line still carries its own key and digest.

Trust: the data is JSON (never pickle: reading it runs no code) and is read only from a folder that is the
user's own, not a symlink, and open to nobody else (mode 0700), from a regular file (opened without following
symlinks) owned by the user and writable by nobody else; a line whose key or digest does not match, that is not
what this module writes (a truncated one included), or whose data is not what a checked entry gives (an id
that is not its file's name; for loading, data that does not build an entry) is ignored (and rewritten). The
data then goes where a freshly checked entry's goes: templates still render in the sandbox.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from .resources import package_folder

NO_CACHE_ENV = "DBSTACK_NO_CACHE"
FORMAT = 2  # 1: a file per catalog file; 2: a file per catalog folder, a line per entry
# a catalog file is at most 1 MiB and its data as JSON of the same order; a folder's cache file holds one line per
# file (a few KiB each for entries like the built-in ones): a larger cache file is not read (its files are checked)
MAX_CACHE_FILE_BYTES = 256 * 1024 * 1024
# What decides whether an entry is valid, beside the entry itself: dbstack's code (its version included),
# schema and templates, as (folder in the package, file-name suffix, whether to descend into sub-folders).
# (The catalog and apps folders are not among them: each catalog file is keyed by its own content.)
_RULE_FILES = (
    ("", ".py", False),
    ("loader", ".py", False),
    ("render", ".py", False),
    ("sandbox", ".py", False),
    ("schema", ".json", False),
    ("render/templates", "", True),
    ("render/environments", "", False),
)


def enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") not in ("1", "true", "yes")


def cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/dbstack, else ~/.cache/dbstack; None when there is no home to put it in."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base and os.path.isabs(base):  # the XDG spec: a relative path is invalid and must be ignored
        return Path(base) / "dbstack"
    try:
        return Path.home() / ".cache" / "dbstack"
    except (RuntimeError, KeyError):  # no HOME and no password entry
        return None


def _package_root() -> Path:
    return package_folder()


def _rule_files() -> Iterator[tuple[str, Path]]:
    """Every rule file of the installed package, by its path in the package, in a fixed order."""
    package = _package_root()

    def walk(folder: Path, name: str, suffix: str, recursive: bool) -> Iterator[tuple[str, Path]]:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith(suffix):
                yield f"{name}{entry.name}", entry
            elif recursive and entry.is_dir() and entry.name != "__pycache__":
                yield from walk(entry, f"{name}{entry.name}/", suffix, recursive)

    for folder, suffix, recursive in _RULE_FILES:
        node = package.joinpath(*folder.split("/")) if folder else package
        if node.is_dir():
            yield from walk(node, f"{folder}/" if folder else "", suffix, recursive)


@cache
def rules_fingerprint() -> bytes:
    """A hash of dbstack's version and of every file holding the rules an entry is checked by."""
    digest = hashlib.sha256(f"dbstack cache format {FORMAT}\0".encode())
    for name, resource in _rule_files():
        digest.update(f"{name}\0".encode())
        digest.update(hashlib.sha256(resource.read_bytes()).digest())
    return digest.digest()


def entry_key(resolved: Path, content: bytes) -> str:
    """The key of a catalog file, by its resolved path and its content."""
    digest = hashlib.sha256(rules_fingerprint())
    digest.update(os.fsencode(resolved) + b"\0")
    digest.update(content)
    return digest.hexdigest()


def entry_cache() -> EntryCache | None:
    """The user's entry cache, or None when it is turned off (DBSTACK_NO_CACHE=1) or has no place."""
    folder = cache_dir() if enabled() else None
    return EntryCache(folder) if folder is not None else None


def _trusted_dir(folder: Path) -> bool:
    """The folder is the user's own, a real folder, and nobody else may read or write in it."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


class _Bundle:
    """The cache file of one catalog folder: its entry lines by catalog file name, as read (checked on use)."""

    def __init__(self, lines: dict[str, bytes]) -> None:
        self.lines = lines
        self.changed: dict[str, bytes | None] = {}  # name -> its new line, or None: dropped (stale or broken)


class EntryCache:
    """Validated catalog data by catalog file; ``get`` answers None for anything not certainly valid. ``put``
    keeps the data in memory; ``save`` writes each folder's cache file that changed, once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._usable: bool | None = None
        self._bundles: dict[Path, _Bundle] = {}

    def _file(self, resolved: Path) -> Path:
        """The cache file of the folder holding the catalog file ``resolved``."""
        return self._folder_file(resolved.parent)

    def _folder_file(self, catalog_folder: Path) -> Path:
        name = hashlib.sha256(os.fsencode(catalog_folder)).hexdigest()[:40]
        return self.folder / f"{name}.json"

    def usable(self, create: bool = False) -> bool:
        if self._usable is None or (create and not self._usable):
            if create:
                with contextlib.suppress(OSError):
                    self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._usable = _trusted_dir(self.folder)
        return self._usable

    def _bundle(self, resolved: Path) -> _Bundle:
        bundle = self._bundles.get(resolved.parent)
        if bundle is None:
            bundle = self._bundles[resolved.parent] = _Bundle(_read_lines(self._file(resolved)))
        return bundle

    def holds(self, resolved: Path) -> bool:
        """Whether there is a line for this catalog file (whether it serves the file's content is for ``get``)."""
        return self.usable() and resolved.name in self._bundle(resolved).lines

    def get(self, resolved: Path, key: str) -> dict[str, Any] | None:
        if not self.usable():
            return None
        bundle = self._bundle(resolved)
        line = bundle.lines.get(resolved.name)
        if line is None:
            return None
        data = _parse(line, key)
        if data is None:  # stale, tampered or broken: not kept (a file with a problem is never cached)
            del bundle.lines[resolved.name]
            bundle.changed[resolved.name] = None
        return data

    def put(self, resolved: Path, key: str, data: dict[str, Any]) -> None:
        """Keep an entry's data, to be written by ``save``."""
        if not self.usable(create=True):
            return
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        header = {"format": FORMAT, "name": resolved.name, "key": key, "digest": hashlib.sha256(payload).hexdigest()}
        line = json.dumps(header, separators=(",", ":")).encode("ascii") + b"\t" + payload
        bundle = self._bundle(resolved)
        bundle.lines[resolved.name] = bundle.changed[resolved.name] = line

    def changes(self, files: Iterable[Path]) -> list[tuple[Path, bytes | None]]:
        """What ``put`` and ``get`` changed for these catalog files (by resolved path): each one's new line, or None
        where its line was dropped; for another process's cache to ``adopt``."""
        found: list[tuple[Path, bytes | None]] = []
        for resolved in files:
            bundle = self._bundles.get(resolved.parent)
            if bundle is not None and resolved.name in bundle.changed:
                found.append((resolved, bundle.changed[resolved.name]))
        return found

    def adopt(self, changes: Iterable[tuple[Path, bytes | None]]) -> None:
        """Take on what another process's cache changed (see ``changes``), to be written by ``save``."""
        for resolved, line in changes:
            if not self.usable(create=line is not None):
                continue
            bundle = self._bundle(resolved)
            _set_line(bundle.lines, resolved.name, line)
            bundle.changed[resolved.name] = line

    def save(self) -> None:
        """Write each folder's cache file that changed, atomically; a cache that cannot be written is simply not
        used. Another process may have written the file since it was read: its entries are kept unless this run
        replaced or dropped them (if two runs write at once, the last one wins: every entry carries its own key)."""
        for catalog_folder, bundle in self._bundles.items():
            if not bundle.changed or not self.usable():
                continue
            target = self._folder_file(catalog_folder)
            lines = _read_lines(target)
            for name, line in bundle.changed.items():
                _set_line(lines, name, line)
            # entries of files no longer there go (a folder's cache file does not grow for ever); the folder is
            # listed once rather than each name looked up (a system call per entry)
            present = _names_in(catalog_folder, lines)
            kept = [line for name, line in lines.items() if name in present]
            if sum(len(line) + 1 for line in kept) <= MAX_CACHE_FILE_BYTES:  # else it would not be read
                _write_atomically(target, kept)
            bundle.changed = {}


def _set_line(lines: dict[str, bytes], name: str, line: bytes | None) -> None:
    """A catalog file's new line, or None: its line dropped."""
    if line is None:
        lines.pop(name, None)
    else:
        lines[name] = line


def _names_in(folder: Path, names: Iterable[str]) -> set[str]:
    """Which of ``names`` the folder holds (broken symlinks included, as os.path.lexists sees them); nothing if it is
    gone. A folder one may enter but not list (mode --x) is asked name by name."""
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()
    except OSError:
        return {name for name in names if os.path.lexists(folder / name)}


def _read_lines(path: Path) -> dict[str, bytes]:
    """The entry lines of a cache file by catalog file name, if the file is a regular file of the user's that
    nobody else may write (never through a symlink); nothing otherwise. Lines are checked when used."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # missing, or a symlink (ELOOP)
        return {}
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or info.st_mode & 0o022
            or info.st_size > MAX_CACHE_FILE_BYTES
        ):
            return {}
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_CACHE_FILE_BYTES + 1)
    except OSError:
        return {}
    finally:
        os.close(fd)
    lines: dict[str, bytes] = {}
    for line in raw.split(b"\n"):
        header, tab, _ = line.partition(b"\t")
        try:
            name = json.loads(header).get("name") if tab else None
        except (ValueError, AttributeError, RecursionError):
            continue
        if isinstance(name, str):
            lines[name] = line
    return lines


def _write_atomically(target: Path, lines: list[bytes]) -> None:
    # Named by this process, thread and target (the folder is the user's alone): mkstemp's random names cost more
    # than the write did when there was a file per entry. Never a symlink; 0600 when created.
    temporary = target.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{target.name}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            for line in lines:  # not joined first: a copy of the whole file was a fifth of a cold run's memory
                handle.write(line)
                handle.write(b"\n")
        os.replace(temporary, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _parse(line: bytes, key: str) -> dict[str, Any] | None:
    """The data of an entry line, or None if it is not exactly what ``put`` writes for this key."""
    header_text, tab, payload = line.partition(b"\t")
    if not tab:
        return None
    try:
        header = json.loads(header_text)
        if not (
            isinstance(header, dict)
            and header.get("format") == FORMAT
            and header.get("key") == key
            and header.get("digest") == hashlib.sha256(payload).hexdigest()
        ):
            return None
        data = json.loads(payload)
    except ValueError:  # not JSON, not UTF-8, or nested too deep
        return None
    except RecursionError:
        return None
    return data if isinstance(data, dict) else None
