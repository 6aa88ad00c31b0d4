"""Property-based attacks on the commands that write stacks (issue: hardening).

Hypothesis draws hostile folder names and ``--set`` values; each example runs the real command in-process and
the real Docker Compose binary on what it wrote. Invariants, whatever the input:

- the command ends with exit 0, 1 or 2 and never lets an exception out (no traceback);
- what Compose reads has exactly the services and keys of a stack written into a plain folder: nothing injected;
- no value of ``.env`` long enough to be a secret appears in ``compose.yaml`` or on stdout;
- nothing outside the output folder is created or changed.

Examples are bounded so the suite stays fast; on a failure Hypothesis prints the example and a reproduction blob.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbstack.cli import main
from dbstack.loader.registry import BUILTIN_CATALOG
from dbstack.render import dotenv

from compose_tools import compose_config, user_keys

FUZZ = settings(
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# What a hostile name or value is made of: YAML and shell syntax, Compose interpolation, line and
# paragraph breaks Python and YAML treat differently, terminal escapes, and ordinary letters.
HOSTILE = st.sampled_from(
    [
        *"\n\r\t\x0b\x0c\x1b\x00\x85\u2028\u2029 $${}:#&*!|>'\"%@`\\-?,[]=~",
        "\n---\nservices: {pwn: {image: x, privileged: true}}\n",
        "${JWT_SECRET}",
        "$$",
        "\u00e9",
        "\U0001f600",
        "$\u017f",  # Compose reads non-ASCII letters as part of a variable name
    ]
)
TEXT = st.lists(st.one_of(HOSTILE, st.characters(codec="utf-8", exclude_characters="/\x00")), max_size=12).map("".join)
# argv as the OS hands it over: undecodable bytes arrive as lone surrogates U+DC80..U+DCFF.
ARGV_TEXT = st.lists(
    st.one_of(HOSTILE, st.characters(codec="utf-8"), st.sampled_from(["\udcff", "\udc80"])), max_size=12
).map("".join)


def run(argv: Sequence[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[int, bytes | str]]:
    """Every entry below ``root`` (but ``skip``) with its mode and content or link target."""
    seen: dict[str, tuple[int, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if skip is not None and path == skip:
                continue
            info = path.lstat()
            if path.is_symlink():
                seen[str(path)] = (info.st_mode, os.readlink(path))
            elif path.is_file():
                seen[str(path)] = (info.st_mode, path.read_bytes())
            else:
                seen[str(path)] = (info.st_mode, b"")
    return seen


def shape(model: dict[str, Any]) -> dict[str, Any]:
    """What a stack is made of, without the values that differ between two generations (secrets)."""
    return {
        "top": sorted(model),
        "services": {name: sorted(service) for name, service in model["services"].items()},
        "volumes": sorted(model.get("volumes", {})),
    }


USER_KEYS = user_keys()  # compose.yaml requires them; a user puts them in .env


def secrets_of(folder: Path) -> list[str]:
    document = dotenv.read(folder / ".env", environ={})
    return [value for value in document.as_dict().values() if value and len(value) >= 16]


def assert_stack_is_clean(folder: Path, stdout: str, expected_shape: dict[str, Any]) -> None:
    # Compose cannot run from a folder whose name holds a control character (it builds a URL of the path):
    # it reads byte-for-byte copies of the two files in a plainly named folder instead.
    with tempfile.TemporaryDirectory(prefix="dbstack-fuzz-compose-") as plain:
        for path in folder.iterdir():
            if path.is_file():
                shutil.copyfile(path, Path(plain, path.name))
        result = compose_config(
            Path(plain, "compose.yaml"), env_file=Path(plain, ".env"), fmt="json", environ=USER_KEYS
        )
    assert result.returncode == 0, result.stderr
    assert result.model is not None
    assert shape(result.model) == expected_shape
    compose_text = (folder / "compose.yaml").read_text(encoding="utf-8")
    for secret in secrets_of(folder):
        assert secret not in compose_text
        assert secret not in stdout


def assert_ended_cleanly(code: int, err: str) -> None:
    """Exit 0, 1 or 2, every stderr line dbstack's own, and a failure said in error lines (one per problem)."""
    assert code in (0, 1, 2), (code, err)
    lines = err.splitlines()
    assert all(line.startswith(("dbstack: ", "dbstack ", "(see 'dbstack ")) for line in lines), err
    errors = [line for line in lines if re.match(r"dbstack[^:]*: error: ", line)]
    assert bool(errors) == (code != 0), err


@contextlib.contextmanager
def sandbox() -> Any:
    with tempfile.TemporaryDirectory(prefix="dbstack-fuzz-") as tmp:
        yield Path(tmp)


@functools.cache  # once per session, on first use: collecting (or deselecting) these tests runs no Compose binary
def reference_shape(*args: str) -> dict[str, Any]:
    with sandbox() as tmp:
        code, _, err = run([*args, "-o", str(tmp / "plain")])
        assert code == 0, err
        plain = tmp / "plain"
        model = compose_config(plain / "compose.yaml", env_file=plain / ".env", fmt="json", environ=USER_KEYS).model
        assert model is not None
        return shape(model)


GENERATE = ("generate", "--env", "production", "--use", "cache=redis")


@FUZZ
@given(name=TEXT.filter(lambda n: n not in ("", ".", "..") and len(n.encode()) < 200))
def test_generate_into_any_folder_name(name: str) -> None:
    with sandbox() as tmp:
        (tmp / "neighbour.txt").write_text("untouched\n", encoding="utf-8")
        folder = tmp / name
        before = snapshot(tmp)
        code, out, err = run([*GENERATE, "-o", str(folder)])
        assert_ended_cleanly(code, err)
        assert printable(out) and printable(err), (out, err)
        if code == 0:
            assert snapshot(tmp, skip=folder) == before
            assert_stack_is_clean(folder, out, reference_shape(*GENERATE))
        else:
            assert snapshot(tmp) == before


COMPOSE_DATABASES = ("postgresql", "redis")


def compose_shape(database: str) -> dict[str, Any]:
    return reference_shape("compose", database, "--env", "production")


@FUZZ
@given(
    database=st.sampled_from(COMPOSE_DATABASES),
    password=ARGV_TEXT,
    username=ARGV_TEXT,
)
def test_compose_with_any_set_values(database: str, password: str, username: str) -> None:
    with sandbox() as tmp:
        folder = tmp / "out"
        argv = ["compose", database, "--env", "production", "--set", f"password={password}"]
        argv += ["--set", f"username={username}", "-o", str(folder)]
        code, out, err = run(argv)
        assert_ended_cleanly(code, err)
        if code == 0:
            assert_stack_is_clean(folder, out, compose_shape(database))
        else:
            assert not folder.exists()


POSTGRESQL_ENTRY = yaml.safe_load((BUILTIN_CATALOG / "postgresql.yaml").read_text(encoding="utf-8"))


def printable(text: str) -> bool:
    """No control character but the line break reaches the terminal (no escape sequences, no carriage return)."""
    return not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") and ch != "\n" for ch in text) and "\x85" not in text


@FUZZ
@given(name=TEXT.filter(str.strip), description=TEXT.filter(str.strip), database=TEXT)
def test_a_strangers_catalog_text_reaches_no_terminal_or_file_raw(name: str, description: str, database: str) -> None:
    entry = {**POSTGRESQL_ENTRY, "id": "fuzzdb", "aliases": [], "name": name, "description": description}
    entry["parameters"] = {**entry["parameters"], "database": {**entry["parameters"]["database"], "default": database}}
    with sandbox() as tmp:
        (tmp / "catalog").mkdir()
        (tmp / "catalog" / "fuzzdb.yaml").write_text(yaml.safe_dump(entry, allow_unicode=False), encoding="utf-8")
        catalog = ["--catalog", str(tmp / "catalog")]
        for argv in (["catalog", "list"], ["catalog", "show", "fuzzdb"], ["recommend"]):
            code, out, err = run([*catalog, *argv])
            assert_ended_cleanly(code, err)
            assert printable(out) and printable(err), (argv, out)
        folder = tmp / "out"
        code, out, err = run([*catalog, "compose", "fuzzdb", "--env", "production", "-o", str(folder)])
        assert_ended_cleanly(code, err)
        assert printable(out) and printable(err), out
        if code == 0:
            assert_stack_is_clean(folder, out, rename_service(compose_shape("postgresql"), "postgresql", "fuzzdb"))
        else:
            assert not folder.exists()


def rename_service(expected: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    services = {new if name == old else name: keys for name, keys in expected["services"].items()}
    volumes = sorted(v.replace(old, new, 1) for v in expected["volumes"])
    return {**expected, "services": services, "volumes": volumes}
