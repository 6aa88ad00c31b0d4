"""Issue 8, the reviewer's gaps: what a regeneration keeps (project name, effective settings), what the
first run tells the user (a model to chat with, the address that works, the sign-up reason), and the notes a
change needs (Meilisearch versions, MongoDB's own user, embeddings providers). Checked on the files as
written and by the real Docker Compose binary."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_first_start import APP, GENERATOR, generate, model_of

from dbstack import DbstackError
from dbstack.cli import main
from dbstack.config_engine import StackRequest
from dbstack.render import dotenv
from dbstack.stack_generator import checked_domain

from compose_tools import (
    clean_env,
    compose_binary,
    compose_config,
    compose_environment,
    mounted_secrets,
    service_environment,
)

APP_USER = APP.roles["primary_store"].app_users["mongodb"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# --- 1. the compose project name survives regeneration ---------------------------------------------------------


def test_regeneration_keeps_the_project_name_given_once(tmp_path: Path) -> None:
    folder = tmp_path / "nm"
    generate(folder, StackRequest(name="chat"))
    report = generate(folder, StackRequest())
    assert model_of(folder)["name"] == "chat"
    assert "--name chat " in (folder / "compose.yaml").read_text(encoding="utf-8")
    assert not any("project" in w for w in report.warnings)


def test_a_stack_from_before_project_names_keeps_librechat(tmp_path: Path) -> None:
    """Every stack written before --name existed was the project ``librechat``: its volumes are named so."""
    folder = tmp_path / "old"
    generate(folder, StackRequest())
    compose = folder / "compose.yaml"
    compose.write_text(compose.read_text(encoding="utf-8").replace("\nname: old\n", "\nname: librechat\n"))
    record = folder / ".dbstack-files"  # as written before names were recorded there
    record.write_text(record.read_text(encoding="utf-8").replace("# project: old\n", ""))
    generate(folder, StackRequest())
    model = model_of(folder)
    assert model["name"] == "librechat"
    assert model["volumes"]["mongodb-data"]["name"] == "librechat_mongodb-data"


def test_another_name_for_an_existing_stack_is_refused_unless_confirmed(tmp_path: Path) -> None:
    folder = tmp_path / "nm"
    generate(folder, StackRequest(name="chat"))
    before = snapshot(folder)
    with pytest.raises(
        DbstackError,
        match=r"^--name other: the stack in \S+ is the project chat; another name starts a new project "
        r"with new, empty volumes \(the data stays in chat_mongodb-data, .*\)\. Regenerate without --name to keep "
        r"it, or add --new-project to start the new one anyway$",
    ):
        GENERATOR.generate(StackRequest(name="other"), folder)
    assert snapshot(folder) == before
    report = generate(folder, StackRequest(name="other", new_project=True))
    assert model_of(folder)["name"] == "other"
    assert any(
        "the compose project is now other" in w and "chat_mongodb-data" in w and "docker compose -p chat down" in w
        for w in report.warnings
    ), report.warnings


def test_a_name_from_the_folder_is_named_in_a_warning_and_the_readme(tmp_path: Path) -> None:
    first = generate(tmp_path / "p1" / "librechat-development", StackRequest())
    second = generate(tmp_path / "p2" / "librechat-development", StackRequest())
    for report in (first, second):
        assert any("project name librechat-development comes from the output folder" in w for w in report.warnings)
    readme = (tmp_path / "p1" / "librechat-development" / "README.md").read_text(encoding="utf-8")
    assert "another folder named `librechat-development`" in readme
    given = generate(tmp_path / "p3" / "librechat-development", StackRequest(name="p3"))
    assert not any("output folder" in w for w in given.warnings)
    assert "another folder named" not in (tmp_path / "p3" / "librechat-development" / "README.md").read_text()
    assert yaml.safe_load((tmp_path / "p3" / "librechat-development" / "compose.yaml").read_text())["name"] == "p3"


# --- 2. a model to chat with, and what .env really holds ----------------------------------------------------------


def test_a_stack_without_an_endpoint_says_how_to_enable_one_and_the_command_works(tmp_path: Path) -> None:
    folder = tmp_path / "chat"
    report = generate(folder, StackRequest(name="chat"))
    assert any("no model endpoint is enabled" in w and "--endpoint openai|anthropic" in w for w in report.warnings)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"```sh\n(dbstack generate [^\n]*)\n```", readme)
    assert command.endswith(" --endpoint openai")
    header = (folder / "librechat.env").read_text(encoding="utf-8")
    assert "reach\n# a container only where compose.yaml references them" in header
    # The README's command, as the user runs it: the key is then wired to the api, and the note is gone.
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        assert main(shlex.split(command)[1:]) == 0
    assert "no model endpoint" not in err.getvalue()
    assert service_environment(model_of(folder), "api")["OPENAI_API_KEY"] == "user_provided"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "`OPENAI_API_KEY` is `user_provided`: each user enters their own in LibreChat" in readme
    assert "No model endpoint is enabled" not in readme
    # A key of the user's in .env is theirs, shared by every user: the README no longer calls it user_provided.
    env = folder / ".env"
    env.write_text(env.read_text(encoding="utf-8").replace("OPENAI_API_KEY=user_provided", "OPENAI_API_KEY=sk-mine"))
    generate(folder, StackRequest())
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "`OPENAI_API_KEY` holds your key: every user chats on it" in readme
    assert "`OPENAI_API_KEY` is `user_provided`" not in readme


# --- 3. the address users open is where the api is published, or the README says what must forward it -----------


@pytest.mark.parametrize(
    ("domain", "published", "host_ip"),
    [
        ("http://localhost:8080", "8080", "127.0.0.1"),
        ("http://127.0.0.2:3090", "3090", "127.0.0.2"),  # the address users open, not 127.0.0.1
        ("http://[::1]:8081", "8081", "::1"),
        ("http://localhost", "80", "127.0.0.1"),
        ("http://chat.localhost:5432", "5432", "127.0.0.1"),  # a database's port: the database moves, not the api
    ],
)
def test_a_loopback_http_domain_is_where_the_api_is_published(
    tmp_path: Path, domain: str, published: str, host_ip: str
) -> None:
    report = generate(tmp_path, StackRequest(domain=domain))
    model = model_of(tmp_path)
    (port,) = model["services"]["api"]["ports"]
    assert (port["published"], port["host_ip"], port["target"]) == (published, host_ip, 3080)
    everything = [p["published"] for s in model["services"].values() for p in s.get("ports", [])]
    assert len(everything) == len(set(everything)), everything
    assert not any("reverse proxy" in w for w in report.warnings)
    assert "nothing in this stack serves that address" not in (tmp_path / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("domain", "host_ip"),
    [("https://[::1]:8443", "::1"), ("https://127.0.0.3:8443", "127.0.0.3"), ("https://localhost:8443", "127.0.0.1")],
)
def test_the_proxy_of_a_loopback_domain_is_published_on_that_address(tmp_path: Path, domain: str, host_ip: str) -> None:
    generate(tmp_path, StackRequest(domain=domain, proxy="caddy"))
    (port,) = model_of(tmp_path)["services"]["caddy"]["ports"]
    assert (port["published"], port["host_ip"]) == ("8443", host_ip)


@pytest.mark.parametrize(
    ("domain", "address"),
    [
        ("http://127.0.0.2:3080", " --address 127.0.0.2 "),  # kubectl listens on 127.0.0.1 and ::1 alone
        ("http://[::1]:3080", " "),
        ("http://localhost:3080", " "),
        ("http://chat.localhost:3080", " "),
        ("http://10.0.0.5:3080", " --address 10.0.0.5 "),
    ],
)
def test_kubernetes_port_forward_listens_on_the_domains_address(domain: str, address: str) -> None:
    from dbstack.kubernetes_stack import port_forward_command

    expected = f"kubectl -n ns port-forward{address}service/api 3080:3080"
    assert port_forward_command("ns", "api", domain, 3080) == expected


@pytest.mark.parametrize("domain", ["http://chat.example.com", "https://localhost:3443", "http://10.0.0.5:3080"])
def test_an_address_the_api_is_not_published_at_is_named_with_what_must_forward_it(tmp_path: Path, domain: str) -> None:
    report = generate(tmp_path, StackRequest(domain=domain))
    (port,) = model_of(tmp_path)["services"]["api"]["ports"]
    assert (port["published"], port["host_ip"]) == ("3080", "127.0.0.1")
    expected = f"a reverse proxy on this host must serve {domain} and forward it to http://127.0.0.1:3080"
    assert any(expected in w and "--proxy caddy" in w for w in report.warnings), report.warnings
    readme = " ".join((tmp_path / "README.md").read_text(encoding="utf-8").split())
    assert "but the api is published on" in readme and "http\\:\\/\\/127\\.0\\.0\\.1\\:3080" in readme
    assert readme.lower().count("users open") == 1  # said once


# --- 4. the README and the "Regenerate with" line describe the values in effect ------------------------------------


def test_readme_and_header_follow_the_settings_file_not_the_defaults(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(environment="production", domain="https://chat.example.com"))
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "Sign-up is closed" in readme and "Cookies are marked secure" in readme
    settings = tmp_path / "librechat.env"
    text = settings.read_text(encoding="utf-8")
    text = text.replace("ALLOW_REGISTRATION=false", "ALLOW_REGISTRATION=TRUE")
    settings.write_text(text.replace("SESSION_COOKIE_SECURE=true", "SESSION_COOKIE_SECURE=false"))
    generate(tmp_path, StackRequest(environment="production"))
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "Sign-up is open: **the first account registered becomes the admin**." in readme
    assert "Sign-up is closed" not in readme
    assert "Cookies are not marked secure (`SESSION_COOKIE_SECURE=false`)" in readme
    assert "Closed is the default in production: anyone who reaches the address could\nregister before you" in readme


# --- 5. a provider switched in librechat.env: every setting it lacks is named -------------------------------------


def test_switching_the_embeddings_provider_in_the_file_names_what_it_lacks(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest())
    settings = tmp_path / "librechat.env"
    assert "# A change of EMBEDDINGS_PROVIDER needs a regeneration first" in settings.read_text(encoding="utf-8")
    settings.write_text(settings.read_text().replace("EMBEDDINGS_PROVIDER=openai", "EMBEDDINGS_PROVIDER=ollama"))
    report = generate(tmp_path, StackRequest())
    notes = [w for w in report.warnings if "librechat.env" in w]
    assert any(
        "EMBEDDINGS_PROVIDER=ollama needs OLLAMA_BASE_URL, which the file lacks" in w
        and "add OLLAMA_BASE_URL=http://host.docker.internal:11434" in w
        for w in notes
    ), notes
    stale = "EMBEDDINGS_MODEL=text-embedding-3-small is the model of openai, azure, not one of ollama's"
    assert any(stale in w for w in notes), notes
    # Once the file holds what the provider needs, nothing is said.
    settings.write_text(
        settings.read_text().replace("EMBEDDINGS_MODEL=text-embedding-3-small", "EMBEDDINGS_MODEL=nomic-embed-text")
        + "OLLAMA_BASE_URL=http://host.docker.internal:11434\n"
    )
    assert not [w for w in generate(tmp_path, StackRequest()).warnings if "librechat.env" in w]


# --- 6. Meilisearch of another version: the exact steps, checked by Compose ----------------------------------------


def compose_with_override(folder: Path, override: str) -> dict[str, Any]:
    """compose.yaml with the README's compose.override.yaml, merged by the real Compose binary."""
    (folder / "compose.override.yaml").write_text(override, encoding="utf-8")
    args = [str(compose_binary()), "-f", "compose.yaml", "-f", "compose.override.yaml", "--env-file", ".env"]
    proc = subprocess.run(
        [*args, "config", "--format", "json"], cwd=folder, env=clean_env(), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    model: dict[str, Any] = json.loads(proc.stdout)
    return model


def old_meilisearch_stack(folder: Path, volume: str) -> str:
    """A stack whose compose.yaml ran Meilisearch v1.35.1 on ``volume``; returns the current volume."""
    generate(folder, StackRequest(name="nm"))
    compose = folder / "compose.yaml"
    document = yaml.safe_load(compose.read_text(encoding="utf-8"))
    (current,) = [v for v in document["volumes"] if v.startswith("meilisearch-data")]
    image = document["services"]["meilisearch"]["image"]
    text = compose.read_text(encoding="utf-8").replace(image, "getmeili/meilisearch:v1.35.1")
    compose.write_text(text.replace(current, volume), encoding="utf-8")
    return str(current)


@pytest.mark.parametrize("old", ["meilisearch-data-v1.35", "meilisearch-data"])  # the latter: before versioning
def test_meilisearch_upgrade_steps_name_the_old_image_and_volumes_and_compose_accepts_them(
    tmp_path: Path, old: str
) -> None:
    current = old_meilisearch_stack(tmp_path, old)
    report = generate(tmp_path, StackRequest())
    assert any(
        f"cannot open the data written by getmeili/meilisearch:v1.35.1 in volume nm_{old} (kept)" in w
        and f"starts empty on nm_{current}" in w
        for w in report.warnings
    ), report.warnings
    generate(tmp_path, StackRequest())  # a later regeneration still knows the old image (x-dbstack-kept-volumes)
    document = yaml.safe_load((tmp_path / "compose.yaml").read_text(encoding="utf-8"))
    assert document["x-dbstack-kept-volumes"] == {old: "getmeili/meilisearch:v1.35.1"} and old in document["volumes"]
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert f"### nm_{old} to nm_{current}" in readme
    assert f"docker volume rm nm_{old}" in readme
    assert 'curl -sS -X POST -H @- http://127.0.0.1:7700/dumps' in readme and "$MEILI_MASTER_KEY" in readme
    run_old, import_dump = re.findall(r"   ```yaml\n(.*?)   ```\n", readme, re.S)
    # Step 1: the old image on the old volume.
    model = compose_with_override(tmp_path, textwrap.dedent(run_old))
    meilisearch = model["services"]["meilisearch"]
    assert meilisearch["image"] == "getmeili/meilisearch:v1.35.1"
    assert [(v["source"], v["target"]) for v in meilisearch["volumes"]] == [(old, "/meili_data")]
    assert model["volumes"][old]["name"] == f"nm_{old}"
    # Step 3: the new image imports the dump from the old volume, mounted read-only at /old.
    model = compose_with_override(tmp_path, textwrap.dedent(import_dump))
    meilisearch = model["services"]["meilisearch"]
    assert meilisearch["image"] == document["services"]["meilisearch"]["image"]
    assert meilisearch["command"] == ["meilisearch", "--import-dump", "/old/dumps/DUMP.dump"]
    mounts = {v["target"]: (v["source"], v.get("read_only", False)) for v in meilisearch["volumes"]}
    assert mounts == {"/meili_data": (current, False), "/old": (old, True)}
    # Before it, the container and the volume the import writes go: Meilisearch refuses to import over the
    # database the new version made when it started (its data.ms), which dbstack's "next: up -d" does.
    (emptied,) = [b for b in re.findall(r"   ```sh\n(.*?)   ```\n", readme, re.S) if "volume rm" in b]
    assert [shlex.split(line) for line in emptied.strip().splitlines()] == [
        ["docker", "compose", "rm", "--stop", "--force", "meilisearch"],
        ["docker", "volume", "rm", model["volumes"][current]["name"]],
    ]
    assert model["volumes"][current]["name"] == f"nm_{current}"
    assert readme.index("docker volume rm nm_" + current) < readme.index('"--import-dump"')
    usage = subprocess.run([str(compose_binary()), "rm", "--help"], capture_output=True, text=True, check=False)
    assert usage.returncode == 0 and "--stop" in usage.stdout and "--force" in usage.stdout, usage.stderr


# --- 7. a stack from before least privilege: which MongoDB user is in effect, and how to move ------------------------


def test_an_old_root_uri_is_named_and_the_readme_command_creates_the_user_from_the_environment(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(name="mig"))
    env = tmp_path / ".env"
    values = dotenv.read(env).as_dict()
    root_uri = f"mongodb://root:{values['MONGODB_PASSWORD']}@mongodb:27017/LibreChat?authSource=admin"
    env.write_text(env.read_text(encoding="utf-8").replace(values["API_MONGO_URI"], root_uri), encoding="utf-8")
    report = generate(tmp_path, StackRequest())
    assert any("LibreChat still logs in as root" in w and "README.md, Database user" in w for w in report.warnings)
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "LibreChat logs in to `mongodb` as `root`" in readme
    assert "```sh\ndocker compose up -d mongodb    # the container gets the user's password from .env\n" in readme
    (command,) = [line for line in readme.splitlines() if line.startswith("docker compose exec mongodb mongosh")]
    words = shlex.split(command)
    assert not any(values["MONGODB_PASSWORD"] in w or values["MONGODB_APP_PASSWORD"] in w for w in words)
    assert words[:6] == ["docker", "compose", "exec", "mongodb", "mongosh", "--quiet"] and words[6] == "--eval"
    # The --eval as mongosh runs it in the container Compose makes: authenticates as root with the passwords
    # from the secret files the *_FILE variables name (copies of what Compose mounts), then loads the mounted
    # init script, which creates the app user with the app definition's roles.
    script = tmp_path / "mongodb-app-user.js"
    harness = (
        "const calls = [];"
        "globalThis.db = { getSiblingDB: (name) => ({"
        "  auth: (u, p) => { calls.push({auth: name, u, p}); return {ok: 1}; },"
        "  createUser: (u) => calls.push({db: name, ...u}) }) };"
        f"globalThis.load = (path) => {{ if (path !== {json.dumps(APP_USER.target)}) throw new Error(path);"
        f" require({json.dumps(str(script))}); }};"
        f"{words[7]};"
        "console.log(JSON.stringify(calls));"
    )
    node = shutil.which("node")
    assert node
    model = compose_config(tmp_path / "compose.yaml", env_file=env, fmt="json").model
    assert model is not None
    container_env = {k: v for k, v in service_environment(model, "mongodb").items() if v is not None}
    mounted = mounted_secrets(model, "mongodb", compose_environment(tmp_path / "compose.yaml", env))
    for variable in ("MONGO_INITDB_ROOT_PASSWORD_FILE", f"{APP_USER.password_variable}_FILE"):
        copy = tmp_path / "secrets" / variable
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(mounted[container_env[variable]], encoding="utf-8")
        container_env[variable] = str(copy)
    assert "MONGO_INITDB_ROOT_PASSWORD" not in container_env and APP_USER.password_variable not in container_env
    container_env["PATH"] = os.environ["PATH"]
    out = subprocess.run([node, "-e", harness], env=container_env, capture_output=True, text=True, check=True)
    auth, create = json.loads(out.stdout)
    assert auth == {"auth": "admin", "u": "root", "p": values["MONGODB_PASSWORD"]}
    roles = [{"role": role, "db": "LibreChat"} for role in APP_USER.roles]
    pwd = values["MONGODB_APP_PASSWORD"]
    assert create == {"db": "LibreChat", "user": APP_USER.username, "pwd": pwd, "roles": roles}
    # Then, as the README says: drop the old URI from .env and regenerate: LibreChat's own user is in effect.
    env.write_text("".join(line for line in env.read_text().splitlines(True) if not line.startswith("API_MONGO_URI=")))
    report = generate(tmp_path, StackRequest())
    assert not any("still logs in" in w for w in report.warnings)
    assert dotenv.read(env).as_dict()["API_MONGO_URI"].startswith("mongodb://librechat:")
    assert "LibreChat logs in to `mongodb` as `librechat` (readWrite on `LibreChat` only)" in (
        tmp_path / "README.md"
    ).read_text(encoding="utf-8")


# --- 9, 10, 13: README order and reasons, waits without restart, the skill mount ------------------------------------


@pytest.mark.parametrize("env", ["development", "staging", "production"])
def test_readme_steps_are_in_the_order_a_user_takes_them(tmp_path: Path, env: str) -> None:
    generate(tmp_path, StackRequest(environment=env, proxy="caddy"))
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    order = ["### 1. Keys", "### 2. A model to chat with", "### 3. TLS front", "### 4. Start", "### 5. Open `https"]
    positions = [readme.index(heading) for heading in order]
    assert positions == sorted(positions)
    assert readme.index("docker compose up -d\n") < readme.index("Sign-up is")
    reason = {
        "development": "Open is the default in development: a workstation, where you register\nfirst",
        "staging": "Closed is the default in staging: anyone who reaches the address could\nregister before you",
        "production": "Closed is the default in production: anyone who reaches the address could\nregister before you",
    }
    assert reason[env] in readme
    assert "./skill:/app/skill" in readme.replace("\\", "")  # upstream's mount, explained among the differences


def test_optional_services_are_waited_for_without_restarting_the_api_and_each_wait_says_why(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(environment="production", proxy="caddy", use={"cache": "redis"}))
    text = (tmp_path / "compose.yaml").read_text(encoding="utf-8")
    services = yaml.safe_load(text)["services"]
    assert services["api"]["depends_on"]["meilisearch"] == {"condition": "service_started"}
    assert services["api"]["depends_on"]["rag_api"] == {"condition": "service_started"}
    assert services["api"]["depends_on"]["mongodb"] == {"condition": "service_healthy", "restart": True}
    assert services["caddy"]["depends_on"]["api"] == {"condition": "service_started"}
    for other in ("mongodb", "meilisearch", "rag_api", "redis"):
        wait = APP.services["api"].wait_for[other]
        assert f"# api waits for {other} ({wait.until}): {wait.why}\n" in text


# --- 11. the Caddyfile is the user's after the first write ----------------------------------------------------------


def test_the_caddyfile_is_kept_and_a_site_it_no_longer_serves_is_named(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(proxy="caddy", domain="https://chat.lan"))
    caddyfile = tmp_path / "Caddyfile"
    assert caddyfile.stat().st_mode & 0o777 == 0o644
    proxy_line = "\treverse_proxy api:3080"
    mine = caddyfile.read_text(encoding="utf-8").replace(proxy_line, f"\tencode gzip\n{proxy_line}")
    caddyfile.write_text(mine, encoding="utf-8")
    report = generate(tmp_path, StackRequest())
    assert caddyfile.read_text(encoding="utf-8") == mine
    assert not list(tmp_path.glob("Caddyfile.bak-*")) and not any("Caddyfile" in w for w in report.warnings)
    # The stack's address changes in librechat.env: the kept Caddyfile is named with the site it lacks.
    settings = tmp_path / "librechat.env"
    settings.write_text(settings.read_text().replace("https://chat.lan", "https://talk.lan"), encoding="utf-8")
    report = generate(tmp_path, StackRequest())
    assert caddyfile.read_text(encoding="utf-8") == mine
    lacks = "lacks the site this stack serves: talk.lan {"
    assert any("Caddyfile: kept as it is" in w and lacks in w for w in report.warnings), report.warnings


# --- 12. odd inputs: refused in one line, or normalised ---------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"domain": "http://a.com:0"}, r"^--domain http://a\.com:0: port 0 is no port a browser can open$"),
        ({"domain": "http://1.2.3.4.5"}, r"^--domain http://1\.2\.3\.4\.5: the host must be a DNS name or an IP"),
        ({"domain": "http://example.123"}, r"^--domain http://example\.123: the host must be a DNS name"),
        ({"domain": ""}, r"^--domain is empty: give a value or leave the option out$"),
        ({"registration": " "}, r"^--registration is empty: give a value or leave the option out$"),
        ({"embeddings": ""}, r"^--embeddings is empty: give a value or leave the option out$"),
        ({"endpoints": ("openai", "")}, r"^--endpoint is empty: give a value or leave the option out$"),
    ],
)
def test_odd_first_start_inputs_are_refused_in_one_line(tmp_path: Path, request_: dict[str, Any], message: str) -> None:
    with pytest.raises(DbstackError, match=message):
        GENERATOR.generate(StackRequest(**request_), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("asked", "normalised"),
    [
        ("https://x:443", "https://x"),
        ("http://Chat.Example.com:80/", "http://chat.example.com"),
        ("https://x:8443", "https://x:8443"),
        ("http://x:443", "http://x:443"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_default_ports_are_left_out(asked: str, normalised: str) -> None:
    assert checked_domain(asked) == normalised


def test_new_project_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "nm"
    assert main(["generate", "--name", "chat", "-o", str(folder)]) == 0
    assert main(["generate", "--name", "other", "-o", str(folder)]) == 1
    assert "add --new-project to start the new one anyway" in capsys.readouterr().err
    assert main(["generate", "--name", "other", "--new-project", "-o", str(folder)]) == 0
    assert "docker compose -p chat down" in capsys.readouterr().err
    assert yaml.safe_load((folder / "compose.yaml").read_text(encoding="utf-8"))["name"] == "other"
    refused = tmp_path / "k8s"
    assert main(["generate", "--target", "kubernetes", "--proxy", "caddy", "-o", str(refused)]) == 1
    assert "--proxy is for --target compose" in capsys.readouterr().err
    assert not refused.exists()
