"""A stranger's catalog entry attacks dbstack (issue 7, items 3-5 and the tracebacks): each attack is refused with
one clear, located line and a non-zero exit, in bounded time, and nothing is written.

The hostile entries live in tests/hostile/catalog/, one attack per file; the header of each says what the attack
is and the exact refusal expected: the command that meets it, the exit code, the field and a message pattern.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack.loader import yaml_source
from dbstack.loader.registry import BUILTIN_CATALOG, load_file
from dbstack.loader.yaml_source import MAX_INTEGER, YamlSourceError, parse_text

HOSTILE_CATALOG = Path(__file__).parent / "hostile" / "catalog"
HOSTILE_FILES = sorted(HOSTILE_CATALOG.glob("*.yaml"))
# Generous: a linear engine answers in well under a second; a backtracking one would run for ever, and the
# subprocess is then killed so that a regression fails instead of hanging CI.
ATTACK_TIMEOUT = 120


def dbstack(*args: str, catalog: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, in a subprocess bounded by ATTACK_TIMEOUT."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DBSTACK_CATALOG_PATH", "DBSTACK_DEBUG")}
    command = [sys.executable, "-m", "dbstack", *(["--catalog", str(catalog)] if catalog else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=ATTACK_TIMEOUT)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def expectation(path: Path) -> dict[str, str]:
    """The ``# key: value`` header of a hostile file."""
    header: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"# (hostile|command|exit|field|message): ?(.*)", line)
        if not match:
            break
        header[match[1]] = match[2]
    assert set(header) == {"hostile", "command", "exit", "field", "message"}, f"{path}: incomplete header"
    return header


def refusal_pattern(file: Path, field: str, message: str) -> str:
    """The error line: FILE[:LINE:COL]: FIELD: MESSAGE, or (no field: a problem with a value, not the file) MESSAGE."""
    if not field:
        return rf"^dbstack: error: {message}"
    return rf"^dbstack: error: {re.escape(str(file))}(:\d+:\d+)?: {re.escape(field)}: {message}"


@pytest.mark.parametrize("hostile", HOSTILE_FILES, ids=[p.stem for p in HOSTILE_FILES])
def test_hostile_entry_is_refused_exactly_and_nothing_is_written(hostile: Path, tmp_path: Path) -> None:
    expected = expectation(hostile)
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    entry = catalog / hostile.name
    shutil.copyfile(hostile, entry)
    output = tmp_path / "out"
    exit_code = int(expected["exit"])

    validated = dbstack("catalog", "validate", str(catalog))
    if expected["command"] == "load":  # refused wherever the catalog is read: validate names it, compose too
        assert validated.returncode == exit_code, validated.stderr
        where = re.escape(str(entry)) + r":\d+:\d+: " + re.escape(expected["field"]) + ": "
        assert re.match(where + expected["message"], validated.stderr), validated.stderr
        assert validated.stderr.splitlines()[-1] == "1 problem(s) in 1 file(s)"
        command = ["compose", hostile.stem, "--set", "password=abc", "-o", str(output)]
    else:  # a valid entry whose template or pattern attacks when it is used
        assert validated.returncode == 0, validated.stderr
        password = "a" * 5000 if expected["command"] == "compose" else "abc"
        command = [expected["command"], hostile.stem, "--set", f"password={password}"]
        command += ["-o", str(output)] if expected["command"] == "compose" else []

    result = dbstack(*command, catalog=catalog)
    assert result.returncode == exit_code, result.stderr
    assert re.match(refusal_pattern(entry, expected["field"], expected["message"]), result.stderr), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr  # one line per problem, and one problem
    assert result.stdout == ""
    assert not output.exists()
    assert entry.read_bytes() == hostile.read_bytes()  # nothing changed the catalog file either


def test_set_integer_over_the_digit_limit_is_one_line() -> None:
    result = dbstack("url", "postgresql", "--set", "port=" + "9" * 5000)
    assert result.returncode == 1
    assert result.stderr == (
        f"dbstack: error: postgresql: parameter 'port': expected integer, got str '{'9' * 59}... (5002 characters)\n"
    )


def test_set_number_must_be_finite(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    text = (HOSTILE_CATALOG / "regex-backtracking.yaml").read_text(encoding="utf-8")
    (catalog / "finite.yaml").write_text(text.replace("id: regex-backtracking", "id: finite"), encoding="utf-8")
    result = dbstack("url", "finite", "--set", "password=x", "--set", "timeout=" + "9" * 400, catalog=catalog)
    assert result.returncode == 1
    assert result.stderr == "dbstack: error: finite: parameter 'timeout': must be a finite number; got inf\n"


def _replacing_redis(tmp_path: Path) -> tuple[Path, Path]:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    text = (BUILTIN_CATALOG / "redis.yaml").read_text(encoding="utf-8")
    replacement = catalog / "redis.yaml"
    replacement.write_text(text.replace("name: Redis\n", "name: Company Redis\nreplaces_builtin: true\n"), "utf-8")
    return catalog, replacement


def test_a_replaced_builtin_is_named_by_every_command(tmp_path: Path) -> None:
    catalog, replacement = _replacing_redis(tmp_path)
    builtin = dbstack("catalog", "show", "redis", "--format", "json")  # where the installed built-in lives
    assert builtin.returncode == 0 and builtin.stderr == ""
    notices = set()
    for command in (
        ["catalog", "list"],
        ["catalog", "show", "redis"],
        ["url", "redis", "--set", "password=x"],
        ["compose", "redis"],
        ["recommend", "--role", "cache"],
        ["catalog", "validate"],
    ):
        result = dbstack(*command, catalog=catalog)
        assert result.returncode == 0, result.stderr
        notice = result.stderr.splitlines()[0]
        assert re.fullmatch(
            rf"dbstack: note: {re.escape(str(replacement))} replaces the built-in entry 'redis' \(.+/redis\.yaml\)",
            notice,
        ), notice
        notices.add(notice)
    assert len(notices) == 1
    named = dbstack("catalog", "validate", str(replacement))  # the file given to validate itself
    assert named.returncode == 0 and named.stderr.splitlines() == [notices.pop()], named.stderr
    assert dbstack("catalog", "validate").stderr == ""  # no replacement, no note


def test_catalog_list_marks_a_replacement(tmp_path: Path) -> None:
    catalog, _ = _replacing_redis(tmp_path)
    rows = json.loads(dbstack("catalog", "list", "--format", "json", catalog=catalog).stdout)
    replaces = {row["id"]: row["replaces"] for row in rows}
    assert replaces["redis"] is not None and replaces["redis"].endswith("redis.yaml")
    assert Path(replaces["redis"]).read_text(encoding="utf-8").count("replaces_builtin") == 0  # the built-in file
    assert all(value is None for key, value in replaces.items() if key != "redis")
    table = dbstack("catalog", "list", catalog=catalog).stdout.splitlines()
    assert table[0].split()[-1] == "REPLACES"
    assert [line.split()[0] for line in table if line.endswith("built-in")] == ["redis"]
    plain = dbstack("catalog", "list").stdout.splitlines()
    assert not any(line.endswith("built-in") for line in plain)


# Random YAML scalars, written as a user could write them: huge and odd integers (with underscores, hex, octal,
# binary, sexagesimal), floats beyond range, and text with any code point, escapes included.
_DIGITS = st.integers(1, 6000).map(lambda n: "9" * n)
_INTEGER_TEXTS = st.one_of(
    st.integers().map(str),
    _DIGITS,
    _DIGITS.map(lambda digits: "_".join(digits)),
    st.integers(1, 5000).map(lambda n: "0x" + "f" * n),
    st.integers(1, 5000).map(lambda n: "0b" + "1" * n),
    st.integers(1, 3000).map(lambda n: "0o" + "7" * n),
    st.lists(st.integers(0, 59), min_size=2, max_size=400).map(lambda parts: ":".join(map(str, parts))),
    st.tuples(st.sampled_from(["-", "+", ""]), st.integers(0, 2**70)).map(lambda t: f"{t[0]}{t[1]}"),
)
_OTHER_TEXTS = st.one_of(
    st.sampled_from([".inf", "-.inf", ".nan", "1e999999", "0x", "~", "null", "yes", "2001-12-14", "1:2:3.5"]),
    st.text().map(json.dumps),  # double-quoted with \u escapes: lone surrogates included
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30).map(lambda t: json.dumps(t)),
)
_SCALARS = st.one_of(_INTEGER_TEXTS, _OTHER_TEXTS)


def _usable(value: object) -> None:
    """What the loader hands on must be writable as JSON and UTF-8, and printable in a message."""
    text = json.dumps(value, ensure_ascii=False)
    text.encode("utf-8")
    repr(value)
    if isinstance(value, int):
        assert abs(value) <= MAX_INTEGER


@settings(
    max_examples=200, deadline=timedelta(seconds=2), print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(scalar=_SCALARS, as_key=st.booleans())
def test_random_yaml_scalars_become_a_value_or_a_located_problem(scalar: str, as_key: bool) -> None:
    document = f"outer:\n  {scalar}: value\n" if as_key else f"outer:\n  inner: {scalar}\n"
    try:
        loaded = parse_text(document)
    except YamlSourceError as exc:  # a located problem
        assert exc.line == 2 and exc.column is not None, (exc, exc.line)
        assert str(exc) and "\n" not in str(exc)
    else:  # or a value every later step can use
        ((key, value),) = loaded.data["outer"].items()
        _usable(key)
        _usable(value)


def test_lone_surrogates_are_refused_by_either_yaml_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml refuses "\\ud800" itself; PyYAML's pure-Python parser (used when libyaml is missing) does not."""
    for loader in (yaml_source._Loader, yaml.SafeLoader):
        monkeypatch.setattr(yaml_source, "_Loader", loader)
        with pytest.raises(YamlSourceError, match=r"surrogate|invalid Unicode character escape") as caught:
            parse_text('a:\n  b: "x\\ud800"\n')
        assert caught.value.line == 2 and caught.value.column in (6, 10)  # the value, or libyaml: its escape
    with pytest.raises(YamlSourceError, match=r"^text holds a lone surrogate") as caught:
        parse_text('a:\n  b: "x\\ud800"\n')  # the pure-Python parser, still patched in
    assert (caught.value.line, caught.value.column, caught.value.field) == (2, 6, "a.b")


ENTRY = (HOSTILE_CATALOG / "regex-backtracking.yaml").read_text(encoding="utf-8")


@settings(max_examples=60, deadline=timedelta(seconds=5), print_blob=True, suppress_health_check=[HealthCheck.too_slow])
@given(scalar=_SCALARS, where=st.sampled_from(["port", "timeout", "host", "key-as-default"]))
def test_random_scalars_in_an_entry_load_or_are_located_problems(scalar: str, where: str) -> None:
    replacements = {
        "port": ("default: 7000", f"default: {scalar}"),
        "timeout": ("timeout: {type: number, default: 10", f"timeout: {{type: number, default: {scalar}"),
        "host": ("default: localhost", f"default: {scalar}"),
        "key-as-default": ("default: {}", f"default: {{{scalar}: x}}"),
    }
    old, new = replacements[where]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "regex-backtracking.yaml"
        path.write_text(ENTRY.replace(old, new, 1), encoding="utf-8")
        spec, _, problems = load_file(path)
    if spec is None:
        assert problems
        for problem in problems:
            assert problem.file == path and problem.line is not None and "\n" not in str(problem)
    else:
        _usable(spec.to_dict())
        yaml.safe_dump(spec.to_dict(), allow_unicode=True)
