"""DatabaseConfig: checked against the adapter's declared parameters, with every problem at once."""

from __future__ import annotations

import pytest

from dbstack import ConfigError, DatabaseAdapterRegistry, DatabaseConfig, DbstackError
from dbstack.loader.config import generate_secret, parse_assignments
from dbstack.loader.model import Generate
from dbstack.render.compose import resolve_secrets


@pytest.fixture(scope="module")
def registry() -> DatabaseAdapterRegistry:
    return DatabaseAdapterRegistry(use_env=False)


def test_defaults_come_from_the_catalog(registry: DatabaseAdapterRegistry) -> None:
    config = registry.get_adapter("postgresql").config
    assert config["port"] == 5432 and config["host"] == "localhost" and config["tls"] == "disable"
    assert "password" not in config


def test_every_problem_is_reported(registry: DatabaseAdapterRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        registry.get_adapter("postgresql", {"port": 70000, "tls": "maybe", "hots": "db", "pool_max_size": 0})
    problems = caught.value.problems
    assert "unknown parameter 'hots'; did you mean 'host'?" in problems
    assert "parameter 'port': must be at most 65535; got 70000" in problems
    assert any(
        p.startswith("parameter 'tls': must be one of disable, require, verify-ca, verify-full") for p in problems
    )
    assert "parameter 'pool_max_size': must be at least 1; got 0" in problems
    assert len(problems) == 4


def test_text_values_are_coerced_by_declared_type(registry: DatabaseAdapterRegistry) -> None:
    config = registry.get_adapter("postgresql", {"port": "6543", "connect_timeout": "+5"}).config
    assert config["port"] == 6543 and config["connect_timeout"] == 5
    with pytest.raises(ConfigError, match=r"expected integer, got str '65\.5'"):
        registry.get_adapter("postgresql", {"port": "65.5"})
    with pytest.raises(ConfigError, match="expected integer, got bool"):
        registry.get_adapter("postgresql", {"port": True})


def test_missing_required_values_fail_only_where_needed(registry: DatabaseAdapterRegistry) -> None:
    adapter = registry.get_adapter("postgresql")
    assert adapter.missing_required() == ["password"]
    with pytest.raises(ConfigError, match="parameter 'password' is required"):
        adapter.connection_string()


def test_generated_secrets_follow_the_catalog(registry: DatabaseAdapterRegistry) -> None:
    adapter = registry.get_adapter("postgresql").with_generated_secrets()
    password = adapter.config["password"]
    assert len(password) == 32 and password.isalnum()
    assert registry.get_adapter("postgresql").with_generated_secrets().config["password"] != password
    assert len(generate_secret(Generate(64, "hex"))) == 64
    assert set(generate_secret(Generate(64, "hex"))) <= set("0123456789abcdef")


def test_one_rule_decides_a_secret_kept_beats_given_beats_generated(registry: DatabaseAdapterRegistry) -> None:
    given = registry.get_adapter("postgresql", {"password": "from-set"})
    kept = resolve_secrets(given, "db", {"DB_PASSWORD": "from-env", "OTHER_PASSWORD": "not-ours"})
    assert kept.adapter.config["password"] == "from-env"
    assert kept.overridden == ("password",)
    assert resolve_secrets(given, "db", {}).adapter.config["password"] == "from-set"
    assert resolve_secrets(given, "db", {}).overridden == ()
    generated = resolve_secrets(registry.get_adapter("postgresql"), "db", {"OTHER_PASSWORD": "x"}).adapter
    rule = registry.spec("postgresql").parameters["password"].generate
    assert rule is not None
    assert len(generated.config["password"]) == rule.length
    same = registry.get_adapter("postgresql", {"password": "from-env"})
    assert resolve_secrets(same, "db", {"DB_PASSWORD": "from-env"}).overridden == ()  # no warning for equal values
    with pytest.raises(DbstackError, match=r"^--set password=: a secret cannot be empty .*DB_PASSWORD is empty"):
        resolve_secrets(registry.get_adapter("postgresql", {"password": ""}), "db")


def test_secrets_are_masked_in_repr(registry: DatabaseAdapterRegistry) -> None:
    adapter = registry.get_adapter("postgresql", DatabaseConfig(password="hunter2"))
    assert "hunter2" not in repr(adapter) and "hunter2" not in repr(adapter.config)
    assert "hunter2" not in repr(DatabaseConfig(password="hunter2", api_key="hunter2"))


def test_config_is_immutable() -> None:
    config = DatabaseConfig(host="db", options={"a": "b"})
    with pytest.raises(AttributeError):
        config.host = "x"
    with pytest.raises(TypeError):
        config["options"]["a"] = "c"
    changed = config.replace(host="other")
    assert config["host"] == "db" and changed["host"] == "other"


def test_with_config_rechecks(registry: DatabaseAdapterRegistry) -> None:
    adapter = registry.get_adapter("postgresql", {"password": "x"})
    assert adapter.with_config(port=6000).config["port"] == 6000
    assert adapter.with_config(port=6000).config["password"] == "x"
    with pytest.raises(ConfigError):
        adapter.with_config(port=-1)


def test_unknown_form_lists_the_forms(registry: DatabaseAdapterRegistry) -> None:
    adapter = registry.get_adapter("postgresql", {"password": "x"})
    with pytest.raises(DbstackError, match="no connection-string form 'jdbc'; forms: uri, sqlalchemy"):
        adapter.connection_string("jdbc")


def test_pool_options_go_to_the_driver_when_not_in_uri(registry: DatabaseAdapterRegistry) -> None:
    adapter = registry.get_adapter("postgresql", {"password": "x", "pool_max_size": 25})
    assert adapter.pool_options() == {"min_size": 1, "max_size": 25}
    assert "25" not in adapter.connection_string()


def test_parse_assignments() -> None:
    assert parse_assignments(["host=db", "password=a=b", "options.application_name=x y"]) == {
        "host": "db",
        "password": "a=b",
        "options": {"application_name": "x y"},
    }
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignments(["novalue"])


def test_a_nul_in_a_set_value_is_one_clear_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    """Found by tests/test_fuzz_stack.py (--set password=\\x00 ended in an internal error in render/dotenv.py)."""
    with pytest.raises(ConfigError, match=r"^--set: password: a value cannot contain a NUL character") as refused:
        parse_assignments(["password=s3cr\x00et"])
    assert "s3cr" not in str(refused.value)  # a refused secret is not printed either
    from dbstack.cli import main

    code = main(["compose", "postgresql", "--set", "password=s3cr\x00et", "-o", "/nonexistent/never-written"])
    err = capsys.readouterr().err
    assert code not in (0, 3) and "NUL character" in err and "internal error" not in err and "s3cr" not in err
