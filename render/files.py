"""Read and replace files in an output folder: bounded, never through a link, all or nothing.

An output folder is the user's, and may hold anything: a ``.env`` that is a symbolic link
to ``~/.gitconfig``, a named pipe, ``images.lock -> /dev/zero``.  So every read here opens
the name itself (``O_NOFOLLOW``), never blocks (``O_NONBLOCK``), accepts only a regular
file and reads at most ``MAX_READ_BYTES``; every write creates new files beside the old ones
and renames them into place, which replaces a name and never writes through it.

:func:`replace_files` writes several files as one change: every new version and every
backup is written and fsynced first, and only then renamed into place; if anything fails
on the way, what this call wrote is removed (or, after a rename, put back), so a failing
run leaves the folder as it found it.  Secrets are never readable by others: each file is
created with its final mode before a byte is written, whatever the umask, and a folder
this module creates is private (0700).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dbstack.loader.errors import DbstackError

__all__ = [
    "MAX_READ_BYTES",
    "ExistingFile",
    "Replacement",
    "UnsafeFileError",
    "backup_path_for",
    "check_regular",
    "read_regular",
    "replace_files",
    "write_atomic",
]

MAX_READ_BYTES = 1024 * 1024  # a .env, a lock file or a compose file of ours is a few KB
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFileError(DbstackError):
    """A name in an output folder that dbstack will not read or replace (a link, a pipe, too large)."""


@dataclass(frozen=True)
class ExistingFile:
    """What a regular file held when it was read."""

    data: bytes
    mode: int  # permission bits


@dataclass(frozen=True)
class Replacement:
    """A file to (re)write in a folder. ``backup`` keeps the previous version, if there is one."""

    name: str
    data: bytes
    mode: int = 0o600
    backup: bool = True


def check_regular(path: Path, *, dir_fd: int | None = None) -> bool:
    """True if ``path`` is a regular file, False if nothing is there; raises for anything else.

    Looks at the name itself (``lstat``): a symbolic link is refused, even one to a regular file.
    """
    try:
        info = os.stat(path.name if dir_fd is not None else path, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):  # no such file, or its folder is not one
        return False
    _refuse_unless_regular(path, info.st_mode)
    return True


def read_regular(path: Path, *, limit: int = MAX_READ_BYTES, dir_fd: int | None = None) -> ExistingFile | None:
    """The bytes of the regular file at ``path``, or None when nothing is there.

    Never follows a symbolic link at ``path``, never opens a pipe, device or socket (so it
    cannot hang or read without end) and refuses a file over ``limit`` bytes.  With
    ``dir_fd``, ``path.name`` is opened in that folder and ``path`` only names it in messages.
    """
    if not check_regular(path, dir_fd=dir_fd):  # before open(): opening a device can have effects
        return None
    try:
        fd = os.open(path.name if dir_fd is not None else path, _READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):  # replaced by a link since the check
            raise UnsafeFileError(_not_regular(path, "a symbolic link")) from None
        raise
    try:
        info = os.fstat(fd)
        _refuse_unless_regular(path, info.st_mode)
        if info.st_size > limit:
            raise UnsafeFileError(f"{path}: is {info.st_size} bytes; dbstack reads at most {limit}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # the size can grow while we read
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnsafeFileError(f"{path}: is over {limit} bytes; dbstack reads at most {limit}")
        return ExistingFile(b"".join(chunks), stat.S_IMODE(info.st_mode))
    finally:
        os.close(fd)


def _refuse_unless_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISLNK(mode):
        kind = "a symbolic link"
    elif stat.S_ISDIR(mode):
        kind = "a folder"
    elif stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "a device"
    raise UnsafeFileError(_not_regular(path, kind))


def _not_regular(path: Path, kind: str) -> str:
    return f"{path}: is {kind}, not a regular file; dbstack never follows links or opens special files here"


def write_atomic(
    path: str | os.PathLike[str],
    text: str,
    mode: int = 0o600,
    backup: bool = True,
) -> Path | None:
    """Replace the regular file ``path`` with ``text`` (UTF-8) in one step; return the backup made, if any.

    One file through :func:`replace_files`: see there.  A symbolic link or special file at
    ``path`` is refused (UnsafeFileError), never followed.
    """
    target = Path(path)
    backups = replace_files(target.parent, [Replacement(target.name, text.encode("utf-8"), mode, backup)])
    return backups[0] if backups else None


def replace_files(folder: Path, replacements: Sequence[Replacement]) -> list[Path]:
    """Write every replacement into ``folder`` as one change; return the backups made.

    1. create ``folder`` if needed (0700; missing parents 0755, narrowed by the umask);
    2. write each new version to a temporary file beside its target, created with the final
       mode before any content, and fsync it;
    3. for each target that exists and asks for it, write a backup ``NAME.bak-YYYYmmddTHHMMSSZ``
       (``-1``, ``-2``, ... on a clash; an older backup is never overwritten): a new file holding
       the old bytes, never more open than the old file nor than the new one (a backup of a
       0644 ``.env`` is 0600), always readable by its owner;
    4. rename every temporary file over its target.

    A failure in steps 1-3 removes everything this call created (the folders included); a
    failure in step 4 also puts the files already renamed back as they were.  Every target
    must be a regular file or absent, checked again here (UnsafeFileError otherwise).  An
    OSError comes back as a DbstackError naming the file, saying whether anything changed.
    """
    if not replacements:
        return []
    created_folders = _make_folder(folder)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        _remove_folders(created_folders)
        raise DbstackError(f"{folder}: cannot open the folder ({exc.strerror}); nothing was changed") from None
    try:
        return _replace_in(folder, dir_fd, replacements, created_folders)
    finally:
        os.close(dir_fd)


@dataclass
class _Staged:
    """One replacement on its way: its temporary file, what it replaces, its backup."""

    replacement: Replacement
    temp: str
    previous: ExistingFile | None
    backup: str | None = None
    renamed: bool = False


def _replace_in(folder: Path, dir_fd: int, replacements: Sequence[Replacement], created: list[Path]) -> list[Path]:
    staged: list[_Staged] = []
    current = ""
    try:
        for replacement in replacements:
            current = replacement.name
            previous = read_regular(folder / replacement.name, dir_fd=dir_fd)
            temp = _create_exclusive(dir_fd, f".{replacement.name}.{{}}.tmp", replacement.data, replacement.mode)
            staged.append(_Staged(replacement, temp, previous))
        for item in staged:
            current = item.replacement.name
            if item.replacement.backup and item.previous is not None:
                mode = (item.previous.mode & item.replacement.mode) | 0o600
                item.backup = _create_backup(dir_fd, folder / item.replacement.name, item.previous.data, mode)
    except BaseException as exc:
        _discard(dir_fd, staged)
        _remove_folders(created)
        if isinstance(exc, OSError):
            raise DbstackError(f"{folder / current}: cannot write ({exc.strerror}); nothing was changed") from None
        raise
    try:
        for item in staged:
            current = item.replacement.name
            os.replace(item.temp, item.replacement.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            item.renamed = True
    except BaseException as exc:
        restored = _roll_back(dir_fd, staged)
        _discard(dir_fd, staged)
        outcome = "nothing was changed" if restored else "some files may be left half-replaced: check the backups"
        if isinstance(exc, OSError):
            raise DbstackError(f"{folder / current}: cannot replace ({exc.strerror}); {outcome}") from None
        raise
    _fsync(dir_fd)
    return [folder / item.backup for item in staged if item.backup]


def _create_exclusive(dir_fd: int, pattern: str, data: bytes, mode: int) -> str:
    """Create a new file named ``pattern`` with a random part, holding ``data``; return its name."""
    while True:
        name = pattern.format(os.urandom(4).hex())  # secrets.token_hex(4), without importing secrets for it
        try:
            fd = os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)
        except FileExistsError:
            continue
        _fill(fd, name, dir_fd, data, mode)
        return name


def _create_backup(dir_fd: int, target: Path, data: bytes, mode: int) -> str:
    while True:
        name = backup_path_for(target).name
        try:
            fd = os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)
        except FileExistsError:  # another writer took the name first
            continue
        _fill(fd, name, dir_fd, data, mode)
        return name


def _fill(fd: int, name: str, dir_fd: int, data: bytes, mode: int) -> None:
    try:
        os.fchmod(fd, mode)  # before any content: os.open's mode was narrowed by the umask
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(dir_fd, name)
        raise
    os.close(fd)


def _roll_back(dir_fd: int, staged: list[_Staged]) -> bool:
    """Put every renamed target back as it was; True if all of them are."""
    restored = True
    for item in staged:
        if not item.renamed:
            continue
        name = item.replacement.name
        try:
            if item.previous is None:
                os.unlink(name, dir_fd=dir_fd)
            else:
                temp = _create_exclusive(dir_fd, f".{name}.{{}}.tmp", item.previous.data, item.previous.mode)
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            restored = False
            continue
        item.renamed = False
    return restored


def _discard(dir_fd: int, staged: list[_Staged]) -> None:
    for item in staged:
        if not item.renamed:
            _unlink(dir_fd, item.temp)
            if item.backup:
                _unlink(dir_fd, item.backup)
                item.backup = None


def _unlink(dir_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the folders created, deepest first."""
    missing: list[Path] = []
    path = folder
    while not os.path.lexists(path):
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            # mkdir's mode is narrowed by the umask, never widened: the output folder (it holds
            # .env) is private whatever the umask; parents are at most 0755.
            os.mkdir(path, 0o700 if path == folder else 0o755)
            created.insert(0, path)
    except OSError as exc:
        _remove_folders(created)
        raise DbstackError(f"{path}: cannot create the folder ({exc.strerror}); nothing was changed") from None
    return created


def _remove_folders(folders: list[Path]) -> None:
    for path in folders:  # deepest first; each is empty again once our files are gone
        try:
            os.rmdir(path)
        except OSError:
            return


def backup_path_for(path: str | os.PathLike[str], when: float | None = None) -> Path:
    """The first free backup name for ``path`` at time ``when`` (UTC, default now)."""
    target = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
    candidate = target.with_name(f"{target.name}.bak-{stamp}")
    counter = 0
    while os.path.lexists(candidate):
        counter += 1
        candidate = target.with_name(f"{target.name}.bak-{stamp}-{counter}")
    return candidate


def _fsync(dir_fd: int) -> None:
    # Makes the renames themselves durable; some filesystems cannot fsync a folder.
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)
