"""What the schema lets an entry state: environments it may run in, unpublished vector limits, new categories."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dbstack import DatabaseAdapterRegistry, DbstackError
from dbstack.config_engine import ConfigEngine
from dbstack.loader import load_catalog
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.render.compose import render_service

PGVECTOR = (BUILTIN_CATALOG / "pgvector.yaml").read_text(encoding="utf-8")


def catalog_with(tmp_path: Path, new_id: str, text: str) -> DatabaseAdapterRegistry:
    text = text.replace("id: pgvector", f"id: {new_id}", 1)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("aliases:"))
    (tmp_path / f"{new_id}.yaml").write_text(text, encoding="utf-8")
    return DatabaseAdapterRegistry([tmp_path])


def test_an_entry_limited_to_development_renders_there_and_nowhere_else(tmp_path: Path) -> None:
    text = PGVECTOR.replace("container:\n", "container:\n  environments: [development]\n", 1)
    registry = catalog_with(tmp_path, "devonly", text)
    adapter = registry.get_adapter("devonly", {"password": "x"})
    assert render_service(adapter, "development").service["image"].startswith("pgvector/pgvector:")
    with pytest.raises(
        DbstackError, match=r"^devonly: the catalog allows this image only in development, not in production"
    ):
        render_service(adapter, "production")


def test_unpublished_vector_limit_is_a_stated_fact_not_a_number(tmp_path: Path) -> None:
    text = PGVECTOR.replace("max_dimensions: 2000", "max_dimensions: unpublished", 1)
    assert text != PGVECTOR
    registry = catalog_with(tmp_path, "vecunknown", text)
    assert registry.spec("vecunknown").capabilities.vector_search.max_dimensions == "unpublished"
    ranked = ConfigEngine(registry).recommend("librechat", "vector_store")["vector_store"]
    candidate = next(c for c in ranked if c.id == "vecunknown")
    assert any(
        r.startswith("vectors of a dimension limit the documentation does not publish; ") for r in candidate.reasons
    )
    assert "its documentation publishes no vector dimension limit: check it takes 1536" in candidate.tradeoffs


def test_a_made_up_dimension_word_is_refused(tmp_path: Path) -> None:
    text = PGVECTOR.replace("max_dimensions: 2000", "max_dimensions: lots", 1)
    (tmp_path / "bad.yaml").write_text(text.replace("id: pgvector", "id: bad", 1), encoding="utf-8")
    problems = [str(p) for p in load_catalog([tmp_path / "bad.yaml"], builtin=False).problems]
    assert len(problems) == 1 and "capabilities.vector_search.max_dimensions" in problems[0], problems


@pytest.mark.parametrize("category", ["analytics", "multi-model"])
def test_new_categories_validate(tmp_path: Path, category: str) -> None:
    text = PGVECTOR.replace("category: vector", f"category: {category}", 1)
    assert text != PGVECTOR
    assert catalog_with(tmp_path, "cat", text).spec("cat").category == category


def entry_with_accepts(tmp_path: Path, accepts: str) -> list[str]:
    marker = "      client: psycopg\n"
    assert marker in PGVECTOR
    text = PGVECTOR.replace(marker, marker + accepts, 1).replace("id: pgvector", "id: acc", 1)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("aliases:"))
    (tmp_path / "acc.yaml").write_text(text, encoding="utf-8")
    return [str(p) for p in load_catalog([tmp_path / "acc.yaml"], builtin=False).problems]


def test_a_form_refuses_a_value_its_client_cannot_carry(tmp_path: Path) -> None:
    accepts = '      accepts:\n        password: {pattern: "[a-z]*", why: "this client sends lower case only"}\n'
    assert entry_with_accepts(tmp_path, accepts) == []
    adapter = DatabaseAdapterRegistry([tmp_path]).get_adapter("acc", {"password": "abc"})
    assert adapter.connection_string().startswith("postgresql://postgres:abc@")
    with pytest.raises(
        DbstackError, match=r"forms\.uri: this password cannot be carried: this client sends lower case"
    ):
        adapter.with_config(password="ABC").connection_string()


@pytest.mark.parametrize(
    ("accepts", "problem"),
    [
        (
            '      accepts:\n        nope: {pattern: "x", why: "w"}\n',
            r"forms\.uri\.accepts\.nope: parameter 'nope' is not declared",
        ),
        (
            '      accepts:\n        password: {pattern: "(?!a)b", why: "w"}\n',
            r"forms\.uri\.accepts\.password(\.pattern)?: .*(RE2|regex)",
        ),
    ],
)
def test_accepts_names_declared_parameters_and_linear_patterns(tmp_path: Path, accepts: str, problem: str) -> None:
    problems = entry_with_accepts(tmp_path, accepts)
    assert len(problems) == 1 and re.search(problem, problems[0]), problems
