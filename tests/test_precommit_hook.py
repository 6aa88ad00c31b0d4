"""The pre-commit hook manifest (.pre-commit-hooks.yaml): the command it runs, on which files, in one process."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"


def hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["dbstack-catalog-validate"]
    found: dict[str, Any] = hooks[0]
    return found


def test_the_hook_checks_the_whole_folder_in_one_process() -> None:
    """Entries are checked against each other: given only the files a commit changed, an id or alias clash with
    a file left unchanged would go unseen, and pre-commit splits a hook's files among parallel processes unless
    require_serial (each of which would then share its checks among every CPU)."""
    found = hook()
    assert (found["pass_filenames"], found["require_serial"], found["args"]) == (False, True, ["catalog"])


def test_the_hook_picks_catalog_files_only() -> None:
    files = re.compile(hook()["files"])
    assert all(files.search(path) for path in ("catalog/redis.yaml", "infra/catalog/mine.yml"))
    assert not any(files.search(path) for path in (".github/workflows/ci.yaml", "catalog/sub/x.yaml", "compose.yaml"))


def test_the_hook_command_finds_a_clash_with_a_file_the_commit_left_unchanged(tmp_path: Path) -> None:
    """What pre-commit runs, from the repository's root: the entry with the hook's args."""
    found = hook()
    entry = shlex.split(found["entry"])
    assert entry[0] == "dbstack"
    folder = tmp_path / "catalog"
    folder.mkdir()
    for source, new_id in (("redis", "my-cache"), ("postgresql", "my-store")):
        text = (CATALOG / f"{source}.yaml").read_text(encoding="utf-8").replace(f"id: {source}", f"id: {new_id}", 1)
        text = re.sub(r"^aliases: .*$", f"aliases: [{new_id}-alias]", text, flags=re.M)
        (folder / f"{new_id}.yaml").write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "dbstack", *entry[1:], *found["args"]]
    good = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert (good.returncode, good.stdout.startswith("ok: ")) == (0, True), good.stdout + good.stderr
    # the commit changes my-store only, giving it the alias my-cache's file (unchanged) has
    store = folder / "my-store.yaml"
    store.write_text(store.read_text(encoding="utf-8").replace("[my-store-alias]", "[my-cache-alias]"), "utf-8")
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "alias 'my-cache-alias' is already" in bad.stdout + bad.stderr
