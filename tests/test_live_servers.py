"""The live-server fixtures work: real clients log in with the hostile password and query.

Credentials are passed as keyword arguments (never URIs) on purpose: these tests prove the
servers, not URI rendering.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pymysql
import pymysql.cursors
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# tests/ is a plain folder (no __init__.py): pytest's default import mode puts it on sys.path.
import live_servers

HOSTILE_PASSWORD = live_servers.HOSTILE_PASSWORD
LiveServer = live_servers.LiveServer

# redis-py retries failed connections with backoff (seconds) by default: fail at once.
NO_RETRY = Retry(NoBackoff(), 0)

SERVER_FIXTURES = ["postgres_server", "pgvector_server", "mariadb_server", "redis_server"]


# ----------------------------------------------------------------------------- clients


def pg_connect(server: LiveServer, password: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password if password is None else password,
        dbname=server.database,
        connect_timeout=5,
        autocommit=True,
    )


def mariadb_connect(
    server: LiveServer, password: str | bytes | None = None
) -> pymysql.Connection[pymysql.cursors.Cursor]:
    # PyMySQL sends a str password as latin-1: give it the UTF-8 bytes the server stored.
    return pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password.encode() if password is None else password,
        database=server.database,
        connect_timeout=5,
    )


def redis_connect(server: LiveServer, password: str | None = None) -> redis.Redis:
    assert server.database is not None
    return redis.Redis(
        host=server.host,
        port=server.port,
        username=server.username,
        password=server.password if password is None else password,
        db=int(server.database),
        socket_connect_timeout=5,
        retry=NO_RETRY,
    )


def query_ok(server: LiveServer) -> bool:
    """Log in as the app user and run a trivial query; False if that fails in any way."""
    try:
        if server.kind in ("postgres", "pgvector"):
            with pg_connect(server) as pg:
                return pg.execute("SELECT 1").fetchone() == (1,)
        if server.kind == "mariadb":
            with mariadb_connect(server) as my, my.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        client = redis_connect(server)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (psycopg.Error, pymysql.Error, redis.RedisError):
        return False


# ----------------------------------------------------------------------------- the password


def test_hostile_password_has_the_hard_characters() -> None:
    for char in "@:/%#?&=+ $'\"é":
        assert char in HOSTILE_PASSWORD
    assert not HOSTILE_PASSWORD.isascii()


# ----------------------------------------------------------------------------- PostgreSQL


def test_postgres_15_app_user(postgres_server: LiveServer) -> None:
    with pg_connect(postgres_server) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), current_setting('server_version_num')::int,"
            " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
        ).fetchone()
        conn.execute("CREATE TABLE IF NOT EXISTS t (id int)")
    assert row is not None
    user, database, version, superuser = row
    assert (user, database) == ("app", "app")
    assert 150000 <= version < 160000  # type: ignore[operator]
    assert superuser is False


def test_postgres_rejects_a_wrong_password(postgres_server: LiveServer) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_connect(postgres_server, password=HOSTILE_PASSWORD[:-1])


def test_postgres_psql_from_bin_dir(postgres_server: LiveServer) -> None:
    """The real CLI, as a healthcheck would run it: password through PGPASSWORD."""
    done = subprocess.run(
        [
            str(postgres_server.bin_dir / "psql"),
            "-X",
            "-tA",
            "-h",
            postgres_server.host,
            "-p",
            str(postgres_server.port),
            "-U",
            postgres_server.username,
            "-d",
            str(postgres_server.database),
            "-c",
            "SELECT current_user",
        ],
        env={**os.environ, "PGPASSWORD": postgres_server.password},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "app"


def test_pgvector_nearest_neighbour(pgvector_server: LiveServer) -> None:
    with pg_connect(pgvector_server) as conn:
        version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("DROP TABLE IF EXISTS items")
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text, embedding vector(3))")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO items VALUES (%s, %s, %s::vector)",
                [(1, "x", "[1,0,0]"), (2, "y", "[0,1,0]"), (3, "z", "[0,0,1]")],
            )
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)")
        nearest = conn.execute(
            "SELECT name FROM items ORDER BY embedding <-> %s::vector LIMIT 1", ("[0.1,0.9,0.2]",)
        ).fetchone()
        ext = conn.execute(
            "SELECT string_to_array(extversion, '.')::int[] FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    assert version is not None and 160000 <= version[0] < 170000  # type: ignore[operator]
    assert nearest == ("y",)
    assert ext is not None and ext[0] >= [0, 8]  # type: ignore[operator]


# ----------------------------------------------------------------------------- MariaDB


def test_mariadb_app_user(mariadb_server: LiveServer) -> None:
    with mariadb_connect(mariadb_server) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), DATABASE(), VERSION()")
        user, database, version = cur.fetchone()  # type: ignore[misc]
        cur.execute("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, s VARCHAR(20))")
        cur.execute("REPLACE INTO t VALUES (1, %s)", ("é",))
        cur.execute("SELECT s FROM t WHERE id = 1")
        assert cur.fetchone() == ("é",)
    assert (user, database) == ("app@%", "app")
    assert "MariaDB" in version


def test_mariadb_rejects_a_wrong_password(mariadb_server: LiveServer) -> None:
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        mariadb_connect(mariadb_server, password=b"wrong")


def test_pymysql_str_password_trap(mariadb_server: LiveServer) -> None:
    """Documents a trap: PyMySQL encodes a str password as latin-1, not UTF-8.

    If this starts failing, PyMySQL changed and the ``.encode()`` in mariadb_connect (and
    any such workaround in dbstack) may be dropped.
    """
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        mariadb_connect(mariadb_server, password=mariadb_server.password)


def test_mariadb_cli_from_bin_dir(mariadb_server: LiveServer) -> None:
    done = subprocess.run(
        [
            str(mariadb_server.bin_dir / "mariadb"),
            "--no-defaults",
            "--protocol=tcp",
            f"--host={mariadb_server.host}",
            f"--port={mariadb_server.port}",
            f"--user={mariadb_server.username}",
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT CURRENT_USER()",
            str(mariadb_server.database),
        ],
        env={**os.environ, "MYSQL_PWD": mariadb_server.password},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "app@%"


# ----------------------------------------------------------------------------- Redis


def test_redis_app_user(redis_server: LiveServer) -> None:
    client = redis_connect(redis_server)
    try:
        assert client.acl_whoami() in ("app", b"app")  # str or bytes across redis-py versions
        client.set("dbstack:key", HOSTILE_PASSWORD)
        assert client.get("dbstack:key") == HOSTILE_PASSWORD.encode()
    finally:
        client.close()


def test_redis_rejects_default_user_and_wrong_password(redis_server: LiveServer) -> None:
    anonymous = redis.Redis(host=redis_server.host, port=redis_server.port, retry=NO_RETRY)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.AuthenticationError):
        redis_connect(redis_server, password="wrong").ping()


def test_redis_cli_from_bin_dir(redis_server: LiveServer) -> None:
    """redis-cli exits 0 even on an auth error: the check is that it printed PONG."""
    done = subprocess.run(
        [
            str(redis_server.bin_dir / "redis-cli"),
            "-h",
            redis_server.host,
            "-p",
            str(redis_server.port),
            "--user",
            redis_server.username,
            "ping",
        ],
        env={**os.environ, "REDISCLI_AUTH": redis_server.password},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "PONG"


# ----------------------------------------------------------------------------- stop / start


@pytest.mark.live
@pytest.mark.parametrize("fixture", SERVER_FIXTURES)
def test_stop_and_start(fixture: str, request: pytest.FixtureRequest) -> None:
    server: LiveServer = request.getfixturevalue(fixture)
    assert server.running and query_ok(server)
    with server.stopped():
        assert not server.running
        assert not query_ok(server)
        assert not live_servers.tcp_accepts(server.port)
    assert server.running
    assert query_ok(server), server.log_tail()


def test_restart_keeps_data(postgres_server: LiveServer) -> None:
    with pg_connect(postgres_server) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survives (v text)")
        conn.execute("INSERT INTO survives VALUES (%s)", (HOSTILE_PASSWORD,))
    postgres_server.restart()
    with pg_connect(postgres_server) as conn:
        rows = conn.execute("SELECT v FROM survives").fetchall()
    assert (HOSTILE_PASSWORD,) in rows


def test_factory_gives_a_throwaway_server(
    live_server_factory: Callable[[str], LiveServer], redis_server: LiveServer
) -> None:
    server = live_server_factory("redis")
    assert server.port != redis_server.port
    assert server.home != redis_server.home
    assert query_ok(server)
    server.stop()  # left stopped on purpose: the factory's cleanup copes with that
    assert not query_ok(server)


@pytest.mark.live
def test_destroy_removes_everything() -> None:
    if live_servers.skip_requested():
        pytest.skip(f"{live_servers.SKIP_ENV}=1")
    with live_servers.live_server("redis") as server:
        assert query_ok(server)
    assert not server.running
    assert not server.home.exists()
    assert not live_servers.tcp_accepts(server.port)
    server.destroy()  # idempotent


def test_missing_binaries_fail_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    moved = dataclasses.replace(live_servers.description("redis"), bin_dir=str(tmp_path))
    monkeypatch.setitem(live_servers.descriptions(), "redis", moved)
    with pytest.raises(live_servers.ServerNotInstalled) as raised:
        live_servers.start_server("redis")
    message = str(raised.value)
    assert "Debian package redis-server" in message
    assert "tests/provision.sh" in message
    assert str(tmp_path / "redis-server") in message


@pytest.mark.parametrize("kind", live_servers.KINDS)
def test_every_described_server_runs(kind: str, live_server_of: Callable[..., LiveServer]) -> None:
    """Each tests/live/KIND.yaml starts a server that its own readiness check accepts, also after a restart."""
    server = live_server_of(kind)
    instance = server._controller.instance
    assert server.running and instance.ready()
    with server.stopped():
        assert not instance.ready()
        assert not live_servers.tcp_accepts(server.port)
    assert server.running and instance.ready(), server.log_tail()


def test_placeholders_quote_through_named_functions() -> None:
    values = {"password": HOSTILE_PASSWORD}
    assert live_servers.fill("IDENTIFIED BY {password:sql_string}", values) == (
        "IDENTIFIED BY 'p@ss:w/rd%#?&=+ é$\\'\"'"
    )
    with pytest.raises(live_servers.LiveServerError, match="unknown quoter 'shell'"):
        live_servers.fill("{password:shell}", values)
    with pytest.raises(live_servers.LiveServerError, match="unknown placeholder 'pasword'"):
        live_servers.fill("{pasword}", values)
