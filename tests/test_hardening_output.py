"""Hostile output folders (issue 7, items 6, 7, 10, 11): dbstack run as a user runs it, against real
symbolic links, named pipes, device nodes, umasks and filesystem failures.

The corpus below is data: each case names a set-up of the output folder (and of files outside it that a
link points at), the command, the exact refusal and the exit code. Every case asserts that nothing was
written or changed, inside the folder or outside it: the folder, its parent and every file a link points
at are snapshotted (type, mode, bytes, link target) before and after, without following links.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from compose_tools import clean_env, compose_binary, compose_config, user_keys

DBSTACK = Path(sys.executable).parent / "dbstack"
ONE_MIB = 1024 * 1024
Entry = tuple[str, int, bytes | str | None]  # kind, permission bits, bytes or link target


def run(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DBSTACK_CATALOG_PATH", "DBSTACK_DEBUG")}
    environment.update(env or {})
    result = subprocess.run(
        [str(DBSTACK), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        preexec_fn=preexec,
        timeout=60,  # a FIFO that dbstack opened would hang it: this turns a hang into a failure
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def snapshot(*roots: Path) -> dict[str, Entry]:
    """Everything under ``roots`` (and the roots), described without following a link or opening a special file."""
    seen: dict[str, Entry] = {}

    def visit(path: Path) -> None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            seen[str(path)] = ("absent", 0, None)
            return
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            seen[str(path)] = ("link", 0, os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            seen[str(path)] = ("file", mode, path.read_bytes())
        elif stat.S_ISDIR(info.st_mode):
            seen[str(path)] = ("folder", mode, None)
            for child in sorted(path.iterdir()):
                visit(child)
        else:
            seen[str(path)] = (stat.filemode(info.st_mode)[0], mode, None)

    for root in roots:
        visit(root)
    return seen


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path, Path], None]  # (output folder, a folder outside it holding the user's other files)
    args: tuple[str, ...]  # "OUT" stands for the output folder
    refusal: str  # regular expression for the whole stderr (one line)
    exit_code: int = 1


def _gitconfig(outside: Path) -> Path:
    target = outside / ".gitconfig"
    target.write_text("[user]\n\tname = me\n", encoding="utf-8")
    target.chmod(0o644)
    return target


def link_env_to_gitconfig(out: Path, outside: Path) -> None:
    (out / ".env").symlink_to(_gitconfig(outside))


def link_env_to_nowhere(out: Path, outside: Path) -> None:
    (out / ".env").symlink_to(outside / "created-anywhere")


def link_compose_to_bashrc(out: Path, outside: Path) -> None:
    bashrc = outside / ".bashrc"
    bashrc.write_text("alias ll='ls -l'\n", encoding="utf-8")
    (out / "compose.yaml").symlink_to(bashrc)


def link_compose_to_a_dbstack_file_elsewhere(out: Path, outside: Path) -> None:
    """A compose file dbstack wrote (so the ownership check passes) in another folder: its backup would land there."""
    other = outside / "other-stack"
    assert run("generate", "-o", str(other)).returncode == 0
    (out / "compose.yaml").symlink_to(other / "compose.yaml")


def link_readme(out: Path, outside: Path) -> None:
    notes = outside / "notes.md"
    notes.write_text("# my notes\n", encoding="utf-8")
    (out / "README.md").symlink_to(notes)


def link_settings_file(out: Path, outside: Path) -> None:
    (out / "librechat.env").symlink_to(outside / "librechat-settings-elsewhere")


def fifo_env(out: Path, outside: Path) -> None:
    os.mkfifo(out / ".env")


def fifo_lock(out: Path, outside: Path) -> None:
    os.mkfifo(out / "images.lock")


def lock_to_dev_zero(out: Path, outside: Path) -> None:
    (out / "images.lock").symlink_to("/dev/zero")


def device_lock(out: Path, outside: Path) -> None:
    try:
        os.mknod(out / "images.lock", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # a /dev/zero of its own
    except PermissionError:
        pytest.skip("creating a device node needs root")


def huge_env(out: Path, outside: Path) -> None:
    (out / ".env").write_bytes(b"# padding\n" * (ONE_MIB // 10 + 1))


def huge_lock(out: Path, outside: Path) -> None:
    (out / "images.lock").write_bytes(b"# padding\n" * (ONE_MIB // 10 + 1))


def huge_compose(out: Path, outside: Path) -> None:
    (out / "compose.yaml").write_bytes(b"# Generated by dbstack. App: librechat;\n" + b"#" * ONE_MIB)


def env_is_a_folder(out: Path, outside: Path) -> None:
    (out / ".env").mkdir()


def empty_kept_password(out: Path, outside: Path) -> None:
    (out / ".env").write_text("MONGODB_PASSWORD=\n", encoding="utf-8")
    (out / ".env").chmod(0o600)


def empty_kept_redis_password(out: Path, outside: Path) -> None:
    (out / ".env").write_text("# mine\nREDIS_PASSWORD=''\n", encoding="utf-8")
    (out / ".env").chmod(0o600)


def nothing(out: Path, outside: Path) -> None:
    pass


LINK = r"is a symbolic link, not a regular file; dbstack never follows links or opens special files here"
FIFO = r"is a named pipe \(FIFO\), not a regular file; dbstack never follows links or opens special files here"
DEVICE = r"is a device, not a regular file; dbstack never follows links or opens special files here"
FOLDER = r"is a folder, not a regular file; dbstack never follows links or opens special files here"
TOO_LARGE = r"is \d+ bytes; dbstack reads at most 1048576"
CORPUS = [
    Case("env-link-to-gitconfig", link_env_to_gitconfig, ("generate", "-o", "OUT"), rf"OUT/\.env: {LINK}"),
    Case(
        "env-link-to-gitconfig-compose", link_env_to_gitconfig, ("compose", "redis", "-o", "OUT"), rf"OUT/\.env: {LINK}"
    ),
    Case("env-dangling-link", link_env_to_nowhere, ("generate", "-o", "OUT"), rf"OUT/\.env: {LINK}"),
    Case(
        "compose-link-to-bashrc-forced",
        link_compose_to_bashrc,
        ("generate", "--force", "-o", "OUT"),
        rf"OUT/compose\.yaml: {LINK}",
    ),
    Case(
        "compose-link-backup-beside-target",
        link_compose_to_a_dbstack_file_elsewhere,
        ("generate", "--env", "production", "-o", "OUT"),
        rf"OUT/compose\.yaml: {LINK}",
    ),
    Case("readme-link", link_readme, ("generate", "--force", "-o", "OUT"), rf"OUT/README\.md: {LINK}"),
    Case("settings-file-dangling-link", link_settings_file, ("generate", "-o", "OUT"), rf"OUT/librechat\.env: {LINK}"),
    Case("env-fifo", fifo_env, ("generate", "-o", "OUT"), rf"OUT/\.env: {FIFO}"),
    Case("env-fifo-compose", fifo_env, ("compose", "postgresql", "-o", "OUT"), rf"OUT/\.env: {FIFO}"),
    Case("lock-fifo", fifo_lock, ("generate", "-o", "OUT"), rf"OUT/images\.lock: {FIFO}"),
    Case("lock-link-to-dev-zero", lock_to_dev_zero, ("generate", "-o", "OUT"), rf"OUT/images\.lock: {LINK}"),
    Case("lock-device", device_lock, ("compose", "redis", "-o", "OUT"), rf"OUT/images\.lock: {DEVICE}"),
    Case("env-over-1-mib", huge_env, ("generate", "-o", "OUT"), rf"OUT/\.env: {TOO_LARGE}"),
    Case("lock-over-1-mib", huge_lock, ("generate", "-o", "OUT"), rf"OUT/images\.lock: {TOO_LARGE}"),
    Case("compose-over-1-mib", huge_compose, ("generate", "-o", "OUT"), rf"OUT/compose\.yaml: {TOO_LARGE}"),
    Case("env-is-a-folder", env_is_a_folder, ("generate", "-o", "OUT"), rf"OUT/\.env: {FOLDER}"),
    Case(
        "empty-password-kept-in-env",
        empty_kept_password,
        ("generate", "-o", "OUT"),
        r"OUT/\.env: MONGODB_PASSWORD is empty there, and Compose refuses to start a stack whose compose file "
        r"requires it; write the value the database was created with, or remove the line to have one generated; "
        r"nothing was changed",
    ),
    Case(
        "empty-password-kept-in-env-compose",
        empty_kept_redis_password,
        ("compose", "redis", "--set", "password=given", "-o", "OUT"),
        r"(?s)dbstack: warning: kept REDIS_PASSWORD .*\ndbstack: error: OUT/\.env: REDIS_PASSWORD is empty there, .*"
        r"nothing was changed",
    ),
    Case(
        "empty-password-set",
        nothing,
        ("compose", "postgresql", "--set", "password=", "-o", "OUT"),
        r"--set password=: a secret cannot be empty \(Compose refuses to start the service when POSTGRESQL_PASSWORD "
        r"is empty\); give it a value, or leave it out to have one generated",
    ),
    Case(
        "empty-password-set-new-folder",
        nothing,
        ("compose", "redis", "--set", "password=", "-o", "OUT/new/deeper"),
        r"--set password=: a secret cannot be empty \(Compose refuses to start the service when REDIS_PASSWORD "
        r"is empty\); give it a value, or leave it out to have one generated",
    ),
]


@pytest.fixture
def places(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    yield out, outside


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_hostile_output_folder_is_refused_and_nothing_changes(case: Case, places: tuple[Path, Path]) -> None:
    out, outside = places
    case.setup(out, outside)
    before = snapshot(out.parent)  # the output folder, the files outside it, and anything new beside them
    args = [arg.replace("OUT", str(out)) for arg in case.args]
    result = run(*args, cwd=outside)
    stderr = result.stderr.rstrip("\n")
    expected = case.refusal.replace("OUT", re.escape(str(out)))
    if "(?s)" not in expected:
        expected = f"dbstack: error: {expected}"
        assert "\n" not in stderr, f"more than one line: {stderr}"
    assert re.fullmatch(expected, stderr), stderr
    assert result.returncode == case.exit_code
    assert result.stdout == ""
    assert snapshot(out.parent) == before


HOSTILE_KINDS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "link to a file outside": (lambda path, victim: path.symlink_to(victim), LINK),
    "dangling link": (lambda path, victim: path.symlink_to(victim.with_name("not-there")), LINK),
    "named pipe": (lambda path, victim: os.mkfifo(path), FIFO),
    "folder": (lambda path, victim: path.mkdir(), FOLDER),
}
NAMES_READ_OR_WRITTEN = {
    ("generate",): [".env", "compose.yaml", "README.md", "librechat.env", "librechat.yaml", "images.lock"],
    ("compose", "redis"): [".env", "compose.yaml", "images.lock"],
}


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
@pytest.mark.parametrize(
    ("command", "name"),
    [
        pytest.param(command, name, id=f"{' '.join(command)}-{name}")
        for command, names in NAMES_READ_OR_WRITTEN.items()
        for name in names
    ],
)
def test_every_name_dbstack_touches_refuses_every_kind_of_non_file(
    places: tuple[Path, Path], command: tuple[str, ...], name: str, kind: str
) -> None:
    """The whole class, not the examples above: each name, each kind of non-file, even with --force."""
    out, outside = places
    victim = _gitconfig(outside)
    make, refusal = HOSTILE_KINDS[kind]
    make(out / name, victim)
    before = snapshot(out.parent)
    result = run(*command, "--force", "-o", str(out))
    assert result.returncode == 1
    assert re.fullmatch(f"dbstack: error: {re.escape(str(out / name))}: {refusal}\n", result.stderr), result.stderr
    assert snapshot(out.parent) == before


# --------------------------------------------------------------------------- all or nothing, real failures


def _file_size_limit(limit: int) -> Callable[[], None]:
    # RLIMIT_FSIZE: a write past `limit` bytes fails with EFBIG (Python ignores SIGXFSZ), as on a full disk.
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_write_that_fails_half_way_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    assert run("generate", "-o", str(out)).returncode == 0
    before = snapshot(tmp_path)
    env_size, compose_size = (out / ".env").stat().st_size, (out / "compose.yaml").stat().st_size
    # Room for the new .env (written first), not for the new compose.yaml.
    limit = env_size + 400
    assert limit < compose_size
    result = run("generate", "--use", "cache=redis", "-o", str(out), preexec=_file_size_limit(limit))
    assert result.returncode == 1
    assert re.fullmatch(
        rf"dbstack: error: {re.escape(str(out))}/(compose\.yaml|README\.md): cannot write \(File too large\); "
        r"nothing was changed\n",
        result.stderr,
    ), result.stderr
    assert snapshot(tmp_path) == before  # no new .env, no temporary file, no backup
    assert run("generate", "--use", "cache=redis", "-o", str(out)).returncode == 0  # and it was only the limit


def test_a_failing_first_write_leaves_no_folder_behind(tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    result = run("generate", "-o", str(tmp_path / "a" / "b"), preexec=_file_size_limit(1000))
    assert result.returncode == 1
    assert re.fullmatch(
        rf"dbstack: error: {re.escape(str(tmp_path))}/a/b/\S+: cannot write \(File too large\); "
        r"nothing was changed\n",
        result.stderr,
    ), result.stderr
    assert snapshot(tmp_path) == before


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """chattr +i: even root cannot rename over the file. Undone after the test."""
    marked: list[Path] = []

    def mark(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {done.stderr.strip()}")
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_rename_that_fails_puts_back_what_was_renamed(tmp_path: Path, immutable: Callable[[Path], None]) -> None:
    out = tmp_path / "stack"
    assert run("generate", "-o", str(out)).returncode == 0
    (out / ".env").chmod(0o644)  # restored exactly, mode included
    immutable(out / "README.md")  # renamed after .env and compose.yaml, which must come back
    before = snapshot(tmp_path)
    result = run("generate", "--use", "cache=redis", "-o", str(out))
    assert result.returncode == 1
    assert result.stderr == (
        f"dbstack: error: {out}/README.md: cannot replace (Operation not permitted); nothing was changed\n"
    )
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- modes


def _umask_000() -> None:
    os.umask(0)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_umask_000_creates_private_folders_and_files(tmp_path: Path) -> None:
    out = tmp_path / "parent" / "stack"
    result = run("generate", "-o", str(out), preexec=_umask_000)
    assert result.returncode == 0, result.stderr
    assert _mode(out) == 0o700  # it holds .env
    assert _mode(out.parent) == 0o755  # a parent created on the way: never group or world writable
    modes = {p.name: _mode(p) for p in out.iterdir()}
    assert modes == {
        ".env": 0o600,
        "librechat.env": 0o600,
        "librechat.yaml": 0o644,
        "compose.yaml": 0o644,
        "README.md": 0o644,
        "mongodb-app-user.js": 0o644,  # read by the mongodb user through a read-only mount; no secret
        "vectordb_password.secret": 0o600,  # a compose file secret, read by the entrypoint as root
        ".dbstack-files": 0o600,  # what dbstack wrote, with digests (of secret files too)
    }


def test_umask_000_compose_output_folder_is_private(tmp_path: Path) -> None:
    out = tmp_path / "redis"
    assert run("compose", "redis", "-o", str(out), preexec=_umask_000).returncode == 0
    assert _mode(out) == 0o700 and _mode(out / ".env") == 0o600


def test_an_open_env_is_backed_up_private_and_tightened(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    assert run("generate", "-o", str(out)).returncode == 0
    (out / ".env").chmod(0o644)
    old = (out / ".env").read_bytes()
    # With a model endpoint, so the only warning is the one about .env (the stack keeps its project name).
    result = run("generate", "--use", "cache=redis", "--endpoint", "openai", "-o", str(out), preexec=_umask_000)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(
        rf"dbstack: warning: {re.escape(str(out))}/\.env: was open to other users \(mode 0644\); it holds secrets, "
        r"so it is now mode 0600\n",
        result.stderr,
    ), result.stderr
    (backup,) = out.glob(".env.bak-*")
    assert backup.read_bytes() == old and _mode(backup) == 0o600
    assert _mode(out / ".env") == 0o600


def test_an_open_env_with_nothing_to_add_is_tightened_without_a_backup(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    assert run("compose", "redis", "-o", str(out)).returncode == 0
    (out / ".env").chmod(0o666)
    old = (out / ".env").read_bytes()
    result = run("compose", "redis", "-o", str(out))
    assert result.returncode == 0
    assert result.stderr == (
        f"dbstack: warning: {out}/.env: was open to other users (mode 0666); it holds secrets, so it is now mode 0600\n"
    )
    assert (out / ".env").read_bytes() == old and _mode(out / ".env") == 0o600
    assert sorted(p.name for p in out.iterdir()) == [".dbstack-files", ".env", "compose.yaml"]
    assert run("compose", "redis", "-o", str(out)).stderr == ""  # told once


# --------------------------------------------------------------------------- override files


@pytest.mark.parametrize(
    "override",
    ["compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"],
)
# generate with a --name and a model endpoint: the first-run notes (a name from the folder, nothing to chat with)
# are tested in tests/test_first_run.py; here the override warning is the only one.
@pytest.mark.parametrize("command", [("generate", "--name", "stack", "--endpoint", "openai"), ("compose", "redis")])
def test_an_override_file_compose_merges_is_named(tmp_path: Path, override: str, command: tuple[str, ...]) -> None:
    out = tmp_path / "stack"
    out.mkdir()
    text = "services:\n  intruder:\n    image: busybox:1.36\n"
    (out / override).write_text(text, encoding="utf-8")
    result = run(*command, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"dbstack: warning: {out}/{override}: Compose merges this file into compose.yaml on every command "
        "(dbstack did not write it and leaves it as it is); check what it changes, or remove it\n"
    )
    assert (out / override).read_text(encoding="utf-8") == text
    # The warning is true: the real Compose binary, run in the folder as a user would, merges it.
    merged = subprocess.run(
        [str(compose_binary()), "config", "--services"],
        cwd=out,
        env=clean_env(user_keys()),  # a generated stack requires the keys only the user has
        capture_output=True,
        text=True,
        check=True,
    )
    assert "intruder" in merged.stdout.split()


# --------------------------------------------------------------------------- --tls-dir and empty secrets


@pytest.mark.parametrize("folder_name", ["tls$$x", "tls$HOME", "tls${PWD}"])
def test_tls_dir_reaches_compose_exactly(tmp_path: Path, folder_name: str) -> None:
    certs = tmp_path / folder_name
    certs.mkdir()
    for name in ("server.crt", "server.key", "ca.crt"):
        (certs / name).write_text(f"dummy {name}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run("compose", "redis", "--set", "tls=require", "--tls-dir", str(certs), "-o", str(out))
    assert result.returncode == 0, result.stderr
    config = compose_config(out / "compose.yaml", fmt="json", environ={"HOME": "/root", "PWD": "/elsewhere"}).check()
    assert config.warnings == []
    assert config.model is not None
    (mount,) = [v for v in config.model["services"]["redis"]["volumes"] if v["type"] == "bind"]
    # The JSON model writes a literal $ as $$ again (compose_tools' docstring).
    assert mount["source"].replace("$$", "$") == str(certs.resolve())


def test_compose_really_refuses_an_empty_secret(tmp_path: Path) -> None:
    """Why an empty secret is refused: the compose file requires every value it reads from .env."""
    out = tmp_path / "out"
    assert run("compose", "redis", "-o", str(out)).returncode == 0
    (out / ".env").write_text("REDIS_PASSWORD=\n", encoding="utf-8")
    config = compose_config(out / "compose.yaml")
    assert config.returncode != 0 and "REDIS_PASSWORD" in config.stderr
    result = run("compose", "redis", "-o", str(out))
    assert result.returncode == 1 and "REDIS_PASSWORD is empty there" in result.stderr


# --------------------------------------------------------------------------- closed pipes and internal errors


@pytest.mark.parametrize(
    ("command", "reader"),
    [
        ("demo", "head -1"),  # as a user does: head quits after a line, dbstack goes on writing
        ("demo", "true"),  # the reader is gone before dbstack writes its first byte
        ("catalog list", "true"),  # all of it written at exit, when Python flushes stdout
    ],
)
def test_a_closed_stdout_pipe_is_not_an_error(command: str, reader: str) -> None:
    script = f'"{DBSTACK}" {command} | {reader} >/dev/null; echo "status=${{PIPESTATUS[0]}}" >&2'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.stderr == "status=0\n"


def test_an_unexpected_error_is_one_line_and_exit_3(tmp_path: Path) -> None:
    # A broken installation, a real internal error: the package as installed, its shipped schema corrupted.
    # dbstack run from that copy cannot read its own schema (JSONDecodeError), which no user input causes.
    import dbstack

    copy = tmp_path / "site"
    shutil.copytree(Path(dbstack.__file__).parent, copy / "dbstack")
    (copy / "dbstack" / "schema" / "database.schema.json").write_text('{"type": ', encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in ("DBSTACK_CATALOG_PATH", "DBSTACK_DEBUG")}
    environment.update({"PYTHONPATH": str(copy), "DBSTACK_NO_CACHE": "1"})
    command = [sys.executable, "-m", "dbstack", "generate", "-o", str(tmp_path / "out")]

    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60, check=False)
    assert result.returncode == 3
    assert re.fullmatch(
        r"dbstack: internal error: JSONDecodeError at loader/validation\.py:\d+; DBSTACK_DEBUG=1 shows the traceback\n",
        result.stderr,
    ), result.stderr
    assert not (tmp_path / "out").exists()
    debug = subprocess.run(
        command, capture_output=True, text=True, env={**environment, "DBSTACK_DEBUG": "1"}, timeout=60, check=False
    )
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.rstrip().splitlines()[-1].startswith("json.decoder.JSONDecodeError: ")


# --------------------------------------------------------------------------- what the terminal is shown

TERMINAL_ATTACK = "o\x1b]0;pwn\x07\x1b[2J\nwrote /etc/passwd"


def _terminal_safe(output: str) -> bool:
    """No control character but the line break: nothing the terminal would act on."""
    return not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in output)


@pytest.mark.parametrize(
    "command",
    [
        ("compose", "valkey"),
        ("generate", "--env", "production", "--use", "cache=redis"),
    ],
)
def test_paths_reach_the_terminal_escaped(tmp_path: Path, command: tuple[str, ...]) -> None:
    out = tmp_path / TERMINAL_ATTACK
    for attempt in ("first", "again"):  # a first write, then a rewrite with --force (backups, kept values)
        result = run(*command, "-o", str(out), *(["--force"] if attempt == "again" else []))
        assert result.returncode == 0, result.stderr
        assert _terminal_safe(result.stdout) and _terminal_safe(result.stderr), (result.stdout, result.stderr)
        assert "\\x1b]0;pwn\\x07\\x1b[2J\\x0awrote /etc/passwd" in result.stdout
        assert not any(line.startswith("wrote /etc/passwd") for line in result.stdout.splitlines())
    if command[0] == "generate":  # a line to copy: the folder as one bash word, escapes and all
        folder_word = f"$'{tmp_path}/o\\x1b]0;pwn\\x07\\x1b[2J\\x0awrote /etc/passwd'"
        assert f"next: cd {folder_word} && docker compose up -d" in result.stdout


def test_paths_in_error_lines_are_escaped(tmp_path: Path) -> None:
    blocker = tmp_path / "file\x1b[2J\nwrote x"
    blocker.write_text("a file where the folder should be\n", encoding="utf-8")
    tls = tmp_path / "tls\x1b[2J"
    tls.mkdir()
    for command in (
        ("compose", "valkey", "-o", str(blocker / "out")),
        ("compose", "redis", "--set", "tls=require", "--tls-dir", str(tls)),
        ("generate", "--app", str(tmp_path / "app\x1b[2J.yaml")),
    ):
        result = run(*command)
        assert result.returncode == 1, result.stderr
        assert _terminal_safe(result.stderr), result.stderr
        assert all(line.startswith("dbstack: error: ") for line in result.stderr.splitlines()), result.stderr
        assert "\\x1b[2J" in result.stderr


def test_a_terminal_that_cannot_show_a_name_gets_it_escaped(tmp_path: Path) -> None:
    # README: a failed run changes nothing. A report the terminal cannot encode is no failure at all now.
    out = tmp_path / "café"
    result = run("generate", "-o", str(out), env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path}/caf\\xe9/compose.yaml" in result.stdout
    assert (out / "compose.yaml").is_file()
