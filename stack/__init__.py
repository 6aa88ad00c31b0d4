"""dbstack: a declarative database catalog and the stacks built from it.

from dbstack import DatabaseAdapterRegistry, DatabaseConfig
registry = DatabaseAdapterRegistry()
adapter = registry.get_adapter("postgresql", DatabaseConfig(password="s3cret"))
adapter.connection_string()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbstack.loader import (
    CatalogError,
    ConfigError,
    DatabaseAdapterRegistry,
    DatabaseConfig,
    DbstackError,
    UnknownDatabaseError,
)

if TYPE_CHECKING:
    from dbstack.loader.adapter import DatabaseAdapter

__all__ = [
    "CatalogError",
    "ConfigError",
    "DatabaseAdapter",
    "DatabaseAdapterRegistry",
    "DatabaseConfig",
    "DbstackError",
    "UnknownDatabaseError",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """DatabaseAdapter on first use (it brings Jinja; see dbstack.loader)."""
    if name == "DatabaseAdapter":
        from dbstack.loader.adapter import DatabaseAdapter

        return DatabaseAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
