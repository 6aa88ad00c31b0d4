"""Image digest pinning from a lock file, so production images cannot change under a tag.

``images.lock`` (YAML, beside the compose file) maps ``image:tag`` to ``sha256:<64 hex>``,
e.g. the output of ``docker buildx imagetools inspect IMAGE:TAG --format '{{.Manifest.Digest}}'``.
Every service whose image matches a key is written as ``image:tag@sha256:...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbstack.loader.errors import CatalogError, Problem
from dbstack.loader.yaml_source import YamlSourceError, parse_text

from .files import read_regular

LOCK_FILE = "images.lock"
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9_.-]*")


def load_lock(path: Path) -> dict[str, str]:
    """``image:tag`` -> digest; a missing file is an empty lock; every bad line is reported.

    The lock lives in the output folder, so it is read as every file there is: only a regular
    file, never through a link, at most ``MAX_READ_BYTES`` (UnsafeFileError otherwise).
    """
    existing = read_regular(path)
    if existing is None:
        return {}
    try:
        doc = parse_text(_decode(existing.data))
        if not isinstance(doc.data, dict):
            raise YamlSourceError(f"top level must be a mapping, not {type(doc.data).__name__}", 1, 1)
    except YamlSourceError as exc:
        raise CatalogError([exc.problem(path)]) from None
    problems = []
    for image, digest in doc.data.items():
        pos = doc.position((image,))
        if not _IMAGE.fullmatch(str(image)):
            problems.append(Problem(path, pos.line, pos.column, str(image), "key must be IMAGE:TAG", "DBS601"))
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            problems.append(
                Problem(path, pos.line, pos.column, str(image), "value must be sha256: and 64 hex digits", "DBS601")
            )
    if problems:
        raise CatalogError(problems)
    return {str(k): str(v) for k, v in doc.data.items()}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlSourceError("file is not valid UTF-8", line, 1) from None


def pin_images(compose: Mapping[str, Any], lock: Mapping[str, str]) -> list[str]:
    """Pin every service image found in ``lock`` (in place); returns the images pinned."""
    pinned = []
    for service in compose.get("services", {}).values():
        image = service.get("image", "")
        if "@" not in image and image in lock:
            service["image"] = f"{image}@{lock[image]}"
            pinned.append(image)
    return pinned
