"""Pytest fixtures for real database servers on 127.0.0.1 (see tests/live_servers.py).

Session-scoped, each server started once on first use, stopped and deleted at the end of
the session: ``live_server_of(kind)`` for any server described in ``tests/live/KIND.yaml``,
and, for the tests that name them:

    postgres_server   PostgreSQL 15
    pgvector_server   PostgreSQL 16 + pgvector (app is a superuser: CREATE EXTENSION works)
    mariadb_server    MariaDB 10.11
    redis_server      Redis 7

Each is a ``live_servers.LiveServer`` (host, port, username, password, database, data_dir,
bin_dir, socket_dir, log_file; ``stop()``, ``start()``, ``with server.stopped(): ...``).
A test that stops one of these shared servers must start it again: use ``server.stopped()``.
``live_server_factory(kind)`` starts a throwaway server that lives for one test only.

A server that is not installed makes its tests FAIL with what to install; set
``DBSTACK_SKIP_LIVE=1`` to turn these fixtures into explicit skips instead.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# tests/ is a plain folder (no __init__.py): pytest's default import mode puts it on sys.path.
import compose_tools
import live_servers

LiveServer = live_servers.LiveServer


def _skip_if_requested(kind: str) -> None:
    if live_servers.skip_requested():
        pytest.skip(f"{live_servers.SKIP_ENV}=1: live {kind} server not started")


def _start(kind: live_servers.Kind, password: str = live_servers.HOSTILE_PASSWORD) -> LiveServer:
    _skip_if_requested(kind)
    try:
        return live_servers.start_server(kind, password=password)
    except live_servers.LiveServerError as exc:
        error = str(exc)
    pytest.fail(f"live {kind} server: {error}", pytrace=False)  # outside `except`: no chaining


LIVE_SERVER_FIXTURES = frozenset(
    {"postgres_server", "pgvector_server", "mariadb_server", "redis_server", "live_server_of", "live_server_factory"}
)


@pytest.fixture(autouse=True)
def _isolated_dbstack_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test its own dbstack cache folder (inherited by the dbstack processes it starts): no test reads
    what another one cached, and none touches the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("DBSTACK_NO_CACHE", raising=False)


# What runs a program from outside Python's own world: the Compose Go binary, compose-lint and check-jsonschema
# (through these helpers), and kubectl, kubernetes-validate, checkov, caddy and node (named by the tests).
EXTERNAL_HELPERS: frozenset[object] = frozenset(
    {
        compose_tools.compose_binary,
        compose_tools.compose_config,
        compose_tools.compose_lint,
        compose_tools.compose_schema_check,
    }
)
EXTERNAL_PROGRAMS = frozenset({"kubectl", "kubernetes-validate", "checkov", "DBSTACK_CHECKOV", "caddy", "node"})
TESTS_FOLDER = Path(__file__).resolve().parent


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):  # nested functions, lambdas, comprehensions
            yield from _code_objects(constant)


def _strings(constants: tuple[object, ...]) -> Iterator[str]:
    for constant in constants:
        if isinstance(constant, str):
            yield constant
        elif isinstance(constant, tuple | frozenset):  # a constant list folded by the compiler: ["kubectl", "version"]
            yield from _strings(tuple(constant))


def _needs_external(function: object, seen: dict[object, bool]) -> bool:
    """Whether ``function`` reaches an external program: calls an EXTERNAL_HELPER, names an EXTERNAL_PROGRAM
    (a string constant, or a module constant holding its path), or calls a function of tests/ that does."""
    if not isinstance(function, types.FunctionType):
        return False  # classes, data and builtins run nothing
    unwrapped = inspect.unwrap(function)
    function = unwrapped if isinstance(unwrapped, types.FunctionType) else function
    inner_test = getattr(getattr(function, "hypothesis", None), "inner_test", None)  # a @given test's own body
    if isinstance(inner_test, types.FunctionType):
        function = inner_test
    if function in EXTERNAL_HELPERS:
        return True
    if not function.__code__.co_filename.startswith(str(TESTS_FOLDER)):
        return False  # dbstack itself and the libraries run in-process
    if function in seen:
        return seen[function]
    seen[function] = False  # recursion guard; the answer is written below
    codes = list(_code_objects(function.__code__))
    names = {name for code in codes for name in code.co_names}
    namespace = function.__globals__
    modules = [value for name in names if isinstance(value := namespace.get(name), types.ModuleType)]
    reached = [namespace.get(name) for name in names]
    reached += [getattr(module, name, None) for module in modules for name in names]  # compose_tools.compose_lint
    answer = any(constant in EXTERNAL_PROGRAMS for code in codes for constant in _strings(code.co_consts)) or any(
        (isinstance(value, str) and Path(value).name in EXTERNAL_PROGRAMS) or _needs_external(value, seen)
        for value in reached
    )
    seen[function] = answer
    return answer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: needs real database servers (tests/live_servers.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a live-server fixture `live` (deselect: -m "not live"), and every test that
    reaches an external validator or server, itself or through its fixtures, `external` (-m "not external")."""
    seen: dict[object, bool] = {}
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        # The fixtures asked for by name, and those handed over as parameters for request.getfixturevalue, with
        # every fixture these depend on.
        parameters = item.callspec.params.values() if hasattr(item, "callspec") else ()
        wanted = [*item.fixturenames, *(value for value in parameters if isinstance(value, str))]
        fixtures: dict[str, list[object]] = {}
        while wanted:
            name = wanted.pop()
            if name in fixtures:
                continue
            definitions = item.session._fixturemanager.getfixturedefs(name, item) or ()
            fixtures[name] = [definition.func for definition in definitions]
            wanted.extend(argname for definition in definitions for argname in definition.argnames)
        if LIVE_SERVER_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.live)
        functions = [item.function, *(function for functions in fixtures.values() for function in functions)]
        if any(_needs_external(function, seen) for function in functions):
            item.add_marker(pytest.mark.external)


@pytest.fixture(scope="session")
def live_server_of() -> Iterator[Callable[..., LiveServer]]:
    """``live_server_of(kind[, password])``: the session's server of that kind, started on first use.

    The app user has the hostile password unless another is asked for (then it is another server).
    """
    servers: dict[tuple[str, str], LiveServer] = {}
    failed: dict[tuple[str, str], str] = {}  # a server that failed to start fails its other tests at once

    def get(kind: live_servers.Kind, password: str = live_servers.HOSTILE_PASSWORD) -> LiveServer:
        _skip_if_requested(kind)
        key = (kind, password)
        if key in failed:
            pytest.fail(failed[key], pytrace=False)
        if key not in servers:
            try:
                servers[key] = _start(kind, password)
            except pytest.fail.Exception as exc:
                failed[key] = str(exc)
                raise
        return servers[key]

    yield get
    for server in reversed(list(servers.values())):
        server.destroy()


def _named(kind: live_servers.Kind) -> Callable[..., LiveServer]:
    def fixture(live_server_of: Callable[..., LiveServer]) -> LiveServer:
        return live_server_of(kind)

    fixture.__doc__ = f"The session's {kind} server (tests/live/{kind}.yaml)."
    return fixture


postgres_server = pytest.fixture(_named("postgres"), scope="session", name="postgres_server")
pgvector_server = pytest.fixture(_named("pgvector"), scope="session", name="pgvector_server")
mariadb_server = pytest.fixture(_named("mariadb"), scope="session", name="mariadb_server")
redis_server = pytest.fixture(_named("redis"), scope="session", name="redis_server")


@pytest.fixture
def live_server_factory() -> Iterator[Callable[[live_servers.Kind], LiveServer]]:
    """``live_server_factory("redis")``: a fresh server of that kind, deleted after the test."""
    servers: list[LiveServer] = []

    def make(kind: live_servers.Kind) -> LiveServer:
        server = _start(kind)
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.destroy()
