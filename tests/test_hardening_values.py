"""Issue 7, values: nothing a stranger writes (catalog text, folder names, --set values) can leave its line or
its value, read another service's secret, put a secret outside .env, or crash dbstack. Stacks are checked with
the real Docker Compose binary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dbstack import DatabaseAdapterRegistry, DbstackError
from dbstack.config_engine import ConfigEngine, StackRequest
from dbstack.loader import text
from dbstack.loader.interpolation import foreign_references
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.render.compose import dump_compose, render_service
from dbstack.stack_generator import StackGenerator

from compose_tools import compose_config, service_environment, user_keys

DBSTACK = Path(sys.executable).parent / "dbstack"
EXPECTED_SERVICES = {"mongodb", "meilisearch", "vectordb", "api", "rag_api"}
INJECTION = "x\n---\nservices: {pwn: {image: alpine, privileged: true, volumes: ['/:/host']}}\n"
HIDDEN = "\n\r\x1b\x85\u2028\u2029\u202e\ufeff\x00\x7f"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DBSTACK_CATALOG_PATH"}
    result = subprocess.run(
        [str(DBSTACK), *args], capture_output=True, text=True, cwd=cwd, env=environment, errors="surrogateescape"
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def user_catalog(folder: Path, builtin: str, new_id: str, edit: Any) -> Path:
    """A user catalog folder holding a copy of a built-in entry under a new id, changed by ``edit``."""
    entry = yaml.safe_load((BUILTIN_CATALOG / f"{builtin}.yaml").read_text(encoding="utf-8"))
    entry["id"], entry["aliases"] = new_id, []
    edit(entry)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{new_id}.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8")
    return folder


def generator(*catalogs: Path) -> StackGenerator:
    return StackGenerator(ConfigEngine(DatabaseAdapterRegistry(catalogs, use_env=False)))


def compose_model(folder: Path) -> dict[str, Any]:
    keys = user_keys()  # compose.yaml requires them; a user puts them in .env
    result = compose_config(folder / "compose.yaml", env_file=folder / ".env", fmt="json", environ=keys).check()
    assert result.model is not None
    return result.model


def env_values(folder: Path) -> dict[str, str]:
    values = {}
    for line in (folder / ".env").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value.strip("'")
    return values


# --- 1. compose text glued from strings -----------------------------------------------------------------


def test_a_folder_name_cannot_add_a_yaml_document_to_compose(tmp_path: Path) -> None:
    folder = tmp_path / INJECTION
    catalog = user_catalog(tmp_path / f"cat{INJECTION}", "meilisearch", "search2", lambda e: None)
    generator(catalog).generate(StackRequest(use={"full_text_search": "search2"}), folder)
    written = (folder / "compose.yaml").read_text(encoding="utf-8")
    assert list(yaml.safe_load_all(written)) == [yaml.safe_load(written)]  # one document
    header = [line for line in written.splitlines() if line.startswith("# Regenerate with:")]
    assert len(header) == 1 and "services: {pwn" in header[0]  # the name stayed inside its comment line
    output_word = header[0].rsplit(" -o ", 1)[1]
    assert output_word.startswith("$'") and "\\x0a---\\x0a" in output_word  # bash $'...' quoting, one line
    done = subprocess.run(["bash", "-c", f"printf %s {output_word}"], capture_output=True, check=True)
    assert done.stdout == os.fsencode(folder.resolve())  # and bash reads the real name back
    clean = tmp_path / "clean"  # Compose itself cannot run from a folder with a newline in its name
    clean.mkdir()
    for name in ("compose.yaml", ".env", "librechat.env"):
        (clean / name).write_bytes((folder / name).read_bytes())
    model = compose_model(clean)
    assert set(model["services"]) == EXPECTED_SERVICES  # the role keeps its service name
    assert not any(s.get("privileged") for s in model["services"].values())


def test_shell_word_gives_bash_back_the_same_name() -> None:
    name = "a b\n'c\\d\x1b\u2028\udcff"
    word = text.shell_word(name)
    assert "\n" not in word and "\x1b" not in word
    done = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True)
    assert done.stdout == os.fsencode(name)


@pytest.mark.parametrize("char", [*HIDDEN, "\udcff", "\U000e0001"])
def test_every_sink_escapes_hidden_characters(char: str) -> None:
    value = f"a{char}b"
    for sink in (text.visible, text.terminal, text.comment, text.markdown, text.markdown_cell, text.markdown_code):
        out = sink(value)
        assert char not in out and out.isprintable(), (sink.__name__, out)


def test_hidden_characters_are_found_in_every_code_point() -> None:
    """text.py looks at each character only in text str.isprintable() refuses: checked on all of Unicode."""
    missed = [hex(c) for c in range(sys.maxunicode + 1) if text.needs_quotes(f"a{chr(c)}b") != text._is_hidden(chr(c))]
    assert missed == []


def test_markdown_cannot_add_structure() -> None:
    assert text.markdown_cell("a | b") == "a \\| b"
    assert text.markdown("# x <img src=x onerror=alert(1)> [l](javascript:x) *e*") == (
        "\\# x \\<img src\\=x onerror\\=alert\\(1\\)\\> \\[l\\]\\(javascript\\:x\\) \\*e\\*"
    )
    assert text.markdown_code("a``b") == "```a``b```"
    assert text.markdown_code("a|b", in_table=True) == "`a\\|b`"


# --- 2. secrets of other services through values of any type ---------------------------------------------

STEAL = "${JWT_SECRET}${CREDS_KEY}${MONGODB_PASSWORD}"


def _mapping_master_key(entry: dict[str, Any]) -> None:
    entry["parameters"]["master_key"] = {"type": "mapping", "default": {STEAL: STEAL}, "description": "d"}
    del entry["container"]["environment"]["MEILI_MASTER_KEY"]  # the database service itself stays clean


def test_a_mapping_parameter_cannot_read_other_secrets_through_an_app_service(tmp_path: Path) -> None:
    catalog = user_catalog(tmp_path / "cat", "meilisearch", "evilsearch", _mapping_master_key)
    folder = tmp_path / "out"
    generator(catalog).generate(StackRequest(use={"full_text_search": "evilsearch"}), folder)
    api = service_environment(compose_model(folder), "api")
    secrets = env_values(folder)
    assert api["MEILI_MASTER_KEY"] == str({STEAL: STEAL})  # literal text, nothing interpolated
    for var in ("JWT_SECRET", "CREDS_KEY", "MONGODB_PASSWORD"):
        assert secrets[var] not in api["MEILI_MASTER_KEY"]


def test_an_app_service_may_not_read_a_variable_it_does_not_own(tmp_path: Path) -> None:
    app = yaml.safe_load((BUILTIN_CATALOG.parent / "apps" / "librechat.yaml").read_text(encoding="utf-8"))
    app["id"] = "stolen"
    app["services"]["rag_api"]["environment"]["X"] = "${MONGODB_PASSWORD}"
    app_file = tmp_path / "stolen.yaml"
    app_file.write_text(yaml.safe_dump(app), encoding="utf-8")
    with pytest.raises(DbstackError, match=r"service rag_api: .*does not own: \$MONGODB_PASSWORD"):
        generator().generate(StackRequest(app=str(app_file)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("$$x", []),
        ("$$$x", ["$x"]),
        ("${OWN:?OWN must be set in .env}", []),
        ("$${OWN:?OWN must be set in .env}", []),
        ("a${OTHER:-x}b", ["$OTHER"]),
        ("$\u017fecret", ["$\u017fecret"]),
        ("$\u212aey", ["$\u212aey"]),
        ("$\u00e9", ["$\u00e9"]),
        ("$", ["$"]),
    ],
)
def test_foreign_references_read_names_as_compose_does(value: str, found: list[str]) -> None:
    own = {"${OWN:?OWN must be set in .env}"}
    assert foreign_references(value, own) == found
    assert foreign_references({value: [value]}, own) == found * 2  # keys and nested items too


# Characters Compose's regex `(?i:[_a-z][_a-z0-9]*)` takes as the start of a name, in Go's case folding.
@pytest.mark.parametrize(
    ("char", "is_name"),
    [
        ("a", True),
        ("\u017f", True),
        ("\u212a", True),
        ("\u0130", False),
        ("\u0131", False),
        ("\u00e9", False),
        ("\u00df", False),
    ],
)
def test_the_name_rule_matches_the_real_compose(tmp_path: Path, char: str, is_name: bool) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(json.dumps({"services": {"s": {"image": "x", "environment": {"V": f"${char}"}}}}), "utf-8")
    result = compose_config(compose, fmt="json", environ={char: "READ"})
    compose_reads_it = result.ok and service_environment(result.model or {}, "s")["V"] == "READ"
    assert compose_reads_it == is_name
    # dbstack reads the same name (or, where Compose reads none, still refuses the bare `$`)
    assert foreign_references(f"${char}x", set()) == [f"${char}x" if is_name else f"${char}"]


def test_a_long_s_variable_in_catalog_text_is_refused(tmp_path: Path) -> None:
    def edit(entry: dict[str, Any]) -> None:
        entry["container"]["environment"]["X"] = "$\u017fECRET"

    catalog = user_catalog(tmp_path / "cat", "redis", "redis2", edit)
    # refused when the catalog loads (validate, every command), located at the value
    with pytest.raises(
        DbstackError, match=r"redis2\.yaml:\d+:\d+: container\.environment\.X: .* does not own: \$\u017fECRET"
    ):
        DatabaseAdapterRegistry([catalog], use_env=False)


# --- 8. a secret in a field Compose does not interpolate ----------------------------------------------------


def test_a_port_bound_to_a_secret_parameter_is_refused_by_validate(tmp_path: Path) -> None:
    def edit(entry: dict[str, Any]) -> None:
        entry["container"]["ports"][0]["parameter"] = "password"

    catalog = user_catalog(tmp_path / "cat", "redis", "redis2", edit)
    result = run("catalog", "validate", str(catalog))
    assert result.returncode == 1
    assert re.search(
        r"redis2\.yaml:\d+:\d+: container\.ports\.0\.parameter: parameter 'password' is secret, "
        r"and a published port is written into compose\.yaml",
        result.stderr,
    ), result.stderr
    compose = run("--catalog", str(catalog), "compose", "redis2", "--set", "password=SECRETVALUE")
    assert compose.returncode == 1 and "SECRETVALUE" not in compose.stdout + compose.stderr


# --- 12. values pass through exactly ---------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\t", "\U0001f600", "\u202e", "#", ": ", "'\""])
def test_a_value_reaches_the_container_exactly(tmp_path: Path, char: str) -> None:
    value = f"a{char}b"
    registry = DatabaseAdapterRegistry(use_env=False)
    service = render_service(registry.get_adapter("postgresql", {"database": value}), "development")
    (tmp_path / "compose.yaml").write_text(dump_compose(service.document()), encoding="utf-8")
    (tmp_path / ".env").write_text("".join(f"{k}=x\n" for k in service.env_entries), encoding="utf-8")
    assert (
        yaml.safe_load((tmp_path / "compose.yaml").read_text("utf-8"))["services"]["postgresql"]["environment"][
            "POSTGRES_DB"
        ]
        == value
    )
    assert service_environment(compose_model(tmp_path), "postgresql")["POSTGRES_DB"] == value


@settings(max_examples=200, deadline=None)
@given(st.text(st.one_of(st.sampled_from([*HIDDEN, " ", "a", "$", "'", '"', "#", ":", "-", "\t"]), st.characters())))
def test_every_string_round_trips_the_dumper(value: str) -> None:
    document = {"services": {value: {"environment": {value: value}, "command": [value]}}}
    assert yaml.safe_load(dump_compose(document)) == document


def test_a_float_port_is_refused_by_validate(tmp_path: Path) -> None:
    def edit(entry: dict[str, Any]) -> None:
        entry["container"]["ports"][0]["container"] = 6379.0

    catalog = user_catalog(tmp_path / "cat", "redis", "redis2", edit)
    result = run("catalog", "validate", str(catalog))
    assert result.returncode == 1
    assert re.search(
        r"redis2\.yaml:\d+:\d+: container\.ports\.0\.container: must be written as an integer "
        r"\(without a fraction\); got 6379\.0",
        result.stderr,
    ), result.stderr


# --- 9. terminal and Markdown injection ------------------------------------------------------------------------


def _hostile_text(entry: dict[str, Any]) -> None:
    entry["name"] = "Evil\x1b[2J\x1b]0;pwn\x07\r\u202e | # [x](y)"
    entry["workload"]["roles"]["full_text_search"]["why"] = "fast\x1b[31m\nfake line\u2028"
    entry["workload"]["limitations"] = ["slow\x1b[0m\r"]


@pytest.mark.parametrize(
    "args",
    [
        ("catalog", "list"),
        ("catalog", "show", "evilsearch"),
        ("catalog", "show", "evilsearch", "--format", "json"),
        ("recommend", "--role", "full_text_search"),
        ("demo",),
    ],
)
def test_catalog_text_cannot_drive_the_terminal(tmp_path: Path, args: tuple[str, ...]) -> None:
    catalog = user_catalog(tmp_path / "cat", "meilisearch", "evilsearch", _hostile_text)
    result = run("--catalog", str(catalog), *args)
    assert result.returncode == 0, result.stderr
    assert not set("\x1b\r\x07\x85\u2028\u2029\u202e") & set(result.stdout)
    assert "fake line" not in result.stdout.splitlines()
    if "show" in args:  # the same data, only escaped
        shown = json.loads(result.stdout) if "json" in args else yaml.safe_load(result.stdout)
        assert shown["name"] == "Evil\x1b[2J\x1b]0;pwn\x07\r\u202e | # [x](y)"


def test_the_readme_holds_catalog_text_as_text(tmp_path: Path) -> None:
    catalog = user_catalog(tmp_path / "cat", "meilisearch", "evilsearch", _hostile_text)
    generator(catalog).generate(StackRequest(use={"full_text_search": "evilsearch"}), tmp_path / "out")
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| meilisearch |"))
    assert row.count(" | ") == 3  # still four cells
    assert "(Evil\\\\x1b\\[2J\\\\x1b\\]0\\;pwn\\\\x07\\\\x0d\\\\u202e \\| \\# \\[x\\]\\(y\\)\\)" in row
    assert not set("\x1b\r\x07\u202e") & set(readme)


# --- tracebacks from characters outside the BMP or undecodable bytes -------------------------------------------------


def test_an_emoji_database_name_works(tmp_path: Path) -> None:
    result = run("compose", "postgresql", "--set", "database=\U0001f600", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert service_environment(compose_model(tmp_path), "postgresql")["POSTGRES_DB"] == "\U0001f600"


@pytest.mark.parametrize("name", ["username", "password", "database", "options.x"])
@pytest.mark.parametrize("command", ["url", "compose"])
def test_an_undecodable_byte_in_a_value_is_one_line(tmp_path: Path, name: str, command: str) -> None:
    value = os.fsdecode(b"a\xffb")  # what Python makes of a non-UTF-8 argument
    result = run(
        command,
        "postgresql",
        "--set",
        "password=x",
        "--set",
        f"{name}={value}",
        "-o" if command == "compose" else "--form",
        str(tmp_path) if command == "compose" else "uri",
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"dbstack: error: postgresql: parameter '{name.split('.')[0]}': is not valid UTF-8 text "
        "(it holds an undecodable byte)\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [("compose", "emoji"), ("demo",), ("generate", "--use", "full_text_search=emoji")])
def test_an_emoji_in_a_catalog_entry_works(tmp_path: Path, command: tuple[str, ...]) -> None:
    def edit(entry: dict[str, Any]) -> None:
        entry["container"]["environment"]["X"] = "\U0001f600"

    catalog = user_catalog(tmp_path / "cat", "meilisearch", "emoji", edit)
    assert run("catalog", "validate", str(catalog)).returncode == 0
    out = tmp_path / "out"
    result = run("--catalog", str(catalog), *command, *(("-o", str(out)) if command[0] != "demo" else ()))
    assert result.returncode == 0, result.stderr
    if command[0] != "demo":
        model = compose_model(out)
        assert (
            service_environment(model, next(s for s in model["services"] if "search" in s or s == "emoji"))["X"]
            == "\U0001f600"
        )
