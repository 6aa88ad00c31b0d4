"""A cache of validated catalog entries, so that a command does not parse and check every file on every run.

Where: ``$XDG_CACHE_HOME/dbstack`` (else ``~/.cache/dbstack``), a folder of mode 0700. ``DBSTACK_NO_CACHE=1``
turns it off (nothing read, nothing written).

What: one file per catalog file (named by a hash of the catalog file's resolved path), written only for an
entry that passed every check of ``validation.check_entry``. A file with a problem is never stored: it is
checked again on every run. The file holds a one-line JSON header and then the entry's data as JSON:

    {"format": 1, "key": "<sha256>", "digest": "<sha256 of the data text>"}
    {...the entry's data...}

The key is a hash of every file of dbstack's code (its version included), schema and templates (the rules an
entry was checked by), of the catalog file's resolved path (its id must equal its name) and of the catalog
file's bytes: any change to one of them misses, and only the changed file is checked again.

Trust: the data is JSON (never pickle: reading it runs no code) and is read only from a folder that is the
user's own, not a symlink, and open to nobody else (mode 0700), from a regular file (opened without following
symlinks) owned by the user and writable by nobody else; a header whose key or digest does not match, a file
that is not what this module writes, or data that does not build an entry is ignored (and rewritten). The
data then goes where a freshly checked entry's goes: templates still render in the sandbox.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

NO_CACHE_ENV = "DBSTACK_NO_CACHE"
FORMAT = 1
MAX_CACHE_FILE_BYTES = 8 * 1024 * 1024  # a catalog file is at most 1 MiB; its data as JSON is of the same order
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


def _package_root() -> Traversable:
    return files("dbstack")


def _rule_files() -> Iterator[tuple[str, Traversable]]:
    """Every rule file of the installed package, by its path in the package, in a fixed order."""
    package = _package_root()

    def walk(folder: Traversable, name: str, suffix: str, recursive: bool) -> Iterator[tuple[str, Traversable]]:
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


class EntryCache:
    """Validated catalog data by catalog file; ``get`` answers None for anything not certainly valid."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._usable: bool | None = None

    def _file(self, resolved: Path) -> Path:
        name = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:40]
        return self.folder / f"{name}.json"

    def usable(self, create: bool = False) -> bool:
        if self._usable is None or (create and not self._usable):
            if create:
                with contextlib.suppress(OSError):
                    self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._usable = _trusted_dir(self.folder)
        return self._usable

    def get(self, resolved: Path, key: str) -> dict[str, Any] | None:
        if not self.usable():
            return None
        try:
            fd = os.open(self._file(resolved), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # missing, or a symlink (ELOOP)
            return None
        try:
            info = os.fstat(fd)
            if (
                not stat.S_ISREG(info.st_mode)
                or info.st_uid != os.getuid()
                or info.st_mode & 0o022
                or info.st_size > MAX_CACHE_FILE_BYTES
            ):
                return None
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(MAX_CACHE_FILE_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        return _parse(raw, key)

    def put(self, resolved: Path, key: str, data: dict[str, Any]) -> None:
        """Store an entry's data; a cache that cannot be written is simply not used."""
        if not self.usable(create=True):
            return
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        header = {"format": FORMAT, "key": key, "digest": hashlib.sha256(payload).hexdigest()}
        target = self._file(resolved)
        # Named by this process and the target (the folder is the user's alone, and a process writes one entry at
        # a time): mkstemp's random names cost more than the write. Never a symlink; 0600 when created.
        temporary = self.folder / f".tmp-{os.getpid()}-{target.name}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(header).encode("ascii") + b"\n" + payload)
            os.replace(temporary, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _parse(raw: bytes, key: str) -> dict[str, Any] | None:
    """The data of a cache file, or None if it is not exactly what ``put`` writes for this key."""
    header_text, newline, payload = raw.partition(b"\n")
    if not newline:
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
