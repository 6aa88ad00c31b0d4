"""A LibreChat stack that works on first start (issue 8): sign-up, domain, config file, endpoints,
embeddings, dependencies, project name and versioned Meilisearch data, checked on the files as written,
by the real Docker Compose binary and by LibreChat's own config schema (npm librechat-data-provider)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbstack import DbstackError
from dbstack.cli import main
from dbstack.config_engine import ConfigEngine, StackRequest
from dbstack.loader import DatabaseAdapterRegistry
from dbstack.loader.apps import load_app
from dbstack.loader.environments import environment_names
from dbstack.render import dotenv
from dbstack.stack_generator import StackGenerator, checked_domain, project_name

from compose_tools import compose_config, compose_lint, service_environment, significant_findings

GENERATOR = StackGenerator(ConfigEngine(DatabaseAdapterRegistry(use_env=False)))
APP = load_app("librechat")
assert APP.first_start is not None and APP.first_start.config_file is not None, "librechat has a first start"
FIRST = APP.first_start
CONFIG_FILE = APP.first_start.config_file
assert FIRST is not None and CONFIG_FILE is not None
NODE_PREFIX = Path(__file__).resolve().parent.parent / ".venv" / "node"
VALIDATOR = CONFIG_FILE["validator"]
EMBEDDINGS = [name for name, p in FIRST.embeddings.items() if p.unavailable is None]


def generate(folder: Path, request: StackRequest, *, keys: bool = True) -> Any:
    """Generate; with ``keys``, do the README's first step: put the keys only the user has into .env."""
    report = GENERATOR.generate(request, folder)
    if keys and report.to_fill:
        env = folder / ".env"
        lines = [dotenv.format_entry(n, f"key-{n.lower()}") for n in report.to_fill]
        env.write_text(env.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")
    return report


def model_of(folder: Path) -> dict[str, Any]:
    result = compose_config(folder / "compose.yaml", env_file=folder / ".env", fmt="json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.model is not None
    return result.model


def container_env(folder: Path, service: str) -> dict[str, str]:
    """What the container gets: env_file (the settings file) overridden by environment:, as Compose does."""
    model = model_of(folder)
    return {k: v for k, v in service_environment(model, service).items() if v is not None}


def config_schema_issues(document: Any) -> list[Any]:
    """LibreChat's own zod configSchema (and its strict top level) on a parsed librechat.yaml."""
    module = NODE_PREFIX / "node_modules" / VALIDATOR["package"]
    node = shutil.which("node")
    assert node and module.is_dir(), f"{module} missing: tests/run installs {VALIDATOR['package']} with npm"
    script = (
        f"const p = require({json.dumps(str(module))}); let s = '';"
        "process.stdin.on('data', d => s += d).on('end', () => {"
        f"  const schema = p.{VALIDATOR['export']};"
        "  const r = schema.strict().safeParse(JSON.parse(s));"
        "  console.log(JSON.stringify({ok: r.success, issues: r.success ? [] : r.error.issues,"
        "    version: p.Constants.CONFIG_VERSION, release: p.Constants.VERSION}));"
        "});"
    )
    out = subprocess.run([node, "-e", script], input=json.dumps(document), capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["version"] == CONFIG_FILE["version"], "the pinned config version is not the package's"
    # The validator is of the pinned image's release line: 0.8.524 reports the candidate "v0.8.8-rc4".
    api_tag = APP.services[CONFIG_FILE["service"]].tag
    assert result["release"] == f"{api_tag}-rc4", result["release"]
    issues: list[Any] = result["issues"]
    return issues


# --- every environment: with --registration closed, several embeddings providers and the cache ----------------


@pytest.mark.parametrize("env", environment_names())
@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"registration": "closed", "embeddings": "ollama", "use": {"cache": "redis"}},
        {"embeddings": "bedrock", "endpoints": ("openai", "anthropic", "ollama")},
        {"embeddings": "azure", "endpoints": ("google",), "use": {"cache": "redis"}},
        {"embeddings": "google_genai", "domain": "https://chat.example.com"},
    ],
    ids=["defaults", "closed-ollama-redis", "bedrock-endpoints", "azure-google-redis", "genai-https"],
)
def test_first_start_stacks(tmp_path: Path, env: str, request_: dict[str, Any]) -> None:
    folder = tmp_path / "chat"
    generate(folder, StackRequest(environment=env, **request_))
    model = model_of(folder)
    assert model["name"] == "chat"
    if env == "production":
        assert significant_findings(compose_lint(folder / "compose.yaml")) == []
    # librechat.yaml: LibreChat's own schema accepts it, and the api reads it read-only through CONFIG_PATH.
    document = yaml.safe_load((folder / "librechat.yaml").read_text(encoding="utf-8"))
    assert config_schema_issues(document) == []
    api = model["services"]["api"]
    assert service_environment(model, "api")["CONFIG_PATH"] == CONFIG_FILE["target"]
    mounts = [v for v in api["volumes"] if v["target"] == CONFIG_FILE["target"]]
    assert mounts and mounts[0]["type"] == "bind" and mounts[0]["read_only"] is True
    assert Path(mounts[0]["source"]) == folder.resolve() / "librechat.yaml"
    assert "host.docker.internal=host-gateway" in api["extra_hosts"] or "host.docker.internal:host-gateway" in str(
        api["extra_hosts"]
    )
    # Every variable the app definition says LibreChat and rag_api need, with the right shape.
    settings = dotenv.read(folder / "librechat.env").as_dict()
    domain = request_.get("domain", FIRST.domain_default)
    for var in FIRST.domain_variables:
        assert settings[var] == domain
    assert settings[FIRST.secure_cookie_variable] == ("true" if domain.startswith("https://") else "false")
    registration = request_.get("registration", FIRST.registration_defaults[env])
    assert settings[FIRST.registration_variable] == ("true" if registration == "open" else "false")
    provider = FIRST.embeddings[request_.get("embeddings", FIRST.embeddings_default or "")]
    assert settings[FIRST.embeddings_variable or ""] == provider.name
    for var, value in provider.settings.items():
        assert settings[var] == value
    rag = service_environment(model, "rag_api")
    for var in provider.required:
        assert rag[var] == f"key-{var.lower()}", var
    # Settings the user changes live in librechat.env: compose's environment: (which wins) never sets them.
    for service in ("api", "rag_api"):
        assert not set(settings) & set(yaml.safe_load((folder / "compose.yaml").read_text())["services"][service].get(
            "environment", {}
        ))
    for name in request_.get("endpoints", ()):
        for key in FIRST.endpoints[name].keys.values():
            assert service_environment(model, "api")[key.name] == "user_provided"


def test_a_missing_key_stops_compose_with_a_message_naming_it(tmp_path: Path) -> None:
    report = generate(tmp_path, StackRequest(embeddings="bedrock"), keys=False)
    assert report.to_fill == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    env = dotenv.read(tmp_path / ".env").as_dict()
    assert "AWS_ACCESS_KEY_ID" not in env  # no placeholder that would pass as a value
    # With both missing, Compose names whichever its map walk meets first (Go map order varies from run to
    # run); with one given, it must name the other, exactly.
    (tmp_path / ".env").write_text(
        (tmp_path / ".env").read_text(encoding="utf-8") + "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\n", encoding="utf-8"
    )
    result = compose_config(tmp_path / "compose.yaml", env_file=tmp_path / ".env")
    assert result.returncode != 0
    assert result.stderr == (
        "error while interpolating services.rag_api.environment.AWS_SECRET_ACCESS_KEY: required variable "
        "AWS_SECRET_ACCESS_KEY is missing a value: AWS_SECRET_ACCESS_KEY must be set in .env\n"
    )
    readme = (tmp_path / "README.md").read_text(encoding="utf-8").splitlines()
    assert "- `AWS_ACCESS_KEY_ID`: AWS access key id for Bedrock" in readme
    assert "- `AWS_SECRET_ACCESS_KEY`: AWS secret access key for Bedrock" in readme


def test_the_config_schema_check_fails_on_a_broken_file() -> None:
    """The validator really validates: a wrong version type and an unknown key are refused."""
    assert config_schema_issues({"version": CONFIG_FILE["version"], "cache": True}) == []
    assert config_schema_issues({"version": 1, "cache": True}) != []
    assert config_schema_issues({"version": CONFIG_FILE["version"], "cachee": True}) != []
    assert config_schema_issues({"version": CONFIG_FILE["version"], "cache": "yes"}) != []


# --- written once, never overwritten; regeneration keeps the user's choices -----------------------------------


def test_settings_and_config_file_are_written_once_and_choices_are_kept(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(domain="http://chat.lan:3080", registration="closed", embeddings="ollama"))
    config = tmp_path / "librechat.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o644  # the api's user reads it through the bind mount
    assert stat.S_IMODE((tmp_path / "librechat.env").stat().st_mode) == 0o600
    config.write_text(config.read_text(encoding="utf-8") + "# mine\n", encoding="utf-8")
    mine = config.read_text(encoding="utf-8")
    report = generate(tmp_path, StackRequest())  # no flags: the stack's own files decide
    assert config.read_text(encoding="utf-8") == mine
    settings = dotenv.read(tmp_path / "librechat.env").as_dict()
    assert settings["DOMAIN_CLIENT"] == "http://chat.lan:3080" and settings["ALLOW_REGISTRATION"] == "false"
    assert settings["EMBEDDINGS_PROVIDER"] == "ollama"
    assert report.to_fill == []  # ollama needs no key: compose asks for none
    assert not [w for w in report.warnings if "librechat.env" in w]  # the flags and the file agree
    compose = (tmp_path / "compose.yaml").read_text(encoding="utf-8")
    # The file decides these: the "Regenerate with" command leaves their flags out (test_regeneration_follows.py).
    assert "--domain" not in compose and "--registration" not in compose and "--embeddings" not in compose
    # Sign-up that differs from the user's file is refused in one line (the file wins); nothing is written.
    # (The same rule for --domain and --embeddings: the tests below.)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(
        DbstackError,
        match=r"^--registration open: \S*librechat\.env sets ALLOW_REGISTRATION to another value and its values win "
        r"over flags; change it there, then regenerate without --registration$",
    ):
        GENERATOR.generate(StackRequest(registration="open"), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # ALLOW_REGISTRATION=TRUE is open to LibreChat (isEnabled): --registration open then agrees with the file.
    settings_file = tmp_path / "librechat.env"
    text = settings_file.read_text(encoding="utf-8")
    settings_file.write_text(text.replace("ALLOW_REGISTRATION=false", "ALLOW_REGISTRATION=TRUE"), encoding="utf-8")
    generate(tmp_path, StackRequest(registration="open"))


def test_a_domain_flag_that_differs_from_the_settings_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """LibreChat serves the address librechat.env names (its values win over flags): a --domain naming another
    would give the TLS front and the README an address LibreChat does not use. One line naming the file and the
    keys, never their values; nothing written; the same address however written is no conflict."""
    generate(tmp_path, StackRequest(domain="http://chat.lan:3080"))
    settings = tmp_path / "librechat.env"

    def files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    before = files()
    with pytest.raises(
        DbstackError,
        match=r"^--domain https://chat\.example\.com: \S*librechat\.env sets DOMAIN_CLIENT and DOMAIN_SERVER to "
        r"another value and its values win over flags; change them there "
        r"\(with SESSION_COOKIE_SECURE=true\), then regenerate without --domain$",
    ):
        GENERATOR.generate(StackRequest(domain="https://chat.example.com"), tmp_path)
    assert files() == before
    # The same address written otherwise is no conflict: generated, with nothing said about the file.
    report = generate(tmp_path, StackRequest(domain="HTTP://Chat.LAN:3080/"))
    assert not [w for w in report.warnings if "librechat.env" in w]
    # One key differs, holding something that is not even an address: named, never printed.
    text = settings.read_text(encoding="utf-8")
    edited = text.replace("DOMAIN_SERVER=http://chat.lan:3080", "DOMAIN_SERVER=http://me:s3cret@x")
    settings.write_text(edited, encoding="utf-8")
    before = files()
    assert main(["generate", "-o", str(tmp_path), "--domain", "http://chat.lan:3080"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"dbstack: error: --domain http://chat.lan:3080: {settings} sets DOMAIN_SERVER to another value and "
        "its values win over flags; change it there (with SESSION_COOKIE_SECURE=false), then regenerate "
        "without --domain\n"
    )
    assert "s3cret" not in err and files() == before
    # Changed as told: the flag naming the file's address passes, and the stack follows it.
    settings.write_text(text.replace("http://chat.lan:3080", "https://chat.example.com"), encoding="utf-8")
    generate(tmp_path, StackRequest(domain="https://chat.example.com"))
    assert "https://chat.example.com" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_an_embeddings_flag_that_differs_from_the_settings_file_is_refused(tmp_path: Path) -> None:
    """rag_api runs the provider librechat.env names (its values win over flags), so compose.yaml must require
    that provider's keys: a flag naming another provider is refused in one line and nothing is written."""
    generate(tmp_path, StackRequest(embeddings="ollama"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(
        DbstackError,
        match=r"^--embeddings openai: \S*librechat\.env sets EMBEDDINGS_PROVIDER to another value and its values win "
        r"over flags; change it there, then regenerate without --embeddings$",
    ):
        GENERATOR.generate(StackRequest(embeddings="openai"), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert generate(tmp_path, StackRequest(embeddings="ollama")).to_fill == []  # the same provider is no conflict
    # The user changes the file as told: the next run requires the keys of the provider the file now names.
    settings = tmp_path / "librechat.env"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("EMBEDDINGS_PROVIDER=ollama", "EMBEDDINGS_PROVIDER=openai"), encoding="utf-8")
    assert generate(tmp_path, StackRequest(), keys=False).to_fill == ["RAG_OPENAI_API_KEY"]
    result = compose_config(tmp_path / "compose.yaml", env_file=tmp_path / ".env")
    assert result.returncode != 0 and "RAG_OPENAI_API_KEY" in result.stderr
    # A provider the file names that dbstack does not know is named with the file it came from.
    settings.write_text(text.replace("EMBEDDINGS_PROVIDER=ollama", "EMBEDDINGS_PROVIDER=nope"), encoding="utf-8")
    with pytest.raises(DbstackError, match=r"librechat\.env: EMBEDDINGS_PROVIDER=nope: unknown provider; available"):
        GENERATOR.generate(StackRequest(), tmp_path)


@pytest.mark.parametrize("registration", ["open", "closed"])
def test_the_readme_gives_the_first_start_steps_of_the_compose_stack(tmp_path: Path, registration: str) -> None:
    generate(tmp_path, StackRequest(registration=registration))
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    if registration == "closed":
        assert "create each user in the running stack" in readme
        assert "```sh\ndocker compose exec api npm run create-user\n```" in readme
        assert "first account" not in readme
    else:
        assert "Sign-up is open: **the first account registered becomes the admin**." in readme
        close = "Then close sign-up: set `ALLOW_REGISTRATION=false` in `librechat.env` and run\n`docker compose up -d`"
        assert close in readme
        assert "create-user" not in readme
    settings = (tmp_path / "librechat.env").read_text(encoding="utf-8")
    assert "# Apply a change (in this folder): docker compose up -d\n" in settings
    config = (tmp_path / "librechat.yaml").read_text(encoding="utf-8")
    assert "to apply a change run (in this folder): docker compose restart api\n" in config
    assert "kubectl" not in readme + settings + config


def test_endpoint_keys_are_kept_on_regeneration(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(endpoints=("anthropic",)))
    env = tmp_path / ".env"
    env.write_text(env.read_text(encoding="utf-8").replace("ANTHROPIC_API_KEY=user_provided", "ANTHROPIC_API_KEY=sk-a"))
    generate(tmp_path, StackRequest())
    assert dotenv.read(env).as_dict()["ANTHROPIC_API_KEY"] == "sk-a"
    assert container_env(tmp_path, "api")["ANTHROPIC_API_KEY"] == "sk-a"


# --- bad input: one clear line, nothing written ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"domain": "ftp://x"}, "must start with http:// or https://"),
        ({"domain": "http://user:pw@host"}, "only scheme, host and port"),
        ({"domain": "http://host/chat"}, "give no path"),
        ({"domain": "http://ho_st"}, "DNS name or an IP address"),
        ({"domain": "http://host\n:3080"}, r"--domain http://host\\x0a:3080: no spaces or control characters"),
        ({"domain": "http://host:99999"}, "not a URL"),
        ({"registration": "maybe"}, "choose open or closed"),
        ({"embeddings": "huggingface"}, "lite one, which has no langchain-huggingface"),
        ({"embeddings": "nope"}, "unknown provider; available: openai, azure, ollama"),
        ({"endpoints": ("openai", "gpt5")}, "--endpoint gpt5: unknown provider"),
        ({"name": "My Stack"}, "Compose project name holds only lowercase"),
        ({"name": "-x"}, "starts with a letter or digit"),
        ({"embeddings": "ollama", "without": frozenset({"vector_store"})}, "rag_api is not in this stack"),
    ],
)
def test_bad_first_start_options(tmp_path: Path, request_: dict[str, Any], message: str) -> None:
    with pytest.raises(DbstackError, match=message):
        GENERATOR.generate(StackRequest(**request_), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_domains_are_normalised() -> None:
    assert checked_domain("HTTPS://Chat.Example.COM/") == "https://chat.example.com"
    assert checked_domain("http://[::1]:3080") == "http://[::1]:3080"
    assert checked_domain("http://10.0.0.5:8080") == "http://10.0.0.5:8080"


# --- project name: two stacks in two folders share nothing ----------------------------------------------------


def test_two_stacks_in_two_folders_share_nothing(tmp_path: Path) -> None:
    first, second = tmp_path / "team-a", tmp_path / "Team B!"
    generate(first, StackRequest())
    generate(second, StackRequest())
    a, b = model_of(first), model_of(second)
    assert (a["name"], b["name"]) == ("team-a", "teamb")
    volumes_a = {v["name"] for v in a["volumes"].values()}
    volumes_b = {v["name"] for v in b["volumes"].values()}
    assert volumes_a and not volumes_a & volumes_b
    assert a["networks"]["default"]["name"] != b["networks"]["default"]["name"]


def test_project_name_from_flag_and_from_folders_compose_cannot_name(tmp_path: Path) -> None:
    assert project_name("prod-1", tmp_path, APP) == "prod-1"
    assert project_name(None, tmp_path / "__", APP) == "librechat"
    generate(tmp_path / "x", StackRequest(name="chat_prod"))
    assert model_of(tmp_path / "x")["name"] == "chat_prod"


# --- Meilisearch data by version ------------------------------------------------------------------------------


def test_meilisearch_volume_carries_major_minor_and_a_change_keeps_the_old_one(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest())
    compose = yaml.safe_load((tmp_path / "compose.yaml").read_text(encoding="utf-8"))
    tag = compose["services"]["meilisearch"]["image"].split(":")[1].split("@")[0]
    major_minor = ".".join(tag.lstrip("v").split(".")[:2])
    volume = f"meilisearch-data-v{major_minor}"
    assert volume in compose["volumes"]
    assert {"type": "volume", "source": volume, "target": "/meili_data"} in compose["services"]["meilisearch"][
        "volumes"
    ]
    # An older stack whose Meilisearch volume was another version: kept, with the dump/import steps.
    text = (tmp_path / "compose.yaml").read_text(encoding="utf-8").replace(volume, "meilisearch-data-v1.35")
    (tmp_path / "compose.yaml").write_text(text, encoding="utf-8")
    report = generate(tmp_path, StackRequest())
    assert any("meilisearch-data-v1.35" in w and "README.md, Upgrading" in w for w in report.warnings)
    compose = yaml.safe_load((tmp_path / "compose.yaml").read_text(encoding="utf-8"))
    assert "meilisearch-data-v1.35" in compose["volumes"] and volume in compose["volumes"]
    assert model_of(tmp_path)["services"]["meilisearch"]["volumes"][0]["source"] == volume


def test_no_key_or_secret_is_literal_in_the_compose_file(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(environment="production", embeddings="azure", endpoints=("openai",)))
    compose = (tmp_path / "compose.yaml").read_text(encoding="utf-8")
    for key, value in dotenv.read(tmp_path / ".env").as_dict().items():
        assert value not in compose, key
