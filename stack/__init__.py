"""dbstack: a declarative database catalog and the stacks built from it.

from dbstack import DatabaseAdapterRegistry, DatabaseConfig
registry = DatabaseAdapterRegistry()
adapter = registry.get_adapter("postgresql", DatabaseConfig(password="s3cret"))
adapter.connection_string()
"""

from dbstack.loader import (
    CatalogError,
    ConfigError,
    DatabaseAdapter,
    DatabaseAdapterRegistry,
    DatabaseConfig,
    DbstackError,
    UnknownDatabaseError,
)

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
