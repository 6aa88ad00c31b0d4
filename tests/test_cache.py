"""The cache of validated catalog entries (loader/cache.py): served only when nothing it depends on changed,
never when it was tampered with or could have been written by someone else.

Each test has its own XDG_CACHE_HOME (tests/conftest.py). ``checked`` counts the real full checks
(validation.check_entry) a load runs, per file: a cache hit runs none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dbstack
from dbstack.loader import Problem, cache, load_catalog, validation
from dbstack.loader.model import DatabaseSpec
from dbstack.loader.registry import BUILTIN_CATALOG, load_file
from dbstack.loader.yaml_source import LocatedDocument

POSTGRESQL = (BUILTIN_CATALOG / "postgresql.yaml").read_text(encoding="utf-8")


def entry(new_id: str, aliases: str = "[]") -> str:
    return POSTGRESQL.replace("id: postgresql", f"id: {new_id}", 1).replace(
        "aliases: [postgres, pg]", f"aliases: {aliases}", 1
    )


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """File name -> how many times validation.check_entry ran on it (the real function still runs)."""
    counts: Counter[str] = Counter()
    real = validation.check_entry

    def counting(file: Path | None, doc: LocatedDocument) -> list[Problem]:
        counts[file.name if file else ""] += 1
        return real(file, doc)

    monkeypatch.setattr(validation, "check_entry", counting)
    return counts


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "alpha.yaml").write_text(entry("alpha"), encoding="utf-8")
    (folder / "beta.yaml").write_text(entry("beta"), encoding="utf-8")
    return folder


def cache_folder() -> Path:
    folder = cache.cache_dir()
    assert folder is not None
    return folder


def cache_file(path: Path) -> Path:
    return cache.EntryCache(cache_folder())._file(path.resolve())


def load(folder: Path) -> dict[str, DatabaseSpec]:
    result = load_catalog([folder], builtin=False)
    assert result.problems == []
    return result.specs


@pytest.fixture(autouse=True)
def _fresh_fingerprint() -> Iterator[None]:
    cache.rules_fingerprint.cache_clear()
    yield
    cache.rules_fingerprint.cache_clear()


def test_second_load_checks_nothing_and_gives_the_same_entries(catalog: Path, checked: Counter[str]) -> None:
    first = load(catalog)
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1}
    folder = cache_folder()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in folder.iterdir())
    second = load(catalog)
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1}
    assert second == first


def test_every_builtin_entry_is_the_same_from_the_cache(checked: Counter[str]) -> None:
    fresh = load_catalog().specs
    cached = load_catalog().specs
    assert len(checked) == len(fresh) and all(count == 1 for count in checked.values())
    assert cached == fresh
    assert [spec.to_dict() for spec in cached.values()] == [spec.to_dict() for spec in fresh.values()]


def test_editing_one_file_checks_that_file_only(catalog: Path, checked: Counter[str]) -> None:
    load(catalog)
    (catalog / "beta.yaml").write_text(entry("beta").replace("name: PostgreSQL", "name: Beta"), encoding="utf-8")
    specs = load(catalog)
    assert checked == {"alpha.yaml": 1, "beta.yaml": 2}
    assert specs["beta"].name == "Beta"


def test_a_file_with_a_problem_is_never_cached(catalog: Path, checked: Counter[str]) -> None:
    (catalog / "beta.yaml").write_text(entry("beta").replace("category: relational", "category: nope"), "utf-8")
    for _ in range(2):
        problems = [str(p) for p in load_catalog([catalog], builtin=False).problems]
        assert len(problems) == 1 and problems[0].startswith(f"{catalog / 'beta.yaml'}:"), problems
    assert checked == {"alpha.yaml": 1, "beta.yaml": 2}
    assert not cache_file(catalog / "beta.yaml").exists()


def test_same_content_elsewhere_is_checked_there(catalog: Path, tmp_path: Path, checked: Counter[str]) -> None:
    """The id must equal the file name: a cached verdict for one path says nothing of another."""
    load(catalog)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(catalog / "alpha.yaml", other / "gamma.yaml")
    problems = [str(p) for p in load_catalog([other], builtin=False).problems]
    assert problems == [f"{other / 'gamma.yaml'}:2:5: id: id 'alpha' must equal the file name 'gamma'"]


def test_a_new_dbstack_version_checks_everything_again(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(catalog)
    monkeypatch.setattr(dbstack, "__version__", "99.0.0")
    cache.rules_fingerprint.cache_clear()
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}


@pytest.mark.parametrize("rule_file", ["schema/database.schema.json", "loader/validation.py", "render/sandbox.py"])
def test_a_changed_schema_or_rule_checks_everything_again(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rule_file: str
) -> None:
    package = tmp_path / "package"  # a copy of the installed rules, so that one can be edited
    for pattern in cache._RULE_FILES:
        for source in cache._PACKAGE.glob(pattern):
            if not source.is_file():
                continue
            target = package / source.relative_to(cache._PACKAGE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    monkeypatch.setattr(cache, "_PACKAGE", package)
    load(catalog)
    cache.rules_fingerprint.cache_clear()
    load(catalog)
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1}  # the copy fingerprints as the original
    with (package / rule_file).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    cache.rules_fingerprint.cache_clear()
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}


def tamper_payload(path: Path) -> None:
    header, payload = path.read_bytes().split(b"\n", 1)
    data = json.loads(payload)
    data["name"] = "Tampered"
    path.write_bytes(header + b"\n" + json.dumps(data).encode())


def tamper_key(path: Path) -> None:
    header, payload = path.read_bytes().split(b"\n", 1)
    fields = json.loads(header)
    fields["key"] = "0" * 64
    path.write_bytes(json.dumps(fields).encode() + b"\n" + payload)


def tamper_format(path: Path) -> None:
    header, payload = path.read_bytes().split(b"\n", 1)
    path.write_bytes(header.replace(b'"format": 1', b'"format": 2') + b"\n" + payload)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def not_json(path: Path) -> None:
    path.write_bytes(b"\x80\x04\x95 pickle-like bytes\n\x00\x01")


@pytest.mark.parametrize("tamper", [tamper_payload, tamper_key, tamper_format, truncate, not_json])
def test_a_tampered_cache_file_is_ignored_and_rebuilt(catalog: Path, checked: Counter[str], tamper: object) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    good = stored.read_bytes()
    assert callable(tamper)
    tamper(stored)
    specs = load(catalog)
    assert specs["alpha"].name == "PostgreSQL"
    assert checked == {"alpha.yaml": 2, "beta.yaml": 1}
    assert stored.read_bytes() == good  # rebuilt


def test_cached_data_for_another_id_is_not_used(catalog: Path, checked: Counter[str]) -> None:
    """Even a well-formed file with a matching key and digest must hold the entry its file is named for."""
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    key = json.loads(stored.read_bytes().split(b"\n", 1)[0])["key"]
    payload = json.loads(stored.read_bytes().split(b"\n", 1)[1])
    cache.EntryCache(cache_folder()).put((catalog / "alpha.yaml").resolve(), key, {**payload, "id": "beta"})
    assert load(catalog)["alpha"].id == "alpha"
    assert checked["alpha.yaml"] == 2


def test_a_symlinked_cache_file_is_not_trusted(catalog: Path, checked: Counter[str], tmp_path: Path) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    elsewhere = tmp_path / "planted.json"
    shutil.copy(stored, elsewhere)  # a valid entry, but not a file the cache folder holds
    stored.unlink()
    stored.symlink_to(elsewhere)
    load(catalog)
    assert checked["alpha.yaml"] == 2
    assert not stored.is_symlink()  # replaced by a real file


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_cache_file_others_may_write_is_not_trusted(catalog: Path, checked: Counter[str], mode: int) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    stored.chmod(mode)
    load(catalog)
    assert checked["alpha.yaml"] == 2


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_cache_file_of_another_user_is_not_trusted(catalog: Path, checked: Counter[str]) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    os.chown(stored, 65534, 65534)
    load(catalog)
    assert checked["alpha.yaml"] == 2


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701])
def test_a_cache_folder_open_to_others_is_not_used(catalog: Path, checked: Counter[str], mode: int) -> None:
    load(catalog)
    folder = cache_folder()
    folder.chmod(mode)
    before = sorted(folder.iterdir())
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}
    assert sorted(folder.iterdir()) == before  # nothing written there either


def test_a_symlinked_cache_folder_is_not_used(catalog: Path, checked: Counter[str], tmp_path: Path) -> None:
    real = tmp_path / "real-cache"
    real.mkdir(mode=0o700)
    folder = cache_folder()
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(real)
    load(catalog)
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}
    assert list(real.iterdir()) == []


def test_no_cache_env_reads_and_writes_nothing(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(catalog)
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    shutil.rmtree(cache_folder())
    load(catalog)
    load(catalog)
    assert checked == {"alpha.yaml": 3, "beta.yaml": 3}
    assert not cache_folder().exists()


def test_problems_across_files_keep_their_positions_when_entries_come_from_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "alpha.yaml").write_text(entry("alpha", "[shared]"), encoding="utf-8")
    (folder / "beta.yaml").write_text(entry("beta", "[beta-db, shared]"), encoding="utf-8")
    (folder / "postgresql.yaml").write_text(entry("postgresql"), encoding="utf-8")

    def problems() -> list[str]:
        return [str(p) for p in load_catalog([folder]).problems]

    cold = problems()
    assert any("beta.yaml:4:20: aliases.1: alias 'shared' is already an alias of 'alpha'" in p for p in cold), cold
    assert any("postgresql.yaml:2:5: id: id 'postgresql' is already defined" in p for p in cold), cold
    assert cache_file(folder / "beta.yaml").exists()  # valid on its own: cached
    assert problems() == cold


def test_a_cache_file_is_json_and_reading_one_runs_no_code(catalog: Path, tmp_path: Path) -> None:
    load(catalog)
    header, payload = cache_file(catalog / "alpha.yaml").read_bytes().split(b"\n", 1)
    assert json.loads(header)["format"] == cache.FORMAT
    assert json.loads(payload)["id"] == "alpha"
    # A pickle that would create a file when loaded: the cache reads it as a broken entry and nothing runs.
    marker = tmp_path / "ran"
    planted = subprocess.run(
        [sys.executable, "-c", f"import os, pickle; print(pickle.dumps(eval(\"(os.system, ('touch {marker}',))\")))"],
        capture_output=True,
        check=True,
    )
    cache_file(catalog / "alpha.yaml").write_bytes(planted.stdout)
    assert load(catalog)["alpha"].id == "alpha"
    assert not marker.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=300), keep_header=st.booleans())
def test_any_bytes_in_a_cache_file_give_the_checked_entry(catalog: Path, junk: bytes, keep_header: bool) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    header = stored.read_bytes().split(b"\n", 1)[0] + b"\n" if keep_header else b""
    stored.write_bytes(header + junk)
    fresh, _, problems = load_file(catalog / "alpha.yaml")
    assert problems == [] and fresh is not None
    assert load(catalog)["alpha"] == fresh


def test_the_cli_uses_and_refreshes_the_cache(catalog: Path) -> None:
    command = [sys.executable, "-m", "dbstack", "catalog", "validate", str(catalog)]
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout.startswith("ok: ")
    assert cache_file(catalog / "alpha.yaml").exists()
    (catalog / "beta.yaml").write_text(entry("beta").replace("category: relational", "category: nope"), "utf-8")
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 1
    assert f"{catalog / 'beta.yaml'}:" in done.stderr and "category" in done.stderr
