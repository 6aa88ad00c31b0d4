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


def test_the_hook_runs_in_one_process_with_every_file() -> None:
    """pre-commit splits a hook's files among parallel processes unless require_serial: split, an alias clash
    between files of two processes would go unseen, and each process would share its checks among every CPU."""
    assert hook()["require_serial"] is True


def test_the_hook_picks_catalog_files_only() -> None:
    files = re.compile(hook()["files"])
    assert all(files.search(path) for path in ("catalog/redis.yaml", "infra/catalog/mine.yml"))
    assert not any(files.search(path) for path in (".github/workflows/ci.yaml", "catalog/sub/x.yaml", "compose.yaml"))


def test_the_hook_command_validates_the_files_it_is_given(tmp_path: Path) -> None:
    entry = shlex.split(hook()["entry"])
    assert entry[0] == "dbstack"
    folder = tmp_path / "catalog"
    folder.mkdir()
    for source, new_id in (("redis", "my-cache"), ("postgresql", "my-store")):
        text = (CATALOG / f"{source}.yaml").read_text(encoding="utf-8").replace(f"id: {source}", f"id: {new_id}", 1)
        (folder / f"{new_id}.yaml").write_text(re.sub(r"^aliases: .*$", "aliases: []", text, flags=re.M), "utf-8")
    command = [sys.executable, "-m", "dbstack", *entry[1:], *map(str, sorted(folder.iterdir()))]
    good = subprocess.run(command, capture_output=True, text=True, check=False)
    assert (good.returncode, good.stdout.startswith("ok: ")) == (0, True), good.stdout + good.stderr
    broken = folder / "broken.yaml"
    broken.write_text("id: broken\nname: [\n", encoding="utf-8")
    bad = subprocess.run([*command, str(broken)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and f"{broken}:" in bad.stdout + bad.stderr
