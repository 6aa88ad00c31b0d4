"""The `live` and `external` markers tests/conftest.py sets: `-m "not live and not external"` must leave only
tests that need no database server and no program from outside Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import _needs_external

from compose_tools import compose_config

TESTS = Path(__file__).resolve().parent


def _runs_compose(folder: Path) -> object:
    return compose_config(folder / "compose.yaml")


def _through_a_helper(folder: Path) -> object:
    return _runs_compose(folder)


def _names_kubectl() -> list[str]:
    return ["kubectl", "kustomize", "."]


def _mentions_kubectl_in_prose() -> str:
    return "kubectl apply -k out"  # only printed: runs nothing


def _pure() -> int:
    return len("kubectl-free")


def test_a_function_that_reaches_an_external_program_is_found() -> None:
    assert _needs_external(_runs_compose, {})
    assert _needs_external(_through_a_helper, {})
    assert _needs_external(_names_kubectl, {})
    assert _needs_external(lambda: _through_a_helper(TESTS), {})
    assert not _needs_external(_mentions_kubectl_in_prose, {})
    assert not _needs_external(_pure, {})


def selected(marker: str, *files: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", marker, *files],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_markers_sort_known_tests() -> None:
    files = ("tests/test_compose_tools.py", "tests/test_sandbox.py", "tests/test_connection_strings.py")
    external = selected("external", *files)
    live = selected("live", *files)
    pure = selected("not live and not external", *files)
    # The Compose tools' own checks run the Compose binary or a validator, but for the finding filter; the sandbox
    # runs none.
    compose_tools_tests = {t for t in external | pure if t.startswith("tests/test_compose_tools.py::")}
    assert {t for t in pure if t in compose_tools_tests} == {
        "tests/test_compose_tools.py::test_significant_findings_filter"
    }
    assert len(compose_tools_tests & external) >= 15
    assert any(t.startswith("tests/test_sandbox.py::") for t in pure)
    assert not any(t.startswith("tests/test_sandbox.py::") for t in external | live)
    # A live server handed over as a parameter (request.getfixturevalue) is live too.
    assert "tests/test_connection_strings.py::test_rendered_string_logs_in[redis-uri]" in live
    assert not any("test_rendered_string_logs_in" in t for t in pure)
