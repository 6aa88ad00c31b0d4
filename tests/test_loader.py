"""Schema, loader and registry: every bad-input case names its file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from dbstack import CatalogError, DatabaseAdapterRegistry, UnknownDatabaseError
from dbstack.loader import load_catalog
from dbstack.loader.model import CAPABILITY_NAMES, ROLE_NAMES
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.loader.validation import schema
from dbstack.loader.yaml_source import MAX_FILE_BYTES

DBSTACK = str(Path(sys.executable).parent / "dbstack")
BUILTIN_IDS = sorted(p.stem for p in BUILTIN_CATALOG.glob("*.yaml"))
POSTGRESQL = (BUILTIN_CATALOG / "postgresql.yaml").read_text(encoding="utf-8")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def entry_like_postgresql(new_id: str, *, extra: str = "") -> str:
    """A valid entry: the built-in postgresql file under another id and alias set."""
    text = POSTGRESQL.replace("id: postgresql", f"id: {new_id}", 1).replace("aliases: [postgres, pg]", "aliases: []", 1)
    return text + extra


def problems_for(tmp_path: Path, name: str, text: str) -> list[str]:
    path = write(tmp_path, name, text)
    result = load_catalog([path], builtin=False)
    return [str(p) for p in result.problems]


def only_problem(tmp_path: Path, name: str, text: str) -> str:
    problems = problems_for(tmp_path, name, text)
    assert len(problems) == 1, problems
    return problems[0]


# --- the built-in catalog -------------------------------------------------------------------------


def test_builtin_catalog_is_valid_and_complete() -> None:
    result = load_catalog()
    assert result.problems == []
    expected = {"postgresql", "pgvector", "mongodb", "mysql", "redis", "sqlite", "qdrant", "meilisearch"}
    assert expected <= set(result.specs), sorted(expected - set(result.specs))


@pytest.mark.parametrize("name", BUILTIN_IDS)
def test_builtin_entries_point_editors_at_the_schema(name: str) -> None:
    first = (BUILTIN_CATALOG / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schema/database.schema.json"


@pytest.mark.parametrize("name", BUILTIN_IDS)
def test_builtin_entries_pin_their_tags_and_cite_sources(name: str) -> None:
    spec = DatabaseAdapterRegistry(use_env=False).spec(name)
    covered = {fact for source in spec.sources for fact in source.covers}
    if spec.container is not None:
        assert spec.container.tag not in ("latest", "stable")
        for fact in ("image", "tag", "environment", "ports", "data_dir", "healthcheck"):
            assert fact in covered, f"{name}: no source covers {fact}"
    assert "connection_strings" in covered


def _properties_without_description(node: object, path: str = "") -> list[str]:
    missing = []
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                missing.append(f"{path}.{key}")
        for key, sub in node.items():
            if key in ("if", "then", "else", "not"):  # conditions, not properties
                continue
            missing += _properties_without_description(sub, f"{path}.{key}" if key != "properties" else path)
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            missing += _properties_without_description(sub, f"{path}[{index}]")
    return missing


@pytest.mark.parametrize("name", ["database", "environment"])
def test_every_schema_property_has_a_description(name: str) -> None:
    assert _properties_without_description(schema(name)) == []


def _examples(node: Any, path: str = "") -> list[tuple[str, dict[str, Any], Any]]:
    """Every (schema path, subschema, example) of a schema."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    if isinstance(node, dict):
        found += [(path, node, example) for example in node.get("examples", [])]
        for key, value in node.items():
            if key != "examples":
                found += _examples(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _examples(value, f"{path}/{index}")
    return found


def test_schema_examples_exist_and_are_valid() -> None:
    """The schema's examples document the fields an author writes first, and each one fits its own field."""
    root = schema("database")
    examples = _examples(root)
    documented = {path.rsplit("/", 1)[-1] for path, _, _ in examples}
    assert {"id", "name", "aliases", "license", "image"} <= documented
    for path, subschema, example in examples:
        validator = Draft202012Validator({**subschema, "$defs": root.get("$defs", {})})
        assert not list(validator.iter_errors(example)), f"{path}: example {example!r} does not fit its field"


# --- YAML-level problems ---------------------------------------------------------------------------


def test_duplicate_key_is_an_error_with_both_lines(tmp_path: Path) -> None:
    text = entry_like_postgresql("dupkey").replace(
        "category: relational\n", "category: relational\ncategory: document\n"
    )
    line = text.splitlines().index("category: document") + 1
    problem = only_problem(tmp_path, "dupkey.yaml", text)
    assert problem.startswith(f"{tmp_path / 'dupkey.yaml'}:{line}:1:")
    assert "duplicate key 'category'" in problem and f"first at line {line - 1}" in problem


def test_custom_tags_are_refused(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "tagged.yaml", "id: !!python/object/apply:os.system ['echo pwned']\n")
    assert problem.startswith(f"{tmp_path / 'tagged.yaml'}:1:5:") and "is not allowed" in problem


def test_alias_bomb_is_refused_without_blowing_memory(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    problem = only_problem(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    assert "alias bomb" in problem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("# only a comment\n", "file is empty"),
        ("- a\n- b\n", "top level must be a mapping, not list"),
        ("just text\n", "top level must be a mapping, not str"),
        ("id: a\n---\nid: b\n", "expected a single document"),
        ("id: [unclosed\n", "invalid YAML"),
    ],
)
def test_non_mapping_and_broken_documents(tmp_path: Path, text: str, message: str) -> None:
    problem = only_problem(tmp_path, "broken.yaml", text)
    assert problem.startswith(str(tmp_path / "broken.yaml")) and message in problem


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"id: latin1\nname: Caf\xe9\n")
    result = load_catalog([path], builtin=False)
    assert [str(p) for p in result.problems] == [f"{path}:2:10: file is not valid UTF-8"]


def test_files_over_one_mebibyte_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("description: " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    problems = [str(p) for p in load_catalog([path], builtin=False).problems]
    assert len(problems) == 1 and "the limit is 1048576" in problems[0]


# --- schema problems and checks beyond the schema ------------------------------------------------------------


# Schema refusals (unknown key, bad enum, pinned tag, missing field, wrong type, embedded with a container) and the
# checks beyond the schema (id = file name, templates, parameter defaults and bounds, forms, pool settings, tls modes,
# healthcheck timings, capabilities) are files in tests/examples/negative/, each with its expected problems
# (tests/test_negative_examples.py).


# --- registry: folders, overrides, lookups --------------------------------------------------------


def test_user_folder_adds_a_database(tmp_path: Path) -> None:
    write(tmp_path, "warehouse.yaml", entry_like_postgresql("warehouse"))
    registry = DatabaseAdapterRegistry([tmp_path], use_env=False)
    assert "warehouse" in registry and set(BUILTIN_IDS) <= set(registry.ids)


def test_folders_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first, "alpha.yaml", entry_like_postgresql("alpha"))
    write(second, "beta.yaml", entry_like_postgresql("beta"))
    monkeypatch.setenv("DBSTACK_CATALOG_PATH", f"{first}{os.pathsep}{second}")
    assert {"alpha", "beta"} <= set(DatabaseAdapterRegistry().ids)


def test_duplicate_id_without_override_names_both_files(tmp_path: Path) -> None:
    path = write(tmp_path, "postgresql.yaml", POSTGRESQL)
    with pytest.raises(CatalogError) as caught:
        DatabaseAdapterRegistry([tmp_path], use_env=False)
    (problem,) = caught.value.problems
    assert problem.file == path and problem.line == 2 and problem.field == "id"
    assert str(BUILTIN_CATALOG / "postgresql.yaml") in problem.message and "replaces_builtin: true" in problem.message


def test_explicit_override_replaces_builtin(tmp_path: Path) -> None:
    text = POSTGRESQL.replace("name: PostgreSQL\n", "name: Company PostgreSQL\nreplaces_builtin: true\n")
    write(tmp_path, "postgresql.yaml", text)
    registry = DatabaseAdapterRegistry([tmp_path], use_env=False)
    assert registry.spec("pg").name == "Company PostgreSQL"


def test_override_of_nothing_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "lonely.yaml", entry_like_postgresql("lonely", extra="replaces_builtin: true\n"))
    with pytest.raises(CatalogError, match="there is no built-in entry 'lonely'"):
        DatabaseAdapterRegistry([tmp_path], use_env=False)


def test_alias_clash_with_an_id(tmp_path: Path) -> None:
    text = entry_like_postgresql("clash").replace("aliases: []", "aliases: [mysql-ish, postgresql]")
    write(tmp_path, "clash.yaml", text)
    with pytest.raises(CatalogError) as caught:
        DatabaseAdapterRegistry([tmp_path], use_env=False)
    (problem,) = caught.value.problems
    assert (
        problem.field == "aliases.1" and problem.line == text.splitlines().index("aliases: [mysql-ish, postgresql]") + 1
    )
    assert "alias 'postgresql' is already the id of 'postgresql'" in problem.message


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such file or folder"):
        DatabaseAdapterRegistry([tmp_path / "nope"], use_env=False)


def test_lookup_by_alias_is_case_insensitive() -> None:
    registry = DatabaseAdapterRegistry(use_env=False)
    assert registry.get_adapter("PG").id == "postgresql"
    assert registry.get_adapter("Postgres").id == "postgresql"


def test_unknown_name_suggests_close_ones() -> None:
    registry = DatabaseAdapterRegistry(use_env=False)
    with pytest.raises(UnknownDatabaseError, match="did you mean postgresql"):
        registry.get_adapter("postgress")
    with pytest.raises(UnknownDatabaseError, match="known: "):
        registry.get_adapter("zzzz")


def raw_builtin_entries() -> list[dict[str, Any]]:
    """The built-in catalog files as plain YAML data: the filters' expectations come from here, not the loader."""
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(BUILTIN_CATALOG.glob("*.yaml"))]


def raw_has(entry: dict[str, Any], capability: str) -> bool:
    value = entry["capabilities"][capability]
    return value["support"] != "none" if capability == "vector_search" else value is True


def test_filters() -> None:
    registry = DatabaseAdapterRegistry(use_env=False)
    entries = raw_builtin_entries()

    def found(**filters: str) -> set[str]:
        return {s.id for s in registry.find(**filters)}

    for capability in CAPABILITY_NAMES:
        assert found(capability=capability) == {e["id"] for e in entries if raw_has(e, capability)}, capability
    protocols = sorted({p for e in entries for p in e["protocols"]})
    assert list(registry.protocols()) == protocols
    for protocol in protocols:
        assert found(protocol=protocol) == {e["id"] for e in entries if protocol in e["protocols"]}, protocol
        assert found(protocol=protocol.upper()) == found(protocol=protocol)  # case does not matter
    for role in ROLE_NAMES:
        assert found(role=role) == {e["id"] for e in entries if role in e["workload"]["roles"]}, role
    vectors_over_postgresql = found(capability="vector_search", protocol="postgresql")
    assert vectors_over_postgresql == {
        e["id"] for e in entries if raw_has(e, "vector_search") and "postgresql" in e["protocols"]
    }
    # The catalog holds the cases that make the filters mean something: a PostgreSQL without vectors.
    assert {"pgvector", "cockroachdb", "timescaledb"} <= vectors_over_postgresql
    assert "postgresql" in found(protocol="postgresql") - vectors_over_postgresql
    assert {"pgvector", "qdrant"} <= found(capability="vector_search")
    assert "mongodb" in found(role="primary_store") and "redis" not in found(role="primary_store")


def test_adapters_and_specs_are_immutable() -> None:
    adapter = DatabaseAdapterRegistry(use_env=False).get_adapter("postgresql")
    with pytest.raises(AttributeError):
        adapter.foo = 1
    with pytest.raises(TypeError):
        adapter.config["host"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        adapter.spec.parameters["x"] = None  # type: ignore[index]
    data = adapter.spec.to_dict()
    data["id"] = "changed"
    assert adapter.spec.to_dict()["id"] == "postgresql"


def test_show_output_is_a_valid_entry_that_loads_back_the_same(tmp_path: Path) -> None:
    """`catalog show` prints the entry as dbstack holds it: that text is itself a catalog file dbstack loads,
    through its own located YAML loader and every check, into the same entry."""
    spec = DatabaseAdapterRegistry(use_env=False).spec("postgresql")
    shown = subprocess.run(
        [DBSTACK, "catalog", "show", "postgresql"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    folder = tmp_path / "shown"
    folder.mkdir()
    (folder / "postgresql.yaml").write_text(shown, encoding="utf-8")
    result = load_catalog([folder], builtin=False)
    assert [str(p) for p in result.problems] == []
    assert result.specs["postgresql"].to_dict() == spec.to_dict()
