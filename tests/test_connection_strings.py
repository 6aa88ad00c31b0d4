"""Connection strings, proven by the real parsers and servers that read them.

Every form of every catalog entry is rendered with hostile values (a user name and password
full of URI delimiters and non-ASCII, database names with spaces and slashes, an IPv6 host)
and handed to the parser of the client the form names (its ``client:`` in the catalog): the
parts must decode back exactly to what went in.  Then the TLS modes and pool settings as the
clients take them, and logins through rendered strings against real servers
(tests/live_servers.py), including a wrong password that the server must refuse.

A new catalog entry is covered automatically; a form whose client has no parser here fails
until one is added to PARSERS (and, for an entry with TLS, to TLS_CHECKS).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pwd
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import clickhouse_connect.driver
import duckdb
import httpx
import neo4j
import psycopg
import pymysql
import pytest
import redis
import requests
import sqlalchemy.exc
import surrealdb
import urllib3.util
from chromadb.api.base_http_client import BaseHTTPClient
from clickhouse_driver import Client as ClickHouseDriverClient
from elasticsearch import Elasticsearch
from influxdb_client.client.influxdb_client import InfluxDBClient
from opensearchpy import OpenSearch
from psycopg.conninfo import conninfo_to_dict
from pymemcache.client.base import normalize_server_spec
from pymilvus.client.connection_manager import ConnectionConfig as MilvusConnectionConfig
from pymongo.uri_parser import parse_uri
from redis.backoff import NoBackoff
from redis.connection import SSLConnection, parse_url
from redis.retry import Retry
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typesense.configuration import Node as TypesenseNode
from weaviate.connect.base import ConnectionParams as WeaviateConnectionParams

from dbstack import ConfigError, DatabaseAdapter, DatabaseAdapterRegistry, DbstackError
from dbstack.loader.model import ConnectionForm, DatabaseSpec
from dbstack.sandbox import variables

# tests/ is a plain folder (no __init__.py): pytest's default import mode puts it on sys.path.
import live_servers

LiveServer = live_servers.LiveServer
REGISTRY = DatabaseAdapterRegistry(use_env=False)

HOSTILE_PASSWORD = live_servers.HOSTILE_PASSWORD
# PyMySQL sends a str password as latin-1 (pymysql/connections.py): mysql's sqlalchemy form refuses a
# non-ASCII password it could never log in with (see test_mysql_url_refuses_a_password_pymysql_cannot_send);
# mariadb's does too (tests/test_live_catalog.py test_pymysql_forms_print_no_url_that_cannot_log_in).
ASCII_HOSTILE_PASSWORD = HOSTILE_PASSWORD.replace("é", "")
HOSTILE_USER = "us er@x:y/z%+é"
# HTTP basic authentication ends the user name at the first ':' (RFC 7617), and requests sends it as latin-1
# while CouchDB compares UTF-8 bytes: those forms refuse what could never log in
# (test_forms_refuse_values_their_client_cannot_carry).
BASIC_AUTH_USER = HOSTILE_USER.replace(":", "")
PASSWORDS = {"mysql": ASCII_HOSTILE_PASSWORD, "mariadb": ASCII_HOSTILE_PASSWORD, "couchdb": ASCII_HOSTILE_PASSWORD}
USERNAMES = {"elasticsearch": BASIC_AUTH_USER, "couchdb": BASIC_AUTH_USER.replace("é", "")}
HOSTS = ("db.example", "::1")
DATABASE_NAME = "my db/x#?%&=+é"
# MongoDB database names may not contain / \ . space " or $ (pymongo refuses them while parsing).
MONGODB_DATABASE_NAME = "app-db#?%&=+é"
# Values a client cannot carry, for its forms only (the refusal itself is tested): clickhouse-driver does not
# percent-decode the database in the URL path.
CLIENT_VALUES: dict[str, dict[str, Any]] = {"clickhouse-driver": {"database": "analytics_db_7"}}
DATABASE_NUMBER = 7  # for an integer `database` parameter (Redis)
OPTION_VALUE = "my app&x=1#?%é"
# `options` is handed to one client; each entry gets an option that client really reads.
OPTIONS: dict[str, dict[str, str]] = {
    "postgresql": {"application_name": OPTION_VALUE},
    "pgvector": {"application_name": OPTION_VALUE},
    "mongodb": {"appName": OPTION_VALUE},
    "mysql": {"program_name": OPTION_VALUE},
    "redis": {"client_name": OPTION_VALUE},
    "sqlite": {"cache": "shared"},
}
TLS_MODES = ("disable", "require", "verify-ca", "verify-full")
TLS_FILE_PARAMETERS = ("tls_ca_file", "tls_cert_file", "tls_key_file")

# redis-py retries failed connections with backoff by default: fail at once.
NO_RETRY = Retry(NoBackoff(), 0)


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Parsed:
    """The parts of a connection string as one client decoded them."""

    scheme: str
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    database: str | int | None = None
    query: Mapping[str, Any] = field(default_factory=dict)


def scheme_of(text: str) -> str:
    return text.partition(":")[0]


def text_or_none(value: object) -> str | None:
    """A decoded part that must be text (or absent): anything else is the client's surprise, made visible."""
    assert value is None or isinstance(value, str), value
    return value


def parse_libpq(text: str) -> Parsed:
    params = conninfo_to_dict(text)
    port = params.pop("port", None)
    return Parsed(
        scheme=scheme_of(text),
        host=text_or_none(params.pop("host", None)),
        port=None if port is None else int(port),
        username=text_or_none(params.pop("user", None)),
        password=text_or_none(params.pop("password", None)),
        database=params.pop("dbname", None),
        query=params,
    )


def parse_sqlalchemy(text: str) -> Parsed:
    url = make_url(text)
    return Parsed(url.drivername, url.host, url.port, url.username, url.password, url.database, dict(url.query))


class OptionNames(Mapping[str, Any]):
    """MongoDB option names are case-insensitive (pymongo returns some lower-cased: appname, tlscafile)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = {key.lower(): value for key, value in options.items()}

    def __getitem__(self, key: str) -> Any:
        return self._options[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)


def parse_mongodb(text: str) -> Parsed:
    # validate=True (the default) checks every option's value; tlsCAFile and the like must be readable files.
    result = parse_uri(text)
    ((host, port),) = result["nodelist"]
    return Parsed(
        scheme_of(text),
        host,
        port,
        result["username"],
        result["password"],
        result["database"],
        OptionNames(result["options"]),
    )


def parse_redis(text: str) -> Parsed:
    # redis-py's parse_url has no annotations (redis ships py.typed but leaves this one untyped).
    kwargs: dict[str, Any] = parse_url(text)  # type: ignore[no-untyped-call]
    return Parsed(
        scheme=scheme_of(text),
        host=kwargs.pop("host", None),
        port=kwargs.pop("port", None),
        username=kwargs.pop("username", None),
        password=kwargs.pop("password", None),
        database=kwargs.pop("db", None),
        query=kwargs,
    )


def parse_rfc3986(text: str) -> Parsed:
    """Generic URI syntax, percent-decoded: MySQL Shell's URI-like strings and plain HTTP base URLs.

    MySQL Shell (the mysqlsh client of the mysql `uri` form) is not a Python library, so its
    form is checked against RFC 3986, the syntax MySQL documents for URI-like strings
    (reserved characters percent-encoded in user, password, schema and query values).
    """
    parts = urlsplit(text)
    assert not parts.fragment, f"{text!r}: a '#' escaped the encoding"
    return Parsed(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port,
        username=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
        database=unquote(parts.path.removeprefix("/")) or None,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


def sqlite_main_file(conn: sqlite3.Connection) -> str:
    """The file SQLite really opened for the main database."""
    conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")  # makes SQLite create the file now
    return str(conn.execute("PRAGMA database_list").fetchone()[2])


def open_sqlite3(text: str) -> Parsed:
    """sqlite3 has no URI parser of its own to call: open the URI and ask SQLite which file it opened."""
    with closing(sqlite3.connect(text, uri=True)) as conn:
        opened = sqlite_main_file(conn)
    return Parsed(scheme_of(text), database=opened, query=dict(parse_qsl(urlsplit(text).query)))


def open_sqlalchemy_sqlite(text: str) -> Parsed:
    url = make_url(text)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            opened = sqlite_main_file(conn.connection.driver_connection)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    return Parsed(url.drivername, database=opened, query=dict(url.query))


def bare_host(host: str | None) -> str | None:
    """An IPv6 literal without the brackets a URL needs around it (urllib3 and httpx keep them)."""
    return None if host is None else host.removeprefix("[").removesuffix("]")


def basic_auth_as_the_server_reads_it(header: str | None) -> tuple[str | None, str | None]:
    """An HTTP basic Authorization header decoded as servers do (RFC 7617): the user-id ends at the
    first ':', and the bytes are UTF-8 (CouchDB and Elasticsearch compare them with UTF-8 ones)."""
    if header is None:
        return None, None
    kind, _, token = header.partition(" ")
    assert kind == "Basic", header
    user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    return user, password


def parse_requests(text: str) -> Parsed:
    """requests (CouchDB, and the plain HTTP APIs of Neo4j and SurrealDB): the request it prepares.

    requests takes user and password from the URL (requests.utils.get_auth_from_url, percent-decoded)
    and sends them as an HTTP basic Authorization header encoded as latin-1 (requests/auth.py
    _basic_auth_str): the header is decoded here as the server reads it.
    """
    request = requests.Request("GET", text).prepare()
    assert request.url is not None
    url = urllib3.util.parse_url(request.url)
    header = request.headers.get("Authorization")
    username, password = basic_auth_as_the_server_reads_it(None if header is None else str(header))
    return Parsed(str(url.scheme), bare_host(url.host), url.port, username, password, (url.path or "/")[1:] or None)


def parse_elasticsearch(text: str) -> Parsed:
    """elasticsearch-py: the NodeConfig elastic-transport makes of the URL (client_utils.url_to_node_config),
    whose user and password become a basic Authorization header."""
    client = Elasticsearch(hosts=[text])
    try:
        (node,) = client.transport.node_pool.all()
    finally:
        client.close()
    node_config = node.config
    username, password = basic_auth_as_the_server_reads_it(node_config.headers.get("authorization"))
    database = node_config.path_prefix or None
    return Parsed(node_config.scheme, node_config.host, node_config.port, username, password, database)


def parse_opensearch(text: str) -> Parsed:
    """opensearch-py: the host dict OpenSearch(hosts=[url]) keeps (client/utils.py _normalize_hosts)."""
    client = OpenSearch(hosts=[text])
    try:
        (host,) = client.transport.hosts
    finally:
        client.close()
    username, _, password = host.get("http_auth", ":").partition(":")
    scheme = "https" if host.get("use_ssl") else "http"
    return Parsed(scheme, host["host"], host.get("port"), username or None, password or None, host.get("url_prefix"))


def parse_typesense(text: str) -> Parsed:
    """typesense-python: nodes may be URL strings, read by configuration.Node.from_url."""
    node = TypesenseNode.from_url(text)
    return Parsed(node.protocol, node.host, int(node.port), database=node.path or None)


def parse_pymilvus(text: str) -> Parsed:
    """pymilvus: MilvusClient(uri=...) reads the URI with ConnectionConfig.from_uri (client/connection_manager.py)
    into the gRPC address "host:port", a token from user:password and a database from the path."""
    config = MilvusConnectionConfig.from_uri(text)
    host, _, port = config.address.rpartition(":")
    user, _, password = config.token.partition(":")
    return Parsed(scheme_of(text), host, int(port), user or None, password or None, config.db_name or None)


def parse_weaviate(text: str) -> Parsed:
    """weaviate-client v4: ConnectionParams.from_url (connect/base.py), the parser behind connect_to_custom's
    host/port/secure triple; the gRPC form's URL is read the same way for grpc_host and grpc_port."""
    params = WeaviateConnectionParams.from_url(text, grpc_port=1)
    return Parsed("https" if params.http.secure else "http", params.http.host, params.http.port)


def parse_chromadb(text: str) -> Parsed:
    """chromadb.HttpClient(host=url): a host starting with 'http' is a full URL (BaseHTTPClient.resolve_url,
    api/base_http_client.py), which httpx then requests."""
    url = httpx.URL(BaseHTTPClient.resolve_url(text, False, "/api/v2", 8000))
    assert url.path == "/api/v2", url
    return Parsed(url.scheme, url.host, url.port)


def parse_clickhouse_connect(text: str) -> Parsed:
    """clickhouse_connect.get_client(dsn=...): the DSN reading of driver/__init__.py _parse_connection_params;
    the query arguments become get_client keyword arguments."""
    kwargs: dict[str, Any] = {}
    host, username, password, port, database, interface = clickhouse_connect.driver._parse_connection_params(
        None, None, "", None, None, None, False, text, kwargs
    )
    return Parsed(interface, host, port, username, password, database, kwargs)


def parse_clickhouse_driver(text: str) -> Parsed:
    """clickhouse-driver Client.from_url (util/helpers.py parse_url): builds the client, does not connect."""
    client = ClickHouseDriverClient.from_url(text)
    connection = client.connection
    ((host, port),) = connection.hosts
    query = {"connect_timeout": connection.connect_timeout, "secure": connection.secure_socket}
    scheme = "clickhouses" if connection.secure_socket else "clickhouse"
    return Parsed(scheme, host, port, connection.user, connection.password, connection.database, query)


def parse_sqlalchemy_dialect(text: str) -> Parsed:
    """SQLAlchemy dialects: the keyword arguments the dialect hands to its driver's connect()."""
    engine = create_engine(text, poolclass=NullPool)
    try:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
    finally:
        engine.dispose()
    query = dict(kwargs)
    return Parsed(
        engine.url.drivername,
        query.pop("host", None),
        query.pop("port", None),
        query.pop("username", None),
        query.pop("password", None),
        query.pop("database", None),
        query,
    )


def parse_neo4j(text: str) -> Parsed:
    """The neo4j driver: GraphDatabase.driver parses the URI (scheme, address, routing context) without
    connecting; credentials and database are arguments, never in the URI."""
    driver = neo4j.GraphDatabase.driver(text)
    try:
        address = driver._pool.address
        encrypted = driver._pool.pool_config.encrypted
    finally:
        driver.close()
    return Parsed(scheme_of(text), address.host, address.port, query={"encrypted": encrypted})


def parse_influxdb(text: str) -> Parsed:
    """influxdb-client: InfluxDBClient(url=...) keeps the URL as its configuration's host, and its REST layer
    hands it to urllib3 (client/_base.py, rest.py): parsed here as urllib3 does."""
    client = InfluxDBClient(url=text, token="token", org="org")
    try:
        url = urllib3.util.parse_url(client.api_client.configuration.host)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return Parsed(str(url.scheme), bare_host(url.host), url.port, database=(url.path or "/")[1:] or None)


def parse_surrealdb(text: str) -> Parsed:
    """The surrealdb SDK: Surreal(url) picks its connection class by scheme and reads the URL with
    connections/url.py Url (it drops '/rpc'); nothing connects until the first call."""
    connection = surrealdb.Surreal(text)
    url = connection.url
    return Parsed(url.scheme.value, url.hostname, url.port, database=urlsplit(url.raw_url).path[1:] or None)


def parse_pymemcache(text: str) -> Parsed:
    """pymemcache's Client and HashClient read a "host:port" server string with base.normalize_server_spec."""
    spec = normalize_server_spec(text)
    assert isinstance(spec, tuple), spec
    host, port = spec
    return Parsed("", host, int(port))


def split_contact_point(text: str) -> Parsed:
    """cassandra-driver and scylla-driver take no connection string: Cluster(contact_points=[host], port=port)
    (cassandra/cluster.py Cluster.__init__ pairs every contact point with the one `port`; both drivers ship
    the same `cassandra` module, so they cannot be installed side by side). The catalog's "host:port" is split
    as the drivers' documentation says to pass it: host without the IPv6 brackets, port as an integer."""
    host, separator, port = text.rpartition(":")
    assert separator and port.isdigit(), text
    assert host.startswith("[") == host.endswith("]") and (":" not in host or host.startswith("[")), text
    return Parsed("", bare_host(host), int(port))


ETCDCTL_TARGET = re.compile(r'"target":"endpoint://[^/"]+/([^"]+)"')


def parse_etcdctl(text: str) -> Parsed:
    """etcdctl --endpoints URL: the dial target etcdctl derives from the URL, as it logs it.

    Nothing listens on the address (or it does not resolve): etcdctl gives up after its short timeouts and
    logs the gRPC target it dialled (clientv3/client.go parseEndpoint keeps the URL's host:port).
    """
    done = subprocess.run(
        ["etcdctl", f"--endpoints={text}", "--dial-timeout=300ms", "--command-timeout=600ms", "endpoint", "health"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    match = ETCDCTL_TARGET.search(done.stderr + done.stdout)
    assert match, f"etcdctl logged no dial target for {text!r}: {done.stderr}"
    host, _, port = match.group(1).rpartition(":")
    return Parsed(scheme_of(text), bare_host(host), int(port))


DUCKDB_MAIN_FILE = "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"


def duckdb_main_file(conn: duckdb.DuckDBPyConnection) -> str:
    """The file DuckDB really opened for the current database."""
    row = conn.execute(DUCKDB_MAIN_FILE).fetchone()
    assert row is not None
    return str(row[0])


def open_duckdb(text: str) -> Parsed:
    """duckdb.connect(path) really opens (creates) the file; DuckDB says which file it opened."""
    with closing(duckdb.connect(text)) as conn:
        return Parsed("", database=duckdb_main_file(conn))


def open_sqlalchemy_duckdb(text: str) -> Parsed:
    """duckdb_engine: the URL opened through SQLAlchemy; the query is DuckDB configuration."""
    url = make_url(text)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            opened = str(conn.execute(sql(DUCKDB_MAIN_FILE)).scalar_one())
            access_mode = conn.execute(sql("SELECT current_setting('access_mode')")).scalar_one()
    finally:
        engine.dispose()
    return Parsed(url.drivername, database=opened, query={**url.query, "access_mode": str(access_mode).upper()})


PARSERS: dict[str, Callable[[str], Parsed]] = {
    "psycopg": parse_libpq,
    "sqlalchemy+psycopg": parse_sqlalchemy,
    "sqlalchemy+pymysql": parse_sqlalchemy,
    "sqlalchemy+pysqlite": open_sqlalchemy_sqlite,
    "mysqlsh": parse_rfc3986,
    "pymongo": parse_mongodb,
    "redis-py": parse_redis,
    "sqlite3": open_sqlite3,
    "meilisearch": parse_rfc3986,
    "qdrant-client": parse_rfc3986,
    "requests": parse_requests,
    "neo4j-http": parse_requests,  # the HTTP API: any HTTP client; requests is the one checked here
    "surrealdb-http": parse_requests,
    "elasticsearch-py": parse_elasticsearch,
    "opensearch-py": parse_opensearch,
    "typesense": parse_typesense,
    "pymilvus": parse_pymilvus,
    "weaviate-client": parse_weaviate,
    "chromadb": parse_chromadb,
    "clickhouse-connect": parse_clickhouse_connect,
    "clickhouse-driver": parse_clickhouse_driver,
    "sqlalchemy+clickhouse-connect": parse_sqlalchemy_dialect,
    "neo4j": parse_neo4j,
    "influxdb-client": parse_influxdb,
    "surrealdb": parse_surrealdb,
    "pymemcache": parse_pymemcache,
    "cassandra-driver": split_contact_point,
    "scylla-driver": split_contact_point,
    "etcdctl": parse_etcdctl,
    "duckdb": open_duckdb,
    "sqlalchemy+duckdb_engine": open_sqlalchemy_duckdb,
}


def parser_for(form: ConnectionForm, entry: str) -> Callable[[str], Parsed]:
    assert form.client in PARSERS, (
        f"{entry}: form {form.name!r} names client {form.client!r}, which has no parser check here: "
        f"add one to PARSERS in {Path(__file__).name}"
    )
    return PARSERS[form.client]


# ----------------------------------------------------------------------------- configs


def catalog_forms() -> Iterator[tuple[DatabaseSpec, ConnectionForm]]:
    for spec in REGISTRY:
        for form in spec.forms.values():
            yield spec, form


def hostile_config(spec: DatabaseSpec, workdir: Path, host: str | None = None) -> dict[str, Any]:
    """Hostile values for the usual parameters the entry declares; distinctive ones for the rest."""
    params = spec.parameters
    config: dict[str, Any] = {}
    if "host" in params:
        config["host"] = host or HOSTS[0]
    for offset, name in enumerate(n for n in params if n == "port" or n.endswith("_port")):
        config[name] = 40001 + offset
    if "username" in params:
        config["username"] = USERNAMES.get(spec.id, HOSTILE_USER)
    if "database" in params:
        integer = params["database"].type == "integer"
        mongodb = any(form.client == "pymongo" for form in spec.forms.values())
        config["database"] = DATABASE_NUMBER if integer else MONGODB_DATABASE_NAME if mongodb else DATABASE_NAME
    if "path" in params:
        # DuckDB takes a plain path, not a URI, and dbstack refuses white space in a rendered string.
        plain_path = any(form.template.strip() == "{{ path }}" for form in spec.forms.values())
        folder = workdir.with_name(workdir.name.replace(" ", "_")) if plain_path else workdir
        folder.mkdir(parents=True, exist_ok=True)
        config["path"] = str(folder / ("x_y#?%&=+é.db" if plain_path else "x y#?%&=+é.db"))
    if "options" in params and spec.id in OPTIONS:
        config["options"] = OPTIONS[spec.id]
    for name, param in params.items():
        if param.secret and name not in config:
            config[name] = PASSWORDS.get(spec.id, HOSTILE_PASSWORD) if name == "password" else f"secret-{name}-Zq9"
    return config


def used_by(form: ConnectionForm) -> frozenset[str]:
    return variables(form.template)


def expected_parts(spec: DatabaseSpec, form: ConnectionForm, config: Mapping[str, Any]) -> dict[str, Any]:
    """What a parser must decode, from the parameters the form's template reads (None where it reads none)."""
    used = used_by(form)
    ports = sorted(n for n in used if n == "port" or n.endswith("_port"))
    assert len(ports) <= 1, f"{spec.id}.{form.name}: reads several ports {ports}"
    database = "database" if "database" in spec.parameters else "path"

    def value(name: str) -> Any:
        return config[name] if name in used else None

    return {
        "host": value("host"),
        "port": config[ports[0]] if ports else None,
        "username": value("username"),
        "password": value("password"),
        "database": value(database),
    }


def adapter_for(entry: str, config: Mapping[str, Any]) -> DatabaseAdapter:
    adapter = REGISTRY.get_adapter(entry, config)
    for name, value in config.items():  # the loader keeps every value as given
        assert adapter.config[name] == value, name
    return adapter


# ----------------------------------------------------------------------------- 1. round trips


def round_trip_cases() -> Iterator[Any]:
    for spec, form in catalog_forms():
        for host in HOSTS if "host" in spec.parameters else (None,):
            yield pytest.param(spec.id, form.name, host, id=f"{spec.id}-{form.name}-{host or 'file'}")


@pytest.mark.parametrize(("entry", "form_name", "host"), list(round_trip_cases()))
def test_every_form_decodes_back_exactly(entry: str, form_name: str, host: str | None, tmp_path: Path) -> None:
    spec = REGISTRY.spec(entry)
    form = spec.forms[form_name]
    parse = parser_for(form, entry)
    given = hostile_config(spec, tmp_path / "dir with spaces #?%", host) | (
        CLIENT_VALUES.get(form.client, {}) if form.client else {}
    )
    adapter = adapter_for(entry, given)
    rendered = adapter.connection_string(form_name)

    parsed = parse(rendered)

    config = adapter.config
    got = {part: getattr(parsed, part) for part in ("host", "port", "username", "password", "database")}
    assert got == expected_parts(spec, form, config), rendered
    if "options" in used_by(form):
        for key, value in config.get("options", {}).items():
            assert parsed.query[key] == value, (key, rendered)
    for name, param in spec.parameters.items():
        if param.secret and name not in used_by(form):
            assert str(config[name]) not in rendered, f"{name} leaks into {rendered!r}"
    if "path" in config:
        assert Path(config["path"]).is_file()


def test_sqlite_plain_and_uri_branches_open_the_same_relative_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sqlalchemy form is plain sqlite:/// without options and a twice-encoded URI with them."""
    workdir = tmp_path / "work dir #?%"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    relative = "sub dir#?%/x y&=+é.db"
    (workdir / "sub dir#?%").mkdir()
    for options in ({}, {"cache": "shared"}):
        adapter = adapter_for("sqlite", {"path": relative, "options": options})
        for form in adapter.spec.forms.values():
            rendered = adapter.connection_string(form.name)
            opened = parser_for(form, "sqlite")(rendered).database
            assert isinstance(opened, str)
            assert os.path.samefile(opened, workdir / relative), rendered
    assert sorted(p.name for p in (workdir / "sub dir#?%").iterdir()) == ["x y&=+é.db"]


def test_sqlite_uri_keeps_a_path_that_starts_with_two_slashes(tmp_path: Path) -> None:
    """POSIX paths may start with '//' (pathlib and os.path.abspath keep it) and name the same file."""
    path = "/" + str(tmp_path / "db file.sqlite")
    assert path.startswith("//")
    adapter = adapter_for("sqlite", {"path": path, "options": {"cache": "shared"}})
    for form in adapter.spec.forms.values():
        rendered = adapter.connection_string(form.name)
        try:
            opened = parser_for(form, "sqlite")(rendered).database
        except (sqlite3.Error, sqlalchemy.exc.DBAPIError) as exc:
            error = str(exc).splitlines()[0]
        else:
            assert isinstance(opened, str)
            assert os.path.samefile(opened, path), rendered
            continue
        pytest.fail(  # outside `except`: no chained traceback
            f"BUG catalog/sqlite.yaml form {form.name!r}: path {path!r} renders as {rendered!r}, and SQLite "
            f"reads the '//' after 'file:' as a URI authority ({error}). Fix: put an empty authority '//' "
            "before absolute paths: file:{{ '//' if path[:1] == '/' else '' }}{{ path | urlpath }}...",
            pytrace=False,
        )


# ----------------------------------------------------------------------------- 2. TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A real throwaway CA certificate and key in a folder whose name has spaces.

    Real files, because clients read them while parsing (pymongo checks they are readable) or
    while building their TLS context (PyMySQL). The CA doubles as the client certificate.
    """
    folder = tmp_path_factory.mktemp("tls") / "tls files #&?"
    folder.mkdir()
    cert, key = folder / "ca cert.pem", folder / "client key.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=dbstack test CA",
                "-days",
                "2",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"openssl could not make a test certificate (apt-get install openssl): {exc}", pytrace=False)
    both = folder / "client cert+key.pem"  # MongoDB drivers take certificate and key in one file
    both.write_text(cert.read_text() + key.read_text())
    return {"ca": str(cert), "cert": str(cert), "key": str(key), "cert+key": str(both)}


def tls_config(spec: DatabaseSpec, mode: str, files: Mapping[str, str]) -> dict[str, Any]:
    """Every TLS parameter the entry declares (also with disable: the files must not switch TLS on)."""
    values = {
        "tls_ca_file": files["ca"],
        # tls_cert_file without tls_key_file means certificate and key in one file (MongoDB).
        "tls_cert_file": files["cert"] if "tls_key_file" in spec.parameters else files["cert+key"],
        "tls_key_file": files["key"],
    }
    config = {name: values[name] for name in TLS_FILE_PARAMETERS if name in spec.parameters}
    config["tls"] = mode
    for name, param in spec.parameters.items():
        if param.required and param.secret:
            config[name] = PASSWORDS.get(spec.id, HOSTILE_PASSWORD)
    return config


def expect_query(parsed: Parsed, present: Mapping[str, Any], absent: tuple[str, ...] = ()) -> None:
    assert {key: parsed.query.get(key) for key in present} == dict(present), parsed.query
    assert not [key for key in absent if key in parsed.query], parsed.query


def check_libpq_tls(text: str, mode: str, config: Mapping[str, Any], parse: Callable[[str], Parsed]) -> None:
    # sslmode is always written, disable too: otherwise libpq's default 'prefer' would apply.
    expect_query(
        parse(text),
        {
            "sslmode": mode,
            "sslrootcert": config["tls_ca_file"],
            "sslcert": config["tls_cert_file"],
            "sslkey": config["tls_key_file"],
        },
    )


def check_mongodb_tls(text: str, mode: str, config: Mapping[str, Any]) -> None:
    parsed = parse_mongodb(text)
    files = {"tlsCAFile": config["tls_ca_file"], "tlsCertificateKeyFile": config["tls_cert_file"]}
    lax = ("tlsInsecure", "tlsAllowInvalidCertificates", "tlsAllowInvalidHostnames")
    if mode == "disable":
        expect_query(parsed, {}, absent=("tls", "ssl", *lax, *files))
    elif mode == "require":  # pymongo expands tlsInsecure into both tlsAllowInvalid* options
        expect_query(
            parsed,
            {
                "tls": True,
                "tlsInsecure": True,
                "tlsAllowInvalidCertificates": True,
                "tlsAllowInvalidHostnames": True,
                **files,
            },
        )
    elif mode == "verify-ca":
        expect_query(
            parsed,
            {"tls": True, "tlsAllowInvalidHostnames": True, **files},
            absent=("tlsInsecure", "tlsAllowInvalidCertificates"),
        )
    else:
        expect_query(parsed, {"tls": True, **files}, absent=lax)


def check_redis_tls(text: str, mode: str, config: Mapping[str, Any]) -> None:
    parsed = parse_redis(text)
    ssl_keys = ("ssl_cert_reqs", "ssl_check_hostname", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
    if mode == "disable":
        assert parsed.scheme == "redis"
        expect_query(parsed, {}, absent=("connection_class", *ssl_keys))
    else:
        assert parsed.scheme == "rediss"
        expect_query(
            parsed,
            {
                "connection_class": SSLConnection,
                "ssl_cert_reqs": "none" if mode == "require" else "required",
                "ssl_check_hostname": mode == "verify-full",
                "ssl_ca_certs": config["tls_ca_file"],
                "ssl_certfile": config["tls_cert_file"],
                "ssl_keyfile": config["tls_key_file"],
            },
        )


def pymysql_connect_kwargs(text: str) -> dict[str, Any]:
    """The keyword arguments SQLAlchemy hands to pymysql.connect() for this URL."""
    engine = create_engine(text, poolclass=NullPool)
    try:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
    finally:
        engine.dispose()
    return dict(kwargs)


def check_pymysql_tls(text: str, mode: str, config: Mapping[str, Any]) -> None:
    kwargs = pymysql_connect_kwargs(text)
    if mode == "disable":
        assert kwargs.get("ssl_disabled") and "ssl" not in kwargs, kwargs
    else:
        expected = {
            "cert": config["tls_cert_file"],
            "key": config["tls_key_file"],
            "check_hostname": mode == "verify-full",
        }
        if mode != "require":
            expected["ca"] = config["tls_ca_file"]
        assert kwargs.get("ssl") == expected and "ssl_disabled" not in kwargs, kwargs


def check_mysqlsh_tls(text: str, mode: str, config: Mapping[str, Any]) -> None:
    ssl_mode = {
        "disable": "DISABLED",
        "require": "REQUIRED",
        "verify-ca": "VERIFY_CA",
        "verify-full": "VERIFY_IDENTITY",
    }
    files = {"ssl-cert": config["tls_cert_file"], "ssl-key": config["tls_key_file"]}
    present: dict[str, Any] = {"ssl-mode": ssl_mode[mode]}
    if mode in ("verify-ca", "verify-full"):
        present["ssl-ca"] = config["tls_ca_file"]
    if mode != "disable":
        present.update(files)
    absent = tuple(k for k in ("ssl-ca", "ssl-cert", "ssl-key") if k not in present)
    expect_query(parse_rfc3986(text), present, absent)


def check_http_tls(
    text: str, mode: str, config: Mapping[str, Any], parse: Callable[[str], Parsed] = parse_rfc3986
) -> None:
    # Certificate checking is a setting of the HTTP client; the URL only chooses the scheme.
    parsed = parse(text)
    assert parsed.scheme == ("http" if mode == "disable" else "https")
    assert parsed.query == {}
    assert config["tls_ca_file"] not in text


TLS_CHECKS: dict[str, Callable[[str, str, Mapping[str, Any]], None]] = {
    "psycopg": lambda text, mode, config: check_libpq_tls(text, mode, config, parse_libpq),
    "sqlalchemy+psycopg": lambda text, mode, config: check_libpq_tls(text, mode, config, parse_sqlalchemy),
    "pymongo": check_mongodb_tls,
    "redis-py": check_redis_tls,
    "sqlalchemy+pymysql": check_pymysql_tls,
    "mysqlsh": check_mysqlsh_tls,
    "meilisearch": check_http_tls,
    "qdrant-client": check_http_tls,
    "elasticsearch-py": lambda text, mode, config: check_http_tls(text, mode, config, parse_elasticsearch),
    "influxdb-client": lambda text, mode, config: check_http_tls(text, mode, config, parse_influxdb),
    "typesense": lambda text, mode, config: check_http_tls(text, mode, config, parse_typesense),
    # The scheme of the URL; that etcdctl speaks TLS for https is test_etcdctl_speaks_tls_when_the_endpoint_says_so.
    "etcdctl": check_http_tls,
}


def tls_cases() -> Iterator[Any]:
    for spec, form in catalog_forms():
        if spec.capabilities.tls:
            for mode in TLS_MODES:
                yield pytest.param(spec.id, form.name, mode, id=f"{spec.id}-{form.name}-{mode}")


@pytest.mark.parametrize(("entry", "form_name", "mode"), list(tls_cases()))
def test_tls_modes_as_the_client_parses_them(entry: str, form_name: str, mode: str, tls_files: dict[str, str]) -> None:
    spec = REGISTRY.spec(entry)
    form = spec.forms[form_name]
    assert form.client in TLS_CHECKS, (
        f"{entry}: form {form_name!r} (client {form.client!r}) has TLS but no TLS check here: add one to TLS_CHECKS"
    )
    config = tls_config(spec, mode, tls_files)
    adapter = adapter_for(entry, config)
    TLS_CHECKS[form.client](adapter.connection_string(form_name), mode, adapter.config)


def first_bytes_received(listener: socket.socket, count: int) -> bytes:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(20)
        received = b""
        while len(received) < count and (chunk := conn.recv(count - len(received))):
            received += chunk
    return received


@pytest.mark.parametrize("mode", TLS_MODES)
def test_etcdctl_speaks_tls_when_the_endpoint_says_so(mode: str, tls_files: dict[str, str]) -> None:
    """etcdctl dials the rendered endpoint: a TLS ClientHello for https, the HTTP/2 preface of plain gRPC for http."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        config = tls_config(REGISTRY.spec("etcd"), mode, tls_files) | {"host": "127.0.0.1"}
        config["port"] = listener.getsockname()[1]
        endpoint = adapter_for("etcd", config).connection_string("endpoint")
        etcdctl = subprocess.Popen(
            ["etcdctl", f"--endpoints={endpoint}", "--dial-timeout=5s", "--command-timeout=10s", "endpoint", "health"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        try:
            received = first_bytes_received(listener, 14)
        finally:
            etcdctl.kill()
            etcdctl.wait(timeout=30)
    if mode == "disable":
        assert received == b"PRI * HTTP/2.0", received
    else:
        assert received[:3] == b"\x16\x03\x01", received  # TLS record: handshake (ClientHello)


REFUSALS = [
    pytest.param("clickhouse", "native", {"database": DATABASE_NAME}, "does not percent-decode the database"),
    pytest.param("couchdb", "url", {"username": "a:b"}, "ends the user name at the first colon"),
    pytest.param("couchdb", "url", {"username": "adminé"}, "as latin-1"),
    pytest.param("couchdb", "url", {"password": HOSTILE_PASSWORD}, "non-ASCII password cannot log in"),
    pytest.param("elasticsearch", "url", {"username": HOSTILE_USER}, "ends the user name at the first colon"),
]


@pytest.mark.parametrize(("entry", "form", "values", "message"), REFUSALS)
def test_forms_refuse_values_their_client_cannot_carry(
    entry: str, form: str, values: dict[str, str], message: str
) -> None:
    """A value the form's client would decode wrongly (or the server never accept) is refused, never rendered."""
    adapter = REGISTRY.get_adapter(entry, {"password": "pw", **values})
    with pytest.raises(DbstackError, match=rf"forms\.{form}: .*{message}"):
        adapter.connection_string(form)


@pytest.mark.parametrize("mode", TLS_MODES)
def test_redis_builds_the_tls_connection_the_mode_asks_for(mode: str, tls_files: dict[str, str]) -> None:
    adapter = adapter_for("redis", tls_config(REGISTRY.spec("redis"), mode, tls_files))
    client = redis.Redis.from_url(adapter.connection_string())
    try:
        connection = client.connection_pool.make_connection()  # built, not connected
    finally:
        client.close()
    if mode == "disable":
        assert not isinstance(connection, SSLConnection)
    else:
        assert isinstance(connection, SSLConnection)
        assert connection.cert_reqs == (ssl.CERT_NONE if mode == "require" else ssl.CERT_REQUIRED)
        assert connection.check_hostname is (mode == "verify-full")
        assert connection.ca_certs == tls_files["ca"]


def pymysql_tls_context(text: str) -> ssl.SSLContext | None:
    """The TLS context PyMySQL builds for the URL (None: no TLS), without connecting."""
    conn = pymysql.connections.Connection(defer_connect=True, **pymysql_connect_kwargs(text))
    # types-PyMySQL does not declare Connection.ctx, which pymysql sets in __init__ when TLS is asked for.
    return conn.ctx if conn.ssl else None  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", TLS_MODES)
def test_pymysql_builds_the_tls_context_the_mode_asks_for(mode: str, tls_files: dict[str, str]) -> None:
    adapter = adapter_for("mysql", tls_config(REGISTRY.spec("mysql"), mode, tls_files))
    context = pymysql_tls_context(adapter.connection_string("sqlalchemy"))
    if mode == "disable":
        assert context is None
    else:
        assert context is not None
        assert context.verify_mode == (ssl.CERT_NONE if mode == "require" else ssl.CERT_REQUIRED)
        assert context.check_hostname is (mode == "verify-full")


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_mysql_verify_modes_never_silently_skip_verification(mode: str) -> None:
    """tls=verify-* must verify the server, so dbstack refuses the config without a CA file: PyMySQL would build a
    context with verify_mode=CERT_NONE for it (no 'ca' in its ssl dict): encrypted, but never verified."""
    adapter = REGISTRY.get_adapter("mysql", {"password": "pw", "tls": mode})  # no tls_ca_file
    for form in REGISTRY.spec("mysql").forms:
        with pytest.raises(ConfigError, match=rf"^mysql: parameter 'tls_ca_file' is required with tls={mode}$"):
            adapter.connection_string(form)


# ----------------------------------------------------------------------------- 3. pools


def pool_config(spec: DatabaseSpec) -> dict[str, Any]:
    """A value other than the default for every pool parameter, within its bounds."""
    password = PASSWORDS.get(spec.id, HOSTILE_PASSWORD)
    config = {n: password for n, p in spec.parameters.items() if p.required and p.secret}
    if spec.pool:
        for param_name in spec.pool.settings.values():
            param = spec.parameters[param_name]
            value = param.default + 1
            config[param_name] = value if param.maximum is None or value <= param.maximum else param.default - 1
    return config


def pool_cases() -> Iterator[Any]:
    for spec, form in catalog_forms():
        if "path" not in spec.parameters:  # sqlite opens a file to parse; it has no pool anyway
            yield pytest.param(spec.id, form.name, id=f"{spec.id}-{form.name}")


@pytest.mark.parametrize(("entry", "form_name"), list(pool_cases()))
def test_pool_settings_go_in_the_uri_or_to_pool_options(entry: str, form_name: str) -> None:
    spec = REGISTRY.spec(entry)
    adapter = adapter_for(entry, pool_config(spec))
    rendered = adapter.connection_string(form_name)
    parsed = parser_for(spec.forms[form_name], entry)(rendered)
    settings = dict(spec.pool.settings) if spec.pool else {}
    values = {key: adapter.config[param] for key, param in settings.items()}
    if spec.pool and spec.pool.in_uri:
        assert adapter.pool_options() == {}
        assert {key: parsed.query.get(key) for key in values} == values, rendered
    else:
        assert adapter.pool_options() == values
        assert not [key for key in values if key in parsed.query or key in rendered], rendered


def test_mongodb_pool_sizes_are_in_the_uri() -> None:
    adapter = adapter_for("mongodb", {"password": HOSTILE_PASSWORD, "pool_min_size": 3, "pool_max_size": 37})
    options = parse_mongodb(adapter.connection_string()).query
    assert (options["minPoolSize"], options["maxPoolSize"]) == (3, 37)
    assert adapter.pool_options() == {}


# ----------------------------------------------------------------------------- 4. live servers


def render_for(server: LiveServer, entry: str, form: str, password: str | None = None) -> tuple[str, DatabaseAdapter]:
    """The form rendered by dbstack from the server's coordinates (the password may be replaced)."""
    adapter = REGISTRY.get_adapter(
        entry,
        {
            "host": server.host,
            "port": server.port,
            "username": server.username,
            "password": server.password if password is None else password,
            "database": server.database,
        },
    )
    return adapter.connection_string(form), adapter


def whoami_psycopg(url: str, adapter: DatabaseAdapter) -> tuple[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def whoami_sqlalchemy(url: str, statement: str, **engine_options: Any) -> tuple[str, str]:
    engine = create_engine(url, **engine_options)
    try:
        with engine.connect() as conn:
            user, database = conn.execute(sql(statement)).one()
    finally:
        engine.dispose()
    return str(user), str(database)


def whoami_sqlalchemy_psycopg(url: str, adapter: DatabaseAdapter) -> tuple[str, str]:
    return whoami_sqlalchemy(url, "SELECT current_user, current_database()", poolclass=NullPool)


def whoami_sqlalchemy_pymysql(url: str, adapter: DatabaseAdapter) -> tuple[str, str]:
    # As a user would: the URL as printed, nothing added but the pool options dbstack hands out.
    assert make_url(url).password == adapter.config["password"]
    return whoami_sqlalchemy(
        url,
        "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1), DATABASE()",
        **adapter.pool_options(),  # pool_size, max_overflow, pool_recycle: create_engine takes them as they are
    )


def whoami_redis(url: str, adapter: DatabaseAdapter) -> tuple[str, str]:
    client = redis.Redis.from_url(url, retry=NO_RETRY, decode_responses=True, **adapter.pool_options())
    try:
        key, value = f"dbstack-test:{uuid.uuid4()}", "v@lue é"
        assert client.set(key, value, ex=60)
        assert client.get(key) == value
        return str(client.acl_whoami()), str(client.client_info()["db"])
    finally:
        client.close()


@dataclass(frozen=True)
class LiveClient:
    whoami: Callable[[str, DatabaseAdapter], tuple[str, str]]
    auth_error: type[Exception]
    auth_message: str  # regex the server's refusal matches


LIVE_CLIENTS = {
    "psycopg": LiveClient(whoami_psycopg, psycopg.OperationalError, "password authentication failed"),
    "sqlalchemy+psycopg": LiveClient(
        whoami_sqlalchemy_psycopg, sqlalchemy.exc.OperationalError, "password authentication failed"
    ),
    "sqlalchemy+pymysql": LiveClient(whoami_sqlalchemy_pymysql, sqlalchemy.exc.OperationalError, "Access denied"),
    "redis-py": LiveClient(whoami_redis, redis.AuthenticationError, "WRONGPASS|invalid username-password"),
}

LIVE_CASES = [
    pytest.param("postgresql", "uri", "postgres_server", id="postgresql-uri-psycopg"),
    pytest.param("postgresql", "sqlalchemy", "postgres_server", id="postgresql-sqlalchemy"),
    pytest.param("pgvector", "uri", "pgvector_server", id="pgvector-uri-psycopg"),
    pytest.param("pgvector", "sqlalchemy", "pgvector_server", id="pgvector-sqlalchemy"),
    pytest.param("mysql", "sqlalchemy", "mariadb_ascii_account", id="mysql-sqlalchemy-on-mariadb"),
    pytest.param("redis", "uri", "redis_server", id="redis-uri"),
]


def live_client(entry: str, form: str) -> LiveClient:
    client = REGISTRY.spec(entry).forms[form].client
    assert client in LIVE_CLIENTS, client
    return LIVE_CLIENTS[client]


@pytest.fixture(scope="module")
def mariadb_ascii_account(mariadb_server: LiveServer) -> LiveServer:
    """mariadb_server reached as a second account: every hostile character of HOSTILE_USER, DATABASE_NAME and
    HOSTILE_PASSWORD, but an ASCII password (the one kind PyMySQL can send, see PASSWORDS)."""
    account = dataclasses.replace(
        mariadb_server, username="üs er:y/z%+#", password=ASCII_HOSTILE_PASSWORD, database="db é#?%&=+"
    )

    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    statements = (
        f"CREATE DATABASE IF NOT EXISTS `{account.database}` CHARACTER SET utf8mb4;\n"
        f"CREATE USER IF NOT EXISTS {quoted(account.username)}@'%' IDENTIFIED BY {quoted(account.password)};\n"
        f"GRANT ALL PRIVILEGES ON `{account.database}`.* TO {quoted(account.username)}@'%';\n"
    )
    admin = [
        str(mariadb_server.bin_dir / "mariadb"),
        "--no-defaults",
        f"--socket={mariadb_server.unix_socket}",
        f"--user={pwd.getpwuid(os.geteuid()).pw_name}",  # root@localhost, by unix_socket authentication
        "--default-character-set=utf8mb4",
        "--batch",
    ]
    subprocess.run(admin, input="SET SESSION sql_mode = '';\n" + statements, text=True, check=True, timeout=30)
    return account


def test_mysql_url_refuses_a_password_pymysql_cannot_send(mariadb_server: LiveServer) -> None:
    """The server's app password holds é: PyMySQL would send it as latin-1 and be refused, so dbstack refuses
    to print a URL that cannot log in, in one line that says why."""
    _, uri_adapter = render_for(mariadb_server, "mysql", "uri")  # the uri form (mysqlsh) takes it
    with pytest.raises(DbstackError, match=r"forms\.sqlalchemy: .*PyMySQL sends a password as latin-1 .*non-ASCII"):
        uri_adapter.connection_string("sqlalchemy")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbstack"), "url", "mysql", "--set", f"password={HOSTILE_PASSWORD}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr.count("\n")) == (1, "", 1), done.stderr
    assert "non-ASCII password cannot log in" in done.stderr


@pytest.mark.parametrize(("entry", "form", "server_fixture"), LIVE_CASES)
def test_rendered_string_logs_in(entry: str, form: str, server_fixture: str, request: pytest.FixtureRequest) -> None:
    server: LiveServer = request.getfixturevalue(server_fixture)
    url, adapter = render_for(server, entry, form)
    assert live_client(entry, form).whoami(url, adapter) == (server.username, str(server.database))


@pytest.mark.parametrize(("entry", "form", "server_fixture"), LIVE_CASES)
def test_rendered_string_with_a_wrong_password_is_refused(
    entry: str, form: str, server_fixture: str, request: pytest.FixtureRequest
) -> None:
    """Same characters, wrong order: proves the password in the URI is what the server checks."""
    server: LiveServer = request.getfixturevalue(server_fixture)
    url, adapter = render_for(server, entry, form, password=PASSWORDS.get(entry, HOSTILE_PASSWORD)[::-1])
    client = live_client(entry, form)
    with pytest.raises(client.auth_error, match=client.auth_message):
        client.whoami(url, adapter)


def test_pgvector_nearest_neighbour_through_the_rendered_uri(pgvector_server: LiveServer) -> None:
    url, _ = render_for(pgvector_server, "pgvector", "uri")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TEMP TABLE items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,1]')")
        row = conn.execute("SELECT id FROM items ORDER BY embedding <-> '[0.1,0.9,0.2]' LIMIT 1").fetchone()
    assert row == (2,)
