"""Real database servers on 127.0.0.1 for the tests: one generic engine, one description per server.

Each server is described by a data file, ``tests/live/KIND.yaml`` (see ``tests/live/README.md``
for every key): where its binaries come from, how a data directory is initialised, the
foreground start command, the readiness check, how user ``app`` gets the password
:data:`HOSTILE_PASSWORD` (it holds every character that breaks naive URI or shell handling),
which system user runs it and which catalog entries it serves with which parameter values.
This module knows no database: it fills placeholders and runs commands.  The few steps that
need code are small named functions the descriptions refer to (:data:`QUOTERS` for putting a
value into a config or SQL text, :data:`PROBES` for readiness checks that speak a protocol).

Placeholders in every string of a description (``str.format`` syntax)::

    {home} {data} {run}     the server's temp dir, its data dir and its socket/run dir
    {bin}                   the directory of the server's binaries (client tools too)
    {host} {port}           127.0.0.1 and the server's TCP port (fixed at first start)
    {port_NAME}             another port the server binds, from ``extra_ports``
    {socket}                the description's ``socket`` path
    {user} {password}       the app account (``app`` and HOSTILE_PASSWORD)
    {database}              the description's ``database``
    {admin}                 the OS user the tests run as (MariaDB's socket-authenticated admin)
    {VALUE:QUOTER}          VALUE passed through the named function QUOTERS[QUOTER]

``bash tests/provision.sh`` (as root) installs the Debian packages; the PyPI ones come with
the project's test extra.  A missing server raises :class:`ServerNotInstalled`, which says
what to install: the fixtures turn it into a test *failure*, never a silent skip (only
``DBSTACK_SKIP_LIVE=1`` turns the live-server fixtures into explicit skips).

API
    :func:`start_server(kind) <start_server>` returns a :class:`LiveServer` (frozen dataclass:
    ``kind, host, port, username, password, database, data_dir, bin_dir, socket_dir,
    log_file``), or use the :func:`live_server` context manager; :data:`KINDS` lists the
    described servers and :func:`description` returns one.  ``bin_dir`` holds the server's
    client tools.  A server can be stopped and started again within a test, on the same
    port and with the same data::

        server.stop()            # clean shutdown; clients now get "connection refused"
        server.start()           # back, same port, same users and data
        with server.stopped():   # stopped inside the block, started again after it
            ...                  # (even when the block fails)
        server.destroy()         # stop and delete its directory (idempotent)

    The pytest fixtures are in ``tests/conftest.py``.

Traps this module handles (and that tests of client code must keep in mind)
    * PyMySQL encodes a ``str`` password as latin-1, so a non-ASCII password fails against a
      server that stored it as UTF-8 (as the ``mariadb`` CLI and the official image do):
      pass ``password=HOSTILE_PASSWORD.encode()``.
    * PostgreSQL refuses to run as root; data dirs and every folder above them must be
      traversable by the service user (so not under /root): the base directory is
      ``$DBSTACK_LIVE_TMPDIR`` or else :func:`tempfile.gettempdir`.  Binaries that sit where
      the service user cannot reach them (a venv under /root) are copied first
      (``copy_if_unreachable``).
    * Servers are started with ``setpriv --pdeathsig``, which fires when the *thread* that
      started them exits: start servers from the main thread.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

HOSTILE_PASSWORD: Final = "p@ss:w/rd%#?&=+ é$'\""
"""The password of every ``app`` user: ``@ : / % # ? & = +``, a space, non-ASCII, ``$``
and both quotes."""

APP_USER: Final = "app"
HOST: Final = "127.0.0.1"
SKIP_ENV: Final = "DBSTACK_SKIP_LIVE"
TMPDIR_ENV: Final = "DBSTACK_LIVE_TMPDIR"
START_TIMEOUT: Final = 60.0
"""Seconds a server may take to become ready (they need a few at most)."""
STOP_TIMEOUT: Final = 30.0
DIR_PREFIX: Final = "dbstack-live-"
DESCRIPTIONS_DIR: Final = Path(__file__).parent / "live"

Kind = str

_PROVISION_HINT: Final = (
    f"run `bash tests/provision.sh` as root to install it (or set {SKIP_ENV}=1 to skip the live-server tests)"
)


class LiveServerError(RuntimeError):
    """A server could not be set up, started or stopped."""


class ServerNotInstalled(LiveServerError):
    """A server's binaries are not installed; the message says what installs them."""


def skip_requested() -> bool:
    """Whether the user asked to skip the live-server tests (``DBSTACK_SKIP_LIVE=1``)."""
    return os.environ.get(SKIP_ENV, "").strip().lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------- helpers


def is_root() -> bool:
    return os.geteuid() == 0


def as_user(user: str | None, argv: Sequence[str | Path]) -> list[str]:
    """*argv* run as *user* (``None``: as ourselves), killed by SIGTERM if we die."""
    switch = [f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
    return ["setpriv", *switch, "--pdeathsig", "TERM", "--", *map(str, argv)]


def run(argv: Sequence[str | Path], *, input: str | None = None, timeout: float = 120.0) -> str:
    """Run a command to completion and return its output; raise with its output if it fails."""
    args = [str(a) for a in argv]
    try:
        done = subprocess.run(
            args,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LiveServerError(f"{_redact(' '.join(args))}: {exc}") from exc
    if done.returncode != 0:
        raise LiveServerError(
            f"{_redact(' '.join(args))} exited with {done.returncode}:\n{_redact(done.stdout + done.stderr).strip()}"
        )
    return done.stdout


def _redact(text: str) -> str:
    return text.replace(HOSTILE_PASSWORD, "<HOSTILE_PASSWORD>")  # the usual one; tests print no others


_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now and not handed out before by this process.

    Another process may still take it before our server binds it: the caller retries with
    new ports when the server reports the address in use (see :meth:`_Controller.start`).
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    give_up: Callable[[], bool] = lambda: False,
    interval: float = 0.05,
) -> bool:
    """Poll *condition* until it is true (-> True), *give_up* is true or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if give_up() or time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tcp_accepts(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def can_reach(user: str | None, path: Path, test: str = "-x") -> bool:
    """Whether *user* passes ``test TEST PATH`` (``-x``: traverse/execute, ``-w``: write)."""
    if user is None:
        return True
    done = subprocess.run(as_user(user, ["test", test, path]), stdin=subprocess.DEVNULL)
    return done.returncode == 0


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _sweep_stale_dirs(base: Path) -> None:
    """Remove directories left by test processes that died without cleaning up."""
    for path in base.glob(f"{DIR_PREFIX}*"):
        pid = path.name[len(DIR_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


# --------------------------------------------------------------------------- named steps


def sql_string(value: str) -> str:
    """A MySQL/MariaDB string literal (backslash escapes on, i.e. no NO_BACKSLASH_ESCAPES)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
    return f"'{escaped}'"


def redis_string(value: str) -> str:
    """A double-quoted redis/valkey config token holding exactly *value* (every byte as \\xHH)."""
    return '"' + "".join(f"\\x{byte:02x}" for byte in value.encode("utf-8")) + '"'


def redis_acl_password(value: str) -> str:
    """The ACL rule ``>PASSWORD`` as one config token."""
    return redis_string(">" + value)


QUOTERS: Final[Mapping[str, Callable[[str], str]]] = {
    "sql_string": sql_string,
    "redis_string": redis_string,
    "redis_acl_password": redis_acl_password,
    "json": json.dumps,
}
"""Named quoting functions for ``{VALUE:NAME}`` placeholders."""


def _resp(*args: str) -> bytes:
    """One command in the RESP protocol (binary-safe, no quoting involved)."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode("utf-8")
        out += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(out)


def _exchange(port: int, request: bytes, until: Callable[[bytes], bool]) -> bytes | None:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(request)
            reply = b""
            while not until(reply):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    return reply


def probe_resp_auth_ping(values: Mapping[str, Any]) -> bool:
    """AUTH as app and PING: proves the server is up *and* the user was configured."""
    request = _resp("AUTH", values["user"], values["password"]) + _resp("PING")
    reply = _exchange(values["port"], request, lambda r: r.count(b"\r\n") >= 2)
    return reply == b"+OK\r\n+PONG\r\n"


def probe_memcached_version(values: Mapping[str, Any]) -> bool:
    reply = _exchange(values["port"], b"version\r\n", lambda r: r.endswith(b"\r\n"))
    return reply is not None and reply.startswith(b"VERSION ")


def probe_http_ok(values: Mapping[str, Any], url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


PROBES: Final[Mapping[str, Callable[..., bool]]] = {
    "resp_auth_ping": probe_resp_auth_ping,
    "memcached_version": probe_memcached_version,
}
"""Readiness checks that speak a protocol; a description names one as ``ready: {probe: NAME}``."""


# --------------------------------------------------------------------------- descriptions


class _Placeholders(string.Formatter):
    """``str.format`` whose format spec names a quoter: ``{password:sql_string}``."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec:
            try:
                return QUOTERS[format_spec](str(value))
            except KeyError:
                raise LiveServerError(f"unknown quoter {format_spec!r}; known: {sorted(QUOTERS)}") from None
        return str(value)


_FORMATTER: Final = _Placeholders()


def fill(template: str, values: Mapping[str, Any]) -> str:
    try:
        return _FORMATTER.vformat(template, (), values)
    except KeyError as exc:
        raise LiveServerError(f"unknown placeholder {exc} in {template!r}; known: {sorted(values)}") from None


@dataclass(frozen=True)
class Served:
    """A catalog entry a server stands in for, and how the tests use it."""

    entry: str
    config: Mapping[str, Any]  # parameter values besides host/port/username/password/database
    forms_not_live: Mapping[str, str]  # form -> why it is not logged in with here
    healthcheck_not_live: str | None  # why the healthcheck is not run here, or None


@dataclass(frozen=True)
class Description:
    """One ``tests/live/KIND.yaml``: everything the engine needs to run that server."""

    kind: str
    title: str  # e.g. "PostgreSQL 15"
    installed_by: str  # what installs it, for the error message
    bin_dir: str | None  # absolute, or
    python_package: str | None  # ... inside this importable package,
    package_bin: str  # ... in this sub-folder ("scripts": the environment's console scripts folder)
    requires: tuple[str, ...]  # paths (relative to bin_dir, or absolute) that must exist
    copy_if_unreachable: bool  # copy the package when the service user cannot reach it
    service_user: str | None  # None: runs as the user the tests run as
    database: str | None
    socket: str
    extra_ports: tuple[str, ...]
    files: Mapping[str, str]  # name in home -> text (mode 0600, owned by the service user)
    init: tuple[tuple[str, ...], ...]
    start: tuple[str, ...]
    stop_signal: signal.Signals
    bind_errors: tuple[str, ...]
    ready: Mapping[str, Any]
    provision: tuple[Mapping[str, Any], ...]
    serves: Mapping[str, Served]
    source: Path

    @classmethod
    def load(cls, path: Path) -> Description:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        binaries = data["binaries"]
        serves = {
            entry: Served(
                entry,
                dict(use.get("config") or {}),
                dict(use.get("forms_not_live") or {}),
                use.get("healthcheck_not_live"),
            )
            for entry, use in (data.get("serves") or {}).items()
        }
        description = cls(
            kind=data["kind"],
            title=data["title"],
            installed_by=data["installed_by"],
            bin_dir=binaries.get("dir"),
            python_package=binaries.get("python_package"),
            package_bin=binaries.get("package_bin", "bin"),
            requires=tuple(binaries["requires"]),
            copy_if_unreachable=bool(binaries.get("copy_if_unreachable", False)),
            service_user=data.get("service_user"),
            database=None if data.get("database") is None else str(data["database"]),
            socket=data.get("socket", "{run}/server.sock"),
            extra_ports=tuple(data.get("extra_ports") or ()),
            files=dict(data.get("files") or {}),
            init=tuple(tuple(argv) for argv in data.get("init") or ()),
            start=tuple(data["start"]),
            stop_signal=signal.Signals[data.get("stop_signal", "SIGTERM")],
            bind_errors=tuple(data.get("bind_errors") or ("Address already in use",)),
            ready=dict(data["ready"]),
            provision=tuple(data.get("provision") or ()),
            serves=serves,
            source=path,
        )
        if description.kind != path.stem:
            raise LiveServerError(f"{path}: kind {description.kind!r} must match the file name")
        return description

    def locate(self) -> Path:
        """The binaries' directory; raise :class:`ServerNotInstalled` if anything is missing."""
        if self.python_package is not None:
            spec = importlib.util.find_spec(self.python_package)
            if spec is None or spec.origin is None:
                raise ServerNotInstalled(
                    f"{self.title} ({self.installed_by}) is not installed in this Python environment: "
                    f"install the project's test extra, e.g. `pip install '.[test]'` "
                    f"(or set {SKIP_ENV}=1 to skip the live-server tests)"
                )
            if self.package_bin == "scripts":  # the package's console scripts, e.g. `chroma`
                bin_dir = Path(sysconfig.get_path("scripts"))
            else:
                bin_dir = Path(spec.origin).parent / self.package_bin
        else:
            assert self.bin_dir is not None, f"{self.source}: binaries need dir or python_package"
            bin_dir = Path(self.bin_dir)
        missing = [str(bin_dir / name) for name in self.requires if not (bin_dir / name).exists()]
        if missing:
            what = f"{self.title} ({self.installed_by})"
            raise ServerNotInstalled(f"{what} is not installed (missing: {', '.join(missing)}): {_PROVISION_HINT}")
        return bin_dir


@cache
def descriptions() -> dict[str, Description]:
    """Every server description, by kind."""
    found = [Description.load(path) for path in sorted(DESCRIPTIONS_DIR.glob("*.yaml"))]
    return {d.kind: d for d in found}


def description(kind: Kind) -> Description:
    try:
        return descriptions()[kind]
    except KeyError:
        raise ValueError(f"unknown server kind {kind!r}; expected one of {KINDS}") from None


KINDS: Final[tuple[Kind, ...]] = tuple(descriptions())


# --------------------------------------------------------------------------- one server


class _Instance:
    """One server of a description: its directories, user, binaries and placeholder values."""

    def __init__(self, spec: Description, home: Path, user: str | None, bin_dir: Path, password: str) -> None:
        self.spec = spec
        self.password = password
        self.home = home
        self.user = user  # the OS user that runs the server, None: ourselves
        self.client_bin_dir = bin_dir
        self.server_bin_dir = bin_dir  # may become a copy the service user can reach
        self.data_dir = home / "data"
        self.socket_dir = home / "run"
        self.ports: dict[str, int] = {"main": 0}  # chosen by choose_ports()

    def values(self, *, server: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {
            "home": self.home,
            "data": self.data_dir,
            "run": self.socket_dir,
            "bin": self.server_bin_dir if server else self.client_bin_dir,
            "host": HOST,
            "user": APP_USER,
            "password": self.password,
            "database": self.spec.database,
            "admin": pwd.getpwuid(os.geteuid()).pw_name,
            "port": self.ports["main"],
            **{f"port_{name}": port for name, port in self.ports.items() if name != "main"},
        }
        values["socket"] = fill(self.spec.socket, values)
        return values

    def argv(self, template: Sequence[str], *, server: bool = False) -> list[str]:
        values = self.values(server=server)
        return [fill(arg, values) for arg in template]

    def prepare(self) -> None:
        """Directories, ports, config files and the data directory's first contents."""
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(mode=0o700)
        owned = [self.home, self.data_dir, self.socket_dir]
        if self.spec.copy_if_unreachable and not can_reach(self.user, self.client_bin_dir):
            self.server_bin_dir = self._copy_package()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in owned:
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if not can_reach(self.user, self.data_dir, "-w"):
                raise LiveServerError(
                    f"user {self.user!r} cannot reach {self.data_dir}: a folder above it is not "
                    f"traversable by that user; set {TMPDIR_ENV} to a directory that is (e.g. /tmp)"
                )
        self.choose_ports()
        for template in self.spec.init:
            run(as_user(self.user, self.argv(template, server=True)))

    def choose_ports(self) -> None:
        """New free ports, and the files that may name them written again."""
        self.ports = {"main": free_port(), **{name: free_port() for name in self.spec.extra_ports}}
        for name, text in self.spec.files.items():
            path = self.home / name
            path.write_text(fill(text, self.values(server=True)), encoding="utf-8")
            path.chmod(0o600)
            if self.user is not None:
                entry = pwd.getpwnam(self.user)
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _copy_package(self) -> Path:
        """Copy the binaries' package (and its sibling ``NAME.libs``) where the service user can reach them.

        Binaries of a wheel find their libraries relative to themselves: keep the layout.
        """
        assert self.spec.python_package is not None
        package = self.client_bin_dir.parents[len(Path(self.spec.package_bin).parts) - 1]
        copy = self.home / "package" / package.name
        shutil.copytree(package, copy, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
        return copy / self.spec.package_bin

    def ready(self) -> bool:
        check = self.spec.ready
        values = self.values()
        if "probe" in check:
            return PROBES[check["probe"]](values)
        if "http" in check:
            return probe_http_ok(values, fill(check["http"], values))
        done = subprocess.run(
            self.argv(check["command"]), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            return False
        if "stdout" in check and check["stdout"] not in done.stdout:
            return False
        return not check.get("tcp", False) or tcp_accepts(values["port"])

    def provision(self) -> None:
        """Create the app user and database (runs once, after the first start)."""
        values = self.values()
        for step in self.spec.provision:
            argv = [fill(arg, values) for arg in step["command"]]
            stdin = fill(step["stdin"], values) if "stdin" in step else None
            if step.get("as_service_user", False):
                argv = as_user(self.user, argv)
            run(argv, input=stdin)


# --------------------------------------------------------------------------- processes


class _Controller:
    """Runs one server process in the foreground of a child, on ports fixed at first start."""

    def __init__(self, instance: _Instance, log_file: Path) -> None:
        self.instance = instance
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.started_once = False  # ports are fixed from the first successful start on

    @property
    def kind(self) -> str:
        return self.instance.spec.kind

    @property
    def port(self) -> int:
        return self.instance.ports["main"]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start and wait until ready; the first start retries on a port taken meanwhile."""
        if self.running:
            return
        attempts = 1 if self.started_once else 3
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self.instance.choose_ports()
            failure = self._try_start(timeout)
            if failure is None:
                self.started_once = True
                return
            problem, log = failure
            if attempt < attempts and any(e in log for e in self.instance.spec.bind_errors):
                continue  # somebody took a port between free_port() and the bind: retry
            raise LiveServerError(
                f"{self.kind} server on {HOST}:{self.port} {problem}.\n"
                f"server log (last lines):\n{_tail(self.log_file)}"
            )

    def _try_start(self, timeout: float) -> tuple[str, str] | None:
        """Start on the instance's ports; None when ready, else (what went wrong, this attempt's log)."""
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        argv = as_user(self.instance.user, self.instance.argv(self.instance.spec.start, server=True))
        with self.log_file.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {_redact(' '.join(argv))}\n".encode())
            log.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.instance.home,
                start_new_session=True,  # Ctrl-C reaches us, not the servers
            )
        self.process = process
        if wait_until(
            # our process must be alive: whatever answers on a port it failed to bind is not it
            lambda: process.poll() is None and self.instance.ready(),
            timeout=timeout,
            give_up=lambda: process.poll() is not None,
        ):
            return None
        exit_code = process.poll()
        self.stop()
        if exit_code is None:
            problem = f"was not ready within {timeout:.0f}s and was stopped"
        else:
            problem = f"exited with code {exit_code} before it was ready"
        with self.log_file.open("rb") as log:
            log.seek(log_start)
            return problem, log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Clean shutdown (SIGKILL after STOP_TIMEOUT); no-op when not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.instance.spec.stop_signal)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise LiveServerError(
                f"{self.kind} server did not stop within {STOP_TIMEOUT:.0f}s "
                f"and was killed; server log (last lines):\n{_tail(self.log_file)}"
            ) from None


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class LiveServer:
    """A running (or stopped) real server and how to reach it as the app user."""

    kind: Kind
    host: str
    port: int
    username: str
    password: str
    database: str | None  # Redis/Valkey: the logical database number, "0"; None: the server has none
    data_dir: Path
    bin_dir: Path  # the server's client tools (psql, mariadb, redis-cli, etcdctl, ...)
    socket_dir: Path
    log_file: Path
    _controller: _Controller = field(repr=False, compare=False)

    @property
    def description(self) -> Description:
        return self._controller.instance.spec

    @property
    def home(self) -> Path:
        """The server's own temporary directory (data_dir, socket_dir, log_file are in it)."""
        return self.data_dir.parent

    @property
    def unix_socket(self) -> Path:
        """The description's ``socket`` (for PostgreSQL clients, pass ``socket_dir`` as the host)."""
        return Path(self._controller.instance.values()["socket"])

    @property
    def running(self) -> bool:
        return self._controller.running

    def stop(self) -> None:
        """Shut the server down cleanly; no-op if it is not running."""
        self._controller.stop()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start it again (same port, data and users) and wait until it is ready."""
        self._controller.start(timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextlib.contextmanager
    def stopped(self) -> Iterator[LiveServer]:
        """Stopped inside the ``with`` block, running again after it, whatever happens."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_file, lines)

    def destroy(self) -> None:
        """Stop the server and delete its directory. Idempotent."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.home, ignore_errors=True)


def base_dir() -> Path:
    """Where server directories go: ``$DBSTACK_LIVE_TMPDIR``, else the temp dir."""
    return Path(os.environ.get(TMPDIR_ENV) or tempfile.gettempdir())


def start_server(
    kind: Kind, *, password: str = HOSTILE_PASSWORD, base: Path | None = None, timeout: float = START_TIMEOUT
) -> LiveServer:
    """Set up and start a server of *kind* in a new temporary directory; wait until ready.

    The app user gets *password* (an image may refuse some characters of the hostile one).

    Raises :class:`ServerNotInstalled` when its binaries are missing, :class:`LiveServerError`
    (with the server's log tail) when it cannot be set up or started.
    """
    spec = description(kind)
    bin_dir = spec.locate()
    user = spec.service_user if is_root() else None  # as ourselves when we cannot switch
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise ServerNotInstalled(
                f"system user {user!r} does not exist (its package creates it): {_PROVISION_HINT}"
            ) from None

    parent = base or base_dir()
    _sweep_stale_dirs(parent)
    home = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-{kind}-", dir=parent))
    controller: _Controller | None = None
    try:
        instance = _Instance(spec, home, user, bin_dir, password)
        instance.prepare()
        controller = _Controller(instance, home / "server.log")
        controller.start(timeout)
        instance.provision()
    except BaseException:
        if controller is not None:
            controller.stop()
        shutil.rmtree(home, ignore_errors=True)
        raise
    return LiveServer(
        kind=kind,
        host=HOST,
        port=controller.port,
        username=APP_USER,
        password=password,
        database=spec.database,
        data_dir=instance.data_dir,
        bin_dir=bin_dir,
        socket_dir=instance.socket_dir,
        log_file=controller.log_file,
        _controller=controller,
    )


@contextlib.contextmanager
def live_server(kind: Kind, *, base: Path | None = None, timeout: float = START_TIMEOUT) -> Iterator[LiveServer]:
    """:func:`start_server`, destroyed on exit."""
    server = start_server(kind, base=base, timeout=timeout)
    try:
        yield server
    finally:
        server.destroy()
