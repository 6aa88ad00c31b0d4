"""dbstack.render.dotenv must agree with the real Docker Compose on every byte.

Most tests write a `.env`, hand it to the real `docker compose config --format json`
(through tests/compose_tools.py) and compare what Compose puts in the container's
environment with what the module promises.
"""

from __future__ import annotations

import calendar
import os
import random
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from dbstack.render import dotenv, files

from compose_tools import compose_config, service_environment

UNSET = "__dbstack_unset__"

HOSTILE = [
    "p@ss:w/rd%#?&=+ é$'\"",
    "$HOME",
    "${X}",
    "$${X}",
    "${X:-y}",
    "$",
    "a$",
    "\\$X",
    "a'b",
    'a"b',
    "'",
    '"',
    "''",
    "back\\slash",
    "back\\",
    "back\\\\",
    "\\'",
    '\\"',
    "\\n",
    "\\0101",
    "#start",
    "a #b",
    "a#b",
    " # x",
    "trailing space ",
    " leading",
    "  ",
    "tab\tinside",
    "é",
    "日本語 🔑",
    "",
    "plain",
    "a=b:c@d/e%f+g,h.i-j_k",
    "{braces}",
    "multi\nline",
    "cr\rlf\r\n",
    "\x01\x02\x1b[0m\x7f",
    "nel\x85nbsp\xa0",
    "line\u2028sep",
    "export X=1",
    "K: v",
]


def compose_sees(
    tmp_path: Path,
    env_text: str,
    keys: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str | None] | None:
    """What the real Compose puts in a container for ``${KEY}`` of each key (None: unset).

    Returns None when Compose refuses the `.env` file.
    """
    env_file = tmp_path / "test.env"
    env_file.write_bytes(env_text.encode("utf-8"))
    lines = ["services:", "  app:", "    image: alpine:3.20", "    environment:"]
    lines += [f'      V{i}: "${{{key}-{UNSET}}}"' for i, key in enumerate(keys)]
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = compose_config(compose_file, env_file, fmt="json", environ=environ)
    if not result.ok:
        assert "failed to read" in result.stderr, result.stderr  # an env file error, not ours
        return None
    assert result.model is not None
    seen = service_environment(result.model, "app")
    return {key: None if seen[f"V{i}"] == UNSET else seen[f"V{i}"] for i, key in enumerate(keys)}


# --- quote: round trip through the real Compose -----------------------------------------


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_quote_round_trips_through_compose(tmp_path: Path, value: str) -> None:
    token = dotenv.quote(value)
    (tmp_path / ".env").write_bytes(f"KEY={token}\n".encode())
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services:\n  app:\n    image: alpine:3.20\n    environment:\n      X: ${KEY}\n")
    result = compose_config(compose_file, tmp_path / ".env", fmt="json").check()
    assert result.model is not None
    assert service_environment(result.model, "app") == {"X": value}
    assert result.warnings == []  # nothing was taken for a variable
    assert dotenv.parse(f"KEY={token}\n").get("KEY") == value


def test_quote_random_strings_round_trip(tmp_path: Path) -> None:
    rng = random.Random(20261126)
    alphabet = "aZ09 _-=:@/%?&+,.#$'\"\\{}()[]!*~`^|<>;\t\n\ré€\x01\x7f\x85\xa0\u2028🔑"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(300)]
    keys = [f"K{i}" for i in range(len(values))]
    text = "".join(f"{dotenv.format_entry(k, v)}\n" for k, v in zip(keys, values, strict=True))
    assert dotenv.parse(text).as_dict() == dict(zip(keys, values, strict=True))
    assert compose_sees(tmp_path, text, keys) == dict(zip(keys, values, strict=True))


def test_quote_shapes() -> None:
    assert dotenv.quote("simple-Value_1.2:3@host/db%20") == "simple-Value_1.2:3@host/db%20"
    assert dotenv.quote("") == "''"
    assert dotenv.quote("$HOME and spaces") == "'$HOME and spaces'"
    assert dotenv.quote("it's") == '"it\'s"'
    assert dotenv.quote('a\\b"$c\n') == '"a\\\\b\\"\\$c\\n"'
    assert dotenv.quote("\x01") == '"\\0001"'


@pytest.mark.parametrize("value", ["a\0b", "\0"])
def test_quote_rejects_nul(value: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        dotenv.quote(value)


def test_quote_rejects_lone_surrogate() -> None:
    with pytest.raises(ValueError, match="Unicode"):
        dotenv.quote("a\ud800")


@pytest.mark.parametrize("key", ["", "1ABC", "A-B", "A.B", "A B", "É", "A=B"])
def test_format_entry_rejects_keys_compose_cannot_reference(key: str) -> None:
    with pytest.raises(ValueError, match=r"invalid \.env key"):
        dotenv.format_entry(key, "v")


# --- parse: the same values and the same errors as Compose --------------------------------

PARSE_CASES: list[tuple[str, list[str]]] = [
    ("A=1\nB=two words\nC=x # comment\nD=x#y\nE=x\t#y\n", ["A", "B", "C", "D", "E"]),
    ("export A=1\n  export   B  =  2  \nC: yaml\nD :'q'\nexportE=3\n", ["A", "B", "C", "D", "E", "exportE"]),
    ("A=\nB=''\nC=\"\"\nD= \n", ["A", "B", "C", "D"]),
    ("\ufeffA=bom\r\nB='q'\r\nC=\"d\"\r\n# c\r\n", ["A", "B", "C"]),
    ("A=\xa0x\xa0\nB='x\xa0'\nC=x\x85\n", ["A", "B", "C"]),
    ("A='a\\'b'\nB='a\\\\b'\nC='a\\b'\nD='a\\\\\\'b'\nE='$X ${Y}'\n", ["A", "B", "C", "D", "E"]),
    ('A="a\\"b"\nB="a\\\\b"\nC="a\\$b"\nD="\\n\\t\\r\\a\\b\\f\\v"\n', ["A", "B", "C", "D"]),
    ('A="\\0101\\0"\nB="\\01x"\nC="\\x41\\u00e9\\c\\q"\nD="\\0400"\nE="\\0777"\n', ["A", "B", "C", "D", "E"]),
    ("A='multi\nline'\nB=\"two\nlines\"\nC=after\n", ["A", "B", "C"]),
    ("A='x' # comment\nB='y'#c\nC='z' junk\n", ["A", "B", "C", "junk"]),
    ("A=1\nB=${A}\nC=$A-x\nD=\"${A}y\"\nE='${A}'\nF=$a\n", ["A", "B", "C", "D", "E", "F"]),
    ("Foo=1\nA=$Foo\nB=${FOO}\n", ["A", "B"]),
    ("A=${U:-d}|${U-e}|${U:+f}|${U+g}\nE=\nB=${E:-d}|${E-e}|${E:+f}|${E+g}\n", ["A", "B"]),
    ("S=s\nA=${S:-d}|${S-e}|${S:+f}|${S+g}|${S:?m}|${S?m}\nE=\nB=${E?m}x\n", ["A", "B"]),
    ("A=${U:-${V:-x}y}z\nB=${U:-a}}\nC=${U:-a b}\nD=${U-x-y}\nE=${U:-x?y}\n", ["A", "B", "C", "D", "E"]),
    ("A=$\nB=a$\nC=$1\nD=$ x\nE=$$\nF=$${X}\nG=${U:-$$}\nH=\\$x\n", ["A", "B", "C", "D", "E", "F", "G", "H"]),
    ("A=1\nA=2\nB=x\nB\n", ["A", "B"]),
    ("A=1\nFOO\nB=2\n=3\n9=4\n", ["A", "B", "FOO"]),
    ("  # only a comment\n\n\t\n", ["A"]),
    ("A=1\nlast words", ["A"]),
    # Compose refuses each of these files.
    ("A=1\nB C=2\n", ["A"]),
    ("A=1\nB\t C=2\n", ["A"]),
    ("A=1\nB'=2\n", ["A"]),
    ("A='it''s'\n", ["A"]),
    ('A="a"b"\n', ["A"]),
    ("A='unterminated\nB=2\n", ["A"]),
    ("A=${B\n", ["A"]),
    ("A=${}\n", ["A"]),
    ("A=${1}\n", ["A"]),
    ("A=${a.b}\n", ["A"]),
    ("A=${U?boom}\n", ["A"]),
    ("E=\nA=${E:?boom}\n", ["A"]),
]


@pytest.mark.parametrize(("text", "keys"), PARSE_CASES, ids=repr)
def test_parse_agrees_with_compose(tmp_path: Path, text: str, keys: list[str]) -> None:
    doc = dotenv.parse(text)
    seen = compose_sees(tmp_path, text, keys)
    if seen is None:
        assert doc.problems, "Compose refused the file but the parser found no problem"
        return
    assert doc.problems == ()
    assert {key: doc.get(key) for key in keys} == seen


def random_document(rng: random.Random, keys: Sequence[str]) -> str:
    """A small `.env` text built from the constructs where parsers usually disagree."""
    alphabet = "ab$${}:-+?'\"\\# \t0é\n\rnt\xa0.[]=017\x85"
    lines = []
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.1:
            lines.append(rng.choice(["# c", "", "  # x ' \"", "\t"]))
            continue
        prefix = rng.choice(["", "", "export ", "  "])
        separator = rng.choice(["=", "=", "= ", " =", ": "])
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        quote_char = rng.choice(["", "", "'", '"'])
        if quote_char and rng.random() < 0.85:
            inner = value.replace(quote_char, "\\" + quote_char if rng.random() < 0.5 else "")
            value = quote_char + inner + quote_char
        lines.append(prefix + rng.choice(keys) + separator + value)
    return "\n".join(lines) + rng.choice(["\n", ""])


def test_parse_agrees_with_compose_on_random_documents(tmp_path: Path) -> None:
    # A slice of a larger run (1,400 documents, no disagreement) made while writing the parser.
    rng = random.Random(7)
    keys = ["K0", "K1", "K2", "K3"]
    for _ in range(40):
        text = random_document(rng, keys)
        doc = dotenv.parse(text)
        seen = compose_sees(tmp_path, text, keys)
        if seen is None:
            assert doc.problems, f"Compose refused {text!r}, the parser did not"
        else:
            assert doc.problems == (), text
            assert {key: doc.get(key) for key in keys} == seen, text


def test_parse_uses_the_given_environment_like_compose(tmp_path: Path) -> None:
    text = "A=${SHELLVAR}-x\nSHELLVAR\nB=${HOME:-none}\n"
    environ = {"SHELLVAR": "from-shell"}
    doc = dotenv.parse(text, environ)
    assert compose_sees(tmp_path, text, ["A", "SHELLVAR", "B"], environ) == {
        "A": doc.get("A"),
        "SHELLVAR": doc.get("SHELLVAR"),
        "B": doc.get("B"),
    }
    assert doc.get("A") == "from-shell-x" and doc.get("SHELLVAR") == "from-shell"
    bare = dotenv.parse(text)
    assert bare.get("SHELLVAR") is None and "SHELLVAR" in bare and bare.get("A") == "-x"
    assert any("SHELLVAR" in w.message for w in bare.warnings)


def test_parse_records_entries_and_problems_with_lines() -> None:
    doc = dotenv.parse("# head\n\nexport A='x\ny' # c\nB C=1\nD=${U:?need U}\nE=ok\n")
    assert [(e.key, e.value, e.raw, e.line) for e in doc.entries] == [
        ("A", "x\ny", "export A='x\ny'", 3),
        ("D", None, "D=${U:?need U}", 6),
        ("E", "ok", "E=ok", 7),
    ]
    assert [(p.line, p.message) for p in doc.problems] == [
        (5, "key cannot contain a space"),
        (6, "required variable U is missing a value: need U"),
    ]
    assert doc.keys() == ["A", "D", "E"]


def test_read_missing_file_is_empty(tmp_path: Path) -> None:
    doc = dotenv.read(tmp_path / "nope.env")
    assert doc.text == "" and doc.keys() == []


def test_read_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\r\nB='2'\r\n")
    doc = dotenv.read(path)
    assert doc.text == "A=1\r\nB='2'\r\n" and doc.as_dict() == {"A": "1", "B": "2"}


# --- merged: the user's file is kept, new keys are added ------------------------------------

USER_FILE = """\
# my settings, edited by hand
export POSTGRES_USER=alice   # I chose this

POSTGRES_PASSWORD='my own $ecret'
UNRELATED=keep me
FROM_MY_SHELL
"""


def test_merged_keeps_user_text_and_values(tmp_path: Path) -> None:
    doc = dotenv.parse(USER_FILE)
    new = {
        "POSTGRES_USER": "dbstack",
        "POSTGRES_PASSWORD": "generated",
        "POSTGRES_DB": "app db",
        "PORT": "5432",
    }
    text = doc.merged(new, comment_header="Added by dbstack\nKeep this file private")
    assert text.startswith(USER_FILE)
    assert text[len(USER_FILE) :] == (
        "\n# Added by dbstack\n# Keep this file private\nPOSTGRES_DB='app db'\nPORT=5432\n"
    )
    merged = dotenv.parse(text)
    assert merged.get("POSTGRES_USER") == "alice"
    assert merged.get("POSTGRES_PASSWORD") == "my own $ecret"
    keys = ["POSTGRES_USER", "POSTGRES_PASSWORD", "UNRELATED", "POSTGRES_DB", "PORT"]
    assert compose_sees(tmp_path, text, keys) == {
        "POSTGRES_USER": "alice",
        "POSTGRES_PASSWORD": "my own $ecret",
        "UNRELATED": "keep me",
        "POSTGRES_DB": "app db",
        "PORT": "5432",
    }


def test_merged_without_new_keys_is_identical() -> None:
    doc = dotenv.parse(USER_FILE)
    assert doc.merged({"UNRELATED": "other"}, comment_header="x") == USER_FILE
    assert doc.merged({}) == USER_FILE


def test_merged_bare_key_counts_as_present() -> None:
    assert dotenv.parse("SECRET\n").merged({"SECRET": "x"}) == "SECRET\n"


def test_merged_edge_layouts() -> None:
    assert dotenv.parse("").merged({"A": "1"}) == "A=1\n"
    assert dotenv.parse("").merged({"A": "1"}, "hdr") == "# hdr\nA=1\n"
    assert dotenv.parse("X=1").merged({"A": "1"}) == "X=1\nA=1\n"
    assert dotenv.parse("X=1\n\n").merged({"A": "1"}, "# hdr") == "X=1\n\n# hdr\nA=1\n"
    assert dotenv.parse("X=1\r\n").merged({"A": "a b"}, "hdr") == "X=1\r\n\r\n# hdr\r\nA='a b'\r\n"


def test_merged_values_round_trip_through_compose(tmp_path: Path) -> None:
    new = {f"K{i}": value for i, value in enumerate(HOSTILE)}
    text = dotenv.parse(USER_FILE).merged(new, "generated")
    assert compose_sees(tmp_path, text, list(new)) == new


def test_merged_refuses_broken_file() -> None:
    doc = dotenv.parse("A='unterminated\n")
    with pytest.raises(dotenv.DotenvError, match="unterminated"):
        doc.merged({"B": "1"})


def test_merged_rejects_bad_key_and_value() -> None:
    doc = dotenv.parse("A=1\n")
    with pytest.raises(ValueError, match=r"invalid \.env key"):
        doc.merged({"BAD KEY": "1"})
    with pytest.raises(ValueError, match="NUL"):
        doc.merged({"B": "\0"})


# --- files.write_atomic ----------------------------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_creates_private_file(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask must not matter
    try:
        path = tmp_path / ".env"
        assert files.write_atomic(path, "A=1\n") is None
    finally:
        os.umask(old_umask)
    assert path.read_text() == "A=1\n" and mode_of(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # no temp file left


def test_write_atomic_mode_and_exact_bytes(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    files.write_atomic(path, "a: é\r\nb: 1\n", mode=0o644)
    assert mode_of(path) == 0o644 and path.read_bytes() == "a: é\r\nb: 1\n".encode()


def test_write_atomic_sets_mode_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes: list[int] = []
    real_write = os.write

    def spy(fd: int, data: bytes | memoryview) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    files.write_atomic(tmp_path / ".env", "SECRET=x\n")
    files.write_atomic(tmp_path / "compose.yaml", "x: 1\n", mode=0o644)
    assert modes == [0o600, 0o644]


def test_write_atomic_backups_never_overwrite(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    files.write_atomic(path, "v1\n")
    backups = [files.write_atomic(path, f"v{n}\n") for n in (2, 3, 4)]
    assert path.read_text() == "v4\n"
    assert all(b is not None for b in backups) and len({str(b) for b in backups}) == 3
    assert [b.read_text() for b in backups if b is not None] == ["v1\n", "v2\n", "v3\n"]
    for backup in backups:
        assert backup is not None and backup.name.startswith(".env.bak-") and mode_of(backup) == 0o600
    assert len(list(tmp_path.iterdir())) == 4


def test_backup_names(tmp_path: Path) -> None:
    when = calendar.timegm((2026, 1, 2, 3, 4, 5, 0, 0, 0))
    first = files.backup_path_for(tmp_path / ".env", when)
    assert first.name == ".env.bak-20260102T030405Z"
    first.write_text("old")
    assert files.backup_path_for(tmp_path / ".env", when).name == ".env.bak-20260102T030405Z-1"


def test_write_atomic_without_backup(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    files.write_atomic(path, "v1\n")
    assert files.write_atomic(path, "v2\n", backup=False) is None
    assert [p.name for p in tmp_path.iterdir()] == [".env"]


def test_write_atomic_refuses_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("old\n")
    link = tmp_path / ".env"
    link.symlink_to(real)
    refusal = r"/\.env: is a symbolic link, not a regular file; dbstack never follows"
    with pytest.raises(files.UnsafeFileError, match=refusal):
        files.write_atomic(link, "new\n")
    assert link.is_symlink() and real.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "real.env"]
