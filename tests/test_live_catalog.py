"""Every catalog entry whose server runs here, proven against that real server.

The cases come from data: each server description ``tests/live/KIND.yaml`` names the catalog
entries it serves (``serves:``).  For every (server, entry) pair:

a) every connection-string form of the entry, rendered by dbstack with the live host, port,
   user and password, logs in through the client library the form names (its ``client``,
   looked up in :data:`CLIENTS`) and runs a trivial query; the same form with a wrong password
   is refused.  A form can only be left out by a reason written in the description
   (``forms_not_live``), and a form whose client is not in :data:`CLIENTS` fails.
b) the entry's healthcheck, rendered by dbstack for the production compose service and
   resolved by the real Docker Compose (``config --format json`` with the ``.env`` holding the
   secrets, so ``$$`` and ``${VAR}`` are resolved exactly as Compose does), is run on the host
   against the live server, with the server's client tools on PATH and the service's
   environment: exit 0 with the right secrets, non-zero with wrong ones (or, for an entry
   without a password, non-zero while the server is stopped).

The README table "Databases and how they are tested" is checked against the catalog and these
descriptions, so it cannot go stale.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymemcache.client.base
import pytest
import redis
import sqlalchemy.exc
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlalchemy.pool import NullPool

from dbstack.loader.adapter import DatabaseAdapter
from dbstack.loader.errors import DbstackError
from dbstack.loader.model import DatabaseSpec
from dbstack.loader.registry import DatabaseAdapterRegistry
from dbstack.render.compose import ComposeService, dump_compose, render_service, use_secret_files
from dbstack.render.dotenv import format_entry

from compose_tools import compose_config, compose_environment, mounted_secrets, service_environment
from live_servers import HOSTILE_PASSWORD, Description, LiveServer, Served, descriptions

REGISTRY = DatabaseAdapterRegistry(use_env=False)
CATALOG_IDS = {spec.id for spec in REGISTRY}
README = Path(__file__).resolve().parent.parent / "README.md"
README_SECTION = "## Databases and how they are tested"
WRONG_PASSWORD = HOSTILE_PASSWORD[::-1]  # same characters, wrong order

# redis-py retries failed connections with backoff by default: fail at once.
NO_RETRY = Retry(NoBackoff(), 0)


# ----------------------------------------------------------------------------- clients


def login_psycopg(url: str, adapter: DatabaseAdapter) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT current_user").fetchone()


def _sqlalchemy_query(url: str, statement: str, **engine_options: Any) -> object:
    engine = create_engine(url, poolclass=NullPool, **engine_options)
    try:
        with engine.connect() as conn:
            return conn.execute(sql(statement)).one()
    finally:
        engine.dispose()


def login_sqlalchemy(url: str, adapter: DatabaseAdapter) -> object:
    return _sqlalchemy_query(url, "SELECT current_user")


def login_sqlalchemy_pymysql(url: str, adapter: DatabaseAdapter) -> object:
    # As a user would: create_engine(url), nothing added. PyMySQL encodes a str password as latin-1
    # while the server stored UTF-8 (test_live_servers.py::test_pymysql_str_password_trap): these forms
    # are logged in with the hostile password less its non-ASCII characters (see password_for), and
    # test_pymysql_forms_print_no_url_that_cannot_log_in covers the non-ASCII one.
    return _sqlalchemy_query(url, "SELECT CURRENT_USER()")


def login_redis(url: str, adapter: DatabaseAdapter) -> object:
    client = redis.Redis.from_url(url, retry=NO_RETRY, decode_responses=True)
    try:
        assert client.ping()
        return client.acl_whoami()
    finally:
        client.close()


def login_pymemcache(server: str, adapter: DatabaseAdapter) -> object:
    host, _, port = server.rpartition(":")
    client = pymemcache.client.base.Client((host.strip("[]"), int(port)), connect_timeout=5, timeout=5)
    try:
        client.set("dbstack-test", b"v@lue", expire=60)
        return client.get("dbstack-test")
    finally:
        client.close()


def login_etcdctl(url: str, adapter: DatabaseAdapter) -> object:
    """etcdctl (the entry's client) from the live server's package: a key written and read back."""
    bin_dir = descriptions()["etcd"].bin_dir
    assert bin_dir is not None
    base = [str(Path(bin_dir) / "etcdctl"), f"--endpoints={url}", "--dial-timeout=5s", "--command-timeout=5s"]
    env = {"PATH": "/usr/bin:/bin", "ETCDCTL_API": "3"}

    def etcdctl(*args: str) -> str:
        done = subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"etcdctl {' '.join(args)}: {done.stderr}"
        return done.stdout

    assert etcdctl("put", "dbstack-test", "v@lue é").strip() == "OK"
    value = etcdctl("get", "--print-value-only", "dbstack-test").strip()
    assert value == "v@lue é", value
    return value


def login_chromadb(url: str, adapter: DatabaseAdapter) -> object:
    """chromadb.HttpClient with the URL's host and port (as the form's description says): a nearest neighbour."""
    import chromadb  # imported here: it is heavy, and only this client needs it
    import numpy  # chromadb's own dependency: its typed API takes float32 arrays
    from chromadb.config import Settings

    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    client = chromadb.HttpClient(
        host=parts.hostname,
        port=parts.port,
        ssl=parts.scheme == "https",
        settings=Settings(anonymized_telemetry=False),
    )
    assert client.heartbeat() > 0
    collection = client.get_or_create_collection("dbstack-test")
    collection.upsert(
        ids=["near", "far"], embeddings=numpy.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=numpy.float32)
    )
    found = collection.query(query_embeddings=numpy.array([[0.9, 0.1, 0.0]], dtype=numpy.float32), n_results=1)["ids"]
    assert found == [["near"]], found
    return found


@dataclass(frozen=True)
class Client:
    login: Callable[[str, DatabaseAdapter], object]  # connect, run a trivial query, return its result
    refusal: tuple[type[Exception], str] | None  # what a wrong password raises, a regex of its message


PG_REFUSAL = "password authentication failed"
CLIENTS: Mapping[str, Client] = {
    "psycopg": Client(login_psycopg, (psycopg.OperationalError, PG_REFUSAL)),
    "sqlalchemy+psycopg": Client(login_sqlalchemy, (sqlalchemy.exc.OperationalError, PG_REFUSAL)),
    "sqlalchemy+pymysql": Client(login_sqlalchemy_pymysql, (sqlalchemy.exc.OperationalError, "Access denied")),
    "redis-py": Client(login_redis, (redis.AuthenticationError, "WRONGPASS|invalid username-password")),
    # memcached has no users here (the image starts it without SASL): nothing to refuse
    "pymemcache": Client(login_pymemcache, None),
    # The etcd and chroma entries run without authentication (development only): nothing to refuse
    "etcdctl": Client(login_etcdctl, None),
    "chromadb": Client(login_chromadb, None),
}


# ----------------------------------------------------------------------------- cases


def served_pairs() -> Iterator[tuple[Description, Served]]:
    for server in descriptions().values():
        for served in server.serves.values():
            if served.entry in CATALOG_IDS:  # else test_every_served_entry_is_in_the_catalog fails
                yield server, served


def form_cases() -> Iterator[Any]:
    for server, served in served_pairs():
        for form in REGISTRY.spec(served.entry).forms:
            if form not in served.forms_not_live:
                yield pytest.param(server.kind, served.entry, form, id=f"{served.entry}-{form}-on-{server.kind}")


def has_secrets(entry: str) -> bool:
    return any(parameter.secret for parameter in REGISTRY.spec(entry).parameters.values())


def refusal_cases() -> Iterator[Any]:
    """The forms of entries that have a password to get wrong."""
    return (case for case in form_cases() if "password" in REGISTRY.spec(case.values[1]).parameters)


def healthcheck_cases(secrets: bool | None = None) -> Iterator[Any]:
    """(server, entry) pairs whose healthcheck runs here; only those with/without secrets if asked."""
    for server, served in served_pairs():
        if served.healthcheck_not_live is None and secrets in (None, has_secrets(served.entry)):
            yield pytest.param(server.kind, served.entry, id=f"{served.entry}-on-{server.kind}")


# PyMySQL sends a str password as latin-1 (pymysql/connections.py), so no URL for it can carry a
# non-ASCII password that the server stored as UTF-8.
LATIN1_CLIENTS = frozenset({"sqlalchemy+pymysql"})


def password_for(spec: DatabaseSpec, form: str | None = None) -> str:
    """The hostile password, less the characters the entry's image refuses (its container_pattern)
    and, for a form whose client cannot send them, less its non-ASCII characters."""
    password = HOSTILE_PASSWORD
    if form is not None and spec.forms[form].client in LATIN1_CLIENTS:
        password = "".join(char for char in password if char.isascii())
    parameter = spec.parameters.get("password")
    pattern = parameter.container_pattern if parameter else None
    if pattern is None or re.fullmatch(pattern, password):
        return password
    kept = "".join(char for char in password if re.fullmatch(pattern, char))
    assert re.fullmatch(pattern, kept), f"{spec.id}: no hostile password fits {pattern!r}"
    return kept


@dataclass(frozen=True)
class Case:
    server: LiveServer
    served: Served
    spec: DatabaseSpec

    def config(self, password: str | None = None) -> dict[str, Any]:
        """The live server's coordinates and account, as the entry's parameters."""
        config: dict[str, Any] = {"host": self.server.host, "port": self.server.port}
        account: dict[str, str | None] = {
            "username": self.server.username,
            "password": password or self.server.password,
            "database": self.server.database,
        }
        for name, value in account.items():
            parameter = self.spec.parameters.get(name)
            if parameter is not None and value is not None:
                config[name] = int(value) if parameter.type == "integer" else value
        config.update(self.served.config)
        return config


CaseOf = Callable[..., Case]


@pytest.fixture
def case_of(live_server_of: Callable[..., LiveServer]) -> CaseOf:
    """``case_of(kind, entry[, form])``: the live server with the app password the entry (and form) can take."""

    def make(kind: str, entry: str, form: str | None = None) -> Case:
        spec = REGISTRY.spec(entry)
        server = live_server_of(kind, password_for(spec, form))
        return Case(server, descriptions()[kind].serves[entry], spec)

    return make


# ----------------------------------------------------------------------------- a) connection strings


def client_of(entry: str, form: str) -> Client:
    name = REGISTRY.spec(entry).forms[form].client
    assert name is not None and name in CLIENTS, (
        f"{entry} form {form!r}: no live client {name!r} in CLIENTS; add one, or give a reason in "
        "the server description's forms_not_live"
    )
    return CLIENTS[name]


@pytest.mark.parametrize(("kind", "entry", "form"), list(form_cases()))
def test_rendered_form_logs_in_and_queries(kind: str, entry: str, form: str, case_of: CaseOf) -> None:
    case = case_of(kind, entry, form)
    adapter = DatabaseAdapter(case.spec, case.config())
    result = client_of(entry, form).login(adapter.connection_string(form), adapter)
    assert result, f"{entry} {form}: the trivial query returned {result!r}"


@pytest.mark.parametrize(("kind", "entry", "form"), list(refusal_cases()))
def test_rendered_form_with_a_wrong_password_is_refused(kind: str, entry: str, form: str, case_of: CaseOf) -> None:
    case = case_of(kind, entry, form)
    adapter = DatabaseAdapter(case.spec, case.config(password=case.server.password[::-1]))
    refusal = client_of(entry, form).refusal
    assert refusal is not None, f"{entry} has a password, but CLIENTS does not say how its client refuses one"
    error, message = refusal
    with pytest.raises(error, match=message):
        client_of(entry, form).login(adapter.connection_string(form), adapter)


def latin1_form_cases() -> Iterator[Any]:
    """The live forms whose client sends a str password as latin-1, with the hostile (non-ASCII) password."""
    for case in form_cases():
        kind, entry, form = case.values
        if REGISTRY.spec(entry).forms[form].client in LATIN1_CLIENTS:
            yield pytest.param(kind, entry, form, id=case.id)


@pytest.mark.parametrize(("kind", "entry", "form"), list(latin1_form_cases()))
def test_pymysql_forms_print_no_url_that_cannot_log_in(kind: str, entry: str, form: str, case_of: CaseOf) -> None:
    """A non-ASCII password: the form refuses it in one line that says why, or its URL logs in as a user's would."""
    case = case_of(kind, entry)  # the app user has the whole hostile password, é included
    assert not case.server.password.isascii()
    adapter = DatabaseAdapter(case.spec, case.config())
    try:
        url = adapter.connection_string(form)
    except DbstackError as refused:
        assert re.search(r"PyMySQL sends a password as latin-1 .*non-ASCII password cannot log in", str(refused))
        assert "\n" not in str(refused)
    else:
        assert client_of(entry, form).login(url, adapter)


# ----------------------------------------------------------------------------- b) healthchecks


def with_container_port(spec: DatabaseSpec, port: int) -> DatabaseSpec:
    """The entry with its main container port moved to the live server's port.

    Inside a container the healthcheck reaches the server on ``container_port``; on this host
    the live server listens on a free port instead. Changing that one datum and rendering
    through the real path (compose_service -> compose.yaml + .env -> docker compose config)
    gives exactly the command Docker would run, with every value interpolated, rather than a
    re-rendering of the templates by hand.
    """
    assert spec.container is not None, f"{spec.id} is embedded"
    main = dataclasses.replace(spec.container.main_port, container=port)
    container = dataclasses.replace(spec.container, ports=(main, *spec.container.ports[1:]))
    return dataclasses.replace(spec, container=container)


@dataclass(frozen=True)
class Healthcheck:
    test: list[str]
    environment: dict[str, str]


def rendered_for_test(spec: DatabaseSpec, config: dict[str, Any], as_written: bool = False) -> ComposeService:
    """The entry's service for production, or for the first environment its image is meant for; with
    ``as_written``, as ``dbstack compose`` and ``generate`` write it: secrets the image reads from files are
    compose secrets (use_secret_files)."""
    assert spec.container is not None
    allowed = spec.container.environments or ("production",)
    environment = "production" if "production" in allowed else allowed[0]
    service = render_service(DatabaseAdapter(spec, config), environment)
    return use_secret_files(service, spec.container) if as_written else service


def resolved_healthcheck(
    case: Case, directory: Path, secrets: Callable[[str], str] = str, *, as_written: bool = False
) -> Healthcheck:
    """The service's healthcheck as Compose resolves it; *secrets* maps each .env value.

    With ``as_written`` the service gets its secret files as dbstack writes them (from the mapped .env values),
    and each ``*_FILE`` variable naming a secret Compose mounts names a copy of that secret on this host: the
    bind mount, played by a path.
    """
    spec = with_container_port(case.spec, case.server.port)
    svc = rendered_for_test(spec, case.config(), as_written)
    directory.mkdir()
    compose_file = directory / "compose.yaml"
    compose_file.write_text(dump_compose(svc.document()), encoding="utf-8")
    env_lines = [format_entry(var, secrets(value)) + "\n" for var, value in svc.env_entries.items()]
    (directory / ".env").write_text("".join(env_lines), encoding="utf-8")
    for file_name, var in svc.secret_files.items():
        (directory / file_name).write_text(secrets(svc.env_entries[var]), encoding="utf-8")
        (directory / file_name).chmod(0o600)
    result = compose_config(compose_file, env_file=directory / ".env", fmt="json").check()
    assert result.model is not None and result.stderr == "", result.stderr
    healthcheck = result.model["services"][svc.name].get("healthcheck")
    assert healthcheck, f"{case.spec.id}: the service has no healthcheck"
    variables = {k: v for k, v in service_environment(result.model, svc.name).items() if v is not None}
    mounted = mounted_secrets(result.model, svc.name, compose_environment(compose_file, directory / ".env"))
    for var, value in list(variables.items()):
        if var.endswith("_FILE") and value in mounted:
            copy = directory / "mounted" / Path(value).name
            copy.parent.mkdir(exist_ok=True)
            copy.write_text(mounted[value], encoding="utf-8")
            variables[var] = str(copy)
    return Healthcheck([arg.replace("$$", "$") for arg in healthcheck["test"]], variables)


def run_healthcheck(check: Healthcheck, server: LiveServer, home: Path) -> subprocess.CompletedProcess[str]:
    """The healthcheck's test on the host: CMD as argv, CMD-SHELL through ``sh -c``.

    Programs come from the live server's ``bin_dir`` first; the process gets the container's
    environment, a PATH and an empty HOME (no client config of this machine is read). Docker
    also sets HOSTNAME, a name that resolves to the container's own network address: here the
    live server's address, the only one it listens on.
    """
    kind, *args = check.test
    path = os.pathsep.join([str(server.bin_dir), "/usr/bin", "/bin"])
    env = {**check.environment, "PATH": path, "HOME": str(home), "HOSTNAME": server.host}
    if kind == "CMD":
        program = shutil.which(args[0], path=path)
        assert program, f"the healthcheck program {args[0]!r} is not installed here (PATH={path})"
        argv = [program, *args[1:]]
    elif kind == "CMD-SHELL":
        assert len(args) == 1, check.test
        argv = ["sh", "-c", args[0]]
    else:
        pytest.fail(f"unsupported healthcheck test {check.test!r}")
    return subprocess.run(
        argv, env=env, cwd=home, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(("kind", "entry"), list(healthcheck_cases()))
def test_rendered_healthcheck_passes_on_the_live_server(kind: str, entry: str, case_of: CaseOf, tmp_path: Path) -> None:
    case = case_of(kind, entry)
    check = resolved_healthcheck(case, tmp_path / "right")
    done = run_healthcheck(check, case.server, tmp_path)
    assert done.returncode == 0, f"healthcheck red on a running server: {check.test}\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize(("kind", "entry"), list(healthcheck_cases(secrets=False)))
def test_rendered_healthcheck_without_secrets_fails_on_a_stopped_server(
    kind: str, entry: str, case_of: CaseOf, tmp_path: Path
) -> None:
    """A server without authentication: the healthcheck must at least see it gone."""
    case = case_of(kind, entry)
    check = resolved_healthcheck(case, tmp_path / "right")
    with case.server.stopped():
        down = run_healthcheck(check, case.server, tmp_path)
    assert down.returncode != 0, f"healthcheck green on a stopped server: {check.test}\n{down.stdout}"


@pytest.mark.parametrize(("kind", "entry"), list(healthcheck_cases(secrets=True)))
def test_rendered_healthcheck_fails_with_wrong_secrets(kind: str, entry: str, case_of: CaseOf, tmp_path: Path) -> None:
    """Every secret of the .env replaced by a wrong value: the healthcheck must turn red."""
    case = case_of(kind, entry)
    right = resolved_healthcheck(case, tmp_path / "right")
    wrong = resolved_healthcheck(case, tmp_path / "wrong", secrets=lambda value: WRONG_PASSWORD)
    assert wrong != right, "the wrong secrets reach neither the command nor the environment"
    done = run_healthcheck(wrong, case.server, tmp_path)
    assert done.returncode != 0, f"healthcheck green with wrong secrets: {wrong.test}\n{done.stdout}{done.stderr}"


def secret_file_cases() -> Iterator[Any]:
    """(server, entry) pairs whose service, as dbstack writes it, passes some secret as a compose secret file."""
    for case in healthcheck_cases(secrets=True):
        spec = REGISTRY.spec(case.values[1])
        assert spec.container is not None
        config = {name: "x" for name, parameter in spec.parameters.items() if parameter.secret}
        if rendered_for_test(spec, config, as_written=True).secrets:
            yield case


@pytest.mark.parametrize(("kind", "entry"), list(secret_file_cases()))
def test_rendered_healthcheck_with_secret_files_passes_and_fails_on_the_live_server(
    kind: str, entry: str, case_of: CaseOf, tmp_path: Path
) -> None:
    """The service as written, its passwords in secret files instead of variables: green with the right
    files, red with wrong ones, and red when a file the check reads is missing (no fallback to nothing)."""
    case = case_of(kind, entry)
    right = resolved_healthcheck(case, tmp_path / "right", as_written=True)
    assert case.spec.container is not None
    moved = set(case.spec.container.file_variants) - set(right.environment)
    assert moved, f"{entry}: no variable became a file"
    done = run_healthcheck(right, case.server, tmp_path)
    assert done.returncode == 0, f"healthcheck red on a running server: {right.test}\n{done.stdout}{done.stderr}"
    wrong = resolved_healthcheck(case, tmp_path / "wrong", secrets=lambda value: WRONG_PASSWORD, as_written=True)
    done = run_healthcheck(wrong, case.server, tmp_path)
    assert done.returncode != 0, f"healthcheck green with wrong secret files: {wrong.test}\n{done.stdout}"
    script = " ".join(right.test)
    for var in (v for v in right.environment if v.endswith("_FILE") and f"${v}" in script):
        gone = dataclasses.replace(right, environment={**right.environment, var: str(tmp_path / "no-such-file")})
        done = run_healthcheck(gone, case.server, tmp_path)
        assert done.returncode != 0, f"healthcheck green without {var}'s file: {right.test}\n{done.stdout}"


# ----------------------------------------------------------------------------- the descriptions' own data


def test_every_served_entry_is_in_the_catalog() -> None:
    unknown = {s.kind: sorted(set(s.serves) - CATALOG_IDS) for s in descriptions().values()}
    assert not {kind: ids for kind, ids in unknown.items() if ids}


def test_exclusions_name_existing_forms_and_give_reasons() -> None:
    for server, served in served_pairs():
        forms = REGISTRY.spec(served.entry).forms
        for form, reason in served.forms_not_live.items():
            assert form in forms, f"{server.source}: {served.entry} has no form {form!r}"
            assert reason.strip(), f"{server.source}: {served.entry} {form}: no reason given"
        if served.healthcheck_not_live is not None:
            assert served.healthcheck_not_live.strip(), f"{server.source}: {served.entry}: no reason given"


def test_the_postgresql_entries_are_live_with_secret_files() -> None:
    """Their healthchecks read the password file: the case list must not lose them silently."""
    assert {"postgresql", "pgvector"} <= {case.values[1] for case in secret_file_cases()}


def test_there_are_live_cases() -> None:
    assert len(list(form_cases())) >= len(descriptions())
    assert len(list(healthcheck_cases())) >= 4


# ----------------------------------------------------------------------------- the README table


def readme_rows() -> dict[str, list[str]]:
    """The table under README_SECTION: database id -> its cells."""
    text = README.read_text(encoding="utf-8")
    assert README_SECTION in text, f"README.md has no section {README_SECTION!r}"
    section = text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or set(cells[0]) <= {"-", ":"} or cells[0] == "database":
            continue
        database = cells[0].strip("`")
        assert database not in rows, f"README table lists {database} twice"
        rows[database] = cells
    return rows


def image_cell(spec: DatabaseSpec) -> str:
    return "embedded" if spec.container is None else f"`{spec.container.image}:{spec.container.tag}`"


def test_readme_table_lists_every_entry_with_its_image() -> None:
    rows = readme_rows()
    assert sorted(rows) == sorted(CATALOG_IDS)
    for spec in REGISTRY:
        _, category, image, _ = rows[spec.id]
        assert (category, image) == (spec.category, image_cell(spec)), f"README row of {spec.id} is stale"


def test_readme_table_says_which_entries_run_live() -> None:
    servers_of: dict[str, list[Description]] = {}
    for server, served in served_pairs():
        servers_of.setdefault(served.entry, []).append(server)
    for database, (*_, live) in readme_rows().items():
        if database in servers_of:
            titles = [server.title for server in servers_of[database]]
            assert live.startswith("live:"), f"README: {database} runs live on {titles}"
            for title in titles:
                assert title in live, f"README: {database} row should name {title}"
        else:
            assert live.startswith("not live:") and len(live) > len("not live:") + 10, (
                f"README: {database} has no server description: say 'not live: WHY'"
            )
