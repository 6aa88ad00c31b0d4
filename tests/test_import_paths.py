"""Each command imports what it uses, and not the rest: a module that creeps back into a command's path fails here.

Imports are most of what a short command costs (README, Performance). Each command runs in a fresh interpreter with
a warm cache, as a user's second run does, and the modules it loaded are compared with those it must not load.
Structural, not timed: the benchmarks (tests/benchmarks/bench_cli.py) measure the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs one command through dbstack's own entry point, then prints the names of the modules it loaded.
RUN_AND_LIST = """
import contextlib, io, json, sys
from dbstack.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""

# What loading and reading a cached catalog never needs: the checks and their rules, secrets, writing files,
# rendering, sharing checks among processes.
NOT_FOR_READING = {
    "dbstack.loader.validation",
    "dbstack.loader.workers",
    "dbstack.loader.rules",
    "dbstack.config_engine",
    "dbstack.output",
    "dbstack.render.compose",
    "secrets",
}
# url checks the values given with --set.
NOT_FOR_URL = NOT_FOR_READING - {"dbstack.loader.validation"}
KUBERNETES = {"dbstack.render.kubernetes", "dbstack.kubernetes_stack"}
# The package's files are plain paths (loader/resources.py): importlib.resources brings zipfile and tempfile.
EVERY_COMMAND = {"importlib.resources", "zipfile"}


def loaded_modules(args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    assert report["status"] == 0, result.stderr
    return set(report["modules"])


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A cache filled by a first generate (it checks and caches the catalog, the app and the environments)."""
    work = tmp_path_factory.mktemp("imports")
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
    env.pop("DBSTACK_NO_CACHE", None)
    loaded_modules(["generate", "--env", "production", "-o", str(work / "stack")], env, work)
    return env, work


@pytest.mark.parametrize(
    ("args", "unwanted"),
    [
        (["catalog", "list"], EVERY_COMMAND | NOT_FOR_READING | KUBERNETES | {"dbstack.sandbox", "jinja2"}),
        (
            ["catalog", "show", "redis", "--format", "json"],
            EVERY_COMMAND | NOT_FOR_READING | KUBERNETES | {"dbstack.sandbox"},
        ),
        (["url", "postgresql", "--set", "password=s3cret"], EVERY_COMMAND | NOT_FOR_URL | KUBERNETES),
        # Up to date: nothing is generated, so no secret either; the LibreChat stack's entries need no checks
        # module (pgvector's compose_fragment is read by loader/model.py, no container_pattern is set).
        (
            ["generate", "--env", "production", "-o", "stack"],
            EVERY_COMMAND
            | KUBERNETES
            | {"secrets", "dbstack.loader.rules", "dbstack.loader.validation", "dbstack.loader.workers"},
        ),
    ],
    ids=["catalog list", "catalog show", "url", "generate"],
)
def test_a_command_imports_only_what_it_uses(
    warm: tuple[dict[str, str], Path], args: list[str], unwanted: set[str]
) -> None:
    env, work = warm
    assert loaded_modules(args, env, work) & unwanted == set()


def test_a_new_stack_needs_no_kubernetes_renderer(warm: tuple[dict[str, str], Path]) -> None:
    env, work = warm
    modules = loaded_modules(["generate", "--env", "production", "-o", "fresh"], env, work)
    assert modules & KUBERNETES == set()
    assert "secrets" in modules  # it generated the stack's secrets: the check above runs where it matters
