"""Issue 8, the reviewer's gaps: what a regeneration keeps (project name, effective settings), what the
first run tells the user (a model to chat with, the address that works, the sign-up reason), and the notes a
change needs (Meilisearch versions, MongoDB's own user, embeddings providers). Checked on the files as
written and by the real Docker Compose binary."""

from __future__ import annotations

import io
import re
import shlex
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml
from test_first_start import GENERATOR, generate, model_of

from dbstack import DbstackError
from dbstack.cli import main
from dbstack.config_engine import StackRequest

from compose_tools import service_environment


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
        match=r"^--name other: \S+/compose\.yaml is the compose project chat; another name starts a new project "
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
        ("http://127.0.0.2:3090", "3090", "127.0.0.1"),
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


@pytest.mark.parametrize("domain", ["http://chat.example.com", "https://localhost:3443", "http://10.0.0.5:3080"])
def test_an_address_the_api_is_not_published_at_is_named_with_what_must_forward_it(tmp_path: Path, domain: str) -> None:
    report = generate(tmp_path, StackRequest(domain=domain))
    (port,) = model_of(tmp_path)["services"]["api"]["ports"]
    assert (port["published"], port["host_ip"]) == ("3080", "127.0.0.1")
    expected = f"a reverse proxy on this host must serve {domain} and forward it to http://127.0.0.1:3080"
    assert any(expected in w and "--proxy caddy" in w for w in report.warnings), report.warnings
    readme = " ".join((tmp_path / "README.md").read_text(encoding="utf-8").split())
    assert "nothing in this stack serves that address" in readme and "http\\:\\/\\/127\\.0\\.0\\.1\\:3080" in readme


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
    assert "--registration open " in (tmp_path / "compose.yaml").read_text(encoding="utf-8")


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
