"""Issue 8 (review 8b), item 1: the names a stack's data is kept under (the compose project keys every volume,
the Kubernetes namespace holds every claim) are recorded in .dbstack-files and kept on every regeneration: after
a target switch, a deleted or edited compose.yaml, a renamed folder. Another name is refused unless
--new-project; a stack whose .env holds database passwords but whose name is unknown is refused, nothing written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_kubernetes_stack import prepare

from dbstack.cli import main


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def compose_name(folder: Path) -> str:
    return str(yaml.safe_load((folder / "compose.yaml").read_text(encoding="utf-8"))["name"])


def namespace(folder: Path) -> str:
    return str(yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))["namespace"])


def generate(folder: Path, *extra: str, target: str = "compose") -> int:
    return main(["generate", "--target", target, "-o", str(folder), *extra])


def drop_recorded_names(folder: Path) -> None:
    """The record as a dbstack older than recorded names wrote it."""
    record = folder / ".dbstack-files"
    lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
    record.write_text("".join(line for line in lines if not re.match(r"# (project|namespace): ", line)))


def test_the_project_name_survives_a_switch_to_kubernetes_and_back(tmp_path: Path) -> None:
    folder = tmp_path / "dev1"
    prepare(folder)
    assert generate(folder, "--name", "chat") == 0
    assert generate(folder, target="kubernetes") == 0
    assert not (folder / "compose.yaml").exists()  # removed as stale: the name must come from elsewhere
    assert namespace(folder) == "chat"
    assert generate(folder) == 0
    assert compose_name(folder) == "chat"
    assert "# project: chat\n" in (folder / ".dbstack-files").read_text(encoding="utf-8")


@pytest.mark.parametrize("damage", ["deleted", "no name", "invalid name"])
def test_the_project_name_survives_a_deleted_or_edited_compose_file(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "dev1"
    prepare(folder)
    assert generate(folder, "--name", "chat") == 0
    compose = folder / "compose.yaml"
    if damage == "deleted":
        compose.unlink()
    else:
        replacement = "" if damage == "no name" else "name: Not/A Name\n"
        compose.write_text(compose.read_text(encoding="utf-8").replace("name: chat\n", replacement))
    assert generate(folder, "--force") == 0
    assert compose_name(folder) == "chat"


def test_a_renamed_kubernetes_folder_keeps_its_namespace(tmp_path: Path) -> None:
    first = tmp_path / "kk1"
    prepare(first)
    assert generate(first, target="kubernetes") == 0
    moved = tmp_path / "kk2"
    first.rename(moved)
    assert generate(moved, target="kubernetes") == 0
    assert namespace(moved) == "kk1"
    assert generate(moved) == 0  # and the compose project it becomes is the same name
    assert compose_name(moved) == "kk1"


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        (["--namespace", "other"], r"--namespace other: the stack in \S+ is in namespace kk1; another one starts"),
        (["--name", "other2"], r"--name other2: the stack in \S+ is the project kk1; another name starts"),
    ],
)
def test_another_namespace_or_name_on_kubernetes_is_refused_unless_new_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], refusal: str
) -> None:
    folder = tmp_path / "kk1"
    prepare(folder)
    assert generate(folder, target="kubernetes") == 0
    before = snapshot(folder)
    capsys.readouterr()
    assert generate(folder, *flags, target="kubernetes") == 1
    err = capsys.readouterr().err
    assert re.search(refusal, err) and "--new-project" in err and err.count("\n") == 1, err
    assert snapshot(folder) == before
    assert generate(folder, *flags, "--new-project", target="kubernetes") == 0
    assert namespace(folder) == flags[1]


@pytest.mark.parametrize("target", ["compose", "kubernetes"])
def test_an_old_stack_with_passwords_and_no_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """A stack made before any name was recorded (or one whose record was lost): a name from the folder would
    start empty databases under new names with the old passwords."""
    folder = tmp_path / "old"
    prepare(folder)
    assert generate(folder, target=target) == 0
    drop_recorded_names(folder)
    for dbstack_file in ("compose.yaml", "kustomization.yaml"):
        (folder / dbstack_file).unlink(missing_ok=True)
    before = snapshot(folder)
    capsys.readouterr()
    assert generate(folder, target=target) == 1
    err = capsys.readouterr().err
    flag = "--name NAME" if target == "compose" else "--namespace NAME"
    assert "its .env holds database passwords, but no project name is recorded" in err, err
    assert f"give {flag} with the name" in err and "librechat for stacks made before --name" in err
    assert err.count("\n") == 1
    assert snapshot(folder) == before
    name_flag = "--name" if target == "compose" else "--namespace"
    assert generate(folder, name_flag, "librechat", target=target) == 0
    assert (compose_name if target == "compose" else namespace)(folder) == "librechat"


@pytest.mark.parametrize("password", ["", "MONGODB_PASSWORD=chosen-by-the-user\n"])
def test_a_folder_dbstack_never_wrote_is_not_an_old_stack(tmp_path: Path, password: str) -> None:
    """A .env prepared before the first run (the user's keys, even a password of their choosing) or copied from
    another stack: the databases start fresh there, nothing to lose."""
    folder = tmp_path / "fresh"
    prepare(folder)
    with (folder / ".env").open("a", encoding="utf-8") as env:
        env.write(password)
    assert generate(folder) == 0
    assert compose_name(folder) == "fresh"


def test_an_old_kubernetes_stack_keeps_the_namespace_of_its_kustomization(tmp_path: Path) -> None:
    folder = tmp_path / "kk1"
    prepare(folder)
    assert generate(folder, target="kubernetes") == 0
    drop_recorded_names(folder)
    moved = tmp_path / "kk2"
    shutil.move(folder, moved)
    assert generate(moved, target="kubernetes") == 0
    assert namespace(moved) == "kk1"


@pytest.mark.parametrize("line", ["# project: ../x", "# namespace: Bad Name", "# project: \x1b[31mx"])
def test_a_hostile_recorded_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str) -> None:
    folder = tmp_path / "dev1"
    prepare(folder)
    assert generate(folder) == 0
    record = folder / ".dbstack-files"
    record.write_text(record.read_text(encoding="utf-8") + line + "\n")
    before = snapshot(folder)
    capsys.readouterr()
    assert generate(folder) == 1
    err = capsys.readouterr().err
    refusal = r"dbstack: error: \S+/\.dbstack-files:\d+: the recorded (project|namespace) is not a name .*\n"
    assert re.fullmatch(refusal, err), err
    assert "\x1b" not in err
    assert snapshot(folder) == before


def test_a_project_name_longer_than_a_dns_label_is_recorded_and_read_back(tmp_path: Path) -> None:
    """Compose limits a project name's characters, not its length: a name derived from a long folder name is
    recorded as written and read back by the next run (found by tests/test_fuzz_stack.py: the record's reader
    capped names at 63 characters, so a run refused the record it had just written)."""
    folder = tmp_path / ("chat-" + "x" * 80)
    prepare(folder)
    assert generate(folder) == 0
    assert compose_name(folder) == folder.name
    assert f"# project: {folder.name}\n" in (folder / ".dbstack-files").read_text(encoding="utf-8")
    assert generate(folder) == 0
    assert compose_name(folder) == folder.name
