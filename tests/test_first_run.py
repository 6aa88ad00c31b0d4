"""Issue 8, the reviewer's gaps: what a regeneration keeps (project name, effective settings), what the
first run tells the user (a model to chat with, the address that works, the sign-up reason), and the notes a
change needs (Meilisearch versions, MongoDB's own user, embeddings providers). Checked on the files as
written and by the real Docker Compose binary."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_first_start import GENERATOR, generate, model_of

from dbstack import DbstackError
from dbstack.config_engine import StackRequest


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
