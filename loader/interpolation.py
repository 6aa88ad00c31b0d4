"""What a value means inside a compose file: ``$`` starts an interpolation, ``$$`` is a literal ``$``.

The loader needs it to refuse catalog text that reads another service's variables (located at the value, when the
catalog loads); render/ needs it to escape values and to refuse whatever gets through on the finished document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import text


def compose_escape(value: str) -> str:
    """A literal value in a compose file: ``$`` would start an interpolation."""
    return value.replace("$", "$$")


def compose_escape_all(value: Any) -> Any:
    """``value`` of any type with ``$`` escaped in every string it holds, keys included, at any depth."""
    if isinstance(value, str):
        return compose_escape(value)
    if isinstance(value, Mapping):
        return {compose_escape_all(k): compose_escape_all(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compose_escape_all(v) for v in value]
    return value


# Compose's variable names, as compose-go's template/template.go reads them: `[_a-z][_a-z0-9]*` inside
# Go's `(?i:...)`, and Go's case folding adds U+017F (long s, folds to s) and U+212A (Kelvin, folds to k).
_NAME = "[_A-Za-z\u017f\u212a][_A-Za-z0-9\u017f\u212a]*"
_COMPOSE_VARIABLE = re.compile(rf"\$(?:({_NAME})|\{{({_NAME})[^}}]*\}}?)")


def foreign_references(value: object, own: frozenset[str] | set[str]) -> list[str]:
    """Every ``$`` in ``value`` (strings, mapping keys and values, lists, at any depth) that Compose would
    read as something other than a literal ``$`` (``$$``) or one of the ``own`` references.

    Stricter than Compose on purpose: a ``$`` that starts no variable (Compose refuses the file) counts too.
    """
    if isinstance(value, str):
        found, at = [], 0
        while (at := value.find("$", at)) >= 0:
            if value.startswith("$$", at):
                at += 2
                continue
            mine = next((ref for ref in own if value.startswith(ref, at)), None)
            if mine is not None:
                at += len(mine)
                continue
            match = _COMPOSE_VARIABLE.match(value, at)
            found.append("$" + (match.group(1) or match.group(2)) if match else value[at : at + 2])
            at += 1
        return found
    if isinstance(value, Mapping):
        return [r for k, v in value.items() for r in (*foreign_references(k, own), *foreign_references(v, own))]
    if isinstance(value, list | tuple):
        return [r for v in value for r in foreign_references(v, own)]
    return []


def foreign_reference_problem(value: object, own: frozenset[str] | set[str]) -> str | None:
    """Why ``value`` may not be in a service (it interpolates more than its ``own`` references), or None."""
    foreign = sorted(set(foreign_references(value, own)))
    if not foreign:
        return None
    return (
        f"the service would read compose variables it does not own: "
        f"{', '.join(text.visible(f) for f in foreign)} (catalog text is compose text: write $$ for a literal $)"
    )
