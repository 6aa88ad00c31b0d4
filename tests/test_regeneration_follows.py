"""Issue 8, second review: a regeneration follows what the user asks and keeps what they chose before. Files
written once follow a regeneration while they hold what dbstack wrote, and are kept (with what to add) once
changed; the environment and roles are kept; the documented regenerate commands keep working after the
documented steps. Checked on the files as written and by the real Docker Compose binary."""

from __future__ import annotations

import io
import re
import shlex
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_first_start import config_schema_issues, generate, model_of

from dbstack.cli import main
from dbstack.config_engine import StackRequest

OLLAMA = "http://host.docker.internal:11434/v1/"


def run_cli(command: str) -> tuple[int, str]:
    """A command as the README or compose.yaml prints it (``dbstack ...``), run through the CLI."""
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        status = main(shlex.split(command)[1:])
    return status, err.getvalue()


def readme_command(folder: Path) -> str:
    (command,) = re.findall(r"```sh\n(dbstack generate [^\n]*)\n```", (folder / "README.md").read_text("utf-8"))
    return str(command)


def custom_endpoints(document: object) -> list[dict[str, Any]]:
    assert isinstance(document, dict)
    return list(document.get("endpoints", {}).get("custom", []))


# --- 1. files written once follow a regeneration while they are dbstack's -------------------------------------


def test_an_endpoint_added_later_reaches_an_unchanged_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "ol"
    generate(folder, StackRequest(name="ol"))
    config = folder / "librechat.yaml"
    first = config.read_bytes()
    status, err = run_cli(readme_command(folder).replace("--endpoint openai", "--endpoint ollama"))
    assert status == 0, err
    document = yaml.safe_load(config.read_text("utf-8"))
    assert [e["baseURL"] for e in custom_endpoints(document)] == [OLLAMA]
    assert config_schema_issues(document) == []
    (backup,) = folder.glob("librechat.yaml.bak-*")
    assert backup.read_bytes() == first
    assert "librechat.yaml" not in err
    assert "You changed" not in (folder / "README.md").read_text("utf-8")
    # Recorded anew: taking the endpoint away again rewrites it back (it is still dbstack's).
    generate(folder, StackRequest(endpoints=()))
    assert custom_endpoints(yaml.safe_load(config.read_text("utf-8"))) == []


def test_a_changed_config_file_is_kept_and_the_block_to_paste_is_given(tmp_path: Path) -> None:
    folder = tmp_path / "ol"
    generate(folder, StackRequest(name="ol"))
    config = folder / "librechat.yaml"
    mine = config.read_text("utf-8") + "interface:\n  privacyPolicy: {externalUrl: 'https://x.example'}\n"
    config.write_text(mine, encoding="utf-8")
    report = generate(folder, StackRequest(endpoints=("ollama",)))
    assert config.read_text("utf-8") == mine and not list(folder.glob("librechat.yaml.bak-*"))
    (warning,) = [w for w in report.warnings if "librechat.yaml: kept as it is" in w]
    one_line = yaml.safe_load(warning.split("(README.md, step 2): ", 1)[1])
    readme = (folder / "README.md").read_text("utf-8")
    (block,) = re.findall(r"```yaml\n(endpoints:\n.*?)\n```", readme, re.S)
    # Both are the exact YAML: pasted into the user's file, LibreChat's own schema accepts it.
    assert yaml.safe_load(block) == one_line
    pasted = yaml.safe_load(mine + block + "\n")
    assert [e["baseURL"] for e in custom_endpoints(pasted)] == [OLLAMA]
    assert config_schema_issues(pasted) == []
    # Pasted: nothing more to say.
    config.write_text(mine + block + "\n", encoding="utf-8")
    report = generate(folder, StackRequest())
    assert not any("librechat.yaml" in w for w in report.warnings)
    assert "You changed" not in (folder / "README.md").read_text("utf-8")


def test_a_file_from_before_the_record_is_never_rewritten(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    generate(folder, StackRequest(name="old"))
    (folder / ".dbstack-files").unlink()
    before = (folder / "librechat.yaml").read_bytes()
    report = generate(folder, StackRequest(endpoints=("ollama",)))
    assert (folder / "librechat.yaml").read_bytes() == before
    assert any("librechat.yaml: kept as it is" in w for w in report.warnings)


def test_an_unchanged_caddyfile_follows_the_address_in_the_settings_file(tmp_path: Path) -> None:
    """The same code for every file written once: the Caddyfile follows while it is dbstack's."""
    generate(tmp_path, StackRequest(proxy="caddy", domain="https://chat.lan"))
    settings = tmp_path / "librechat.env"
    mine = settings.read_text("utf-8").replace("https://chat.lan", "https://talk.lan")
    settings.write_text(mine, encoding="utf-8")
    report = generate(tmp_path, StackRequest())
    assert "talk.lan {" in (tmp_path / "Caddyfile").read_text("utf-8")
    assert not any("Caddyfile" in w for w in report.warnings)
    assert settings.read_text("utf-8") == mine  # changed by the user: kept


# --- 3. the documented regenerate commands still work after the documented steps -------------------------------


def close_sign_up(folder: Path) -> None:
    """README step 4, as the user takes it: ALLOW_REGISTRATION=false in librechat.env."""
    settings = folder / "librechat.env"
    text = settings.read_text("utf-8")
    assert "ALLOW_REGISTRATION=true" in text
    settings.write_text(text.replace("ALLOW_REGISTRATION=true", "ALLOW_REGISTRATION=false"), encoding="utf-8")


def test_the_printed_commands_work_after_sign_up_is_closed(tmp_path: Path) -> None:
    folder = tmp_path / "rf"
    generate(folder, StackRequest(name="rf", domain="http://chat.localhost:3080", embeddings="ollama"))
    close_sign_up(folder)
    compose = (folder / "compose.yaml").read_text("utf-8")
    (header,) = re.findall(r"^# Regenerate with: (dbstack [^\n]*)$", compose, re.M)
    for command in (readme_command(folder), header):
        status, err = run_cli(command)
        assert status == 0, (command, err)
        assert "ALLOW_REGISTRATION=false" in (folder / "librechat.env").read_text("utf-8")
        assert "Sign-up is closed" in (folder / "README.md").read_text("utf-8")
    kubernetes = tmp_path / "k"
    status, err = run_cli(f"dbstack generate --target kubernetes --name rf -o {kubernetes}")
    assert status == 0, err
    close_sign_up(kubernetes)
    readme = (kubernetes / "README.md").read_text("utf-8")
    (command,) = re.findall(r"^ +(dbstack [^\n]*--target kubernetes[^\n]*)$", readme, re.M)
    status, err = run_cli(command)
    assert status == 0, (command, err)


# --- 2. a regeneration without --env/--use keeps the stack's environment and databases --------------------------


def test_a_regeneration_without_flags_keeps_the_environment_and_roles(tmp_path: Path) -> None:
    folder = tmp_path / "rk"
    status, err = run_cli(f"dbstack generate --env production --use cache=redis --endpoint openai -o {folder}")
    assert status == 0, err
    with (folder / ".env").open("a", encoding="utf-8") as env:
        env.write("RAG_OPENAI_API_KEY=key-of-mine\n")  # README step 1
    before = model_of(folder)
    compose = (folder / "compose.yaml").read_bytes()
    status, err = run_cli(f"dbstack generate -o {folder}")
    assert status == 0, err
    assert (folder / "compose.yaml").read_bytes() == compose  # nothing reverted: not a byte changed
    assert "environment" not in err
    assert "redis" in before["services"] and "ports" not in before["services"]["mongodb"]
    # --without wins over the kept --use; the next run keeps it out.
    assert run_cli(f"dbstack generate --without cache -o {folder}")[0] == 0
    assert run_cli(f"dbstack generate -o {folder}")[0] == 0
    assert "redis" not in model_of(folder)["services"]
    assert "environment: production." in (folder / "compose.yaml").read_text("utf-8")
    # Another --env is a deliberate change: made, and said.
    status, err = run_cli(f"dbstack generate --env development -o {folder}")
    assert status == 0, err
    assert "--env development: the stack was production; it is now development" in err
    assert "environment: development." in (folder / "compose.yaml").read_text("utf-8")
    assert "ports" in model_of(folder)["services"]["mongodb"]  # development publishes the databases on loopback
    # A new stack without --env is development, with nothing said about an environment.
    fresh = tmp_path / "new"
    status, err = run_cli(f"dbstack generate -o {fresh}")
    assert status == 0 and "--env" not in err
    assert "environment: development." in (fresh / "compose.yaml").read_text("utf-8")


# --- 4. text glitches ------------------------------------------------------------------------------------------


def test_readme_texts_read_right(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    generate(fresh, StackRequest(name="fresh", registration="closed", domain="http://chat.example.com"))
    readme = (fresh / "README.md").read_text("utf-8")
    # Nothing to upgrade yet: the Upgrading section announces no steps it does not give.
    upgrading = readme.split("## Upgrading", 1)[1].split("\n## ", 1)[0]
    assert not upgrading.rstrip().endswith(":") and "Steps from Meilisearch" not in upgrading
    # The forward note is said once.
    assert readme.lower().count("users open") == 1
    assert "Users open http" in readme
    # Closed sign-up in development reads as a choice against the default.
    assert "Open is the default in development" not in readme
    assert "Closed as chosen; open is the default in\ndevelopment" in readme


def test_an_empty_output_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, err = run_cli('dbstack generate -o ""')
    assert status == 2 and "argument -o/--output: is empty: give a value or leave the option out" in err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_name_that_gives_no_project_name_is_not_said_to_give_it(tmp_path: Path) -> None:
    status, err = run_cli(f"dbstack generate -o {tmp_path / '___'}")
    assert status == 0, err
    assert "the output folder's name gives no compose project name, so it is librechat (the app's)" in err
    assert "comes from the output folder's name" not in err
    assert "comes from this folder's name" not in (tmp_path / "___" / "README.md").read_text("utf-8")


def test_a_kubernetes_regeneration_without_env_keeps_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "k"
    assert run_cli(f"dbstack generate --target kubernetes --env production -o {folder}")[0] == 0
    status, err = run_cli(f"dbstack generate --target kubernetes -o {folder}")
    assert status == 0, err
    header = (folder / "kustomization.yaml").read_text("utf-8").split("\n", 1)[0]
    assert "; environment: production; " in header
