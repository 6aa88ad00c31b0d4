"""Every rule a catalog file, app definition or images.lock is checked by: one id, severity and summary each.

This table is the one list: every Problem names one of these ids, ``dbstack catalog validate --format json``
reports it, and catalog/README.md documents exactly these rules (tests/test_catalog_rules.py checks both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    """A rule catalog checks report by: id, name, severity and what it checks."""

    id: str
    name: str
    severity: Severity
    summary: str


RULES: tuple[Rule, ...] = (
    Rule(
        "DBS001",
        "yaml",
        "error",
        "the file is not a YAML document dbstack accepts (syntax, duplicate keys, tags, "
        "merge keys, anchors, size, nesting, encoding, or a top level that is not a mapping)",
    ),
    Rule(
        "DBS002", "path", "error", "a catalog path given on the command line or in DBSTACK_CATALOG_PATH does not exist"
    ),
    Rule("DBS101", "schema", "error", "the document does not match its JSON Schema (schema/*.schema.json)"),
    Rule("DBS102", "id-is-file-name", "error", "an entry's or app's id differs from its file name"),
    Rule("DBS103", "unique-id", "error", "an id or alias is already taken, or replaces_builtin is misused"),
    Rule(
        "DBS201",
        "parameter",
        "error",
        "a parameter's definition contradicts itself (default, bounds, enum, "
        "generate, container_pattern, port or tls parameter)",
    ),
    Rule(
        "DBS202",
        "reference",
        "error",
        "a form, pool setting, port or accepts pattern names something undeclared, "
        "or a published port comes from a secret parameter",
    ),
    Rule("DBS203", "integer", "error", "a whole number is written with a fraction (6379.0)"),
    Rule("DBS204", "capability", "error", "a capability lacks what it needs (vector extension's name, tls parameter)"),
    Rule("DBS301", "template", "error", "a template does not compile in the sandbox, or uses names it may not"),
    Rule(
        "DBS302",
        "template-renders",
        "error",
        "a container template does not render with the default values, or a compose_fragment renders what the "
        "service's rendering refuses (not YAML, not a mapping, a key it may not set)",
    ),
    Rule(
        "DBS401",
        "container",
        "error",
        "container settings contradict each other (healthcheck timing, file_variants, port names)",
    ),
    Rule(
        "DBS402",
        "healthcheck",
        "error",
        "the healthcheck cannot work as written: a program the image lacks, "
        "a variable no shell expands, or a check that cannot fail on a wrong secret",
    ),
    Rule(
        "DBS403",
        "secret-exposure",
        "error",
        "a secret reaches a command line or the compose fragment, or a command reads a compose variable",
    ),
    Rule(
        "DBS501", "app", "error", "an app definition's roles, services, secrets and settings files do not fit together"
    ),
    Rule("DBS601", "images-lock", "error", "an images.lock line is not IMAGE:TAG: sha256:<64 hex digits>"),
)
RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
