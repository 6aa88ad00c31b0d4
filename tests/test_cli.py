"""The dbstack command as a user runs it: exit codes, one clear line per problem, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pymongo.uri_parser import parse_uri

from dbstack.loader.registry import BUILTIN_CATALOG, DatabaseAdapterRegistry
from dbstack.sandbox import variables

DBSTACK = Path(sys.executable).parent / "dbstack"
HOSTILE = "p@ss:w/rd%#?&=+ é$'\""


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DBSTACK_CATALOG_PATH"}
    environment.update(env or {})
    result = subprocess.run([str(DBSTACK), *args], capture_output=True, text=True, cwd=cwd, env=environment)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_validate_builtin_catalog() -> None:
    result = run("catalog", "validate")
    assert result.returncode == 0 and result.stdout.startswith("ok: ")


def test_validate_reports_every_problem_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nname: Bad\nname: Again\n", encoding="utf-8")
    worse = tmp_path / "worse.yaml"
    worse.write_text("id: [\n", encoding="utf-8")
    result = run("catalog", "validate", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert f"{bad}:3:1: duplicate key 'name' (first at line 2)" in lines
    assert any(line.startswith(f"{worse}:2:1: invalid YAML") for line in lines)
    assert lines[-1] == "2 problem(s) in 2 file(s)"


def test_validate_usage_error_is_exit_2() -> None:
    result = run("catalog", "validate", "--bogus")
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_list_filters_and_json() -> None:
    result = run("catalog", "list", "--capability", "vector_search", "--format", "json")
    rows = json.loads(result.stdout)
    assert {"pgvector", "qdrant"} <= {row["id"] for row in rows}
    assert all(row["vector_search"] != "none" for row in rows)
    table = run("catalog", "list", "--protocol", "mongodb").stdout
    assert "mongodb" in table and "postgresql" not in table
    assert run("catalog", "list", "--role", "nonsense").returncode == 2


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_show_round_trips_the_entry(fmt: str) -> None:
    result = run("catalog", "show", "pg", "--format", fmt)
    shown = yaml.safe_load(result.stdout)
    assert shown == yaml.safe_load((BUILTIN_CATALOG / "postgresql.yaml").read_text(encoding="utf-8"))


def test_url_encodes_a_hostile_password() -> None:
    result = run("url", "mongodb", "--set", f"password={HOSTILE}", "--set", "host=db", "--set", "tls=verify-full")
    assert result.returncode == 0, result.stderr
    parsed = parse_uri(result.stdout.strip())
    assert parsed["password"] == HOSTILE and parsed["options"]["tls"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("url", "postgress"), "unknown database 'postgress'; did you mean postgresql"),
        (("url", "postgresql"), "postgresql: parameter 'password' is required"),
        (("url", "postgresql", "--set", "port=abc", "--set", "password=x"), "parameter 'port': expected integer"),
        (
            ("url", "postgresql", "--set", "prot=1", "--set", "password=x"),
            "unknown parameter 'prot'; did you mean 'port'?",
        ),
        (("url", "postgresql", "--set", "novalue"), "expected KEY=VALUE"),
        (("url", "postgresql", "--form", "jdbc", "--set", "password=x"), "no connection-string form 'jdbc'"),
        (("compose", "sqlite"), "sqlite is embedded"),
        (("generate", "--use", "primary_store=postgresql"), "postgresql cannot be LibreChat's primary_store"),
        (("generate", "--use", "nonsense"), "--use expects ROLE=ID"),
        (
            ("generate", "--env", "production", "--use", "primary_store=ferretdb"),
            "ferretdb cannot be LibreChat's primary_store: it is allowed only in development, not in production "
            "(see its limitations: dbstack catalog show ferretdb); candidates: mongodb",
        ),
        (("recommend", "--role", "chat"), "librechat has no role 'chat'"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert all(line.startswith("dbstack: error: ") for line in result.stderr.splitlines())
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_broken_user_catalog_stops_every_command(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\n", encoding="utf-8")
    result = run("url", "postgresql", "--set", "password=x", env={"DBSTACK_CATALOG_PATH": str(tmp_path)})
    assert result.returncode == 1 and f"{tmp_path / 'broken.yaml'}:1:1:" in result.stderr


def test_compose_to_stdout_references_secrets_and_prints_none(tmp_path: Path) -> None:
    result = run("compose", "postgresql", "--env", "production", "--set", "password=s3cr3t-value")
    assert result.returncode == 0
    assert "s3cr3t-value" not in result.stdout + result.stderr
    document = yaml.safe_load(result.stdout)
    service = document["services"]["postgresql"]
    # The image reads the password from a compose secret file, written from .env with -o DIR.
    assert "POSTGRES_PASSWORD" not in service["environment"]
    assert service["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgresql_password"
    assert document["secrets"] == {"postgresql_password": {"file": "./postgresql_password.secret"}}
    assert "POSTGRESQL_PASSWORD" in result.stderr


def test_compose_writes_and_keeps_the_password(tmp_path: Path) -> None:
    out = tmp_path / "pg"
    first = run("compose", "postgresql", "--set", f"password={HOSTILE}", "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert HOSTILE not in first.stdout + first.stderr
    again = run("compose", "postgresql", "--set", "password=other", "-o", str(out))
    assert again.returncode == 0 and "kept POSTGRESQL_PASSWORD" in again.stderr
    from dbstack.render import dotenv

    assert dotenv.read(out / ".env").get("POSTGRESQL_PASSWORD") == HOSTILE


def test_generate_default_folder_and_summary(tmp_path: Path) -> None:
    result = run("generate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "librechat-development"
    written = {p.name for p in folder.iterdir()}
    assert written == {
        "compose.yaml",
        ".env",
        "README.md",
        "librechat.env",
        "librechat.yaml",
        "mongodb-app-user.js",
        "vectordb_password.secret",  # pgvector's password, a compose file secret
    }
    assert f"wrote {Path('librechat-development') / 'compose.yaml'}" in result.stdout
    assert "next: cd librechat-development && docker compose up -d" in result.stdout
    secrets = (folder / ".env").read_text(encoding="utf-8")
    for line in secrets.splitlines():
        if "=" in line and not line.startswith("#"):
            assert line.split("=", 1)[1] not in result.stdout  # names of secrets, never values


def test_recommend_json_is_ranked() -> None:
    data = json.loads(run("recommend", "--format", "json").stdout)
    assert data["primary_store"][0]["id"] == "mongodb"
    assert data["vector_store"][0]["reasons"]


def test_recommend_ranks_for_the_environment_asked_for() -> None:
    default = json.loads(run("recommend", "--format", "json").stdout)
    development = json.loads(run("recommend", "--env", "development", "--format", "json").stdout)
    production = json.loads(run("recommend", "--env", "production", "--format", "json").stdout)
    assert default == development  # the default environment is generate's
    assert [c["id"] for c in development["primary_store"]] == ["mongodb", "ferretdb"]
    assert development["primary_store"][1]["environments"] == ["development"]
    assert [c["id"] for c in production["primary_store"]] == ["mongodb"]
    assert all(c["environments"] is None for candidates in production.values() for c in candidates)
    table = run("recommend", "--role", "primary_store").stdout
    assert "2. ferretdb" in table and "- allowed only in development" in table
    assert "ferretdb" not in run("recommend", "--role", "primary_store", "--env", "staging").stdout
    usage = run("recommend", "--env", "prod")
    assert usage.returncode == 2 and "invalid choice: 'prod'" in usage.stderr


def demo_sections(stdout: str) -> dict[str, str]:
    """The demo's text per catalog id (each section starts with '== NAME (ID) - ...')."""
    sections: dict[str, str] = {}
    for section in stdout.split("\n== "):
        header = section.removeprefix("== ").split("\n", 1)[0]
        entry_id = header.split(" - ", 1)[0].rsplit("(", 1)[1].rstrip(")")
        sections[entry_id] = section
    return sections


def test_demo_walks_every_entry_without_printing_secrets() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    sections = demo_sections(result.stdout)
    assert set(sections) == {path.stem for path in BUILTIN_CATALOG.glob("*.yaml")}
    for spec in DatabaseAdapterRegistry(use_env=False):
        # The demo generates each secret: where a connection string reads one, it is shown masked, in that entry.
        secret_names = {name for name, parameter in spec.parameters.items() if parameter.secret}
        reads_secret = any(variables(form.template) & secret_names for form in spec.forms.values())
        assert ("****" in sections[spec.id]) is reads_secret, spec.id
    for path in BUILTIN_CATALOG.glob("*.yaml"):
        container = yaml.safe_load(path.read_text(encoding="utf-8")).get("container")
        section = sections[path.stem]
        if container is None:
            assert "compose service: none (embedded in the application)" in section, path.stem
        elif "environments" in container:
            # Shown as it may run, and said to be restricted: never rendered for an environment it refuses.
            allowed = container["environments"]
            assert f"environments: only {', '.join(allowed)} (the catalog allows no other" in section, path.stem
            assert f"compose service ({allowed[0]}):" in section and "(production)" not in section, path.stem
        else:
            assert "environments: only" not in section and "compose service (production):" in section, path.stem


def test_output_problems_are_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x", encoding="utf-8")
    for args in (
        ("generate", "-o", str(a_file)),
        ("compose", "redis", "-o", str(a_file)),
        ("generate", "-o", str(a_file / "sub")),
    ):
        result = run(*args)
        assert result.returncode == 1 and result.stderr.startswith("dbstack: error: "), result.stderr
    stack = tmp_path / "stack"
    (stack / "compose.yaml").mkdir(parents=True)
    result = run("generate", "-o", str(stack))
    assert result.returncode == 1 and "compose.yaml: is a folder, not a regular file" in result.stderr
    assert a_file.read_text(encoding="utf-8") == "x"


def test_compose_for_one_database_does_not_replace_an_app_stack(tmp_path: Path) -> None:
    assert run("generate", "-o", str(tmp_path)).returncode == 0
    before = (tmp_path / "compose.yaml").read_text(encoding="utf-8")
    result = run("compose", "redis", "-o", str(tmp_path))
    assert result.returncode == 1 and "compose.yaml" in result.stderr
    assert (tmp_path / "compose.yaml").read_text(encoding="utf-8") == before


def test_compose_ignores_a_readme_it_does_not_write(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# my project\n", encoding="utf-8")
    assert run("compose", "redis", "-o", str(tmp_path)).returncode == 0
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "# my project\n"


def test_a_valueless_env_line_for_a_managed_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MONGODB_PASSWORD\n", encoding="utf-8")
    result = run("generate", "-o", str(tmp_path))
    assert result.returncode == 1 and "MONGODB_PASSWORD has no value there" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_a_broken_env_is_refused_without_echoing_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A='s3cr3t${oops\n", encoding="utf-8")
    result = run("generate", "-o", str(tmp_path))
    assert result.returncode == 1 and "cannot read line(s) 1" in result.stderr
    assert "s3cr3t" not in result.stderr
