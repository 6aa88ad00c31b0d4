"""Replace files atomically, never exposing secrets and never losing the previous version.

Used for the ``.env`` file (mode 0600, it holds passwords) and the compose file (0644).
Standard library only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["backup_path_for", "write_atomic"]


def write_atomic(
    path: str | os.PathLike[str],
    text: str,
    mode: int = 0o600,
    backup: bool = True,
) -> Path | None:
    """Replace ``path`` with ``text`` (UTF-8) in one step; return the backup made, if any.

    The new content goes to a temporary file in the same directory, created with the
    final ``mode`` before a single byte is written (so a secret is never readable by
    others, whatever the umask), flushed and fsynced, then renamed over ``path`` with
    os.replace, which readers see as all-or-nothing.  If ``backup`` is true and ``path``
    exists, the previous version is kept as ``NAME.bak-YYYYmmddTHHMMSSZ`` (``-1``, ``-2``,
    ... appended on a clash), and an older backup is never overwritten.  A symlink at
    ``path`` is followed: the file it points to is replaced.  Line endings are written
    exactly as given.
    """
    target = Path(os.path.realpath(path))
    data = text.encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)  # before any content: mkstemp's 0600 may differ from `mode`
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp_name)
        raise
    os.close(fd)
    try:
        saved = _make_backup(target) if backup else None
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_directory(target.parent)
    return saved


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


def _make_backup(target: Path) -> Path | None:
    if not target.exists():
        return None
    while True:
        candidate = backup_path_for(target)
        try:
            # A hard link keeps the old file's bytes, mode and owner with no copy and no
            # moment where the backup is readable by others; it fails rather than
            # overwrite if another writer took the name first.
            os.link(target, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:
            # Filesystems without hard links: copy into a file created exclusively
            # with the original's permission bits.
            try:
                return _copy_backup(target, candidate)
            except FileExistsError:
                continue


def _copy_backup(target: Path, candidate: Path) -> Path:
    source_mode = os.stat(target).st_mode & 0o777
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, source_mode)
    try:
        os.fchmod(fd, source_mode)  # the umask may have narrowed it; never widens beyond source
        with open(target, "rb") as source, os.fdopen(fd, "wb", closefd=False) as sink:
            shutil.copyfileobj(source, sink)
            sink.flush()
            os.fsync(fd)
    finally:
        os.close(fd)
    return candidate


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; some platforms cannot open directories.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
