"""App definitions and deployment environments through the cache of checked files (loader/checked.py).

A warm run takes a file's data from the cache only when dbstack's rules and the file's bytes are those it was
checked with; a file with a problem is never stored; data cached as one kind of file is never taken for another;
cached data that does not build is ignored. Each test has its own XDG_CACHE_HOME (tests/conftest.py). ``checks``
counts the real checks (the schema check, which every kind runs first) by file name: a cache hit runs none.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbstack.loader import CatalogError, DbstackError, Problem, cache, checked, environments, validation
from dbstack.loader.apps import BUILTIN_APPS, load_app
from dbstack.loader.environments import ENVIRONMENT_DIR, load_environment
from dbstack.loader.yaml_source import LocatedDocument

LIBRECHAT = BUILTIN_APPS / "librechat.yaml"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    cache.rules_fingerprint.cache_clear()
    load_environment.cache_clear()
    yield
    cache.rules_fingerprint.cache_clear()
    load_environment.cache_clear()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    real = validation.check_schema

    def counting(file: Path, doc: LocatedDocument, schema: str) -> list[Problem]:
        counts[file.name] += 1
        return real(file, doc, schema)

    monkeypatch.setattr(validation, "check_schema", counting)  # apps and environments import it to check a file
    return counts


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    path = tmp_path / "apps" / "librechat.yaml"
    path.parent.mkdir()
    shutil.copyfile(LIBRECHAT, path)
    return path


def cache_file(path: Path) -> Path:
    """The cache file of the folder holding ``path`` (one per folder, a line per file)."""
    folder = cache.cache_dir()
    assert folder is not None
    return cache.EntryCache(folder)._file(path.resolve())


def cached_line(path: Path) -> bytes | None:
    if not cache_file(path).exists():
        return None
    for line in cache_file(path).read_bytes().splitlines():
        if json.loads(line.split(b"\t", 1)[0])["name"] == path.name:
            return line
    return None


def is_cached(path: Path) -> bool:
    return cached_line(path) is not None


def test_the_second_load_of_an_app_checks_nothing_and_gives_the_same_app(app_file: Path, checks: Counter[str]) -> None:
    first = load_app(app_file)
    second = load_app(app_file)
    assert checks == {"librechat.yaml": 1}
    assert second == first
    assert is_cached(app_file)


def test_the_builtin_app_and_environments_are_the_same_from_the_cache(checks: Counter[str]) -> None:
    fresh_app = load_app("librechat")
    fresh = {name: load_environment(name) for name in ("development", "staging", "production")}
    load_environment.cache_clear()
    assert load_app("librechat") == fresh_app
    assert {name: load_environment(name) for name in fresh} == fresh
    assert checks == {"librechat.yaml": 1, "development.yaml": 1, "staging.yaml": 1, "production.yaml": 1}


def test_an_edited_app_is_checked_again_and_its_change_seen(app_file: Path, checks: Counter[str]) -> None:
    load_app(app_file)
    text = app_file.read_text(encoding="utf-8")
    app_file.write_text(text.replace("name: LibreChat", "name: LibreChat Edited", 1), encoding="utf-8")
    assert load_app(app_file).name == "LibreChat Edited"
    assert checks == {"librechat.yaml": 2}


def test_an_app_with_a_problem_is_never_cached(app_file: Path, checks: Counter[str]) -> None:
    text = app_file.read_text(encoding="utf-8")
    app_file.write_text(text.replace("name: LibreChat", "name: [LibreChat]", 1), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(CatalogError, match=r"librechat\.yaml:\d+:\d+: name: "):
            load_app(app_file)
    assert checks == {"librechat.yaml": 2}
    assert not is_cached(app_file)


def test_changed_rules_check_the_app_again(
    app_file: Path, checks: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_app(app_file)
    monkeypatch.setattr(cache, "rules_fingerprint", functools.cache(lambda: b"another version of dbstack"))
    load_app(app_file)
    assert checks == {"librechat.yaml": 2}


def rewrite_cached(path: Path, change: Any) -> None:
    """Replace the cached data of ``path`` by ``change(data)``, with a valid header (as its owner could)."""
    line = cached_line(path)
    assert line is not None
    header, payload = line.split(b"\t", 1)
    key = json.loads(header)["key"]
    folder = cache.cache_dir()
    assert folder is not None
    planted = cache.EntryCache(folder)
    planted.put(path.resolve(), key, change(json.loads(payload)))
    planted.save()
    assert cached_line(path) != line


def test_cached_app_data_that_does_not_build_is_ignored(app_file: Path, checks: Counter[str]) -> None:
    expected = load_app(app_file)
    rewrite_cached(app_file, lambda data: {**data, "roles": "not a mapping"})
    assert load_app(app_file) == expected
    assert checks == {"librechat.yaml": 2}


def test_cached_app_data_of_another_id_is_ignored(app_file: Path, checks: Counter[str]) -> None:
    expected = load_app(app_file)
    rewrite_cached(app_file, lambda data: {**data, "id": "other"})
    assert load_app(app_file) == expected
    assert checks == {"librechat.yaml": 2}


def test_a_tampered_app_entry_is_ignored(app_file: Path, checks: Counter[str]) -> None:
    expected = load_app(app_file)
    entry = cache_file(app_file)
    assert entry.read_bytes().count(b"LibreChat") > 1
    entry.write_bytes(entry.read_bytes().replace(b"LibreChat", b"Tampered"))
    assert load_app(app_file) == expected
    assert checks == {"librechat.yaml": 2}


def test_data_checked_as_one_kind_is_never_taken_for_another(tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text("id: file\n", encoding="utf-8")
    seen: list[str] = []

    def check(kind: str) -> Any:
        def run(doc: LocatedDocument) -> list[Problem]:
            seen.append(kind)
            return []

        return run

    assert checked.load_checked(path, "app", check("app"), dict) == {"id": "file"}
    assert checked.load_checked(path, "environment", check("environment"), dict) == {"id": "file"}
    assert checked.load_checked(path, "environment", check("environment"), dict) == {"id": "file"}
    assert seen == ["app", "environment"]


def test_data_json_cannot_carry_is_not_cached(tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text("id: file\nscale: .nan\n", encoding="utf-8")  # NaN is not equal to itself: no round trip
    runs: list[int] = []

    def check(doc: LocatedDocument) -> list[Problem]:
        runs.append(1)
        return []

    for _ in range(2):
        data = checked.load_checked(path, "test", check, dict)
        assert list(data) == ["id", "scale"]
    assert len(runs) == 2
    assert not is_cached(path)


def test_no_cache_env_reads_and_writes_nothing(
    app_file: Path, checks: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    load_app(app_file)
    load_app(app_file)
    assert checks == {"librechat.yaml": 2}
    assert not is_cached(app_file)


def test_an_environment_with_a_problem_is_one_line_and_never_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checks: Counter[str]
) -> None:
    folder = tmp_path / "environments"
    shutil.copytree(ENVIRONMENT_DIR, folder)
    text = (folder / "staging.yaml").read_text(encoding="utf-8")
    (folder / "staging.yaml").write_text(text.replace("publish_ports:", "publish_ports: [1]\nx:", 1), encoding="utf-8")
    monkeypatch.setattr(environments, "ENVIRONMENT_DIR", folder)
    for _ in range(2):
        load_environment.cache_clear()
        with pytest.raises(DbstackError, match=r"staging\.yaml:\d+:\d+: "):
            load_environment("staging")
    assert checks == {"staging.yaml": 2}
    assert not is_cached(folder / "staging.yaml")
