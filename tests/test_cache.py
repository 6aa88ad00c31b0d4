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
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dbstack
from dbstack.loader import Problem, cache, load_catalog, validation, yaml_source
from dbstack.loader.model import DatabaseSpec
from dbstack.loader.registry import BUILTIN_CATALOG, CachedEntry, check_catalog, load_file
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
    """The cache file of the folder holding ``path`` (one per catalog folder)."""
    return cache.EntryCache(cache_folder())._file(path.resolve())


def cached_lines(path: Path) -> dict[str, bytes]:
    """The lines of the cache file of ``path``'s folder, by the catalog file name each names."""
    lines = {}
    for line in cache_file(path).read_bytes().splitlines():
        lines[json.loads(line.split(b"\t", 1)[0])["name"]] = line
    return lines


def cached_line(path: Path) -> bytes:
    return cached_lines(path)[path.name]


def is_cached(path: Path) -> bool:
    return cache_file(path).exists() and path.name in cached_lines(path)


def rewrite_line(path: Path, line: bytes) -> None:
    """Replace the cache line of ``path`` by ``line`` (the other lines of its folder's cache file kept)."""
    stored = cache_file(path)
    old = cached_line(path)
    content = stored.read_bytes()
    assert content.count(old) == 1
    stored.write_bytes(content.replace(old, line))


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
    assert is_cached(catalog / "alpha.yaml") and not is_cached(catalog / "beta.yaml")


def test_a_file_that_gets_a_problem_loses_its_cache_line(catalog: Path, checked: Counter[str]) -> None:
    load(catalog)
    assert is_cached(catalog / "beta.yaml")
    (catalog / "beta.yaml").write_text(entry("beta").replace("category: relational", "category: nope"), "utf-8")
    assert len(load_catalog([catalog], builtin=False).problems) == 1
    assert is_cached(catalog / "alpha.yaml") and not is_cached(catalog / "beta.yaml")


def test_a_folder_that_cannot_be_listed_keeps_its_lines(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog folder one may enter but not list (mode --x; root lists anything, so listing is refused here by
    hand): the lines of its files are kept, those of files gone are dropped, name by name."""
    real = os.listdir

    def refused(path: Any = ".") -> list[str]:
        if Path(path) == catalog:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", refused)
    load(catalog)
    assert is_cached(catalog / "alpha.yaml") and is_cached(catalog / "beta.yaml")
    (catalog / "beta.yaml").unlink()
    (catalog / "alpha.yaml").write_text(entry("alpha").replace("name: ", "name: Renamed ", 1), "utf-8")
    load(catalog)
    assert is_cached(catalog / "alpha.yaml") and not cached_lines(catalog / "alpha.yaml").keys() & {"beta.yaml"}
    assert checked == {"alpha.yaml": 2, "beta.yaml": 1}


def test_one_cache_file_per_catalog_folder_written_only_when_a_line_changed(
    catalog: Path, tmp_path: Path, checked: Counter[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "gamma.yaml").write_text(entry("gamma"), encoding="utf-8")
    load_catalog([catalog, other], builtin=False)
    assert sorted(f.name for f in cache_folder().iterdir()) == sorted(
        [cache_file(catalog / "alpha.yaml").name, cache_file(other / "gamma.yaml").name]
    )
    assert set(cached_lines(catalog / "alpha.yaml")) == {"alpha.yaml", "beta.yaml"}
    written = cache_file(catalog / "alpha.yaml").stat().st_ino
    load_catalog([catalog, other], builtin=False)
    assert cache_file(catalog / "alpha.yaml").stat().st_ino == written  # nothing changed: not rewritten
    (catalog / "beta.yaml").unlink()
    (catalog / "delta.yaml").write_text(entry("delta"), encoding="utf-8")
    load_catalog([catalog, other], builtin=False)
    assert set(cached_lines(catalog / "alpha.yaml")) == {"alpha.yaml", "delta.yaml"}  # a removed file's line goes
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1, "gamma.yaml": 1, "delta.yaml": 1}


def test_a_run_keeps_the_lines_another_run_wrote_meanwhile(catalog: Path, checked: Counter[str]) -> None:
    """Two runs on one folder: a run writing the folder's cache file keeps the lines another run wrote since it
    read the file (those it did not replace itself); each line carries its own key."""
    first = cache.entry_cache()
    assert first is not None
    gamma = (catalog / "gamma.yaml").resolve()
    assert first.get(gamma, "") is None  # the first run reads the folder's (missing) cache file
    load(catalog)  # another run writes alpha's and beta's lines meanwhile
    gamma.write_text(entry("gamma"), encoding="utf-8")
    _, doc, problems = load_file(gamma)
    assert problems == [] and doc is not None
    first.put(gamma, cache.entry_key(gamma, gamma.read_bytes()), doc.data)
    first.save()
    assert set(cached_lines(gamma)) == {"alpha.yaml", "beta.yaml", "gamma.yaml"}
    assert sorted(load(catalog)) == ["alpha", "beta", "gamma"]
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1, "gamma.yaml": 1}  # all three served from the cache


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """File name -> how many DatabaseSpecs were built from it (the real build still runs)."""
    counts: Counter[str] = Counter()
    real = DatabaseSpec.from_data

    def counting(data: object, file: Path) -> DatabaseSpec:
        counts[file.name] += 1
        return real(data, file)  # type: ignore[arg-type]

    monkeypatch.setattr(DatabaseSpec, "from_data", counting)
    return counts


def test_validating_builds_no_entry(catalog: Path, checked: Counter[str], built: Counter[str]) -> None:
    loaded = load_catalog([catalog])
    assert built["alpha.yaml"] == 1 and checked["alpha.yaml"] == 1
    built.clear()
    result = check_catalog([catalog])
    assert result.problems == [] and result.files == loaded.files
    assert sorted(result.specs) == sorted(loaded.specs)
    assert result.specs["alpha"] == CachedEntry("alpha", (), False, catalog / "alpha.yaml")
    assert built == {} and checked["alpha.yaml"] == 1  # neither checked nor built again
    (catalog / "beta.yaml").write_text(entry("beta").replace("name: PostgreSQL", "name: Beta"), encoding="utf-8")
    # the changed file: checked, not built, and kept as what the checks across files read (not the whole entry)
    assert check_catalog([catalog]).specs["beta"] == CachedEntry("beta", (), False, catalog / "beta.yaml")
    assert built == {} and checked["beta.yaml"] == 2


def without(data: Any, path: tuple[str, ...]) -> Any:
    """A deep copy of ``data`` without the mapping key at ``path``."""
    copy = json.loads(json.dumps(data))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return copy


def key_paths(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from key_paths(value, (*prefix, key))


def test_every_entry_that_passes_the_checks_builds() -> None:
    """`catalog validate` builds no entry (it keeps what the checks across files read), and the cache stores what
    passed the checks: both rest on every entry that passes them building a DatabaseSpec. The schema is where an
    entry may leave a value out; so each built-in entry is tried without each of its keys, at any depth, and
    every variant the checks pass must build (a value the model reads that the schema lets one leave out fails);
    the optional keys no built-in entry writes are added to one."""
    passed = 0
    for file in sorted(BUILTIN_CATALOG.glob("*.yaml")):
        data = yaml_source.parse_text(file.read_text(encoding="utf-8")).data
        if file.stem == "postgresql":  # with the optional keys no built-in entry writes, too
            container = data["container"]
            container["digest"], container["user"] = "sha256:" + "0" * 64, "999:999"
            container["ports"][0]["protocol"] = "tcp"
            container["kubernetes"]["run_as_group"] = 999
            assert validation.check_entry(file, LocatedDocument(data)) == []
            DatabaseSpec.from_data(data, file)
        for path in key_paths(data):
            variant = without(data, path)
            if not validation.check_entry(file, LocatedDocument(variant)):
                DatabaseSpec.from_data(variant, file)  # raises (KeyError...) where the model reads what may be left out
                passed += 1
    assert passed > 200  # the optional keys of 30 entries: the test tries what it claims to


@pytest.mark.parametrize(
    "change",
    [{"id": "beta"}, {"aliases": "alpha-db"}, {"aliases": [1]}, {"replaces_builtin": "yes"}],
    ids=["another id", "aliases not a list", "an alias not a string", "replaces_builtin not a bool"],
)
def test_validating_checks_a_file_whose_cached_data_is_not_a_checked_entry(
    catalog: Path, checked: Counter[str], change: dict[str, object]
) -> None:
    """A line with a matching key and digest (as its owner could write one) must still give what the checks
    across files read, with the types a checked entry has; else its file is checked again."""
    load(catalog)
    header, payload = cached_line(catalog / "alpha.yaml").split(b"\t", 1)
    planted = cache.EntryCache(cache_folder())
    planted.put((catalog / "alpha.yaml").resolve(), json.loads(header)["key"], {**json.loads(payload), **change})
    planted.save()
    result = check_catalog([catalog])
    assert result.problems == [] and set(result.specs) == {"alpha", "beta", *load_catalog().specs}
    assert checked["alpha.yaml"] == 2 and checked["beta.yaml"] == 1


def test_validating_from_the_cache_finds_the_problems_across_files_at_their_place(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "alpha.yaml").write_text(entry("alpha", "[shared]"), encoding="utf-8")
    (folder / "beta.yaml").write_text(entry("beta", "[beta-db, shared]"), encoding="utf-8")
    (folder / "gamma.yaml").write_text(
        entry("gamma").replace("aliases: []", "aliases: []\nreplaces_builtin: true"), "utf-8"
    )
    cold = [str(p) for p in load_catalog([folder]).problems]
    assert len(cold) == 2 and any("beta.yaml:4:20: aliases.1: alias 'shared'" in p for p in cold), cold
    assert any("gamma.yaml:" in p and "replaces_builtin: there is no built-in entry 'gamma'" in p for p in cold), cold
    assert is_cached(folder / "gamma.yaml")
    assert [str(p) for p in check_catalog([folder]).problems] == cold


def test_same_content_elsewhere_is_checked_there(catalog: Path, tmp_path: Path, checked: Counter[str]) -> None:
    """The id must equal the file name: a cached verdict for one path says nothing of another."""
    load(catalog)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(catalog / "alpha.yaml", other / "gamma.yaml")
    problems = [str(p) for p in load_catalog([other], builtin=False).problems]
    assert problems == [f"{other / 'gamma.yaml'}:2:5: id: id 'alpha' must equal the file name 'gamma'"]


def copy_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the installed rule files, made the package the cache fingerprints, so that one can be edited."""
    package = tmp_path / "package"
    for name, resource in cache._rule_files():
        target = package / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(resource.read_bytes())
    monkeypatch.setattr(cache, "_package_root", lambda: package)
    cache.rules_fingerprint.cache_clear()
    return package


def test_a_new_dbstack_version_checks_everything_again(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = copy_rules(monkeypatch, tmp_path)
    load(catalog)
    version_file = package / "__init__.py"
    released = version_file.read_text(encoding="utf-8")
    assert f'__version__ = "{dbstack.__version__}"' in released
    version_file.write_text(released.replace(dbstack.__version__, "99.0.0"), encoding="utf-8")
    cache.rules_fingerprint.cache_clear()
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}


@pytest.mark.parametrize("rule_file", ["schema/database.schema.json", "loader/validation.py", "sandbox/__init__.py"])
def test_a_changed_schema_or_rule_checks_everything_again(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rule_file: str
) -> None:
    package = copy_rules(monkeypatch, tmp_path)
    load(catalog)
    cache.rules_fingerprint.cache_clear()
    load(catalog)
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1}  # the copy fingerprints as the original
    with (package / rule_file).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    cache.rules_fingerprint.cache_clear()
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}


def tamper_payload(line: bytes) -> bytes:
    header, payload = line.split(b"\t", 1)
    data = json.loads(payload)
    data["name"] = "Tampered"
    return header + b"\t" + json.dumps(data).encode()


def tamper_key(line: bytes) -> bytes:
    header, payload = line.split(b"\t", 1)
    fields = json.loads(header)
    fields["key"] = "0" * 64
    return json.dumps(fields).encode() + b"\t" + payload


def tamper_format(line: bytes) -> bytes:
    assert line.count(b'"format":2') == 1
    return line.replace(b'"format":2', b'"format":1')


def truncate(line: bytes) -> bytes:
    return line[:-10]


def not_json(line: bytes) -> bytes:
    return b"\x80\x04\x95 pickle-like bytes\t\x00\x01"


@pytest.mark.parametrize("tamper", [tamper_payload, tamper_key, tamper_format, truncate, not_json])
def test_a_tampered_cache_line_is_ignored_and_rebuilt(catalog: Path, checked: Counter[str], tamper: object) -> None:
    load(catalog)
    good = cached_line(catalog / "alpha.yaml")
    assert callable(tamper)
    rewrite_line(catalog / "alpha.yaml", tamper(good))
    specs = load(catalog)
    assert specs["alpha"].name == "PostgreSQL"
    assert checked == {"alpha.yaml": 2, "beta.yaml": 1}  # only the tampered line is checked again
    assert cached_line(catalog / "alpha.yaml") == good  # rebuilt


def test_a_truncated_cache_file_serves_only_its_whole_lines(catalog: Path, checked: Counter[str]) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    content = stored.read_bytes()
    last = content.splitlines()[-1]
    stored.write_bytes(content[: -len(last) // 2])
    load(catalog)
    last_name = json.loads(last.split(b"\t", 1)[0])["name"]
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1, last_name: 2}
    assert stored.read_bytes().count(b"\n") == 2


def test_cached_data_for_another_id_is_not_used(catalog: Path, checked: Counter[str]) -> None:
    """Even a well-formed line with a matching key and digest must hold the entry its file is named for."""
    load(catalog)
    header, payload = cached_line(catalog / "alpha.yaml").split(b"\t", 1)
    key = json.loads(header)["key"]
    planted = cache.EntryCache(cache_folder())
    planted.put((catalog / "alpha.yaml").resolve(), key, {**json.loads(payload), "id": "beta"})
    planted.save()
    assert json.loads(cached_line(catalog / "alpha.yaml").split(b"\t", 1)[1])["id"] == "beta"
    assert load(catalog)["alpha"].id == "alpha"
    assert checked["alpha.yaml"] == 2


def test_a_symlinked_cache_file_is_not_trusted(catalog: Path, checked: Counter[str], tmp_path: Path) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    elsewhere = tmp_path / "planted.json"
    shutil.copy(stored, elsewhere)  # valid lines, but not a file the cache folder holds
    stored.unlink()
    stored.symlink_to(elsewhere)
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}
    assert not stored.is_symlink()  # replaced by a real file


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_cache_file_others_may_write_is_not_trusted(catalog: Path, checked: Counter[str], mode: int) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    stored.chmod(mode)
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}
    assert stored.stat().st_mode & 0o777 == 0o600  # replaced by the cache's own


def test_a_cache_file_over_the_size_limit_is_neither_read_nor_written(
    catalog: Path, checked: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    written = stored.stat().st_ino
    monkeypatch.setattr(cache, "MAX_CACHE_FILE_BYTES", stored.stat().st_size - 1)
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}
    assert stored.stat().st_ino == written  # its lines would not fit either: not rewritten


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_cache_file_of_another_user_is_not_trusted(catalog: Path, checked: Counter[str]) -> None:
    load(catalog)
    stored = cache_file(catalog / "alpha.yaml")
    os.chown(stored, 65534, 65534)
    load(catalog)
    assert checked == {"alpha.yaml": 2, "beta.yaml": 2}


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
    assert is_cached(folder / "beta.yaml")  # valid on its own: cached
    assert problems() == cold


def test_a_cache_file_is_json_and_reading_one_runs_no_code(catalog: Path, tmp_path: Path) -> None:
    load(catalog)
    header, payload = cached_line(catalog / "alpha.yaml").split(b"\t", 1)
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
def test_any_bytes_in_a_cache_line_give_the_checked_entry(catalog: Path, junk: bytes, keep_header: bool) -> None:
    load(catalog)
    header = cached_line(catalog / "alpha.yaml").split(b"\t", 1)[0] + b"\t" if keep_header else b""
    content = cache_file(catalog / "alpha.yaml").read_bytes()
    cache_file(catalog / "alpha.yaml").write_bytes(content.replace(cached_line(catalog / "alpha.yaml"), header + junk))
    fresh, _, problems = load_file(catalog / "alpha.yaml")
    assert problems == [] and fresh is not None
    assert load(catalog)["alpha"] == fresh


def test_the_cli_uses_and_refreshes_the_cache(catalog: Path) -> None:
    command = [sys.executable, "-m", "dbstack", "catalog", "validate", str(catalog)]
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout.startswith("ok: ")
    assert is_cached(catalog / "alpha.yaml")
    (catalog / "beta.yaml").write_text(entry("beta").replace("category: relational", "category: nope"), "utf-8")
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 1
    assert f"{catalog / 'beta.yaml'}:" in done.stderr and "category" in done.stderr
    assert not is_cached(catalog / "beta.yaml")


@pytest.mark.parametrize("name", ["..yaml", "...yml", ".hidden.yaml"])
def test_a_file_name_of_dots_is_a_catalog_file(tmp_path: Path, name: str) -> None:
    """A folder's files are those Path.suffix calls .yaml or .yml: ``..yaml`` is one (its id would have to be ``.``,
    which is reported where it stands), not a file to skip without a word."""
    folder = tmp_path / "dots"
    folder.mkdir()
    (folder / name).write_text(entry("dotty"), encoding="utf-8")
    problems = [str(p) for p in load_catalog([folder], builtin=False).problems]
    stem = Path(name).stem
    assert problems == [f"{folder / name}:2:5: id: id 'dotty' must equal the file name {stem!r}"]


def test_a_symlink_to_a_file_of_its_own_folder_is_that_file(catalog: Path, checked: Counter[str]) -> None:
    """`latest.yaml -> alpha.yaml` beside alpha.yaml: alpha is loaded as alpha.yaml, whatever sorts first (a link
    that sorted before its target was loaded in its place: an id that is not its file's name, and alpha lost)."""
    (catalog / "aaa-latest.yaml").symlink_to("alpha.yaml")
    (catalog / "zzz-latest.yaml").symlink_to(catalog / "beta.yaml")
    for validating in (False, True):
        result = (check_catalog if validating else partial(load_catalog, builtin=False))([catalog])
        assert [str(p) for p in result.problems] == []
        assert result.files[-2:] == [catalog / "alpha.yaml", catalog / "beta.yaml"]
        assert {"alpha", "beta"} <= set(result.specs)


def test_a_symlink_to_a_file_of_a_folder_named_later_is_that_file(tmp_path: Path, checked: Counter[str]) -> None:
    """A link in one folder to a file of another folder named after it: the file loads under its own name, in its
    folder (the link, listed first, was loaded in its place: an id that is not its file's name, and the file lost
    from the files checked)."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (second / "mine.yaml").write_text(entry("mine"), encoding="utf-8")
    (first / "mine-latest.yaml").symlink_to(second / "mine.yaml")
    result = load_catalog([first, second], builtin=False)
    assert [str(p) for p in result.problems] == []
    assert result.files == [second / "mine.yaml"] and list(result.specs) == ["mine"]
    assert checked == {"mine.yaml": 1}


def test_a_catalog_file_reached_twice_is_loaded_once(catalog: Path, tmp_path: Path, checked: Counter[str]) -> None:
    """A file is known by its resolved path: a symlink to a file of another named folder, and a folder named
    through a symlink, are the files already loaded (no duplicate id), and a symlinked file is cached by its target."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "alpha.yaml").symlink_to(catalog / "alpha.yaml")
    (other / "gamma.yml").write_text(entry("gamma"), encoding="utf-8")
    (other / "notes.txt").write_text("not a catalog file", encoding="utf-8")
    (other / "folder.yaml").mkdir()  # a folder, whatever its name
    linked = tmp_path / "linked"
    linked.symlink_to(catalog)
    result = load_catalog([catalog, other, linked], builtin=False)
    assert result.problems == []
    assert result.files == [catalog / "alpha.yaml", catalog / "beta.yaml", other / "gamma.yml"]
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1, "gamma.yml": 1}
    alone = load_catalog([other], builtin=False)  # the link alone: its target's cache line serves it
    assert alone.problems == [] and sorted(alone.specs) == ["alpha", "gamma"]
    assert checked == {"alpha.yaml": 1, "beta.yaml": 1, "gamma.yml": 1}
