"""Errors the loader reports: every problem carries the file, line and field it is about."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rules import Severity


@dataclass(frozen=True)
class Problem:
    """One located problem, printed as ``FILE:LINE:COL: field: message``; ``rule`` is its id in loader/rules.py."""

    file: Path | None
    line: int | None
    column: int | None
    field: str
    message: str
    rule: str

    @property
    def severity(self) -> Severity:
        from .rules import RULES_BY_ID  # here: a run that reports no problem never reads the table of rules

        return RULES_BY_ID[self.rule].severity

    def as_dict(self) -> dict[str, object]:
        """The problem as ``catalog validate --format json`` reports it."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": str(self.file) if self.file else None,
            "line": self.line,
            "column": self.column if self.column or self.line is None else 1,
            "path": self.field,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = str(self.file) if self.file else "<config>"
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class DbstackError(Exception):
    """Base of every error dbstack reports to a user (the CLI prints it without a traceback)."""


class CatalogError(DbstackError):
    """One or more catalog files are invalid."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: Sequence[Problem] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownDatabaseError(DbstackError, LookupError):
    """No catalog entry has that id or alias."""

    def __init__(self, name: str, suggestions: Sequence[str], known: Sequence[str]) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f"did you mean {', '.join(self.suggestions)}?" if self.suggestions else f"known: {', '.join(known)}"
        super().__init__(f"unknown database {name!r}; {hint}")


class ConfigError(DbstackError, ValueError):
    """A DatabaseConfig does not fit the adapter's declared parameters."""

    def __init__(self, database: str, problems: Sequence[str]) -> None:
        self.database = database
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{database}: {p}" for p in self.problems))
