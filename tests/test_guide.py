"""catalog/README.md works as written.

The guide's single ```yaml block is saved where the guide says (``my-catalog/keydb.yaml``) and
its commands are run exactly as the guide prints them, through the installed ``dbstack`` console
script; the outputs the guide quotes must be what the commands print, and the generated LibreChat
stack must pass the real Docker Compose binary (tests/compose_tools.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_kubernetes import build, by_kind, newest_versions

from dbstack.loader.environments import environment_names
from dbstack.loader.model import FRAGMENT_KEYS
from dbstack.loader.registry import DatabaseAdapterRegistry
from dbstack.loader.validation import schema
from dbstack.render.compose import dump_compose, render_service
from dbstack.render.dotenv import format_entry

# tests/ is a plain folder (no __init__.py): pytest's default import mode puts it on sys.path.
import compose_tools

BUILTIN = Path(__file__).resolve().parent.parent / "catalog"
GUIDE = BUILTIN / "README.md"
DBSTACK = Path(sys.executable).parent / "dbstack"
ENTRY = Path("my-catalog") / "keydb.yaml"  # relative to the folder the commands run in

VALIDATE = "dbstack --catalog my-catalog catalog validate"
VALIDATE_ENV = "DBSTACK_CATALOG_PATH=my-catalog dbstack catalog validate"
URL = "dbstack --catalog my-catalog url keydb --set password=change-me"
GENERATE = "dbstack --catalog my-catalog generate --use cache=keydb -o stack"
KUBERNETES = "dbstack --catalog my-catalog compose keydb --target kubernetes -o keydb-k8s"
COMMANDS = (VALIDATE, VALIDATE_ENV, URL, GENERATE, KUBERNETES)

YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def guide_entry_text() -> str:
    blocks = YAML_BLOCK.findall(guide_text())
    assert len(blocks) == 1, f"the guide must hold exactly one ```yaml block, found {len(blocks)}"
    text: str = blocks[0]
    return text


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command line from the guide: leading VAR=value words set variables, dbstack is ours."""
    words = shlex.split(command)
    env = {k: v for k, v in os.environ.items() if k != "DBSTACK_CATALOG_PATH"}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "dbstack", command
    return subprocess.run(
        [str(DBSTACK), *words[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder holding the guide's entry at my-catalog/keydb.yaml, as step 1 says."""
    entry = tmp_path / ENTRY
    entry.parent.mkdir()
    entry.write_text(guide_entry_text(), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("environment", environment_names())
def test_example_gives_kubernetes_output_that_builds_and_validates(workdir: Path, environment: str) -> None:
    """The guide's step: the YAML entry alone yields a kustomize folder kubectl builds and
    kubernetes-validate --strict accepts for the three newest Kubernetes versions it knows."""
    result = run(f"{KUBERNETES} --env {environment}", workdir)
    assert result.returncode == 0, result.stderr
    docs = build(workdir / "keydb-k8s")
    (workload,) = by_kind(docs, "StatefulSet")
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"].startswith("eqalpha/keydb:")
    built = workdir / "built.yaml"
    built.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    tool = Path(sys.executable).with_name("kubernetes-validate")
    for version in newest_versions():
        checked = subprocess.run(
            [str(tool), "--strict", "--quiet", "-k", version, str(built)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, f"{version}: {checked.stdout}{checked.stderr}"


def test_console_script_is_installed() -> None:
    assert DBSTACK.is_file() and os.access(DBSTACK, os.X_OK), f"no dbstack console script at {DBSTACK}"


def test_guide_shows_each_command_exactly_as_tested() -> None:
    text = guide_text()
    for command in COMMANDS:
        assert " ".join(command.split()) in " ".join(text.split()), f"the guide no longer shows: {command}"
    assert f"`{ENTRY.as_posix()}`" in text


def test_entry_is_the_keydb_example() -> None:
    entry = yaml.safe_load(guide_entry_text())
    assert entry["id"] == "keydb" == ENTRY.stem
    assert "redis" in entry["protocols"]
    assert entry["container"]["image"] == "eqalpha/keydb"
    assert entry["container"]["tag"] not in ("latest", "stable")
    assert entry["license"] == "BSD-3-Clause"
    assert "cache" in entry["workload"]["roles"]


def test_example_adds_a_database_the_catalog_does_not_have() -> None:
    """The guide shows how to add a database: its entry must not collide with a built-in id or alias
    (a collision needs replaces_builtin, which the guide's steps do not use)."""
    entry = yaml.safe_load(guide_entry_text())
    assert "replaces_builtin" not in entry
    builtin = DatabaseAdapterRegistry(use_env=False)
    assert entry["id"] not in builtin and not any(alias in builtin for alias in entry.get("aliases", []))


@pytest.mark.parametrize("command", [VALIDATE, VALIDATE_ENV])
def test_validate(workdir: Path, command: str) -> None:
    proc = run(command, workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    count = len(list(BUILTIN.glob("*.yaml"))) + 1
    assert proc.stdout == f"ok: {count} file(s), {count} database(s)\n"
    assert "`ok: N file(s), N database(s)`" in guide_text()


def test_url(workdir: Path) -> None:
    proc = run(URL, workdir)
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert url == "redis://default:change-me@localhost:6379/0?socket_connect_timeout=10"
    assert f"`{url}`" in guide_text()


def fill_keys_generate_asks_for(stdout: str, env_file: Path) -> None:
    """Do what generate tells the user: set the keys only they have (an API key) in .env before starting."""
    asked = re.search(r"^set in \.env before starting \(see README\.md\): (.+)$", stdout, re.MULTILINE)
    if asked:
        lines = "".join(f"{name}=test-{name.lower()}\n" for name in asked.group(1).split(", "))
        env_file.write_text(env_file.read_text(encoding="utf-8") + lines, encoding="utf-8")


def test_generate_runs_keydb_as_librechat_cache(workdir: Path) -> None:
    entry = yaml.safe_load(guide_entry_text())
    proc = run(GENERATE, workdir)
    assert proc.returncode == 0, proc.stderr
    fill_keys_generate_asks_for(proc.stdout, workdir / "stack" / ".env")
    stack = workdir / "stack"
    compose_file, env_file = stack / "compose.yaml", stack / ".env"
    compose: dict[str, Any] = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    services = compose["services"]

    # The cache role's service (apps/librechat.yaml: service: redis) runs the guide's image.
    cache = services["redis"]
    container = entry["container"]
    assert cache["image"] == f"{container['image']}:{container['tag']}"
    assert cache["cap_drop"] == ["ALL"]
    assert cache["cap_add"] == container["capabilities"]
    assert cache["healthcheck"]["test"][:3] == ["CMD", "keydb-cli", "-e"]
    assert "--tls" not in cache["healthcheck"]["test"] and "" not in cache["healthcheck"]["test"]
    assert cache["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    assert {"source": "redis-data", "target": container["data_dir"], "type": "volume"} in cache["volumes"]

    # LibreChat's api turns the cache on; the URI carries the password, so it comes from .env.
    api = services["api"]
    assert api["environment"]["USE_REDIS"] == "true"
    assert api["environment"]["REDIS_URI"].startswith("${API_REDIS_URI:?")
    assert "redis" in api["depends_on"]

    # The real Docker Compose binary accepts the folder as dbstack wrote it.
    checked = compose_tools.compose_config(compose_file, env_file=env_file, environ=compose_tools.user_keys())
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""
    model = (
        compose_tools.compose_config(compose_file, env_file=env_file, fmt="json", environ=compose_tools.user_keys())
        .check()
        .model
    )
    assert model is not None
    password = compose_tools.service_environment(model, "redis")["REDISCLI_AUTH"]
    assert password and len(password) == entry["parameters"]["password"]["generate"]["length"]
    assert password not in compose_file.read_text(encoding="utf-8")
    api_env = compose_tools.service_environment(model, "api")
    assert api_env["USE_REDIS"] == "true"
    assert api_env["REDIS_URI"] == f"redis://default:{password}@redis:6379/0?socket_connect_timeout=10"


# --------------------------------------------------------------------------- the reference part of the guide


def test_guide_lists_every_key_a_compose_fragment_accepts() -> None:
    text = guide_text()
    marker = "<!-- fragment-keys:"
    assert marker in text, "the guide no longer marks its list of fragment keys"
    paragraph = text[text.index(marker) :].split("\n\n", 1)[0]
    listed = re.findall(r"`([a-z_]+)`", paragraph.split("-->", 1)[1])
    assert listed == sorted(FRAGMENT_KEYS), "catalog/README.md's fragment keys differ from loader/model.py"


def test_guide_lists_every_category() -> None:
    text = guide_text()
    section = text[text.index("### Categories") : text.index("### Container options")]
    listed = re.findall(r"`([a-z-]+)`", section.split("one of:", 1)[1])
    assert listed == list(schema("database")["properties"]["category"]["enum"])


# --------------------------------------------------------------------------- the example, end to end


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> DatabaseAdapterRegistry:
    folder = tmp_path_factory.mktemp("guide") / ENTRY.parent
    folder.mkdir()
    (folder / ENTRY.name).write_text(guide_entry_text(), encoding="utf-8")
    return DatabaseAdapterRegistry([folder], use_env=False)


@pytest.mark.parametrize("environment", environment_names())
def test_example_renders_for_every_environment_and_compose_accepts_it(
    example: DatabaseAdapterRegistry, environment: str, tmp_path: Path
) -> None:
    svc = render_service(example.get_adapter(ENTRY.stem, {}), environment)
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(dump_compose(svc.document()), encoding="utf-8")
    (tmp_path / ".env").write_text("".join(format_entry(k, v) + "\n" for k, v in svc.env_entries.items()), "utf-8")
    result = compose_tools.compose_config(compose_file)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    # The password is nowhere in the compose file, neither as a value nor on a command line.
    (password,) = svc.env_entries.values()
    text = compose_file.read_text(encoding="utf-8")
    assert password not in text
    assert all("${" not in arg for arg in svc.service["command"]), svc.service["command"]
    if environment == "production":
        findings = compose_tools.compose_lint(compose_file)
        # The production gate of tests/test_compose.py: nothing at medium or above but CL-0019 (no digest
        # pinned: the images lock adds one). The CL-0020 a literal --requirepass argument raised is gone.
        significant = compose_tools.significant_findings(findings, "medium", ignore=("CL-0019",))
        assert significant == [], "\n".join(map(str, significant))


def test_example_as_librechat_cache_passes_the_production_gate(workdir: Path) -> None:
    """The guide's generate step with --env production: the stack passes the lint gate test_stack.py sets."""
    proc = run(f"{GENERATE} --env production", workdir)
    assert proc.returncode == 0, proc.stderr
    fill_keys_generate_asks_for(proc.stdout, workdir / "stack" / ".env")
    compose_file, env_file = workdir / "stack" / "compose.yaml", workdir / "stack" / ".env"
    compose: dict[str, Any] = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    assert compose["services"]["redis"]["image"].startswith("eqalpha/keydb:")
    assert "ports" not in compose["services"]["redis"]
    checked = compose_tools.compose_config(compose_file, env_file=env_file, environ=compose_tools.user_keys())
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    assert compose_tools.significant_findings(compose_tools.compose_lint(compose_file)) == []
