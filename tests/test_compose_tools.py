"""The validator wrappers must tell a good compose file from a bad one, using the real tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from compose_tools import (
    ComposeLintError,
    Finding,
    compose_binary,
    compose_config,
    compose_lint,
    compose_schema_check,
    service_environment,
    significant_findings,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4

# A hardened service: what compose-lint wants at medium or above (see compose-lint-rules.md).
GOOD_COMPOSE = f"""\
name: dbstack-good
services:
  postgres:
    image: postgres:16.4@{DIGEST}
    restart: unless-stopped
    environment:
      POSTGRES_USER: ${{POSTGRES_USER:?set POSTGRES_USER in .env}}
      POSTGRES_PASSWORD: ${{POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}}
    ports:
      - "127.0.0.1:5432:5432"
    volumes:
      - pgdata:/var/lib/postgresql/data
    cap_drop: [ALL]
    cap_add: [CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID]
    security_opt: ["no-new-privileges:true"]
    deploy:
      resources:
        limits:
          memory: 1G
          cpus: "1.0"
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U $${{POSTGRES_USER}}"]
      interval: 10s
volumes:
  pgdata:
"""
GOOD_ENV = "POSTGRES_USER=app\nPOSTGRES_PASSWORD='s3cr$t pw'\n"

# Wrong on every front: an unknown key, a literal default password, privileged, all interfaces.
BAD_COMPOSE = """\
services:
  db:
    image: postgres
    privileged: true
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-changeme}
    ports:
      - "5432:5432"
    bogus_key: 1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def good(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path / "compose.yaml", GOOD_COMPOSE), write(tmp_path / ".env", GOOD_ENV)


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    return write(tmp_path / "compose.yaml", BAD_COMPOSE)


# --- docker compose config -------------------------------------------------------------


def test_binary_is_the_real_go_compose_not_the_wrapper() -> None:
    binary = compose_binary()
    assert binary.parent.name == "compose" and binary.name == "docker-compose"
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("Docker Compose version v2.")
    # The exit status is real: an unknown command fails (the wrapper script would say 0).
    assert subprocess.run([str(binary), "no-such-command"], capture_output=True).returncode != 0


def test_config_accepts_good_file_and_interpolates_env_file(good: tuple[Path, Path]) -> None:
    compose, env = good
    assert compose_config(compose, env).check().warnings == []
    result = compose_config(compose, env, fmt="json").check()
    assert result.model is not None and result.model["name"] == "dbstack-good"
    environment = service_environment(result.model, "postgres")
    assert environment == {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "s3cr$t pw"}
    # The raw model escapes the literal dollar; service_environment undoes it.
    assert result.model["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cr$$t pw"


def test_config_reads_sibling_dotenv_without_env_file(good: tuple[Path, Path]) -> None:
    compose, _ = good
    result = compose_config(compose, fmt="json").check()
    assert result.model is not None
    assert service_environment(result.model, "postgres")["POSTGRES_USER"] == "app"


def test_config_rejects_bad_file(bad: Path) -> None:
    result = compose_config(bad)
    assert result.returncode == 1 and not result.ok
    assert "bogus_key" in result.stderr
    with pytest.raises(AssertionError, match="bogus_key"):
        result.check()


def test_config_fails_on_required_variable_missing(good: tuple[Path, Path], tmp_path: Path) -> None:
    compose, _ = good
    empty = write(tmp_path / "empty.env", "")
    result = compose_config(compose, empty)
    assert result.returncode == 1
    assert "set POSTGRES_USER in .env" in result.stderr or "set POSTGRES_PASSWORD in .env" in result.stderr


def test_unset_variable_is_a_warning_with_exit_zero(tmp_path: Path) -> None:
    compose = write(tmp_path / "compose.yaml", "services:\n  a:\n    image: x:1\n    environment:\n      X: ${NOPE}\n")
    result = compose_config(compose, fmt="json")
    assert result.ok
    assert any('"NOPE" variable is not set' in w for w in result.warnings)
    assert result.model is not None and service_environment(result.model, "a") == {"X": ""}


def test_test_process_environment_cannot_leak(good: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    compose, env = good
    monkeypatch.setenv("POSTGRES_PASSWORD", "leaked-from-test-process")
    monkeypatch.setenv("COMPOSE_FILE", "/nonexistent.yaml")
    # Control: Compose really lets the process environment win over --env-file ...
    leaky = subprocess.run(
        [str(compose_binary()), "-f", str(compose), "--env-file", str(env), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert "leaked-from-test-process" in leaky.stdout
    # ... and the wrapper's clean environment stops it.
    result = compose_config(compose, env, fmt="json").check()
    assert result.model is not None
    assert service_environment(result.model, "postgres")["POSTGRES_PASSWORD"] == "s3cr$t pw"
    # The user's shell can still be played on purpose.
    shell = compose_config(compose, env, fmt="json", environ={"POSTGRES_USER": "from-shell"}).check()
    assert shell.model is not None
    assert service_environment(shell.model, "postgres")["POSTGRES_USER"] == "from-shell"


def test_project_name_override(good: tuple[Path, Path]) -> None:
    compose, env = good
    result = compose_config(compose, env, fmt="json", project_name="other").check()
    assert result.model is not None and result.model["name"] == "other"


# --- check-jsonschema ------------------------------------------------------------------


def test_schema_accepts_good_file(good: tuple[Path, Path]) -> None:
    result = compose_schema_check(good[0])
    assert result.ok, result.output


def test_schema_rejects_bad_file(bad: Path) -> None:
    result = compose_schema_check(bad)
    assert result.returncode == 1 and not result.ok
    assert any("bogus_key" in message for _, message in result.errors)


def test_schema_reports_unparsable_yaml(tmp_path: Path) -> None:
    result = compose_schema_check(write(tmp_path / "compose.yaml", "services: [\n"))
    assert not result.ok and result.parse_errors


def test_schema_reports_missing_file(tmp_path: Path) -> None:
    result = compose_schema_check(tmp_path / "missing.yaml")
    assert not result.ok


# --- compose-lint ----------------------------------------------------------------------


def test_lint_good_file_has_no_finding_at_medium_or_above(good: tuple[Path, Path]) -> None:
    findings = compose_lint(good[0])
    assert significant_findings(findings, ignore=()) == [], [str(f) for f in findings]
    # Only CL-0007 (read-only root filesystem, LOW) remains.
    assert {f.rule_id for f in findings} <= {"CL-0007"}


def test_lint_bad_file_findings(bad: Path) -> None:
    findings = compose_lint(bad)
    by_rule = {f.rule_id: f for f in findings}
    assert by_rule["CL-0002"].severity == "critical"  # privileged
    assert by_rule["CL-0020"].severity == "high"  # ${VAR:-literal} is a hard-coded credential
    assert by_rule["CL-0005"].severity == "medium"  # published on all interfaces
    assert by_rule["CL-0004"].severity == "medium"  # no tag
    assert {"CL-0003", "CL-0006", "CL-0026"} <= by_rule.keys()
    assert all(f.service == "db" and isinstance(f.line, int) for f in findings)


def test_lint_unlintable_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ComposeLintError, match="Invalid YAML"):
        compose_lint(write(tmp_path / "compose.yaml", "services: [\n"))
    with pytest.raises(ComposeLintError, match="services"):
        compose_lint(write(tmp_path / "other.yaml", "foo: 1\n"))


@pytest.mark.parametrize(
    ("image", "rules"),
    [
        ("postgres", {"CL-0004"}),
        ("postgres:latest", {"CL-0004"}),
        ("postgres:16.4", {"CL-0019"}),
        (f"postgres:16.4@{DIGEST}", set()),
        (f"postgres@{DIGEST}", set()),
    ],
)
def test_lint_image_pinning(tmp_path: Path, image: str, rules: set[str]) -> None:
    text = GOOD_COMPOSE.replace(f"postgres:16.4@{DIGEST}", image)
    findings = compose_lint(write(tmp_path / "compose.yaml", text))
    assert {f.rule_id for f in findings} & {"CL-0004", "CL-0019"} == rules


def test_significant_findings_filter() -> None:
    findings = [
        Finding("CL-0007", "low", 2, "a", "x"),
        Finding("CL-0019", "medium", 3, "a", "x"),
        Finding("CL-0005", "medium", 4, "a", "x"),
        Finding("CL-0002", "critical", 5, "a", "x"),
        Finding("CL-0003", "medium", 2, "a", "x", suppressed=True),
    ]
    assert [f.rule_id for f in significant_findings(findings)] == ["CL-0005", "CL-0002"]
    assert [f.rule_id for f in significant_findings(findings, ignore=())] == ["CL-0019", "CL-0005", "CL-0002"]
    assert [f.rule_id for f in significant_findings(findings, "high")] == ["CL-0002"]
    assert len(significant_findings(findings, "low", ignore=())) == 4
