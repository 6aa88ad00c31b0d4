"""Complete LibreChat stacks: planned from the catalog, checked on the files as written and by the real tools."""

from __future__ import annotations

import itertools
import re
import stat
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from pymongo.uri_parser import parse_uri

from dbstack import DatabaseAdapterRegistry, DbstackError
from dbstack.compat import get_database_adapter
from dbstack.config_engine import ConfigEngine, StackRequest
from dbstack.loader.apps import load_app
from dbstack.loader.environments import environment_names
from dbstack.recommend import rank
from dbstack.render import dotenv
from dbstack.stack_generator import StackGenerator

from compose_tools import (
    compose_config,
    compose_environment,
    compose_lint,
    compose_schema_check,
    read_by_image,
    service_environment,
    significant_findings,
)
from live_servers import LiveServer

REGISTRY = DatabaseAdapterRegistry(use_env=False)
ENGINE = ConfigEngine(REGISTRY)
GENERATOR = StackGenerator(ENGINE)
APP = load_app("librechat")


def role_choices(env: str) -> list[tuple[tuple[str, str], ...]]:
    """Every database per role that ``env`` allows, optional roles also left out: the product of all choices."""
    per_role = []
    for role in APP.roles.values():
        options: list[tuple[str, str]] = [(role.name, c.id) for c in rank(list(REGISTRY), role, env)]
        if role.optional:
            options.append((role.name, "-"))
        per_role.append(options)
    return list(itertools.product(*per_role))


def request_for(env: str, choice: tuple[tuple[str, str], ...]) -> StackRequest:
    use = {role: db for role, db in choice if db != "-"}
    without = frozenset(role for role, db in choice if db == "-")
    return StackRequest(environment=env, use=use, without=without)


def generate(folder: Path, request: StackRequest, **kwargs: Any) -> Any:
    """Generate, then do what the README's first step asks: put the keys only the user has into .env."""
    report = GENERATOR.generate(request, folder, **kwargs)
    add_user_keys(folder, report.to_fill)
    return report


def add_user_keys(folder: Path, names: list[str]) -> None:
    env = folder / ".env"
    present = dotenv.read(env).as_dict()
    lines = [dotenv.format_entry(name, f"test-{name.lower()}") for name in names if name not in present]
    if lines:
        env.write_text(env.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")


def interpolated(folder: Path) -> dict[str, Any]:
    result = compose_config(folder / "compose.yaml", env_file=folder / ".env", fmt="json")
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert result.model is not None
    return result.model


# --- every environment x every valid choice --------------------------------------------------------


def choice_id(choice: tuple[tuple[str, str], ...]) -> str:
    return "+".join(f"{role}={database}" for role, database in choice)


@pytest.mark.parametrize(
    ("env", "choice"),
    [
        pytest.param(env, choice, id=f"{choice_id(choice)}-{env}")
        for env in environment_names()
        for choice in role_choices(env)
    ],
)
def test_all_environments(tmp_path: Path, env: str, choice: tuple[tuple[str, str], ...]) -> None:
    generate(tmp_path, request_for(env, choice))
    compose_file = tmp_path / "compose.yaml"
    result = compose_config(compose_file, env_file=tmp_path / ".env")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    schema = compose_schema_check(compose_file)
    assert schema.ok, schema.errors
    document = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    for name, service in document["services"].items():
        assert "healthcheck" in service, name
        assert ":latest" not in service["image"] and ":" in service["image"], name
        waits = APP.services[name].wait_for if name in APP.services else {}
        for other, dependency in service.get("depends_on", {}).items():
            started = other in waits and waits[other].until == "started"
            assert dependency["condition"] == ("service_started" if started else "service_healthy")
    if env != "development":
        assert significant_findings(compose_lint(compose_file)) == []
        for name, role in APP.roles.items():
            if role.service in document["services"]:
                assert "ports" not in document["services"][role.service], f"{name} publishes a port in {env}"


def test_production_mongodb_runs_with_authentication(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(environment="production"))
    model = interpolated(tmp_path)
    environment = env_of(model, "mongodb")
    # The image's entrypoint starts mongod with --auth when both root variables are set (the password from
    # the file MONGO_INITDB_ROOT_PASSWORD_FILE names).
    password = secret_of(tmp_path, model, "mongodb", "MONGO_INITDB_ROOT_PASSWORD")
    assert environment["MONGO_INITDB_ROOT_USERNAME"] and len(password) == 32
    assert "--noauth" not in (model["services"]["mongodb"].get("command") or [])


# --- LibreChat wiring, asserted on what Docker Compose itself reads ---------------------------------


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("stack")
    generate(folder, StackRequest(environment="production", use={"cache": "redis"}))
    return folder, interpolated(folder)


def env_of(model: dict[str, Any], service: str) -> dict[str, str]:
    return {k: v for k, v in service_environment(model, service).items() if v is not None}


def secret_of(folder: Path, model: dict[str, Any], service: str, var: str) -> str:
    """What the service's image reads for ``var``: the variable, or the compose secret file VAR_FILE names."""
    environment = compose_environment(folder / "compose.yaml", env_file=folder / ".env")
    return read_by_image(model, service, var, environment)


def test_mongo_uri_carries_the_credentials_mongodb_is_created_with(full_stack: tuple[Path, dict[str, Any]]) -> None:
    """LibreChat's own user (created by the init script from DBSTACK_APP_PASSWORD), never the root user."""
    folder, model = full_stack
    api, mongodb = env_of(model, "api"), env_of(model, "mongodb")
    parsed = parse_uri(api["MONGO_URI"])
    assert parsed["nodelist"] == [("mongodb", 27017)]
    assert parsed["username"] == "librechat" != mongodb["MONGO_INITDB_ROOT_USERNAME"]
    app_password = secret_of(folder, model, "mongodb", "DBSTACK_APP_PASSWORD")
    assert parsed["password"] == app_password != secret_of(folder, model, "mongodb", "MONGO_INITDB_ROOT_PASSWORD")
    assert parsed["database"] == mongodb["MONGO_INITDB_DATABASE"] == "LibreChat"
    assert parsed["options"]["authSource"] == "LibreChat"


def test_rag_api_reaches_the_vector_database(full_stack: tuple[Path, dict[str, Any]]) -> None:
    folder, model = full_stack
    rag, vectordb = env_of(model, "rag_api"), env_of(model, "vectordb")
    assert rag["VECTOR_DB_TYPE"] == "pgvector"
    assert rag["DB_HOST"] == "vectordb" and rag["DB_PORT"] == "5432"
    assert rag["POSTGRES_DB"] == vectordb["POSTGRES_DB"]
    assert rag["POSTGRES_USER"] == vectordb["POSTGRES_USER"]
    # rag_api reads the variable (LibreChat's side); the image reads the secret file compose mounts.
    assert rag["POSTGRES_PASSWORD"] == secret_of(folder, model, "vectordb", "POSTGRES_PASSWORD")
    assert rag["POSTGRES_PASSWORD"] not in ("", "mypassword")


def test_shared_secrets_are_shared(full_stack: tuple[Path, dict[str, Any]]) -> None:
    _, model = full_stack
    api, rag, meili = env_of(model, "api"), env_of(model, "rag_api"), env_of(model, "meilisearch")
    assert api["MEILI_MASTER_KEY"] == meili["MEILI_MASTER_KEY"] and len(api["MEILI_MASTER_KEY"]) >= 16
    assert api["JWT_SECRET"] == rag["JWT_SECRET"] and len(api["JWT_SECRET"]) == 64
    assert len(api["CREDS_KEY"]) == 64 and len(api["CREDS_IV"]) == 32
    # LibreChat reads both as hex bytes (Buffer.from(value, "hex")): a 32-byte key and a 16-byte IV.
    assert re.fullmatch("[0-9a-f]{64}", api["CREDS_KEY"]) and len(bytes.fromhex(api["CREDS_KEY"])) == 32
    assert re.fullmatch("[0-9a-f]{32}", api["CREDS_IV"]) and len(bytes.fromhex(api["CREDS_IV"])) == 16
    assert api["SEARCH"] == "true" and api["MEILI_HOST"] == "http://meilisearch:7700"
    assert api["RAG_API_URL"] == "http://rag_api:8000"
    assert api["USE_REDIS"] == "true" and api["REDIS_URI"].startswith("redis://")


def test_dependants_wait_for_healthy_databases(full_stack: tuple[Path, dict[str, Any]]) -> None:
    _, model = full_stack
    api_depends = model["services"]["api"]["depends_on"]
    assert set(api_depends) == {"mongodb", "meilisearch", "redis", "rag_api"}
    # LibreChat cannot start without MongoDB; it tolerates losing search and RAG (apps/librechat.yaml wait_for).
    assert {n: d["condition"] for n, d in api_depends.items()} == {
        "mongodb": "service_healthy",
        "redis": "service_healthy",
        "meilisearch": "service_started",
        "rag_api": "service_started",
    }
    assert model["services"]["rag_api"]["depends_on"]["vectordb"]["condition"] == "service_healthy"


def test_no_secret_is_literal_in_the_compose_file(full_stack: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = full_stack
    text = (folder / "compose.yaml").read_text(encoding="utf-8")
    secrets = dotenv.read(folder / ".env").as_dict()
    assert len(secrets) >= 8
    for key, value in secrets.items():
        assert value not in text, f"{key} is literal in compose.yaml"
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600


def test_without_optional_roles(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(without=frozenset({"full_text_search", "vector_store"})))
    model = interpolated(tmp_path)
    assert set(model["services"]) == {"mongodb", "api"}
    api = env_of(model, "api")
    assert api["SEARCH"] == "false" and "RAG_API_URL" not in api and "MEILI_MASTER_KEY" not in api


# --- refusals ------------------------------------------------------------------------------------


def test_impossible_choice_names_the_reason_and_the_candidates(tmp_path: Path) -> None:
    with pytest.raises(DbstackError) as caught:
        generate(tmp_path, StackRequest(use={"primary_store": "postgresql"}))
    message = str(caught.value)
    assert "postgresql cannot be LibreChat's primary_store" in message
    assert "needs the mongodb wire protocol" in message and "candidates: mongodb" in message
    with pytest.raises(DbstackError, match="needs vector search"):
        generate(tmp_path, StackRequest(use={"vector_store": "postgresql"}))
    assert not tmp_path.joinpath("compose.yaml").exists()


DEVELOPMENT_ONLY = sorted(
    s.id for s in REGISTRY if s.container and s.container.environments == ("development",)
)


def test_development_only_entries_are_choices_in_development_and_nowhere_else() -> None:
    assert "ferretdb" in DEVELOPMENT_ONLY  # the entry the tests below ask for
    chosen = {env: {db for choice in role_choices(env) for _, db in choice} for env in environment_names()}
    assert "ferretdb" in chosen["development"]
    for env in ("staging", "production"):
        assert chosen[env] and not chosen[env] & set(DEVELOPMENT_ONLY), env


@pytest.mark.parametrize("env", ["staging", "production"])
def test_a_development_only_database_is_refused_elsewhere_with_the_candidates(tmp_path: Path, env: str) -> None:
    message = (
        f"ferretdb cannot be LibreChat's primary_store: it is allowed only in development, not in {env} "
        "(see its limitations: dbstack catalog show ferretdb); candidates: mongodb"
    )
    with pytest.raises(DbstackError, match=f"^{re.escape(message)}$"):
        generate(tmp_path, StackRequest(environment=env, use={"primary_store": "ferretdb"}))
    assert list(tmp_path.iterdir()) == []


def test_auto_choice_passes_over_a_default_the_environment_does_not_allow(tmp_path: Path) -> None:
    text = APP.file.read_text(encoding="utf-8").replace("id: librechat", "id: ferretfirst", 1)
    app_file = tmp_path / "ferretfirst.yaml"
    text = text.replace("default: mongodb", "default: ferretdb", 1)
    app_file.write_text(text, encoding="utf-8")
    for env, expected in (("development", "ferretdb"), ("staging", "mongodb"), ("production", "mongodb")):
        plan = ENGINE.plan(StackRequest(app=str(app_file), environment=env))
        primary = plan.roles["primary_store"]
        assert (primary.adapter.id, primary.chosen_by) == (expected, "auto"), env


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (StackRequest(use={"primary_store": "mongo-db"}), "unknown database 'mongo-db'; did you mean mongodb"),
        (StackRequest(use={"chat_store": "mongodb"}), "librechat has no role 'chat_store'"),
        (StackRequest(without=frozenset({"primary_store"})), "cannot run without its primary_store"),
        (StackRequest(environment="prod"), "unknown environment 'prod'"),
        (StackRequest(app="nope"), "unknown app 'nope'"),
    ],
)
def test_bad_requests(tmp_path: Path, request_: StackRequest, message: str) -> None:
    with pytest.raises(DbstackError, match=message):
        generate(tmp_path, request_)
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_compose_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text("services: {}\n", encoding="utf-8")
    (tmp_path / ".env").write_text("MINE=1\n", encoding="utf-8")
    with pytest.raises(DbstackError, match="not written by dbstack for this output; nothing was changed"):
        generate(tmp_path, StackRequest())
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "docker-compose.yml"]
    assert (tmp_path / ".env").read_text(encoding="utf-8") == "MINE=1\n"
    report = generate(tmp_path, StackRequest(), force=True)
    assert (tmp_path / "compose.yaml").exists() and "MINE" in (tmp_path / ".env").read_text(encoding="utf-8")
    assert report.backups  # .env replaced by its merged version, with a backup


# --- regenerating over an existing stack -----------------------------------------------------------


def test_regenerate_keeps_secrets_and_user_edits(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest())
    env_path = tmp_path / ".env"
    first = dotenv.read(env_path).as_dict()
    edited = env_path.read_text(encoding="utf-8") + "\n# my own note\nOPENAI_API_KEY='sk-mine'\n"
    edited = edited.replace(f"MONGODB_PASSWORD={first['MONGODB_PASSWORD']}", "MONGODB_PASSWORD='my own $ecret'")
    # LibreChat's URI is derived from its own user's password (MONGODB_APP_PASSWORD), not root's.
    edited = edited.replace(f"MONGODB_APP_PASSWORD={first['MONGODB_APP_PASSWORD']}", "MONGODB_APP_PASSWORD=mine2")
    env_path.write_text(edited, encoding="utf-8")
    (tmp_path / "librechat.env").write_text("RAG_OPENAI_API_KEY=sk-real\n", encoding="utf-8")

    report = generate(tmp_path, StackRequest(environment="production", use={"cache": "redis"}))

    after_text = env_path.read_text(encoding="utf-8")
    after = dotenv.read(env_path).as_dict()
    assert after_text.startswith(edited)  # every byte the user had stays
    assert after["MONGODB_PASSWORD"] == "my own $ecret"
    for key in ("CREDS_KEY", "CREDS_IV", "JWT_SECRET", "JWT_REFRESH_SECRET", "VECTORDB_PASSWORD"):
        assert after[key] == first[key]
    assert "REDIS_PASSWORD" in after and "REDIS_PASSWORD" in report.added
    assert (tmp_path / "librechat.env").read_text(encoding="utf-8") == "RAG_OPENAI_API_KEY=sk-real\n"
    assert any(b.name.startswith(".env.bak-") for b in report.backups)
    assert any(b.name.startswith("compose.yaml.bak-") for b in report.backups)
    assert any("API_MONGO_URI" in w for w in report.warnings)  # the URI derived from the old password was kept
    # The database service is created with the password the user chose, and the api is told the kept URI.
    model = interpolated(tmp_path)
    assert secret_of(tmp_path, model, "mongodb", "MONGO_INITDB_ROOT_PASSWORD") == "my own $ecret"


def test_regenerate_with_nothing_changed_writes_nothing(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest())
    report = generate(tmp_path, StackRequest())
    assert report.written == [] and report.backups == [] and report.added == []


# --- recommendations and the older interface ------------------------------------------------------


def test_recommendations_are_ranked_with_reasons() -> None:
    ranked = ENGINE.recommend()
    assert ranked == ENGINE.recommend(environment="development")  # generate's default, too
    assert set(ranked) == set(APP.roles)
    # FerretDB speaks the MongoDB protocol but its image is for development only: ranked there, below
    # MongoDB, with the restriction among its trade-offs; not ranked where it cannot be deployed.
    assert [c.id for c in ranked["primary_store"]] == ["mongodb", "ferretdb"]
    ferretdb = ranked["primary_store"][1]
    assert ferretdb.environments == ("development",) and ferretdb.as_dict()["environments"] == ["development"]
    assert "allowed only in development: dbstack renders no other environment for it" in ferretdb.tradeoffs
    mongodb = ranked["primary_store"][0]
    assert mongodb.environments is None and mongodb.as_dict()["environments"] is None
    for env in ("staging", "production"):
        elsewhere = ENGINE.recommend(environment=env)
        assert [c.id for c in elsewhere["primary_store"]] == ["mongodb"], env
        assert all(c.environments is None for candidates in elsewhere.values() for c in candidates), env
    assert ranked["vector_store"][0].id == "pgvector"
    assert all(c.reasons and c.tradeoffs for candidates in ranked.values() for c in candidates)
    assert ENGINE.recommend() == ranked  # deterministic
    with pytest.raises(DbstackError, match="unknown environment 'prod'"):
        ENGINE.recommend(environment="prod")


def test_database_type_is_built_from_the_catalog() -> None:
    from dbstack import compat
    from dbstack.compat import DatabaseType

    assert {member.value for member in DatabaseType} == set(REGISTRY.ids)
    assert get_database_adapter(DatabaseType["POSTGRESQL"]).id == "postgresql"
    legacy = compat.ConfigEngine(REGISTRY)
    service = legacy._get_database_service_from_adapter(legacy.get_database_adapter("redis"), "production")
    assert legacy._get_llm_recommendations() == ENGINE.recommend()
    assert service.service["image"].startswith("redis:")


# --- a generated plan, proven against real servers ----------------------------------------------


def test_vector_store_credentials_from_the_stack_work_on_real_pgvector(
    tmp_path: Path, pgvector_server: LiveServer
) -> None:
    generate(tmp_path, StackRequest(environment="production"))
    secrets = dotenv.read(tmp_path / ".env").as_dict()
    plan = ENGINE.plan(StackRequest(environment="production"), secrets)
    adapter = plan.roles["vector_store"].adapter
    username, database = adapter.config["username"], adapter.config["database"]
    assert adapter.config["password"] == secrets["VECTORDB_PASSWORD"]
    # What the image does on first start with POSTGRES_USER/PASSWORD/DB: a superuser and its database.
    admin = get_database_adapter("pgvector", _live_config(pgvector_server))
    with psycopg.connect(admin.connection_string(), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg.sql.Identifier(database)))
        conn.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(username)))
        conn.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                psycopg.sql.Identifier(username), psycopg.sql.Literal(secrets["VECTORDB_PASSWORD"])
            )
        )
        conn.execute(
            psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                psycopg.sql.Identifier(database), psycopg.sql.Identifier(username)
            )
        )
    live = adapter.with_config(host=pgvector_server.host, port=pgvector_server.port)
    with psycopg.connect(live.connection_string()) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE chunks (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("INSERT INTO chunks VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,1]')")
        conn.execute("CREATE INDEX ON chunks USING hnsw (embedding vector_l2_ops)")
        row = conn.execute("SELECT id FROM chunks ORDER BY embedding <-> '[0.1,0.9,0.2]' LIMIT 1").fetchone()
    assert row == (2,)


def _live_config(server: LiveServer) -> dict[str, Any]:
    return {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "database": server.database,
    }


def test_a_hostile_password_of_the_users_reaches_the_container_and_the_uri(tmp_path: Path) -> None:
    hostile = "p@ss:w/rd%#?&=+ é$'\""
    lines = [dotenv.format_entry(name, hostile) for name in ("MONGODB_PASSWORD", "MONGODB_APP_PASSWORD")]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    generate(tmp_path, StackRequest(environment="production"))
    model = interpolated(tmp_path)
    assert secret_of(tmp_path, model, "mongodb", "MONGO_INITDB_ROOT_PASSWORD") == hostile
    # What the init script creates the user with.
    assert secret_of(tmp_path, model, "mongodb", "DBSTACK_APP_PASSWORD") == hostile
    assert parse_uri(env_of(model, "api")["MONGO_URI"])["password"] == hostile
    assert hostile not in (tmp_path / "compose.yaml").read_text(encoding="utf-8")


def test_secrets_of_services_left_out_are_not_asked_for(tmp_path: Path) -> None:
    report = generate(tmp_path, StackRequest(without=frozenset({"vector_store"})))
    assert "RAG_OPENAI_API_KEY" not in dotenv.read(tmp_path / ".env").as_dict()
    assert report.to_fill == []
    assert "RAG_OPENAI_API_KEY" not in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_urls_without_secrets_stay_readable_and_urls_with_secrets_go_to_env(tmp_path: Path) -> None:
    generate(tmp_path, StackRequest(use={"cache": "redis"}))
    api = yaml.safe_load((tmp_path / "compose.yaml").read_text(encoding="utf-8"))["services"]["api"]["environment"]
    assert api["MEILI_HOST"] == "http://meilisearch:7700"
    assert api["MONGO_URI"].startswith("${API_MONGO_URI:?") and api["REDIS_URI"].startswith("${API_REDIS_URI:?")


def test_a_second_app_is_a_yaml_file(tmp_path: Path) -> None:
    text = (APP.file).read_text(encoding="utf-8").replace("id: librechat", "id: chatlite", 1)
    app_file = tmp_path / "chatlite.yaml"
    app_file.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    generate(out, StackRequest(app=str(app_file), without=frozenset({"vector_store", "full_text_search"})))
    model = interpolated(out)
    assert model["name"] == "out" and set(model["services"]) == {"mongodb", "api"}
    assert str(app_file.resolve()) in (out / "compose.yaml").read_text(encoding="utf-8").splitlines()[1]
