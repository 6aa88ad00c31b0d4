"""The names the LibreChat integration plan used, kept for code written against it; new code uses the replacements.

| old name                                             | replaced by                                              |
|------------------------------------------------------|----------------------------------------------------------|
| ``DatabaseType`` (an enum of database types)         | catalog ids: ``DatabaseAdapterRegistry().ids``           |
| ``get_database_adapter(db_type, config)``            | ``DatabaseAdapterRegistry().get_adapter(id, config)``    |
| ``ConfigEngine.get_database_adapter``                | ``ConfigEngine.registry.get_adapter``                    |
| ``ConfigEngine._get_database_service_from_adapter``  | ``dbstack.render.compose.render_service``                |
| ``ConfigEngine._get_llm_recommendations``            | ``ConfigEngine.recommend`` (catalog data: no LLM)        |
| ``DatabaseAdapter.compose_service``                  | ``dbstack.render.compose.render_service``                |

``ConfigEngine`` here is dbstack.config_engine.ConfigEngine with the old methods added; ``DatabaseType`` is built
from the catalog on first use.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from functools import cache
from typing import Any

from dbstack.config_engine import ConfigEngine as _ConfigEngine
from dbstack.loader import DatabaseAdapter
from dbstack.recommend import Candidate
from dbstack.render.compose import ComposeService, render_service

__all__ = ["ConfigEngine", "DatabaseType", "get_database_adapter"]


class ConfigEngine(_ConfigEngine):
    """dbstack.config_engine.ConfigEngine with the integration plan's method names."""

    def get_database_adapter(
        self, db_type: enum.Enum | str, config: Mapping[str, Any] | None = None
    ) -> DatabaseAdapter:
        """Replaced by ``self.registry.get_adapter(id, config)``."""
        name = db_type.value if isinstance(db_type, enum.Enum) else db_type
        return self.registry.get_adapter(name, config)

    def _get_database_service_from_adapter(
        self, adapter: DatabaseAdapter, environment: str = "development", name: str | None = None
    ) -> ComposeService:
        """Replaced by ``dbstack.render.compose.render_service(adapter, environment, name=name)``."""
        return render_service(adapter, environment, name=name)

    def _get_llm_recommendations(
        self, app: str = "librechat", role: str | None = None, environment: str = "development"
    ) -> dict[str, list[Candidate]]:
        """Replaced by ``self.recommend(app, role, environment)``."""
        return self.recommend(app, role, environment)


# The old code base's enum of database types, now built from the catalog on first use.
DatabaseType: type[enum.Enum]


@cache
def _default_engine() -> ConfigEngine:
    """One engine (one catalog load) for the module-level functions older callers use."""
    return ConfigEngine()


def _build_database_type() -> type[enum.Enum]:
    ids = _default_engine().registry.ids
    members = {i.upper().replace("-", "_"): i for i in ids}
    database_type: type[enum.Enum] = enum.Enum("DatabaseType", members)  # type: ignore[misc]
    return database_type


def get_database_adapter(db_type: enum.Enum | str, config: Mapping[str, Any] | None = None) -> DatabaseAdapter:
    """Replaced by ``DatabaseAdapterRegistry().get_adapter(id, config)``."""
    return _default_engine().get_database_adapter(db_type, config)


def __getattr__(name: str) -> Any:
    if name == "DatabaseType":
        value = _build_database_type()
        globals()["DatabaseType"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
